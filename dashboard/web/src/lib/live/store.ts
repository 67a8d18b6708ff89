/**
 * The live store: what the devices said over the WebSocket, kept outside React state.
 *
 * Thousands of `device:stats` messages a second must not re-render the grid. The store keeps one
 * record per device (its live status, a bounded history of rate samples, DHCP steps and log
 * lines); components read one device through `useSyncExternalStore` (see `hooks/useLive`), so a
 * message re-renders only the rows and panels showing that device. Notifications are coalesced:
 * changed devices are collected and their listeners called once per animation frame.
 *
 * The phase rules mirror the service's `events.LiveState.apply`, so the grid and `GET
 * /api/devices` agree.
 */
import type { AuthOutcome, Device, Phase } from "../../api/types";
import { type DhcpEvent, type LogRecord, isRecord, num, str, toDhcpEvent, toLogRecord, toPhase } from "./messages";
import type { EmulatorMessage, LeaseBody, MessageOf, StatsBody } from "./protocol";
import { DhcpRate } from "./dhcpRate";
import { Ring } from "./ring";

export interface Lease {
  serverId: string | null;
  leaseTime: number | null;
  /** Epoch ms the countdowns below were measured at (the stats message's time). */
  at: number;
  expiresIn: number | null;
  t1In: number | null;
  t2In: number | null;
}

export interface LiveDevice {
  phase: Phase;
  ip: string | null;
  /** The IPv6 addresses in use, for a device that speaks IPv6 (null otherwise). */
  ipv6: readonly string[] | null;
  packetsSent: number;
  bytesSent: number;
  packetsReceived: number;
  bytesReceived: number;
  /** Packets per second over the last stats interval (the emulator's `packet_rate`). */
  packetRate: number;
  /** Bytes per second between the last two stats messages. */
  byteRate: number;
  uptime: number | null;
  protocols: Readonly<Record<string, number>>;
  lease: Lease | null;
  dhcpState: string | null;
  /** 802.1X: authorized, authenticating, failed, ... or `mab` for a device that never speaks EAPOL. */
  auth: string | null;
  /** The last 802.1X outcome (dot1x_success / dot1x_failure / dot1x_timeout), or what the service last saw. */
  authLast: AuthOutcome | null;
  lastError: string | null;
  /** Timestamp (ISO 8601) of the device's last message. */
  lastSeen: string | null;
}

export interface Sample {
  /** Epoch ms. */
  t: number;
  pps: number;
  bps: number;
}

export type Listener = () => void;
export type AnyListener = (changed: ReadonlySet<string>) => void;
export type Schedule = (flush: () => void) => void;

export interface LiveStoreOptions {
  /** How a batch of notifications is deferred (default: the next animation frame). */
  schedule?: Schedule;
  /** Rate samples kept per device, and their age limit in ms. */
  maxSamples?: number;
  historyMs?: number;
  maxDhcpEvents?: number;
  maxLogs?: number;
}

const BINDING = new Set(["dhcp_discover", "dhcp_offer", "dhcp_request", "dhcp_nak", "dhcp_expire", "dhcp_decline"]);
const ADDRESSLESS = new Set(["dhcp_nak", "dhcp_expire", "dhcp_release", "dhcp_decline"]);

const EMPTY_LIVE: LiveDevice = Object.freeze({
  phase: "stopped",
  ip: null,
  ipv6: null,
  packetsSent: 0,
  bytesSent: 0,
  packetsReceived: 0,
  bytesReceived: 0,
  packetRate: 0,
  byteRate: 0,
  uptime: null,
  protocols: Object.freeze({}),
  lease: null,
  dhcpState: null,
  auth: null,
  authLast: null,
  lastError: null,
  lastSeen: null,
});

class DeviceRecord {
  live: LiveDevice = EMPTY_LIVE;
  readonly samples: Ring<Sample>;
  readonly dhcp: Ring<DhcpEvent>;
  readonly logs: Ring<LogRecord>;
  lastBytes: { t: number; bytes: number } | null = null;

  constructor(options: Required<Omit<LiveStoreOptions, "schedule" | "historyMs">>) {
    this.samples = new Ring(options.maxSamples);
    this.dhcp = new Ring(options.maxDhcpEvents);
    this.logs = new Ring(options.maxLogs);
  }
}

