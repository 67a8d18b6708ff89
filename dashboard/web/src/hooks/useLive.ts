/**
 * Reading the live store from components, one device at a time (`useSyncExternalStore`): a
 * message about device A re-renders only what shows device A.
 */
import { useCallback, useEffect, useState, useSyncExternalStore } from "react";
import type { DhcpEvent, LogRecord } from "../lib/live/messages";
import type { LiveDevice, Sample } from "../lib/live/store";
import { useTab } from "./TabContext";

function useDeviceSlice<T>(id: string, read: (id: string) => T): T {
  const { store } = useTab();
  const subscribe = useCallback((listener: () => void) => store.subscribe(id, listener), [store, id]);
  return useSyncExternalStore(subscribe, () => read(id));
}

export function useLiveDevice(id: string): LiveDevice | undefined {
  const { store } = useTab();
  return useDeviceSlice(id, (d) => store.get(d));
}

export function useLiveSamples(id: string): readonly Sample[] {
  const { store } = useTab();
  return useDeviceSlice(id, (d) => store.samples(d));
}

export function useLiveDhcp(id: string): readonly DhcpEvent[] {
  const { store } = useTab();
  return useDeviceSlice(id, (d) => store.dhcpEvents(d));
}

export function useLiveLogs(id: string): readonly LogRecord[] {
  const { store } = useTab();
  return useDeviceSlice(id, (d) => store.logs(d));
}

/**
 * A number that changes at most every `intervalMs` while the store changes: for views that read
 * many devices at once (sorting by a live column, counters), which must not follow every message.
 */
export function useLiveTick(intervalMs = 1000, enabled = true): number {
  const { store } = useTab();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!enabled) return undefined;
    let changed = false;
    const unsubscribe = store.subscribeAny(() => {
      changed = true;
    });
    const timer = setInterval(() => {
      if (changed) {
        changed = false;
        setTick((t) => t + 1);
      }
    }, intervalMs);
    return () => {
      unsubscribe();
      clearInterval(timer);
    };
  }, [store, intervalMs, enabled]);
  return tick;
}

interface Clock {
  now: number;
  listeners: Set<() => void>;
  timer: ReturnType<typeof setInterval> | null;
}

const clocks = new Map<number, Clock>();

function clock(intervalMs: number): Clock {
  let c = clocks.get(intervalMs);
  if (!c) clocks.set(intervalMs, (c = { now: Date.now(), listeners: new Set(), timer: null }));
  return c;
}

function subscribeClock(intervalMs: number, listener: () => void): () => void {
  const c = clock(intervalMs);
  c.listeners.add(listener);
  if (c.timer === null) {
    c.now = Date.now();
    c.timer = setInterval(() => {
      c.now = Date.now();
      c.listeners.forEach((l) => l());
    }, intervalMs);
  }
  return () => {
    c.listeners.delete(listener);
    if (!c.listeners.size && c.timer !== null) {
      clearInterval(c.timer);
      c.timer = null;
    }
  };
}

/** The current time, refreshed every `intervalMs` by one timer shared by every caller (countdowns, "3s ago"). */
export function useNow(intervalMs = 1000): number {
  const subscribe = useCallback((listener: () => void) => subscribeClock(intervalMs, listener), [intervalMs]);
  return useSyncExternalStore(subscribe, () => clock(intervalMs).now);
}
