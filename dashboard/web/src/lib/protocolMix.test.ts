import { describe, expect, it } from "vitest";
import type { Device, Fleet } from "../api/types";
import { STANDALONE, fleetOf, grouper, protocolMix } from "./protocolMix";

const device = (name: string, profile: string) => ({ name, spec: { profile } }) as unknown as Device;
const fleet = (name: string, profile: string) =>
  ({ name, spec: { template: { profile } }, status: { profile } }) as unknown as Fleet;

describe("protocol mix", () => {
  const devices = [device("cam-1", "hik"), device("plug", "tplink")];
  const fleets = [fleet("cams", "dahua"), fleet("cams-2", "axis")];
  const stats: Record<string, Record<string, number>> = {
    "cam-1": { dhcp: 4, rtsp: 10 },
    plug: { dhcp: 2, http: 0 },
    "cams-0000": { dhcp: 4, mdns: 3 },
    "cams-0001": { dhcp: 4, arp: 1 },
    "cams-2-0000": { dhcp: 4, https: 7 },
    stranger: { dhcp: 99 },
  };

  it("knows members by the fleet's name and a 4-digit index", () => {
    const names = new Set(["cams", "cams-2"]);
    expect(fleetOf("cams-0003", names)).toBe("cams");
    expect(fleetOf("cams-2-0003", names)).toBe("cams-2");
    expect(fleetOf("cams-2", names)).toBeNull();
    expect(fleetOf("cam-1", names)).toBeNull();
  });

  it("sums per fleet, stand-alone devices together, unknown ids left out", () => {
    const rows = protocolMix(Object.keys(stats), grouper("fleet", devices, fleets), (id) => stats[id]);
    expect(rows).toEqual([
      { group: "cams", devices: 2, total: 12, protocols: [["dhcp", 8], ["mdns", 3], ["arp", 1]] },
      { group: "cams-2", devices: 1, total: 11, protocols: [["https", 7], ["dhcp", 4]] },
      { group: STANDALONE, devices: 2, total: 16, protocols: [["rtsp", 10], ["dhcp", 6]] },
    ]);
  });

  it("sums per profile, members under their fleet's profile", () => {
    const rows = protocolMix(Object.keys(stats), grouper("profile", devices, fleets), (id) => stats[id]);
    expect(rows.map((r) => [r.group, r.devices, r.total])).toEqual([
      ["axis", 1, 11], ["dahua", 2, 12], ["hik", 1, 14], ["tplink", 1, 2],
    ]);
  });
});
