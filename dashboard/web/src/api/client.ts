/**
 * The dashboard API, typed from its OpenAPI schema (openapi-fetch over the generated `paths`).
 *
 * One `Api` per tab (base URL + token). Every method resolves with the response's data or throws
 * an `ApiError` carrying the service's problems, so hooks have one error path.
 */
import createClient, { type Client } from "openapi-fetch";
import { ApiError, toApiError } from "./errors";
import type { paths } from "./schema.gen";
import type {
  BulkResult, Device, DeviceCreate, DeviceUpdate, ExportFormat, Fleet, FleetMembers, ImportResult, ProfileSummary,
  Scenario,
} from "./types";

export type Message = Record<string, unknown>;

/** The subprotocol `/ws` speaks, and the prefix of the one carrying the token (see the service's `security`). */
export const WS_PROTOCOL = "iotemu.v1";
export const WS_TOKEN_PREFIX = "iotemu.token.";

export interface ApiOptions {
  /** Base URL of the service (`""`: the page's own origin). */
  baseUrl: string;
  /** Bearer token, when the service requires one. */
  token?: string | null;
  /** For tests: the fetch to use. */
  fetch?: typeof fetch;
}

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

function unwrap<T>({ data, error, response }: Result<T>): T {
  if (!response.ok || error !== undefined) throw toApiError(response.status, error, response.statusText);
  return data as T;
}

async function orNetworkError<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (exc) {
    if (exc instanceof ApiError) throw exc;
    throw new ApiError(0, `The service cannot be reached (${exc instanceof Error ? exc.message : String(exc)})`);
  }
}

const EXPORT_NAMES: Record<ExportFormat, string> = {
  json: "iotemu.json",
  yaml: "iot_devices.yaml",
  iot_devices: "iot_devices.json",
  stats: "stats.csv",
};

export class Api {
  readonly client: Client<paths>;
  readonly baseUrl: string;
  readonly token: string | null;

