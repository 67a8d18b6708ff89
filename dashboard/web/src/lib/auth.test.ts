import { PROFILES } from "../test/fakes";
import { authCounts, authState, configuredMethod, methodLabel, outcomeText } from "./auth";

const phone = PROFILES.find((p) => p.name === "tiny-phone")!;
const cam = PROFILES.find((p) => p.name === "tiny-cam")!;

describe("802.1X in words", () => {
  it("names methods and states, unknown ones as given", () => {
    expect(methodLabel("peap")).toBe("PEAP/MSCHAPv2");
    expect(methodLabel("ttls")).toBe("ttls");
    expect(methodLabel(null)).toBe("–");
    expect(authState("authorized")).toMatchObject({ label: "Authorized", tone: "bound" });
    expect(authState("failed")).toMatchObject({ label: "Held", tone: "error" });
    expect(authState("mab").hint).toMatch(/MAC Authentication Bypass/);
    expect(authState("weird")).toMatchObject({ label: "weird", tone: "stopped" });
  });

  it("says each outcome", () => {
    expect(outcomeText({ result: "success", method: "tls" })).toBe("EAP-Success (EAP-TLS)");
    expect(outcomeText({ result: "failure", method: "md5", retryIn: 120 })).toBe("EAP-Failure (EAP-MD5), retry in 2m 00s");
    expect(outcomeText({ result: "timeout" })).toBe("No authenticator answered");
  });

  it("finds the method a device is set to run: spec first, then the profile's default", () => {
    expect(configuredMethod({ dot1x: null }, phone)).toBeNull(); // ships off
    expect(configuredMethod({ dot1x: true }, phone)).toBe("peap");
    expect(configuredMethod({ dot1x: false }, { ...phone, dot1xEnabled: true })).toBeNull();
    expect(configuredMethod({ dot1x: null }, { ...phone, dot1xEnabled: true })).toBe("peap");
    expect(configuredMethod({ dot1x: true }, cam)).toBeNull(); // no supplicant: MAB
    expect(configuredMethod({ dot1x: true }, undefined)).toBeNull();
  });
});

describe("a fleet's 802.1X counts", () => {
  it("lists the states most first, in the badge's words", () => {
    expect(authCounts({ failed: 1, authorized: 12, mab: 0 })).toBe("12 Authorized · 1 Held");
    expect(authCounts({})).toBe("");
  });
});
