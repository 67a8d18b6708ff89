/**
 * Readers of the live protocol's messages (typed in `protocol.ts`, generated from the service's
 * models): a DHCP step as a timeline entry, a log, error or scenario message as a log line, and the
 * small helpers that read open documents (profiles, imported files) without trusting them.
 */
import type { Phase } from "../../api/types";
import {
  DHCP_TYPES, type DhcpMessage, type DhcpType, type EmulatorMessage, LOG_LEVELS, type LogLevel, type MessageOf,
} from "./protocol";

export { DHCP_TYPES, LOG_LEVELS, isSnapshot, parseFrame } from "./protocol";
export type { DhcpType, EmulatorMessage, LogLevel, ServerFrame as Frame, Snapshot } from "./protocol";

/** An open JSON document (a profile, an imported file): read it with `str`, `num`, `isRecord`. */
export type Document = Record<string, unknown>;

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

export function isRecord(value: unknown): value is Document {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

export function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

export function isDhcpType(type: unknown): type is DhcpType {
  return typeof type === "string" && (DHCP_TYPES as readonly string[]).includes(type);
}

export function isDhcpMessage(message: EmulatorMessage): message is DhcpMessage {
  return isDhcpType(message.type);
}

/** The address a DHCP step is about, and the text that explains it, by the step's fields. */
function dhcpDetail(message: DhcpMessage): { ip: string | null; server: string | null; xid: string | null; leaseTime: number | null; note: string | null } {
  switch (message.type) {
    case "dhcp_discover":
      return { ip: str(message.requested_ip), server: null, xid: message.xid, leaseTime: null, note: null };
    case "dhcp_offer":
      return { ip: message.offered_ip, server: message.server_id, xid: str(message.xid), leaseTime: num(message.lease_time), note: null };
    case "dhcp_request":
      return { ip: message.requested_ip, server: str(message.server_id), xid: message.xid, leaseTime: null, note: null };
    case "dhcp_ack":
      return { ip: message.assigned_ip, server: message.server_id, xid: str(message.xid), leaseTime: message.lease_time, note: null };
    case "dhcp_nak":
      return { ip: null, server: message.server_id, xid: message.xid, leaseTime: null, note: str(message.message) };
    case "dhcp_renew":
    case "dhcp_rebind":
      return { ip: message.assigned_ip, server: message.server_id, xid: null, leaseTime: null, note: null };
    case "dhcp_release":
      return { ip: message.address, server: message.server_id, xid: null, leaseTime: null, note: null };
    case "dhcp_decline":
      return { ip: message.address, server: null, xid: null, leaseTime: null, note: str(message.reason) };
    case "dhcp_expire":
      return { ip: message.address, server: null, xid: null, leaseTime: null, note: null };
  }
}

/** A `dhcp_*` message as a timeline entry, or null for any other message. */
export function toDhcpEvent(message: EmulatorMessage): DhcpEvent | null {
  if (!isDhcpMessage(message)) return null;
  return { type: message.type, timestamp: message.timestamp, ...dhcpDetail(message) };
}

function levelOf(value: unknown, fallback: LogLevel): LogLevel {
  return typeof value === "string" && (LOG_LEVELS as readonly string[]).includes(value) ? (value as LogLevel) : fallback;
}

/**
 * A scenario behaviour's start or end as its log line, as the emulator writes it:
 * `[scenario NAME] behaviour: started (step N): detail`.
 */
export function scenarioLine(message: MessageOf<"scenario">): string {
  const detail = str(message.detail);
  const text = `${message.state} (step ${message.step})${detail ? `: ${detail}` : ""}`;
  return `[scenario ${message.scenario}] ${message.behaviour}: ${text}`;
}

/** A `log`, `error`, `scenario` or 802.1X outcome message as a log line, or null (also for a log line echoing a scenario message). */
export function toLogRecord(message: EmulatorMessage): LogRecord | null {
  const { timestamp } = message;
  if (!timestamp) return null;
  const source = message.source === "dashboard" ? "dashboard" : "device";
  switch (message.type) {
    case "scenario":
      return { timestamp, level: "info", message: scenarioLine(message), source: "scenario" };
    case "log":
      if (message.echo_of === "scenario") return null; // the typed `scenario` message is shown instead
      return { timestamp, level: levelOf(message.level, "info"), message: message.message ?? "", source };
    case "error":
      return { timestamp, level: levelOf(message.severity, "error"), message: message.error ?? "", source };
    case "dot1x_success": {
      const again = message.reauthentication ? "re-authenticated" : "authorized";
      return { timestamp, level: "info", message: `802.1X ${again}: ${message.identity} (${message.method}, ${message.seconds}s)`, source };
    }
    case "dot1x_failure":
      return { timestamp, level: "warning", message: `802.1X refused: ${message.identity} (${message.method}, failure ${message.failures}, retry in ${message.retry_in}s)`, source };
    case "dot1x_timeout":
      return { timestamp, level: "warning", message: `802.1X: no authenticator after ${message.starts} EAPOL-Starts, port taken as open`, source };
    default:
      return null;
  }
}

const PHASES: readonly Phase[] = ["stopped", "pending", "binding", "bound", "error", "unknown"];

export function toPhase(value: unknown): Phase | null {
  return typeof value === "string" && (PHASES as readonly string[]).includes(value) ? (value as Phase) : null;
}
