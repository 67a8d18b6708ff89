/**
 * Everything the toolbar, the grid and the panel do to devices, with the outcome told as a notice.
 * Start/stop report per device (the service's all-or-report `BulkResult`); a selection is done
 * device by device, a few at a time, and summed up once.
 */
import { useMemo } from "react";
import type { BulkResult } from "../api/types";
import { settleAll } from "../lib/pool";
import { useTab } from "./TabContext";

export type BulkAction = "start" | "stop" | "delete";

export interface DeviceActions {
  start: (id: string) => Promise<void>;
  stop: (id: string) => Promise<void>;
  remove: (id: string) => Promise<void>;
  startAll: () => Promise<void>;
  stopAll: () => Promise<void>;
  bulk: (action: BulkAction, ids: readonly string[]) => Promise<void>;
}

const VERB: Record<BulkAction, [string, string]> = {
  start: ["Started", "start"],
  stop: ["Stopped", "stop"],
  delete: ["Deleted", "delete"],
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function message(exc: unknown): string {
  return exc instanceof Error ? exc.message : String(exc);
}

export function useDeviceActions(reload: () => Promise<void>): DeviceActions {
  const { api, notify } = useTab();
  return useMemo(() => {
    const report = (action: BulkAction, done: number, failed: string[]) => {
      const [past, verb] = VERB[action];
      if (!failed.length) notify("success", `${past} ${plural(done, "device")}`);
      else notify("error", `${past} ${done}; ${failed.length} could not ${verb}`, failed.slice(0, 20));
    };
    const fromResult = (action: BulkAction, result: BulkResult) =>
      report(action, (result.done ?? []).length, (result.failed ?? []).map((f) => `${f.id}: ${f.reason}`));
    const guarded = async (what: string, body: () => Promise<void>) => {
      try {
        await body();
      } catch (exc) {
        notify("error", `Could not ${what}`, [message(exc)]);
      } finally {
        await reload();
      }
    };
    const one = (action: BulkAction, id: string, call: (id: string) => Promise<unknown>) =>
      guarded(`${VERB[action][1]} ${id}`, async () => {
        const result = await call(id);
        if (result && typeof result === "object" && "failed" in result) {
          const bulk = result as BulkResult;
          if (bulk.failed?.length) fromResult(action, bulk);
        } else if (action === "delete") notify("success", `Deleted ${id}`);
      });
    return {
      start: (id) => one("start", id, api.startDevice),
      stop: (id) => one("stop", id, api.stopDevice),
      remove: (id) => one("delete", id, api.deleteDevice),
      startAll: () => guarded("start all devices", async () => fromResult("start", await api.startAll())),
      stopAll: () => guarded("stop all devices", async () => fromResult("stop", await api.stopAll())),
      bulk: (action, ids) =>
        guarded(`${VERB[action][1]} the selection`, async () => {
          const call: (id: string) => Promise<unknown> =
            action === "start" ? api.startDevice : action === "stop" ? api.stopDevice : api.deleteDevice;
          const results = await settleAll(ids, call);
          const failed: string[] = [];
          let done = 0;
          results.forEach((r, i) => {
            if (r.status === "rejected") failed.push(`${ids[i]}: ${message(r.reason)}`);
            else if (r.value && typeof r.value === "object" && "failed" in r.value) {
              const bulk = r.value as BulkResult;
              done += (bulk.done ?? []).length;
              failed.push(...(bulk.failed ?? []).map((f) => `${f.id}: ${f.reason}`));
            } else done += 1;
          });
          report(action, done, failed);
        }),
    };
  }, [api, notify, reload]);
}
