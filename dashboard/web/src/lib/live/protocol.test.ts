import { LISTS_COMPLETE, MESSAGE_TYPES, parseFrame, toMessage, toMessages } from "./protocol";

const ack = {
  type: "dhcp_ack", device_id: "cam", timestamp: "2026-11-26T12:00:00.040Z", v: 1,
  assigned_ip: "10.77.0.9", server_id: "10.77.0.1", lease_time: 600,
};

describe("protocol", () => {
  it("lists every message type and event of the generated unions", () => {
    expect(LISTS_COMPLETE).toEqual([true, true, true]);
    expect(MESSAGE_TYPES).toHaveLength(20);
  });

  it("types a device frame whose event names its message's type", () => {
    const frame = parseFrame(JSON.stringify({ event: "device:dhcp_ack", data: ack }));
    expect(frame).toEqual({ event: "device:dhcp_ack", data: ack });
    if (frame?.event !== "device:dhcp_ack") throw new Error("not narrowed");
    expect(frame.data.assigned_ip).toBe("10.77.0.9"); // narrowed by the event: the field is typed
  });

  it("drops frames that are not the protocol's", () => {
    expect(parseFrame("not json")).toBeNull();
    expect(parseFrame(JSON.stringify({ event: "device:stats", data: ack }))).toBeNull(); // event and type disagree
    expect(parseFrame(JSON.stringify({ event: "device:dhcp_bogus", data: { ...ack, type: "dhcp_bogus" } }))).toBeNull();
    expect(parseFrame(JSON.stringify({ event: "mystery", data: {} }))).toBeNull();
    expect(parseFrame(JSON.stringify({ event: "dropped", data: { dropped: 3, total: 5 } }))).toEqual({
      event: "dropped", data: { dropped: 3, total: 5 },
    });
  });

  it("types a batch frame, leaving out what is not a message", () => {
    const change = { type: "resource", action: "created", kind: "IoTDevice", name: "cam", timestamp: ack.timestamp };
    const text = JSON.stringify({
      event: "batch",
      data: { v: 1, dropped: 2, total: 7, messages: [ack, { type: "bogus" }, change, { ...ack, device_id: 3 }] },
    });
    expect(parseFrame(text)).toEqual({ event: "batch", data: { v: 1, dropped: 2, total: 7, messages: [ack, change] } });
    expect(parseFrame(JSON.stringify({ event: "batch", data: { v: 1 } }))).toBeNull(); // no message list
  });

  it("keeps only messages with a known type, a device id and a timestamp", () => {
    expect(toMessage(ack)).toBe(ack);
    expect(toMessage({ ...ack, device_id: 7 })).toBeNull();
    expect(toMessage({ ...ack, timestamp: undefined })).toBeNull();
    expect(toMessage({ ...ack, type: "bound" })).toBeNull(); // engine-internal phases are never messages
    expect(toMessages([ack, null, "x", { type: "log" }])).toEqual([ack]);
  });
});
