/** The members of one fleet (its first page of 1,000), listed again when the fleet changes. */
import { useCallback, useEffect } from "react";
import type { FleetMember } from "../api/types";
import { onResourceChange } from "../lib/live/resourceChanges";
import { useTab } from "./TabContext";
import { type QueryState, useQuery } from "./useQuery";

export const MEMBERS_PAGE = 1000;

export function useFleetMembers(fleet: string): QueryState<FleetMember[]> {
  const { api } = useTab();
  const load = useCallback(
    async () => (fleet ? (await api.fleetMembers(fleet, 0, MEMBERS_PAGE)).items : []),
    [api, fleet],
  );
  const { state, reload } = useQuery(fleet ? `${api.baseUrl}|members|${fleet}` : null, load, 5000);
  useEffect(() => onResourceChange((c) => c.kind === "IoTFleet" && c.name === fleet && void reload()), [reload, fleet]);
  return state;
}
