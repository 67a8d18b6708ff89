/** Test doubles: a routed fetch, a scriptable WebSocket, devices, and the tab's services around a component. */
import { render, type RenderResult } from "@testing-library/react";
import type { ReactElement } from "react";
import { Api } from "../api/client";
import type { Device, ProfileSummary } from "../api/types";
import { type NoticeKind, TabContext, type TabServices } from "../hooks/TabContext";
import type { Connection } from "../hooks/useEventStream";
import { LiveStore } from "../lib/live/store";

export type Handler = (request: Request, match: RegExpMatchArray) => unknown | Response | Promise<unknown | Response>;

export interface Route {
  method: string;
  path: RegExp;
  handler: Handler;
}

export interface FetchMock {
  fetch: typeof fetch;
  calls: { method: string; url: string; body: string }[];
  on: (method: string, path: RegExp, handler: Handler) => void;
}

export function json(body: unknown, status = 200): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/** A fetch that answers by method and path; unknown routes get 404. */
export function mockFetch(): FetchMock {
  const routes: Route[] = [];
  const calls: FetchMock["calls"] = [];
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    const url = new URL(request.url);
    const body = request.method === "GET" ? "" : await request.clone().text();
    calls.push({ method: request.method, url: url.pathname + url.search, body });
    for (const route of [...routes].reverse()) {
      const match = url.pathname.match(route.path);
      if (route.method === request.method && match) {
        const result = await route.handler(request, match);
        return result instanceof Response ? result : json(result);
      }
    }
    return json({ detail: "Not Found" }, 404);
  };
  return {
    fetch: fetchImpl as typeof fetch,
    calls,
    on: (method, path, handler) => routes.push({ method, path, handler }),
  };
}

/** A WebSocket the test drives: `FakeSocket.last.open()`, `.send(frame)`, `.drop(code)`. */
export class FakeSocket {
  static instances: FakeSocket[] = [];
  static get last(): FakeSocket {
    return FakeSocket.instances[FakeSocket.instances.length - 1]!;
  }
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  closed = false;

  constructor(
    readonly url: string,
    readonly protocols: string[] = [],
  ) {
    FakeSocket.instances.push(this);
  }

  open(): void {
    this.onopen?.(new Event("open"));
  }

  emit(event: string, data: unknown): void {
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify({ event, data }) }));
  }

  drop(code = 1006, reason = ""): void {
    this.onclose?.(new CloseEvent("close", { code, reason }));
  }

  close(): void {
    this.closed = true;
  }

  send(): void {}
}

export const PROFILES: ProfileSummary[] = [
  {
    name: "tiny-cam", vendor: "Tinycam", model: "TC-1", deviceClass: "camera", os: "Linux",
    ouis: ["44:19:b6"], protocols: ["arp", "dhcp", "icmp"], dot1x: null, dot1xEnabled: false,
  },
  {
    name: "tiny-plug", vendor: "Plugco", model: "P-1", deviceClass: "plug", os: "lwIP",
    ouis: ["50:c7:bf"], protocols: ["arp", "dhcp"], dot1x: null, dot1xEnabled: false,
  },
  {
    name: "tiny-phone", vendor: "Phoneco", model: "PH-1", deviceClass: "phone", os: "Linux",
    ouis: ["00:04:f2"], protocols: ["arp", "dhcp", "lldp"], dot1x: "peap", dot1xEnabled: false,
  },
];

export function device(name: string, overrides: Partial<Device["status"]> = {}, profile = "tiny-cam"): Device {
  const p = PROFILES.find((x) => x.name === profile)!;
  return {
    name,
    labels: {},
    annotations: {},
    spec: { profile, dhcp: { mode: "auto", address: null }, trafficInterval: 60, running: false, protocols: null, mac: null, vlanPriority: 0 },
    status: {
      running: false, phase: "stopped", ip: null, mac: `${p.ouis[0]}:00:00:01`, hostname: `${name}-host`,
      profile, vendor: p.vendor, deviceClass: p.deviceClass, fleet: null, lastError: null, updated: null, stats: null,
      ...overrides,
    },
  };
}

export interface Harness {
  api: Api;
  store: LiveStore;
  http: FetchMock;
  notices: { kind: NoticeKind; title: string; lines?: string[] }[];
  services: TabServices;
}

export const OPEN_CONNECTION: Connection = { state: "open", attempt: 0, retryAt: null, lastClose: null, retryNow: () => {} };

/** Services with a routed fetch and a store that notifies synchronously. */
export function harness(): Harness {
  const http = mockFetch();
  const api = new Api({ baseUrl: "http://svc", fetch: http.fetch });
  const store = new LiveStore({ schedule: (flush) => flush() });
  const notices: Harness["notices"] = [];
  const services: TabServices = {
    api,
    store,
    connection: OPEN_CONNECTION,
    notify: (kind, title, lines) => notices.push({ kind, title, lines }),
  };
  return { api, store, http, notices, services };
}

export function renderWith(h: Harness, ui: ReactElement): RenderResult {
  return render(<TabContext.Provider value={h.services}>{ui}</TabContext.Provider>);
}
