import { device } from "../../test/fakes";
import { statsMsg } from "../../test/messages";
import cases from "./phases.cases.json";
import type { EmulatorMessage } from "./protocol";
import { LiveStore } from "./store";

const at = (s: number) => new Date(Date.UTC(2026, 10, 26, 12, 0, s)).toISOString();

function stats(id: string, s: number, packets: number, bytes: number): EmulatorMessage {
  return {
    type: "stats",
    device_id: id,
    timestamp: at(s),
    stats: {
      packets_sent: packets, bytes_sent: bytes, packet_rate: 2, current_ip: "10.77.0.9", uptime_seconds: s,
      protocols: { arp: 3, dhcp: 4 }, state: "bound", dhcp_state: "bound",
      lease: { server_id: "10.77.0.1", lease_time: 600, expires_in: 590, t1_in: 290, t2_in: 515 },
    },
  };
}

describe("LiveStore", () => {
  it("applies a batch frame's messages in order, listeners hearing once for the whole batch", () => {
    const pending: (() => void)[] = [];
    const store = new LiveStore({ schedule: (f) => pending.push(f) });
    const batches: string[][] = [];
    store.subscribeAny((changed) => batches.push([...changed].sort()));
    let cam1Calls = 0;
    store.subscribe("cam-1", () => cam1Calls++);
    const messages: EmulatorMessage[] = [];
    for (let i = 0; i < 500; i++) messages.push({ type: "started", device_id: `dev-${i}`, timestamp: at(0) });
    messages.push({ type: "started", device_id: "cam-1", timestamp: at(0) });
    messages.push(stats("cam-1", 1, 10, 1000));
    messages.push({ type: "stopped", device_id: "cam-1", timestamp: at(2) });
    store.applyBatch(messages);
    expect(pending).toHaveLength(1); // one flush scheduled for the whole batch
    pending.shift()!();
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(501);
    expect(cam1Calls).toBe(1);
    expect(store.get("dev-499")!.phase).toBe("pending");
    // applied in order: the stats counted, then the stop
    expect(store.get("cam-1")).toMatchObject({ phase: "stopped", packetsSent: 10, ip: null });
  });

  it("follows a device through the phases the service computes", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    const phases: string[] = [];
    store.subscribe("cam-1", () => phases.push(store.get("cam-1")!.phase));
    store.apply({ type: "started", device_id: "cam-1", timestamp: at(0) });
    store.apply({ type: "dhcp_discover", device_id: "cam-1", timestamp: at(0), xid: "0x1", mac: "00:12:34:56:78:01" });
    store.apply({ type: "dhcp_offer", device_id: "cam-1", timestamp: at(0), offered_ip: "10.77.0.9", server_id: "10.77.0.1", lease_time: 600 });
    store.apply({ type: "dhcp_ack", device_id: "cam-1", timestamp: at(1), assigned_ip: "10.77.0.9", server_id: "10.77.0.1", lease_time: 600 });
    store.apply(statsMsg("cam-1", at(1), { state: "bound", current_ip: "10.77.0.9" }));
    store.apply({ type: "dhcp_renew", device_id: "cam-1", timestamp: at(2), assigned_ip: "10.77.0.9", server_id: "10.77.0.1" });
    store.apply({ type: "dhcp_ack", device_id: "cam-1", timestamp: at(2), assigned_ip: "10.77.0.9", server_id: "10.77.0.1", lease_time: 600 });
    store.apply({ type: "dhcp_release", device_id: "cam-1", timestamp: at(3), address: "10.77.0.9", server_id: "10.77.0.1" });
    store.apply({ type: "stopped", device_id: "cam-1", timestamp: at(3) });
    // ACK: the address is granted but still under the ARP check; bound once the device says so;
    // a renewal's ACK keeps it bound.
    expect(phases).toEqual(["pending", "binding", "binding", "binding", "bound", "bound", "bound", "binding", "stopped"]);
    expect(store.dhcpEvents("cam-1").map((e) => e.type)).toEqual([
      "dhcp_discover", "dhcp_offer", "dhcp_ack", "dhcp_renew", "dhcp_ack", "dhcp_release",
    ]);
    expect(store.dhcpEvents("cam-1")[2]).toMatchObject({ ip: "10.77.0.9", server: "10.77.0.1", leaseTime: 600 });
  });

  it("turns stats into counters, a lease, and rate samples (bytes/s from the byte counter)", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    store.apply(stats("cam-1", 0, 10, 1000));
    store.apply(stats("cam-1", 2, 14, 3000));
    const live = store.get("cam-1")!;
    expect(live).toMatchObject({ phase: "bound", ip: "10.77.0.9", packetsSent: 14, packetRate: 2, byteRate: 1000 });
    expect(live.lease).toMatchObject({ serverId: "10.77.0.1", t1In: 290, t2In: 515, at: Date.parse(at(2)) });
    expect(store.samples("cam-1").map((s) => s.bps)).toEqual([0, 1000]);
  });

  it("counts from zero again when a device restarts", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    store.apply(stats("cam-1", 0, 24, 5000));
    store.apply({ type: "stopped", device_id: "cam-1", timestamp: at(1) });
    store.apply({ type: "started", device_id: "cam-1", timestamp: at(2) });
    expect(store.get("cam-1")).toMatchObject({ phase: "pending", packetsSent: 0, bytesSent: 0, protocols: {}, lastSeen: at(2) });
    store.apply(stats("cam-1", 3, 4, 800));
    expect(store.get("cam-1")!.byteRate).toBe(0); // no rate across the restart
  });

  it("notifies once per batch, only the listeners of the devices that changed", () => {
    const queued: (() => void)[] = [];
    const store = new LiveStore({ schedule: (f) => queued.push(f) });
    const seen = { a: 0, b: 0, any: [] as string[][] };
    store.subscribe("a", () => seen.a++);
    store.subscribe("b", () => seen.b++);
    store.subscribeAny((ids) => seen.any.push([...ids]));
    for (let i = 0; i < 50; i++) store.apply(stats("a", i, i, i * 100));
    expect(seen.a).toBe(0);
    expect(queued).toHaveLength(1);
    queued[0]!();
    expect(seen).toEqual({ a: 1, b: 0, any: [["a"]] });
  });

  it("keeps the same snapshot objects until something changes (useSyncExternalStore needs that)", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    store.apply(stats("a", 0, 1, 100));
    const [live, samples] = [store.get("a"), store.samples("a")];
    expect(store.get("a")).toBe(live);
    expect(store.samples("a")).toBe(samples);
    store.apply(stats("a", 1, 2, 200));
    expect(store.get("a")).not.toBe(live);
    expect(store.samples("a")).not.toBe(samples);
  });

  it("bounds the history by age and count", () => {
    const store = new LiveStore({ schedule: (f) => f(), maxSamples: 5, historyMs: 3000 });
    for (let i = 0; i < 10; i++) store.apply(stats("a", i, i, i));
    expect(store.samples("a").map((s) => s.t)).toEqual([6, 7, 8, 9].map((s) => Date.parse(at(s))));
  });

  it("back-fills history and logs without duplicating what arrived live", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    const ack: EmulatorMessage = {
      type: "dhcp_ack", device_id: "a", timestamp: at(1), xid: "0x1", assigned_ip: "10.77.0.9", server_id: "10.77.0.1", lease_time: 600,
    };
    store.apply(ack);
    store.apply(stats("a", 3, 3, 300));
    store.backfill("a", [
      { type: "dhcp_discover", device_id: "a", timestamp: at(0), xid: "0x1", mac: "00:12:34:56:78:01" },
      ack,
      stats("a", 1, 1, 100),
      stats("a", 2, 2, 200),
    ]);
    expect(store.dhcpEvents("a").map((e) => e.type)).toEqual(["dhcp_discover", "dhcp_ack"]);
    expect(store.samples("a").map((s) => s.t)).toEqual([1, 2, 3].map((s) => Date.parse(at(s))));
    store.apply({ type: "log", device_id: "a", timestamp: at(5), level: "warning", message: "late" });
    store.backfillLogs("a", [
      { type: "log", device_id: "a", timestamp: at(4), level: "info", message: "early" },
      { type: "log", device_id: "a", timestamp: at(5), level: "warning", message: "late" },
    ]);
    expect(store.logs("a").map((l) => l.message)).toEqual(["early", "late"]);
  });

  it("seeds from the service's status unless newer messages were seen", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    store.seed(device("a", { phase: "bound", ip: "10.77.0.5", updated: at(5), running: true, stats: { packets_sent: 7 } }));
    expect(store.get("a")).toMatchObject({ phase: "bound", ip: "10.77.0.5", packetsSent: 7 });
    store.apply({ type: "stopped", device_id: "a", timestamp: at(9) });
    store.seed(device("a", { phase: "bound", ip: "10.77.0.5", updated: at(6), running: true }));
    expect(store.get("a")!.phase).toBe("stopped");
  });

  it("marks a fatal error, keeps the last error text, and ignores the service's own log id", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    store.apply({ type: "error", device_id: "a", timestamp: at(0), error: "process died", severity: "error", fatal: true });
    store.apply({ type: "log", device_id: "dashboard", timestamp: at(0), level: "info", message: "x" });
    expect(store.get("a")).toMatchObject({ phase: "error", lastError: "process died" });
    expect(store.logs("a")[0]).toMatchObject({ level: "error", message: "process died" });
    expect([...store.ids()]).toEqual(["a"]);
  });
});