  constructor({ baseUrl, token = null, fetch: fetchImpl }: ApiOptions) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = token || null;
    this.client = createClient<paths>({
      baseUrl: this.baseUrl,
      headers: this.token ? { Authorization: `Bearer ${this.token}` } : {},
      // Late-bound: tests replace globalThis.fetch after the client exists.
      fetch: (request: Request) => (fetchImpl ?? globalThis.fetch)(request),
    });
  }

  /** The WebSocket URL of the live events (`/ws`; never the token: URLs end up in logs). */
  wsUrl(origin: string = globalThis.location?.href ?? "http://localhost/"): string {
    const url = new URL(`${this.baseUrl}/ws`, origin);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.toString();
  }

  /** The WebSocket's subprotocols: the service's, and the token (a browser cannot add headers to a WebSocket). */
  wsProtocols(): string[] {
    return this.token ? [WS_PROTOCOL, `${WS_TOKEN_PREFIX}${this.token}`] : [WS_PROTOCOL];
  }

  // -- devices --------------------------------------------------------------------------------

  listDevices = async (): Promise<Device[]> => unwrap(await orNetworkError(this.client.GET("/api/devices")));

  createDevice = async (body: DeviceCreate): Promise<Device> =>
    unwrap(await orNetworkError(this.client.POST("/api/devices", { body })));

  replaceDevice = async (name: string, body: DeviceUpdate): Promise<Device> =>
    unwrap(await orNetworkError(this.client.PUT("/api/devices/{name}", { params: { path: { name } }, body })));

  deleteDevice = async (name: string): Promise<void> => {
    unwrap(await orNetworkError(this.client.DELETE("/api/devices/{name}", { params: { path: { name } } })));
  };

  startDevice = async (name: string): Promise<BulkResult> =>
    unwrap(await orNetworkError(this.client.POST("/api/devices/{name}/start", { params: { path: { name } } })));

  stopDevice = async (name: string): Promise<BulkResult> =>
    unwrap(await orNetworkError(this.client.POST("/api/devices/{name}/stop", { params: { path: { name } } })));

  /** Set a device's scenario: the device restarts with it and the steps count from then. */
  setDeviceScenario = async (name: string, body: Scenario): Promise<Device> =>
    unwrap(await orNetworkError(this.client.PUT("/api/devices/{name}/scenario", { params: { path: { name } }, body })));

  /** Stop and remove a device's scenario. */
  clearDeviceScenario = async (name: string): Promise<Device> =>
    unwrap(await orNetworkError(this.client.DELETE("/api/devices/{name}/scenario", { params: { path: { name } } })));

  /** Set a fleet's scenario: its members restart with it (`share`/`count` pick them by the seed). */
  setFleetScenario = async (name: string, body: Scenario): Promise<Fleet> =>
    unwrap(await orNetworkError(this.client.PUT("/api/fleets/{name}/scenario", { params: { path: { name } }, body })));

  /** Stop and remove a fleet's scenario. */
  clearFleetScenario = async (name: string): Promise<Fleet> =>
    unwrap(await orNetworkError(this.client.DELETE("/api/fleets/{name}/scenario", { params: { path: { name } } })));

  startAll = async (): Promise<BulkResult> => unwrap(await orNetworkError(this.client.POST("/api/devices/start-all")));

  stopAll = async (): Promise<BulkResult> => unwrap(await orNetworkError(this.client.POST("/api/devices/stop-all")));

  /** Kept messages of a device, oldest first (`types`: shell patterns such as `dhcp*`, `stats`). */
  deviceEvents = async (deviceId: string, types: string[] = []): Promise<Message[]> =>
    unwrap(
      await orNetworkError(
        this.client.GET("/api/devices/{device_id}/events", {
          params: { path: { device_id: deviceId }, query: { type: types } },
        }),
      ),
    );

  /** Log and error records of a device, oldest first. */
  deviceLogs = async (deviceId: string, limit = 500): Promise<Message[]> =>
    unwrap(await orNetworkError(this.client.GET("/api/logs", { params: { query: { device: deviceId, limit } } })));

  // -- profiles -------------------------------------------------------------------------------

  listProfiles = async (): Promise<ProfileSummary[]> =>
    unwrap(await orNetworkError(this.client.GET("/api/profiles")));

  /** One profile with every fingerprint (an open document: read it with `lib/fingerprint`). */
  getProfile = async (name: string): Promise<Message> =>
    unwrap(await orNetworkError(this.client.GET("/api/profiles/{name}", { params: { path: { name } } })));

  // -- fleets ---------------------------------------------------------------------------------

  listFleets = async (): Promise<Fleet[]> => unwrap(await orNetworkError(this.client.GET("/api/fleets")));

  scaleFleet = async (name: string, replicas: number): Promise<Fleet> =>
    unwrap(
      await orNetworkError(
        this.client.PUT("/api/fleets/{name}/scale", { params: { path: { name } }, body: { replicas } }),
      ),
    );

  startFleet = async (name: string): Promise<BulkResult> =>
    unwrap(await orNetworkError(this.client.POST("/api/fleets/{name}/start", { params: { path: { name } } })));

  stopFleet = async (name: string): Promise<BulkResult> =>
    unwrap(await orNetworkError(this.client.POST("/api/fleets/{name}/stop", { params: { path: { name } } })));

  /** Members [offset, offset + limit) of a fleet, with their MAC, host name, phase and address. */
  fleetMembers = async (name: string, offset = 0, limit = 1000): Promise<FleetMembers> =>
    unwrap(
      await orNetworkError(
        this.client.GET("/api/fleets/{name}/members", { params: { path: { name }, query: { offset, limit } } }),
      ),
    );

  // -- captures -------------------------------------------------------------------------------

  /**
   * A live pcap of a running device or fleet, `seconds` long: resolves when the capture ends (the
   * token goes in the Authorization header, never in a URL); aborting the signal stops it.
   */
  capture = async (
    kind: "device" | "fleet",
    name: string,
    seconds: number,
    signal?: AbortSignal,
  ): Promise<{ name: string; blob: Blob }> => {
    const options = { params: { path: { name }, query: { seconds } }, parseAs: "blob" as const, signal };
    const result =
      kind === "device"
        ? await orNetworkError(this.client.GET("/api/devices/{name}/capture", options))
        : await orNetworkError(this.client.GET("/api/fleets/{name}/capture", options));
    const blob = unwrap(result as Result<Blob>);
    return { name: fileName(result.response) ?? `${kind}-${name}.pcap`, blob };
  };

  // -- import / export ------------------------------------------------------------------------

  /** All or nothing: a 422 ApiError lists every bad entry and nothing is changed. */
  /** Import a file; with `dryRun` the service only checks it and says what it would change. */
  importText = async (text: string, contentType: string, dryRun = false): Promise<ImportResult> =>
    unwrap(
      await orNetworkError(
        this.client.POST("/api/import", {
          params: { query: { mode: "merge", dry_run: dryRun } },
          body: text as never,
          bodySerializer: (body: unknown) => body as string,
          headers: { "Content-Type": contentType },
        }),
      ),
    );

  /** An export as a file: its name and content. */
  exportFile = async (format: ExportFormat): Promise<{ name: string; blob: Blob }> => {
    const result =
      format === "stats"
        ? await orNetworkError(this.client.GET("/api/export/stats.csv", { parseAs: "blob" }))
        : await orNetworkError(this.client.GET("/api/export", { params: { query: { format } }, parseAs: "blob" }));
    const blob = unwrap(result as Result<Blob>);
    return { name: fileName(result.response) ?? EXPORT_NAMES[format], blob };
  };
}

function fileName(response: Response): string | undefined {
  const header = response.headers.get("Content-Disposition") ?? "";
  return /filename="([^"]+)"/.exec(header)?.[1];
}
