/**
 * What arrives on `/ws`: frames `{event, data}`; device events carry the emulator's JSON-lines
 * message (`type`, `device_id`, `timestamp`, ...). Readers here turn those open documents into
 * typed values without trusting them.
 */
import type { Device, Fleet, Phase } from "../../api/types";

export type Message = Record<string, unknown>;

export interface Frame {
  event: string;
  data: unknown;
}

export interface Snapshot {
  devices: Device[];
  fleets: Fleet[];
}

export const DHCP_TYPES = [
  "dhcp_discover", "dhcp_offer", "dhcp_request", "dhcp_ack", "dhcp_nak", "dhcp_renew",
  "dhcp_rebind", "dhcp_release", "dhcp_decline", "dhcp_expire",
] as const;
export type DhcpType = (typeof DHCP_TYPES)[number];

export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface DhcpEvent {
  type: DhcpType;
  timestamp: string;
  /** The address the step is about (offered, requested, assigned, released). */
  ip: string | null;
  /** The server that answered (or was asked). */
  server: string | null;
  xid: string | null;
  leaseTime: number | null;
  /** A NAK's text, a DECLINE's reason. */
  note: string | null;
}

export interface LogRecord {
  timestamp: string;
  level: LogLevel;
  message: string;
  /** Who says it: the device, the dashboard service, or a behaviour scenario (a `scenario` message). */
  source: "device" | "dashboard" | "scenario";
}

export function isRecord(value: unknown): value is Message {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

export function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

export function parseFrame(text: string): Frame | null {
  try {
    const value: unknown = JSON.parse(text);
    if (isRecord(value) && typeof value.event === "string") return { event: value.event, data: value.data };
  } catch {
    // a frame that is not JSON is dropped
  }
  return null;
}

export function isSnapshot(data: unknown): data is Snapshot {
  return isRecord(data) && Array.isArray(data.devices) && Array.isArray(data.fleets);
}

export function isDhcpType(type: unknown): type is DhcpType {
  return typeof type === "string" && (DHCP_TYPES as readonly string[]).includes(type);
}

/** A `dhcp_*` message as a timeline entry, or null. */
export function toDhcpEvent(message: Message): DhcpEvent | null {
  const type = message.type;
  const timestamp = str(message.timestamp);
  if (!isDhcpType(type) || !timestamp) return null;
  return {
    type,
    timestamp,
    ip: str(message.assigned_ip) ?? str(message.offered_ip) ?? str(message.requested_ip) ?? str(message.address),
    server: str(message.server_id),
    xid: str(message.xid),
    leaseTime: num(message.lease_time),
    note: str(message.message) ?? str(message.reason),
  };
}

function levelOf(value: unknown, fallback: LogLevel): LogLevel {
  return typeof value === "string" && (LOG_LEVELS as readonly string[]).includes(value) ? (value as LogLevel) : fallback;
}

/**
 * A scenario behaviour's start or end as its log line, as the emulator writes it:
 * `[scenario NAME] behaviour: started (step N): detail`.
 */
export function scenarioLine(message: Message): string {
  const detail = str(message.detail);
  const text = `${String(message.state ?? "")} (step ${String(message.step ?? "")})${detail ? `: ${detail}` : ""}`;
  return `[scenario ${String(message.scenario ?? "")}] ${String(message.behaviour ?? "")}: ${text}`;
}

/** A `log`, `error` or `scenario` message as a log line, or null (also for a log line echoing a scenario message). */
export function toLogRecord(message: Message): LogRecord | null {
  const timestamp = str(message.timestamp);
  if (!timestamp) return null;
  if (message.type === "scenario") return { timestamp, level: "info", message: scenarioLine(message), source: "scenario" };
  const source = message.source === "dashboard" ? "dashboard" : "device";
  if (message.type === "log") {
    if (message.echo_of === "scenario") return null; // the typed `scenario` message is shown instead
    return { timestamp, level: levelOf(message.level, "info"), message: String(message.message ?? ""), source };
  }
  if (message.type === "error") {
    return { timestamp, level: levelOf(message.severity, "error"), message: String(message.error ?? ""), source };
  }
  return null;
}

const PHASES: readonly Phase[] = ["stopped", "pending", "binding", "bound", "error", "unknown"];

export function toPhase(value: unknown): Phase | null {
  return typeof value === "string" && (PHASES as readonly string[]).includes(value) ? (value as Phase) : null;
}
