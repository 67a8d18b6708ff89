import { LiveStore } from "../../lib/live/store";
import { PROFILES, device } from "../../test/fakes";
import { statsMsg } from "../../test/messages";
import type { Fleet } from "../../api/types";
import {
  NO_FILTERS, UNTAGGED, applyFilters, distinct, hasFilters, memberGridDevice, networkText, toGridDevice, vlanLabel, vlanText,
} from "./model";

const byName = new Map(PROFILES.map((p) => [p.name, p]));
const rows = [
  toGridDevice({ ...device("lobby-cam"), annotations: { "iotemu.io/display-name": "Lobby camera" } }, byName),
  toGridDevice(device("desk-plug", { ip: "10.77.0.7", phase: "bound" }, "tiny-plug"), byName),
];

describe("device rows", () => {
  it("join the profile: vendor, model, class, and a person's name", () => {
    expect(rows[0]).toMatchObject({ id: "lobby-cam", name: "Lobby camera", vendor: "Tinycam", model: "TC-1", deviceClass: "camera" });
    expect(rows[1]!.name).toBe("desk-plug-host");
    expect(distinct(rows, "vendor")).toEqual(["Plugco", "Tinycam"]);
  });

  it("filter by search (id, name, MAC, IP...), class, vendor, and live status", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    const live = (id: string) => store.get(id);
    const ids = (filters: Partial<typeof NO_FILTERS>) => applyFilters(rows, { ...NO_FILTERS, ...filters }, live).map((r) => r.id);
    expect(ids({ search: "LOBBY" })).toEqual(["lobby-cam"]);
    expect(ids({ search: "10.77.0.7" })).toEqual(["desk-plug"]);
    expect(ids({ search: "50:c7" })).toEqual(["desk-plug"]);
    expect(ids({ deviceClass: "camera" })).toEqual(["lobby-cam"]);
    expect(ids({ vendor: "Plugco" })).toEqual(["desk-plug"]);
    expect(ids({ status: "bound" })).toEqual(["desk-plug"]);
    store.apply({ type: "started", device_id: "lobby-cam", timestamp: "2026-11-26T12:00:00Z" });
    store.apply({ type: "dhcp_ack", device_id: "lobby-cam", timestamp: "2026-11-26T12:00:01Z", assigned_ip: "10.77.0.8",
      server_id: "10.77.0.1", lease_time: 600 });
    expect(ids({ status: "binding" })).toEqual(["lobby-cam"]); // ACKed, its ARP check still running
    store.apply(statsMsg("lobby-cam", "2026-11-26T12:00:02Z", { state: "bound", current_ip: "10.77.0.8" }));
    expect(ids({ status: "bound" })).toEqual(["lobby-cam", "desk-plug"]);
    expect(ids({ search: "10.77.0.8" })).toEqual(["lobby-cam"]);
  });
});

describe("VLANs", () => {
  it("label a row by its tags and are found by search", () => {
    const spec = device("x").spec;
    expect(vlanLabel(spec)).toBe("");
    expect(vlanLabel({ ...spec, vlan: 10 })).toBe("10");
    expect(vlanLabel({ ...spec, vlan: 30, outerVlan: 100 })).toBe("100/30");
    expect(vlanText(spec)).toBe("untagged");
    expect(vlanText({ ...spec, vlan: 10, vlanPriority: 5 })).toBe("VLAN 10, priority 5");
    expect(vlanText({ ...spec, vlan: 30, outerVlan: 100 })).toBe("QinQ S-tag 100, VLAN 30");
    const tagged = toGridDevice({ ...device("vlan-cam"), spec: { ...device("vlan-cam").spec, vlan: 20 } }, byName);
    expect(tagged.vlan).toBe("20");
    const store = new LiveStore({ schedule: (f) => f() });
    expect(applyFilters([...rows, tagged], { ...NO_FILTERS, search: "20" }, (id) => store.get(id)).map((r) => r.id)).toEqual(["vlan-cam"]);
  });
});

