import { fieldErrors, importErrors, toApiError } from "./errors";

describe("fieldErrors", () => {
  it("places FastAPI validation errors on their fields", () => {
    const error = toApiError(422, {
      detail: [
        { loc: ["body", "name"], msg: "String should match pattern", type: "string_pattern_mismatch" },
        { loc: ["body", "spec", "mac"], msg: "Value error, 01:00:5e:00:00:01 is a multicast MAC", type: "value_error" },
        { loc: ["body", "spec", "dhcp"], msg: "Value error, static mode needs an address", type: "value_error" },
        { loc: ["body", "spec", "trafficInterval"], msg: "Input should be greater than or equal to 1", type: "greater_than_equal" },
      ],
    });
    expect(fieldErrors(error)).toEqual({
      fields: {
        name: "String should match pattern",
        mac: "01:00:5e:00:00:01 is a multicast MAC",
        address: "static mode needs an address",
        trafficInterval: "Input should be greater than or equal to 1",
      },
      general: [],
    });
  });

  it("places VLAN and 802.1X errors on their fields, in both shapes", () => {
    const fastapi = toApiError(422, {
      detail: [
        { loc: ["body", "spec", "vlan"], msg: "Input should be less than or equal to 4094", type: "less_than_equal" },
        { loc: ["body", "spec", "vlanPriority"], msg: "Input should be less than or equal to 7", type: "less_than_equal" },
        { loc: ["body", "spec", "outerVlan"], msg: "Input should be greater than or equal to 1", type: "greater_than_equal" },
      ],
    });
    expect(fieldErrors(fastapi).fields).toEqual({
      vlan: "Input should be less than or equal to 4094",
      vlanPriority: "Input should be less than or equal to 7",
      outerVlan: "Input should be greater than or equal to 1",
    });
    const own = toApiError(422, {
      detail: "invalid resources",
      errors: ["IoTDevice/cam-1: spec.dot1x: profile 'tiny-cam' has no 802.1X supplicant (no dot1x section)"],
    });
    expect(fieldErrors(own)).toEqual({
      fields: { dot1x: "profile 'tiny-cam' has no 802.1X supplicant (no dot1x section)" },
      general: [],
    });
  });

  it("places the service's own problem lines by the field they name", () => {
    const error = toApiError(422, {
      detail: "invalid resources",
      errors: [
        "document 2 (IoTDevice/cam-2): spec.mac: 44:19:b6:00:00:01 is already used by cam-1",
        "x: spec.profile: unknown profile 'nope'; known profiles: tiny-cam",
        "something without a field",
      ],
    });
    expect(fieldErrors(error)).toEqual({
      fields: {
        mac: "44:19:b6:00:00:01 is already used by cam-1",
        profile: "unknown profile 'nope'; known profiles: tiny-cam",
      },
      general: ["something without a field"],
    });
  });

  it("puts a name conflict on the name", () => {
    expect(fieldErrors(toApiError(409, { detail: "IoTDevice/cam-1 already exists" })).fields).toEqual({
      name: "IoTDevice/cam-1 already exists",
    });
  });
});

describe("importErrors", () => {
  it("groups problem lines by entry number", () => {
    const error = toApiError(422, {
      detail: "the import has 3 problem(s); nothing was changed",
      errors: [
        "entry 2 (bad_mac): mac: 'zz' is not a MAC address",
        "entry 2 (bad_mac): hostname: too long",
        "entry 4: colour: unknown field",
        "import: no device or fleet found",
      ],
    });
    const byEntry = importErrors(error);
    expect(byEntry.get(2)).toEqual(["mac: 'zz' is not a MAC address", "hostname: too long"]);
    expect(byEntry.get(4)).toEqual(["colour: unknown field"]);
    expect(byEntry.get(0)).toEqual(["import: no device or fleet found"]);
  });
});
