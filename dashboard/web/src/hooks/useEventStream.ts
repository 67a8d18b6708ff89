/**
 * The one WebSocket of the tab: connects, hands every frame to `onFrame`, reconnects with
 * exponential backoff when the connection drops, and reports its state for the banner.
 *
 * A close with code 1008 (wrong or missing token) is final: retrying cannot fix it. The browser
 * coming back online, or `retryNow()`, skips the wait.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { type BackoffOptions, DEFAULT_BACKOFF, backoffDelay } from "../lib/backoff";
import { type Frame, parseFrame } from "../lib/live/messages";

export type ConnectionState = "connecting" | "open" | "reconnecting" | "unauthorized";

export interface Connection {
  state: ConnectionState;
  /** Failed attempts in a row (0 once connected). */
  attempt: number;
  /** When the next attempt starts (epoch ms), while reconnecting. */
  retryAt: number | null;
  /** Why the last connection ended, if it did. */
  lastClose: string | null;
  retryNow: () => void;
}

export interface EventStreamOptions {
  backoff?: BackoffOptions;
  random?: () => number;
  /** Subprotocols offered (the token travels as one); a change reconnects. */
  protocols?: string[];
  /** For tests: the WebSocket class. */
  WebSocket?: typeof WebSocket;
}

const POLICY_VIOLATION = 1008;

interface StreamStatus {
  state: ConnectionState;
  attempt: number;
  retryAt: number | null;
  lastClose: string | null;
}

export function useEventStream(
  url: string | null,
  onFrame: (frame: Frame) => void,
  options: EventStreamOptions = {},
): Connection {
  const [status, setStatus] = useState<StreamStatus>({ state: "connecting", attempt: 0, retryAt: null, lastClose: null });
  const onFrameRef = useRef(onFrame);
  const optionsRef = useRef(options);
  const retryRef = useRef<() => void>(() => undefined);

  useEffect(() => {
    onFrameRef.current = onFrame;
    optionsRef.current = options;
  });

  const protocolKey = (options.protocols ?? []).join(",");

  useEffect(() => {
    if (!url) return undefined;
    const { backoff = DEFAULT_BACKOFF, random = Math.random, WebSocket: Socket = globalThis.WebSocket } =
      optionsRef.current;
    let socket: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let attempt = 0;
    let disposed = false;

    const connect = () => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      setStatus((s) => ({ ...s, state: attempt ? "reconnecting" : "connecting", retryAt: null }));
      const ws = protocolKey ? new Socket(url, protocolKey.split(",")) : new Socket(url);
      socket = ws;
      ws.onopen = () => {
        if (disposed || socket !== ws) return;
        attempt = 0;
        setStatus({ state: "open", attempt: 0, retryAt: null, lastClose: null });
      };
      ws.onmessage = (event: MessageEvent) => {
        if (disposed || socket !== ws || typeof event.data !== "string") return;
        const frame = parseFrame(event.data);
        if (frame) onFrameRef.current(frame);
      };
      ws.onclose = (event: CloseEvent) => {
        if (disposed || socket !== ws) return;
        socket = null;
        const reason = event.reason || `code ${event.code}`;
        if (event.code === POLICY_VIOLATION) {
          setStatus({ state: "unauthorized", attempt, retryAt: null, lastClose: reason });
          return;
        }
        const delay = backoffDelay(attempt, backoff, random);
        attempt += 1;
        setStatus({ state: "reconnecting", attempt, retryAt: Date.now() + delay, lastClose: reason });
        timer = setTimeout(connect, delay);
      };
    };

    const retryNow = () => {
      if (disposed || socket !== null) return;
      connect();
    };
    retryRef.current = retryNow;
    const online = () => retryNow();
    globalThis.addEventListener?.("online", online);
    connect();
    return () => {
      disposed = true;
      globalThis.removeEventListener?.("online", online);
      if (timer !== null) clearTimeout(timer);
      const ws = socket;
      socket = null;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = null;
        ws.close();
      }
    };
  }, [url, protocolKey]);

  const retryNow = useCallback(() => retryRef.current(), []);
  return useMemo(() => ({ ...status, retryNow }), [status, retryNow]);
}
