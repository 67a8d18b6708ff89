/** A grid row: the device joined with its profile's vendor/model/class, and the filters over rows. */
import type { Device, Fleet, FleetMember, Phase, ProfileSummary } from "../../api/types";
import type { LiveDevice } from "../../lib/live/store";

export const DISPLAY_NAME = "iotemu.io/display-name";

export interface GridDevice {
  id: string;
  /** A person's name for it (the brief's `name`), else the host name. */
  name: string;
  vendor: string;
  model: string;
  deviceClass: string;
  profile: string;
  mac: string;
  /** Its VLAN as the tab shows it: "10", "100/30" (QinQ S-tag/C-tag), "" untagged. */
  vlan: string;
  /** The fleet of a member row (read-only: members are started, stopped and edited with their fleet). */
  fleet: string | null;
  device: Device;
}

export function toGridDevice(device: Device, profiles: ReadonlyMap<string, ProfileSummary>): GridDevice {
  const profile = profiles.get(device.spec.profile);
  return {
    id: device.name,
    name: device.annotations?.[DISPLAY_NAME] ?? device.status.hostname ?? "",
    vendor: device.status.vendor ?? profile?.vendor ?? "",
    model: profile?.model ?? device.spec.profile,
    deviceClass: device.status.deviceClass ?? profile?.deviceClass ?? "",
    profile: device.spec.profile,
    mac: device.status.mac ?? device.spec.mac ?? "",
    vlan: vlanLabel(device.spec),
    fleet: null,
    device,
  };
}

/** A fleet member as a grid row: the fleet's template, the member's MAC, host name, phase and address. */
export function memberGridDevice(
  member: FleetMember,
  fleet: Fleet,
  profiles: ReadonlyMap<string, ProfileSummary>,
): GridDevice {
  const template = fleet.spec.template;
  const device = {
    name: member.deviceId,
    labels: {},
    annotations: {},
    spec: { ...template, running: fleet.spec.running, mac: member.mac, hostname: member.hostname },
    status: {
      running: fleet.spec.running, phase: member.phase, ip: member.ip ?? null, mac: member.mac,
      hostname: member.hostname, profile: template.profile, vendor: fleet.status.vendor ?? null,
      deviceClass: fleet.status.deviceClass ?? null, lastError: null, updated: null, stats: null,
    },
  } as unknown as Device; // the fields a row reads; a member is no IoTDevice of its own
  return { ...toGridDevice(device, profiles), fleet: fleet.name };
}

/** "10", "100/30" for QinQ (S-tag/C-tag), "" when untagged. */
export function vlanLabel(spec: { vlan?: number | null; outerVlan?: number | null }): string {
  if (!spec.vlan) return "";
  return spec.outerVlan ? `${spec.outerVlan}/${spec.vlan}` : String(spec.vlan);
}

/** The VLAN in words for the detail panel: "VLAN 10, priority 5", "QinQ S-tag 100, VLAN 30", "untagged". */
export function vlanText(spec: { vlan?: number | null; outerVlan?: number | null; vlanPriority?: number }): string {
  if (!spec.vlan) return "untagged";
  const outer = spec.outerVlan ? `QinQ S-tag ${spec.outerVlan}, ` : "";
  const priority = spec.vlanPriority ? `, priority ${spec.vlanPriority}` : "";
  return `${outer}VLAN ${spec.vlan}${priority}`;
}

/** A template's reach in words for the fleet table: "VLAN 10, priority 5 · IPv6 · 802.1X on". */
export function networkText(spec: {
  vlan?: number | null;
  outerVlan?: number | null;
  vlanPriority?: number;
  protocols?: readonly string[] | null;
  dot1x?: boolean | null;
}): string {
  const parts = [vlanText(spec)];
  if (spec.protocols?.includes("ipv6")) parts.push("IPv6");
  if (spec.dot1x === true) parts.push("802.1X on");
  if (spec.dot1x === false) parts.push("802.1X off (MAB)");
  return parts.join(" · ");
}

export interface Filters {
  search: string;
  /** The phase (shown as "Status"). */
  status: Phase | "";
  deviceClass: string;
  vendor: string;
  profile: string;
  /** "": any; "untagged"; or a VLAN as the grid shows it ("20", "100/30"). */
  vlan: string;
  /** "": the stand-alone devices; a fleet's name: that fleet's members instead. */
  fleet: string;
}

export const UNTAGGED = "untagged";

export const NO_FILTERS: Filters = { search: "", status: "", deviceClass: "", vendor: "", profile: "", vlan: "", fleet: "" };

/** Filters that narrow the rows of the chosen list (the fleet chooses the list itself). */
export function hasFilters(filters: Filters): boolean {
  return Boolean(filters.search.trim() || filters.status || filters.deviceClass || filters.vendor || filters.profile || filters.vlan);
}

/** The phase a row shows: the live one, else the last one the service reported. */
export function phaseOf(row: GridDevice, live: LiveDevice | undefined): Phase {
  return live?.phase ?? row.device.status.phase;
}

export function applyFilters(
  rows: readonly GridDevice[],
  filters: Filters,
  live: (id: string) => LiveDevice | undefined,
): GridDevice[] {
  const needle = filters.search.trim().toLowerCase();
  return rows.filter((row) => {
    if (filters.deviceClass && row.deviceClass !== filters.deviceClass) return false;
    if (filters.vendor && row.vendor !== filters.vendor) return false;
    if (filters.profile && row.profile !== filters.profile) return false;
    if (filters.vlan && row.vlan !== (filters.vlan === UNTAGGED ? "" : filters.vlan)) return false;
    const state = live(row.id);
    if (filters.status && phaseOf(row, state) !== filters.status) return false;
    if (!needle) return true;
    const ip = state?.ip ?? row.device.status.ip ?? "";
    const ipv6 = (state?.ipv6 ?? row.device.status.ipv6 ?? []).join(" ");
    return [row.id, row.name, row.vendor, row.model, row.deviceClass, row.mac, ip, ipv6, row.profile, row.vlan].some((v) =>
      v.toLowerCase().includes(needle),
    );
  });
}

/** Distinct values of a field, sorted, for a filter's options. */
export function distinct(rows: readonly GridDevice[], field: "vendor" | "deviceClass" | "profile" | "vlan"): string[] {
  return [...new Set(rows.map((r) => r[field]).filter(Boolean))].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}
