/** A small read hook: load once per key, expose loading / error / data, reload on demand. */
import { useCallback, useEffect, useRef, useState } from "react";

export type QueryState<T> =
  | { status: "loading"; data: T | undefined; error: null }
  | { status: "ready"; data: T; error: null }
  | { status: "error"; data: T | undefined; error: Error };

export interface Query<T> {
  state: QueryState<T>;
  reload: () => Promise<void>;
}

export function useQuery<T>(key: string | null, load: () => Promise<T>, pollMs?: number): Query<T> {
  const [state, setState] = useState<QueryState<T>>({ status: "loading", data: undefined, error: null });
  const loadRef = useRef(load);
  const generation = useRef(0);

  useEffect(() => {
    loadRef.current = load;
  });

  const run = useCallback(async (quiet: boolean) => {
    const mine = ++generation.current;
    if (!quiet) setState((s) => ({ status: "loading", data: s.data, error: null }));
    try {
      const data = await loadRef.current();
      if (mine === generation.current) setState({ status: "ready", data, error: null });
    } catch (exc) {
      if (mine === generation.current) {
        setState((s) => ({ status: "error", data: s.data, error: exc instanceof Error ? exc : new Error(String(exc)) }));
      }
    }
  }, []);

  useEffect(() => {
    if (key === null) return undefined;
    void run(false);
    if (!pollMs) return undefined;
    const timer = setInterval(() => void run(true), pollMs);
    return () => clearInterval(timer);
  }, [key, run, pollMs]);

  const reload = useCallback(() => run(true), [run]);
  return { state, reload };
}