describe("the VLAN filter", () => {
  it("keeps one VLAN, QinQ by S/C-tag, or the untagged rows; its options sort as numbers", () => {
    const on = (name: string, vlan: number, outerVlan: number | null = null) =>
      toGridDevice({ ...device(name), spec: { ...device(name).spec, vlan, outerVlan } }, byName);
    const all = [...rows, on("v20", 20), on("v100", 100), on("q30", 30, 100), on("v20b", 20)];
    const ids = (vlan: string) => applyFilters(all, { ...NO_FILTERS, vlan }, () => undefined).map((r) => r.id);
    expect(distinct(all, "vlan")).toEqual(["20", "100", "100/30"]);
    expect(ids("20")).toEqual(["v20", "v20b"]);
    expect(ids("100")).toEqual(["v100"]); // not the QinQ row whose S-tag is 100
    expect(ids("100/30")).toEqual(["q30"]);
    expect(ids(UNTAGGED)).toEqual(["lobby-cam", "desk-plug"]);
    expect(ids("")).toHaveLength(6);
    expect(hasFilters({ ...NO_FILTERS, vlan: "20" })).toBe(true);
  });

  it("search finds a device by one of its IPv6 addresses, live or as the service listed them", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    const listed = toGridDevice(device("v6-cam", { ipv6: ["fd00:1ab:6::4619:b6ff:fe00:1"] }), byName);
    store.apply(statsMsg("desk-plug", "2026-11-26T12:00:00Z", { ipv6_addresses: ["fe80::52c7:bfff:fe00:7"] }));
    const ids = (search: string) => applyFilters([...rows, listed], { ...NO_FILTERS, search }, (id) => store.get(id)).map((r) => r.id);
    expect(ids("fd00:1ab:6")).toEqual(["v6-cam"]);
    expect(ids("FE80::52C7")).toEqual(["desk-plug"]);
  });
});

describe("a fleet template's network", () => {
  it("says its VLAN, IPv6 and an explicit 802.1X choice", () => {
    expect(networkText({})).toBe("untagged");
    expect(networkText({ vlan: 10, vlanPriority: 5, protocols: ["arp", "ipv6"], dot1x: true })).toBe("VLAN 10, priority 5 · IPv6 · 802.1X on");
    expect(networkText({ vlan: 30, outerVlan: 100, dot1x: false })).toBe("QinQ S-tag 100, VLAN 30 · 802.1X off (MAB)");
  });
});

describe("profile filter and fleet members", () => {
  it("narrow by profile", () => {
    const ids = (profile: string) => applyFilters(rows, { ...NO_FILTERS, profile }, () => undefined).map((r) => r.id);
    expect(distinct(rows, "profile")).toEqual(["tiny-cam", "tiny-plug"]);
    expect(ids("tiny-plug")).toEqual(["desk-plug"]);
    expect(ids("")).toEqual(["lobby-cam", "desk-plug"]);
  });

  it("a member row is read-only and carries the fleet's template and its own MAC", () => {
    const fleet = {
      name: "cams", spec: { running: true, replicas: 2, template: { profile: "tiny-cam" } },
      status: { vendor: "Tinycam", deviceClass: "camera", profile: "tiny-cam" },
    } as unknown as Fleet;
    const member = { index: 1, deviceId: "cams-0001", mac: "44:19:b6:00:00:02", hostname: "tinycam-000002", phase: "bound" as const, ip: "10.0.0.5" };
    const row = memberGridDevice(member, fleet, byName);
    expect(row).toMatchObject({ id: "cams-0001", fleet: "cams", mac: "44:19:b6:00:00:02", profile: "tiny-cam", vendor: "Tinycam" });
    expect(applyFilters([row], { ...NO_FILTERS, status: "bound", search: "10.0.0.5" }, () => undefined)).toEqual([row]);
  });
});