function defaultSchedule(flush: () => void): void {
  if (typeof requestAnimationFrame === "function" && typeof document !== "undefined" && !document.hidden) {
    requestAnimationFrame(flush);
  } else {
    setTimeout(flush, 50);
  }
}

type Dot1xOutcome = MessageOf<"dot1x_success"> | MessageOf<"dot1x_failure"> | MessageOf<"dot1x_timeout">;

const RESULT: Record<Dot1xOutcome["type"], AuthOutcome["result"]> = {
  dot1x_success: "success",
  dot1x_failure: "failure",
  dot1x_timeout: "timeout",
};

/** The service's `AuthOutcome` of a dot1x message, so a live outcome and a listed one look the same. */
function outcomeOf(message: Dot1xOutcome, timestamp: string | null): AuthOutcome {
  return {
    result: RESULT[message.type],
    method: "method" in message ? message.method : null,
    identity: message.identity,
    timestamp,
    retryIn: message.type === "dot1x_failure" ? message.retry_in : null,
  };
}

function leaseOf(value: unknown, at: number): Lease | null {
  if (!isRecord(value)) return null;
  const lease = value as Partial<LeaseBody>;
  return {
    serverId: str(lease.server_id),
    leaseTime: num(lease.lease_time),
    at,
    expiresIn: num(lease.expires_in),
    t1In: num(lease.t1_in),
    t2In: num(lease.t2_in),
  };
}

function protocolsOf(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof value === "object" && value !== null) {
    for (const [name, count] of Object.entries(value)) if (typeof count === "number") out[name] = count;
  }
  return out;
}

export class LiveStore {
  /** Fleet-wide DHCP steps per second (fed by the live feed only: a history replay is not "now"). */
  readonly dhcpRate = new DhcpRate();
  private readonly records = new Map<string, DeviceRecord>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly anyListeners = new Set<AnyListener>();
  private dirty = new Set<string>();
  private scheduled = false;
  private readonly schedule: Schedule;
  private readonly historyMs: number;
  private readonly sizes: Required<Omit<LiveStoreOptions, "schedule" | "historyMs">>;

  constructor(options: LiveStoreOptions = {}) {
    this.schedule = options.schedule ?? defaultSchedule;
    this.historyMs = options.historyMs ?? 10 * 60_000;
    this.sizes = {
      maxSamples: options.maxSamples ?? 600,
      maxDhcpEvents: options.maxDhcpEvents ?? 200,
      maxLogs: options.maxLogs ?? 500,
    };
  }

  // -- reading --------------------------------------------------------------------------------

  /** The device's live status (the same object until it changes), or undefined if never heard of. */
  get(id: string): LiveDevice | undefined {
    return this.records.get(id)?.live;
  }

  samples(id: string): readonly Sample[] {
    return this.records.get(id)?.samples.snapshot() ?? EMPTY;
  }

  dhcpEvents(id: string): readonly DhcpEvent[] {
    return this.records.get(id)?.dhcp.snapshot() ?? EMPTY;
  }

  logs(id: string): readonly LogRecord[] {
    return this.records.get(id)?.logs.snapshot() ?? EMPTY;
  }

  ids(): IterableIterator<string> {
    return this.records.keys();
  }

  // -- subscribing ----------------------------------------------------------------------------