describe("LiveStore and the service agree on phases", () => {
  it("walks the shared cases (phases.cases.json, also read by the service's tests)", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    const seen = cases.cases.map(([message]) => {
      store.apply(message as EmulatorMessage);
      return store.get("cam")!.phase;
    });
    expect(seen).toEqual(cases.cases.map(([, phase]) => phase));
  });

  it("shows 802.1X outcomes as log lines and the auth state from stats", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    store.apply({ type: "dot1x_failure", device_id: "p", timestamp: at(1), identity: "SEP1", method: "md5", failures: 1, retry_in: 60 });
    store.apply({ type: "dot1x_success", device_id: "p", timestamp: at(2), identity: "SEP1", method: "md5", seconds: 0.4, reauthentication: false });
    store.apply(statsMsg("p", at(3), { auth: "authorized" }));
    expect(store.logs("p").map((l) => [l.level, l.message])).toEqual([
      ["warning", "802.1X refused: SEP1 (md5, failure 1, retry in 60s)"],
      ["info", "802.1X authorized: SEP1 (md5, 0.4s)"],
    ]);
    expect(store.get("p")!.auth).toBe("authorized");
    expect(store.get("p")!.authLast).toEqual({ result: "success", method: "md5", identity: "SEP1", timestamp: at(2), retryIn: null });
  });

  it("keeps the last 802.1X outcome as the service does: seeded, replaced live, forgotten on restart", () => {
    const store = new LiveStore({ schedule: (f) => f() });
    const authLast = { result: "failure" as const, method: "peap", identity: "SEP1", timestamp: at(1), retryIn: 60 };
    store.seed(device("p", { phase: "pending", running: true, updated: at(2), auth: "failed", authLast, ipv6: ["fe80::1"] }));
    expect(store.get("p")).toMatchObject({ auth: "failed", authLast, ipv6: ["fe80::1"] });
    store.apply({ type: "dot1x_timeout", device_id: "p", timestamp: at(3), identity: "SEP1", starts: 3 });
    expect(store.get("p")!.authLast).toMatchObject({ result: "timeout", method: null, timestamp: at(3) });
    store.apply({ type: "stopped", device_id: "p", timestamp: at(4) });
    expect(store.get("p")!.auth).toBeNull();
    store.apply({ type: "started", device_id: "p", timestamp: at(5) });
    expect(store.get("p")!.authLast).toBeNull();
  });
});
