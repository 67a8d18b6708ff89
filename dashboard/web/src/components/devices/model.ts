/** A grid row: the device joined with its profile's vendor/model/class, and the filters over rows. */
import type { Device, Phase, ProfileSummary } from "../../api/types";
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
    device,
  };
}

export interface Filters {
  search: string;
  status: Phase | "";
  deviceClass: string;
  vendor: string;
}

export const NO_FILTERS: Filters = { search: "", status: "", deviceClass: "", vendor: "" };

export function hasFilters(filters: Filters): boolean {
  return Boolean(filters.search.trim() || filters.status || filters.deviceClass || filters.vendor);
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
    const state = live(row.id);
    if (filters.status && phaseOf(row, state) !== filters.status) return false;
    if (!needle) return true;
    const ip = state?.ip ?? row.device.status.ip ?? "";
    return [row.id, row.name, row.vendor, row.model, row.deviceClass, row.mac, ip, row.profile].some((v) =>
      v.toLowerCase().includes(needle),
    );
  });
}

/** Distinct values of a field, sorted, for a filter's options. */
export function distinct(rows: readonly GridDevice[], field: "vendor" | "deviceClass"): string[] {
  return [...new Set(rows.map((r) => r[field]).filter(Boolean))].sort((a, b) => a.localeCompare(b));
}
