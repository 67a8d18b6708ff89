import { ImportParseError, parseImport } from "./importFile";

describe("parseImport", () => {
  it("reads the brief's iot_devices.json", () => {
    const parsed = parseImport(JSON.stringify({ devices: [{ id: "camera_01", vendor: "Hikvision", mac: "44:19:b6:00:00:01" }] }));
    expect(parsed.contentType).toBe("application/json");
    expect(parsed.entries).toEqual([
      { index: 1, kind: "device (brief format)", name: "camera_01", profile: "Hikvision", mac: "44:19:b6:00:00:01", detail: "auto" },
    ]);
  });

  it("reads multi-document YAML manifests, devices and fleets, numbered as the service numbers them", () => {
    const text = `---
apiVersion: iotemu.io/v1alpha1
kind: IoTDevice
metadata: {name: cam}
spec: {profile: tiny-cam, dhcp: {mode: static, address: 10.77.0.50}}
---
apiVersion: iotemu.io/v1alpha1
kind: IoTFleet
metadata: {name: plugs}
spec: {replicas: 20, template: {profile: tiny-plug}}
`;
    const parsed = parseImport(text);
    expect(parsed.contentType).toBe("application/yaml");
    expect(parsed.entries.map((e) => [e.index, e.kind, e.name, e.profile, e.detail])).toEqual([
      [1, "IoTDevice", "cam", "tiny-cam", "static 10.77.0.50"],
      [2, "IoTFleet", "plugs", "tiny-plug", "20 replicas"],
    ]);
  });

  it("unwraps a kind: List", () => {
    const parsed = parseImport(JSON.stringify({ apiVersion: "v1", kind: "List", items: [{ kind: "IoTDevice", metadata: { name: "a" }, spec: { profile: "p" } }] }));
    expect(parsed.entries.map((e) => e.name)).toEqual(["a"]);
  });

  it("says why a file cannot be read", () => {
    expect(() => parseImport("{nope")).toThrow(ImportParseError);
    expect(() => parseImport("a: [unclosed")).toThrow(/Not valid YAML/);
    expect(() => parseImport("")).toThrow(/no device/);
  });
});
