/**
 * The live protocol's types, named once. All come from `protocol.gen.ts`, generated from the
 * service's pydantic models (`iot_emulator.reporting.message_models`, `iot_dashboard.frames`) by
 * `npm run generate`; a Python test fails when that file is stale. Never write a message's fields
 * by hand here: change the model, then regenerate.
 *
 * The few runtime lists below (message types, events) are checked against the generated unions at
 * compile time, so a type added to the models and not here fails `npm run typecheck`.
 */
import type { Device, Fleet } from "../../api/types";
import type { components } from "./protocol.gen";

type Schemas = components["schemas"];

/** Any message the emulator prints (a JSON line) and the service relays as `device:<type>`. */
export type EmulatorMessage = Schemas["EmulatorMessage"];
export type MessageType = EmulatorMessage["type"];
export type MessageOf<T extends MessageType> = Extract<EmulatorMessage, { type: T }>;
export type StatsBody = Schemas["StatsBody"];
export type LeaseBody = Schemas["Lease"];
export type DhcpMessage = Extract<EmulatorMessage, { type: `dhcp_${string}` }>;
export type DhcpType = DhcpMessage["type"];
export type LogLevel = Schemas["Log"]["level"];
/** A frame `WS /ws` sends, by `event`. */
export type ServerFrame = Schemas["ServerFrame"];
export type ServerEvent = ServerFrame["event"];
export type DeviceFrame = Extract<ServerFrame, { event: `device:${string}` }>;
export type ResourceChanged = Schemas["ResourceChanged"];
/** The `batch` frame's data: what happened since the client's last frame, in order (`WS /ws`). */
export type Batch = Schemas["Batch"];
export type BatchMessage = Batch["messages"][number];
/** A frame a client sends. */
export type ClientFrame = Schemas["ClientFrame"];
/**
 * The `snapshot` frame's data. The model is the REST API's `DevicePublic` and `FleetPublic`; the
 * tab uses the API's own generated types for them (the same models, one generated file).
 */
export interface Snapshot {
  devices: Device[];
  fleets: Fleet[];
}

/** Every message type, in the models' order. */
export const MESSAGE_TYPES = [
  "started", "stopped", "error", "stats", "log", "scenario", "dhcp_discover", "dhcp_offer", "dhcp_request",
  "dhcp_ack", "dhcp_nak", "dhcp_renew", "dhcp_rebind", "dhcp_release", "dhcp_decline", "dhcp_expire",
  "dot1x_start", "dot1x_success", "dot1x_failure", "dot1x_timeout",
] as const satisfies readonly MessageType[];

export const DHCP_TYPES = MESSAGE_TYPES.filter((t): t is DhcpType => t.startsWith("dhcp_"));

export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const satisfies readonly LogLevel[];

const SERVICE_EVENTS = [
  "snapshot", "resource:changed", "batch", "dropped", "stats:response", "subscribed", "error",
] as const satisfies readonly ServerEvent[];

/** True when `Listed` names every member of `All` (a compile-time check that a list is complete). */
type Complete<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : false;
export const LISTS_COMPLETE: [
  Complete<MessageType, (typeof MESSAGE_TYPES)[number]>,
  Complete<LogLevel, (typeof LOG_LEVELS)[number]>,
  Complete<Exclude<ServerEvent, DeviceFrame["event"]>, (typeof SERVICE_EVENTS)[number]>,
] = [true, true, true];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isMessageType(type: unknown): type is MessageType {
  return typeof type === "string" && (MESSAGE_TYPES as readonly string[]).includes(type);
}

/**
 * A message from the wire as its typed form, or null when it is not one (no record, an unknown
 * type, no `device_id` or `timestamp`). The service validated it against its model; this is the
 * browser's cheap check of the part every reader relies on.
 */
export function toMessage(value: unknown): EmulatorMessage | null {
  if (!isRecord(value) || !isMessageType(value.type)) return null;
  if (typeof value.device_id !== "string" || typeof value.timestamp !== "string") return null;
  return value as unknown as EmulatorMessage;
}

/** The `snapshot` frame's data, checked as far as the tab reads it (the device and fleet lists). */
export function isSnapshot(data: unknown): data is Snapshot {
  return isRecord(data) && Array.isArray(data.devices) && Array.isArray(data.fleets);
}

/** Kept messages (a REST history) as typed messages, dropping what is not one. */
export function toMessages(values: readonly unknown[]): EmulatorMessage[] {
  return values.map(toMessage).filter((m): m is EmulatorMessage => m !== null);
}

function toBatchMessage(value: unknown): BatchMessage | null {
  if (isRecord(value) && value.type === "resource") {
    const ok = typeof value.action === "string" && typeof value.kind === "string" && typeof value.name === "string";
    return ok ? (value as unknown as ResourceChanged) : null;
  }
  return toMessage(value);
}

/** A `batch` frame's data with the messages that are not the protocol's left out, or null if it is not one. */
export function toBatch(value: unknown): Batch | null {
  if (!isRecord(value) || !Array.isArray(value.messages)) return null;
  const messages = value.messages.map(toBatchMessage).filter((m): m is BatchMessage => m !== null);
  const count = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  return { v: 1, dropped: count(value.dropped), total: count(value.total), messages };
}

/** A `/ws` text frame as a typed frame, or null (not JSON, an unknown event, a device event that is not a message). */
export function parseFrame(text: string): ServerFrame | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null; // a frame that is not JSON is dropped
  }
  if (!isRecord(value) || typeof value.event !== "string") return null;
  if (value.event.startsWith("device:")) {
    const message = toMessage(value.data);
    return message && value.event === `device:${message.type}` ? ({ event: value.event, data: message } as DeviceFrame) : null;
  }
  if (value.event === "batch") {
    const batch = toBatch(value.data);
    return batch ? { event: "batch", data: batch } : null;
  }
  if (!(SERVICE_EVENTS as readonly string[]).includes(value.event)) return null;
  return { event: value.event, data: value.data } as ServerFrame;
}
