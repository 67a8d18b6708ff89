/** The identity a discovery product reads from a profile, in a few lines (`GET /api/profiles/{name}`). */
import { isRecord, num, str } from "./live/messages";

export interface Fingerprint {
  os: string | null;
  hostnamePattern: string | null;
  /** DHCP option order in DISCOVER/REQUEST. */
  dhcpOptions: number[];
  /** Option 55, the parameter request list. */
  parameterRequestList: number[];
  /** Option 60. */
  vendorClass: string | null;
  /** Option 57. */
  maxMessageSize: number | null;
  ttl: number | null;
  tcp: string | null;
  userAgent: string | null;
  tls: string | null;
}

function numbers(value: unknown): number[] {
  return Array.isArray(value) ? value.filter((v): v is number => typeof v === "number") : [];
}

export function fingerprintOf(profile: Record<string, unknown>): Fingerprint {
  const dhcp = isRecord(profile.dhcp) ? profile.dhcp : {};
  const tcp = isRecord(profile.tcp) ? profile.tcp : null;
  const http = isRecord(profile.http) ? profile.http : null;
  const tls = isRecord(profile.tls) ? profile.tls : null;
  const tcpOptions = tcp && Array.isArray(tcp.options) ? tcp.options.map(String).join(",") : "";
  return {
    os: str(profile.os),
    hostnamePattern: str(profile.hostname_pattern),
    dhcpOptions: numbers(dhcp.options),
    parameterRequestList: numbers(dhcp.parameter_request_list),
    vendorClass: str(dhcp.vendor_class_id),
    maxMessageSize: num(dhcp.max_message_size),
    ttl: num(profile.ip_ttl) ?? num(dhcp.ip_ttl),
    tcp: tcp ? `win ${num(tcp.window) ?? "?"}, mss ${num(tcp.mss) ?? "?"}${tcpOptions ? `, ${tcpOptions}` : ""}` : null,
    userAgent: http ? str(http.user_agent) : null,
    tls: tls ? (str(tls.ja3) ?? str(tls.name) ?? "ClientHello shaped") : null,
  };
}
