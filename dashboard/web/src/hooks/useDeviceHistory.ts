/**
 * When a device's panel opens: fetch what the service kept about it (stats, DHCP steps, logs) into
 * the live store, so the charts and timeline start full. Live messages then extend them.
 */
import { useEffect, useState } from "react";
import { toMessages } from "../lib/live/protocol";
import { useTab } from "./TabContext";

export type HistoryState = { status: "loading" } | { status: "ready" } | { status: "error"; error: Error };

export function useDeviceHistory(id: string): HistoryState {
  const { api, store } = useTab();
  const [result, setResult] = useState<{ id: string; state: HistoryState } | null>(null);
  useEffect(() => {
    let cancelled = false;
    const setState = (state: HistoryState) => setResult({ id, state });
    Promise.all([api.deviceEvents(id, ["stats", "dhcp*"]), api.deviceLogs(id)])
      .then(([events, logs]) => {
        if (cancelled) return;
        store.backfill(id, toMessages(events));
        store.backfillLogs(id, toMessages(logs));
        setState({ status: "ready" });
      })
      .catch((exc: unknown) => {
        if (!cancelled) setState({ status: "error", error: exc instanceof Error ? exc : new Error(String(exc)) });
      });
    return () => {
      cancelled = true;
    };
  }, [api, store, id]);
  return result?.id === id ? result.state : { status: "loading" };
}
