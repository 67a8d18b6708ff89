/**
 * Protocol mix: the devices' `stats.protocols{name: count}` summed per fleet or per profile, so a
 * user sees what a fleet or a model puts on the wire. Fleet members are known by their id
 * (`<fleet>-0001`, as the emulator names them); stand-alone devices by their name.
 */
import type { Device, Fleet } from "../api/types";

export const STANDALONE = "stand-alone devices";

export interface MixRow {
  group: string;
  /** Devices of the group that reported packets. */
  devices: number;
  /** Packets over every protocol. */
  total: number;
  /** Packets per protocol, most used first. */
  protocols: [string, number][];
}

const MEMBER = /^(.+)-(\d{4,})$/;

/** The fleet a device id belongs to, or null (fleet names given; a member id is `<fleet>-<index, 4+ digits>`). */
export function fleetOf(id: string, fleets: ReadonlySet<string>): string | null {
  const match = MEMBER.exec(id);
  return match && fleets.has(match[1]!) ? match[1]! : null;
}

export type GroupBy = "fleet" | "profile";

/** How to group an id: its fleet (or STANDALONE), or its profile; null for ids that are neither. */
export function grouper(by: GroupBy, devices: readonly Device[], fleets: readonly Fleet[]): (id: string) => string | null {
  const profileOf = new Map(devices.map((d) => [d.name, d.spec.profile]));
  const fleetProfile = new Map(fleets.map((f) => [f.name, f.status.profile ?? f.spec.template.profile]));
  const names = new Set(fleetProfile.keys());
  return (id) => {
    const fleet = fleetOf(id, names);
    if (by === "fleet") return fleet ?? (profileOf.has(id) ? STANDALONE : null);
    return fleet !== null ? fleetProfile.get(fleet) ?? null : profileOf.get(id) ?? null;
  };
}

/** The mix per group, groups by name. */
export function protocolMix(
  ids: Iterable<string>,
  groupOf: (id: string) => string | null,
  protocolsOf: (id: string) => Readonly<Record<string, number>> | undefined,
): MixRow[] {
  const groups = new Map<string, { devices: number; counts: Map<string, number> }>();
  for (const id of ids) {
    const group = groupOf(id);
    const protocols = protocolsOf(id);
    if (group === null || !protocols || !Object.values(protocols).some((n) => n > 0)) continue; // no stats yet
    let entry = groups.get(group);
    if (!entry) groups.set(group, (entry = { devices: 0, counts: new Map() }));
    entry.devices += 1;
    for (const [name, count] of Object.entries(protocols)) {
      if (count > 0) entry.counts.set(name, (entry.counts.get(name) ?? 0) + count);
    }
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([group, { devices, counts }]) => {
      const protocols = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      return { group, devices, total: protocols.reduce((n, [, c]) => n + c, 0), protocols };
    });
}
