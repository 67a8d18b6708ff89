/**
 * The device list (names, specs, last reported status) from `GET /api/devices`, replaced by each
 * WebSocket snapshot (so a reconnect resynchronises everything), and seeded into the live store.
 * Live changes do not touch this list: they go to the store.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import type { Api } from "../api/client";
import type { Device } from "../api/types";
import type { LiveStore } from "../lib/live/store";

export type ListState =
  | { status: "loading"; devices: Device[]; error: null }
  | { status: "ready"; devices: Device[]; error: null }
  | { status: "error"; devices: Device[]; error: Error };

export interface DeviceList {
  state: ListState;
  /** Fetch the list again (after a change made here). */
  reload: () => Promise<void>;
  /** Fetch again soon, once for a burst of calls (a device we do not know spoke). */
  reloadSoon: () => void;
  /** Replace the list with a snapshot's devices. */
  applySnapshot: (devices: Device[]) => void;
  /** Whether a device id is in the list. */
  has: (id: string) => boolean;
}

export function useDeviceList(api: Api, store: LiveStore): DeviceList {
  const [state, setState] = useState<ListState>({ status: "loading", devices: [], error: null });
  const known = useRef(new Set<string>());
  const generation = useRef(0);
  const soon = useRef<ReturnType<typeof setTimeout> | null>(null);

  const accept = useCallback(
    (devices: Device[]) => {
      const names = new Set(devices.map((d) => d.name));
      for (const id of known.current) if (!names.has(id)) store.forget(id);
      known.current = names;
      devices.forEach((d) => store.seed(d));
      setState({ status: "ready", devices, error: null });
    },
    [store],
  );

  const reload = useCallback(async () => {
    const mine = ++generation.current;
    try {
      const devices = await api.listDevices();
      if (mine === generation.current) accept(devices);
    } catch (exc) {
      if (mine === generation.current) {
        const error = exc instanceof Error ? exc : new Error(String(exc));
        setState((s) => ({ status: "error", devices: s.devices, error }));
      }
    }
  }, [api, accept]);

  const applySnapshot = useCallback(
    (devices: Device[]) => {
      generation.current++; // a fetch in flight is older than this
      accept(devices);
    },
    [accept],
  );

  const reloadSoon = useCallback(() => {
    if (soon.current !== null) return;
    soon.current = setTimeout(() => {
      soon.current = null;
      void reload();
    }, 500);
  }, [reload]);

  useEffect(() => {
    // The state changes after the fetch resolves, not synchronously in this effect.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void reload();
    return () => {
      if (soon.current !== null) clearTimeout(soon.current);
      soon.current = null;
    };
  }, [reload]);

  const has = useCallback((id: string) => known.current.has(id), []);
  return { state, reload, reloadSoon, applySnapshot, has };
}