  subscribe(id: string, listener: Listener): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (!set.size) this.listeners.delete(id);
    };
  }

  /** Called once per batch with the ids that changed. */
  subscribeAny(listener: AnyListener): () => void {
    this.anyListeners.add(listener);
    return () => this.anyListeners.delete(listener);
  }

  /** Deliver pending notifications now (the scheduler calls this; tests may too). */
  flush = (): void => {
    this.scheduled = false;
    if (!this.dirty.size) return;
    const changed = this.dirty;
    this.dirty = new Set();
    for (const id of changed) this.listeners.get(id)?.forEach((listener) => listener());
    this.anyListeners.forEach((listener) => listener(changed));
  };

  private touch(id: string): void {
    this.dirty.add(id);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.flush);
    }
  }

  private record(id: string): DeviceRecord {
    let record = this.records.get(id);
    if (!record) this.records.set(id, (record = new DeviceRecord(this.sizes)));
    return record;
  }

  // -- writing --------------------------------------------------------------------------------

  /**
   * The device messages of a `batch` frame, in order: listeners hear once (at the next scheduled
   * flush) for all the devices the batch changed, however many messages it held.
   */
  applyBatch(messages: readonly EmulatorMessage[]): void {
    for (const message of messages) this.apply(message);
  }

  /** One emulator message (the `data` of a `device:*` frame, or one of a batch's). */
  apply(message: EmulatorMessage): void {
    const id = str(message.device_id);
    const type = message.type;
    if (!id || id === "dashboard") return;
    const record = this.record(id);
    const timestamp = str(message.timestamp);
    let live: LiveDevice = { ...record.live, lastSeen: timestamp ?? record.live.lastSeen };
    if (message.type === "started") {
      // A (re)started device counts from zero again.
      live = { ...EMPTY_LIVE, phase: "pending", lastSeen: live.lastSeen };
      record.lastBytes = null;
    } else if (message.type === "stopped") {
      live = { ...live, phase: "stopped", ip: null, ipv6: null, auth: null, lease: null, packetRate: 0, byteRate: 0 };
    } else if (message.type === "stats") {
      live = this.applyStats(record, live, message.stats, timestamp);
    } else if (message.type === "dot1x_success" || message.type === "dot1x_failure" || message.type === "dot1x_timeout") {
      live = { ...live, authLast: outcomeOf(message, timestamp) };
    } else if (message.type === "dhcp_ack") {
      // The server granted the address; the device still checks it (RFC 5227) before using it.
      // "bound" comes with the stats message the emulator sends the moment the check passes.
      live = { ...live, phase: live.phase === "bound" ? "bound" : "binding", ip: str(message.assigned_ip) ?? live.ip };
    } else if (BINDING.has(type) && live.phase !== "bound") {
      live = { ...live, phase: "binding" };
    }
    if (ADDRESSLESS.has(type)) {
      live = { ...live, ip: null, lease: null, phase: live.phase === "bound" ? "binding" : live.phase };
    }
    if (message.type === "error") {
      live = { ...live, lastError: message.error };
      if ((message.severity === "error" || message.severity === "critical") && message.fatal) {
        live = { ...live, phase: "error" };
      }
    }
    const event = toDhcpEvent(message);
    if (event) record.dhcp.push(event);
    const line = toLogRecord(message);
    if (line) record.logs.push(line);
    record.live = live;
    this.touch(id);
  }

  private applyStats(record: DeviceRecord, live: LiveDevice, value: StatsBody, timestamp: string | null): LiveDevice {
    if (!isRecord(value)) return live;
    const stats: Partial<StatsBody> = value;
    const t = timestamp ? Date.parse(timestamp) : Date.now();
    const bytes = num(stats.bytes_sent) ?? 0;
    let byteRate = live.byteRate;
    const previous = record.lastBytes;
    if (previous && t - previous.t >= 200) {
      byteRate = Math.max(0, ((bytes - previous.bytes) * 1000) / (t - previous.t));
    } else if (!previous) {
      byteRate = 0;
    }
    if (!previous || t - previous.t >= 200) record.lastBytes = { t, bytes };
    const packetRate = num(stats.packet_rate) ?? 0;
    this.addSample(record, { t, pps: packetRate, bps: byteRate });
    return {
      ...live,
      phase: toPhase(stats.state) ?? live.phase,
      ip: str(stats.current_ip),
      ipv6: stats.ipv6_addresses ?? null,
      packetsSent: num(stats.packets_sent) ?? live.packetsSent,
      bytesSent: bytes,
      packetsReceived: num(stats.packets_received) ?? live.packetsReceived,
      bytesReceived: num(stats.bytes_received) ?? live.bytesReceived,
      packetRate,
      byteRate,
      uptime: num(stats.uptime_seconds),
      protocols: protocolsOf(stats.protocols),
      lease: leaseOf(stats.lease, t),
      dhcpState: str(stats.dhcp_state),
      auth: str(stats.auth),
    };
  }

  private addSample(record: DeviceRecord, sample: Sample): void {
    const last = record.samples.last();
    if (last && sample.t <= last.t) return; // a replayed or older message
    record.samples.push(sample);
    const oldest = sample.t - this.historyMs;
    record.samples.dropWhile((s) => s.t < oldest);
  }

  /** The status the service reported (REST or the WebSocket snapshot), unless newer messages were seen. */
  seed(device: Device): void {
    const status = device.status;
    const record = this.record(device.name);
    const known = record.live.lastSeen;
    if (known && status.updated && known > status.updated) return;
    if (known && !status.updated) return;
    let live: LiveDevice = {
      ...record.live,
      phase: status.phase,
      ip: status.ip ?? null,
      ipv6: status.ipv6 ?? null,
      auth: status.auth ?? null,
      authLast: status.authLast ?? null,
      lastError: status.lastError ?? null,
      lastSeen: status.updated ?? null,
    };
    if (status.stats) {
      const stats = status.stats as Partial<StatsBody>;
      live = {
        ...live,
        packetsSent: num(stats.packets_sent) ?? live.packetsSent,
        bytesSent: num(stats.bytes_sent) ?? live.bytesSent,
        packetsReceived: num(stats.packets_received) ?? live.packetsReceived,
        bytesReceived: num(stats.bytes_received) ?? live.bytesReceived,
        packetRate: status.running ? num(stats.packet_rate) ?? 0 : 0,
        uptime: num(stats.uptime_seconds),
        protocols: protocolsOf(stats.protocols),
        lease: status.ip ? leaseOf(stats.lease, status.updated ? Date.parse(status.updated) : Date.now()) : null,
        dhcpState: str(stats.dhcp_state),
        auth: str(stats.auth),
      };
    }
    record.live = live;
    this.touch(device.name);
  }

  /** Kept messages from `GET /api/devices/{id}/events` (oldest first): rate history and DHCP steps. */
  backfill(id: string, messages: readonly EmulatorMessage[]): void {
    const record = this.record(id);
    const stats = messages.filter((m) => m.type === "stats");
    const merged = new Map<number, Sample>(record.samples.toArray().map((s) => [s.t, s]));
    let previous: { t: number; bytes: number } | null = null;
    for (const m of stats) {
      const t = Date.parse(String(m.timestamp));
      const body: Partial<StatsBody> = isRecord(m.stats) ? m.stats : {};
      const bytes = num(body.bytes_sent) ?? 0;
      const bps = previous && t > previous.t ? ((bytes - previous.bytes) * 1000) / (t - previous.t) : 0;
      previous = { t, bytes };
      if (!merged.has(t) && Number.isFinite(t)) merged.set(t, { t, pps: num(body.packet_rate) ?? 0, bps: Math.max(0, bps) });
    }
    record.samples.reset([...merged.values()].sort((a, b) => a.t - b.t));
    const events = messages.map(toDhcpEvent).filter((e): e is DhcpEvent => e !== null);
    if (events.length) record.dhcp.reset(mergeByTime(record.dhcp.toArray(), events, dhcpKey));
    this.touch(id);
  }

  /** Kept log lines from `GET /api/logs?device=` (oldest first). */
  backfillLogs(id: string, messages: readonly EmulatorMessage[]): void {
    const record = this.record(id);
    const lines = messages.map(toLogRecord).filter((l): l is LogRecord => l !== null);
    record.logs.reset(mergeByTime(record.logs.toArray(), lines, (l) => `${l.timestamp}|${l.level}|${l.message}`));
    this.touch(id);
  }

  forget(id: string): void {
    if (this.records.delete(id)) this.touch(id);
  }
}

const EMPTY: readonly never[] = Object.freeze([]);

function dhcpKey(e: DhcpEvent): string {
  return `${e.timestamp}|${e.type}|${e.xid ?? ""}`;
}

function mergeByTime<T extends { timestamp: string }>(current: T[], incoming: T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of [...incoming, ...current]) if (!seen.has(key(item))) seen.set(key(item), item);
  return [...seen.values()].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
}
