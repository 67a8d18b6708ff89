/**
 * Emulator messages for tests, typed by the generated protocol: a test message has every field its
 * model requires, so a fixture cannot drift from what the emulator sends.
 */
import type { EmulatorMessage, MessageOf, MessageType, StatsBody } from "../lib/live/protocol";

/** The seed's six stats counters at zero: what every `stats` body has. */
export const EMPTY_STATS: StatsBody = {
  packets_sent: 0, bytes_sent: 0, packet_rate: 0, current_ip: null, uptime_seconds: 0, protocols: {},
};

/** A message of `type` (its fields checked by the compiler). */
export function msg<T extends MessageType>(message: MessageOf<T>): EmulatorMessage {
  return message;
}

/** A `stats` message: the seed's counters at zero, with `stats` over them. */
export function statsMsg(deviceId: string, timestamp: string, stats: Partial<StatsBody> = {}): MessageOf<"stats"> {
  return { type: "stats", device_id: deviceId, timestamp, stats: { ...EMPTY_STATS, ...stats } };
}

/** A `log` message. */
export function logMsg(deviceId: string, timestamp: string, level: MessageOf<"log">["level"], message: string): MessageOf<"log"> {
  return { type: "log", device_id: deviceId, timestamp, level, message };
}
