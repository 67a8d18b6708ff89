/** The service's types, named once: everything comes from the generated schema (`npm run generate`). */
import type { components } from "./schema.gen";

type Schemas = components["schemas"];

export type Device = Schemas["DevicePublic"];
export type DeviceStatus = Schemas["DeviceStatus"];
export type DeviceSpec = Schemas["DeviceSpec"];
export type DeviceCreate = Schemas["DeviceCreate"];
export type DeviceUpdate = Schemas["DeviceUpdate"];
export type Phase = DeviceStatus["phase"];
export type Protocol = NonNullable<DeviceSpec["protocols"]>[number];
export type Fleet = Schemas["FleetPublic"];
export type FleetMember = Schemas["FleetMember"];
export type FleetMembers = Schemas["FleetMembers"];
export type ProfileSummary = Schemas["ProfileSummary"];
export type BulkResult = Schemas["BulkResult"];
export type ImportResult = Schemas["ImportResult"];
export type ErrorBody = Schemas["ErrorBody"];
export type ValidationDetail = Schemas["ValidationError"];
export type Scenario = Schemas["Scenario"];
export type AuthOutcome = Schemas["AuthOutcome"];

/** Every protocol the service knows, in its order (the schema's enum). */
export const PROTOCOLS: readonly Protocol[] = [
  "arp", "dhcp", "icmp", "dns", "ntp", "http", "https", "cloud", "rtsp", "mqtt", "coap", "mdns", "ssdp", "lldp", "tcp", "ipv6",
];

export type ExportFormat = "json" | "yaml" | "iot_devices" | "stats";
