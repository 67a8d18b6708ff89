/** Fleets (polled while shown: their member counts change as members bind) and what can be done to them. */
import { useCallback, useEffect } from "react";
import type { Fleet } from "../api/types";
import { onResourceChange } from "../lib/live/resourceChanges";
import { useTab } from "./TabContext";
import { type QueryState, useQuery } from "./useQuery";

export interface Fleets {
  state: QueryState<Fleet[]>;
  reload: () => Promise<void>;
  scale: (name: string, replicas: number) => Promise<void>;
  start: (name: string) => Promise<void>;
  stop: (name: string) => Promise<void>;
}

export function useFleets(pollMs = 3000): Fleets {
  const { api, notify } = useTab();
  const { state, reload } = useQuery(api.baseUrl + "|fleets", api.listFleets, pollMs);
  // a fleet created, scaled or deleted elsewhere shows at once, not at the next poll
  useEffect(() => onResourceChange((change) => change.kind === "IoTFleet" && void reload()), [reload]);
  const act = useCallback(
    async (what: string, call: () => Promise<unknown>) => {
      try {
        await call();
        notify("success", what);
      } catch (exc) {
        notify("error", `Could not ${what.toLowerCase()}`, [exc instanceof Error ? exc.message : String(exc)]);
      } finally {
        await reload();
      }
    },
    [notify, reload],
  );
  return {
    state,
    reload,
    scale: (name, replicas) => act(`Scaled ${name} to ${replicas}`, () => api.scaleFleet(name, replicas)),
    start: (name) => act(`Started fleet ${name}`, () => api.startFleet(name)),
    stop: (name) => act(`Stopped fleet ${name}`, () => api.stopFleet(name)),
  };
}
