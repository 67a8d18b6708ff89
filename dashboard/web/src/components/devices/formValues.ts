/** The device form's values, and the API bodies they become (pure: tested without a DOM). */
import type { Device, DeviceCreate, DeviceSpec, DeviceUpdate, Protocol } from "../../api/types";

export interface FormValues {
  name: string;
  profile: string;
  mac: string;
  dhcpMode: "auto" | "static";
  address: string;
  /** Run the profile's own protocol list (spec.protocols unset). */
  profileProtocols: boolean;
  protocols: Protocol[];
  trafficInterval: string;
  running: boolean;
  /** 802.1Q VLAN id ("": untagged), its priority, and the QinQ S-tag ("": none). */
  vlan: string;
  vlanPriority: string;
  outerVlan: string;
  /** 802.1X: the profile's default (spec.dot1x unset), the supplicant on, or off (silent on EAPOL: MAB). */
  dot1x: Dot1xChoice;
}

export type Dot1xChoice = "profile" | "on" | "off";

const DOT1X_SPEC: Record<Dot1xChoice, boolean | null> = { profile: null, on: true, off: false };

function dot1xChoice(value: boolean | null | undefined): Dot1xChoice {
  return value === true ? "on" : value === false ? "off" : "profile";
}

/** Whether the device will speak IPv6: "ipv6" in its own list, or in the profile's when it runs those. */
export function speaksIpv6(values: FormValues, profileProtocols: readonly string[]): boolean {
  return (values.profileProtocols ? profileProtocols : values.protocols).includes("ipv6");
}

/**
 * IPv6 on or off. IPv6 is the protocol "ipv6": turning it on for a device running the profile's
 * list makes that list its own, plus "ipv6" (the spec cannot add one protocol to the profile's).
 */
export function withIpv6(values: FormValues, profileProtocols: readonly Protocol[], on: boolean): FormValues {
  const base = (values.profileProtocols ? profileProtocols : values.protocols).filter((p) => p !== "ipv6");
  if (values.profileProtocols && on === profileProtocols.includes("ipv6")) return values;
  return { ...values, profileProtocols: false, protocols: on ? [...base, "ipv6"] : base };
}

export function emptyValues(profile = ""): FormValues {
  return {
    name: "",
    profile,
    mac: "",
    dhcpMode: "auto",
    address: "",
    profileProtocols: true,
    protocols: [],
    trafficInterval: "60",
    running: true,
    vlan: "",
    vlanPriority: "0",
    outerVlan: "",
    dot1x: "profile",
  };
}

export function valuesOf(device: Device): FormValues {
  const spec = device.spec;
  return {
    name: device.name,
    profile: spec.profile,
    mac: spec.mac ?? "",
    dhcpMode: spec.dhcp.mode === "static" ? "static" : "auto",
    address: spec.dhcp.address ?? "",
    profileProtocols: spec.protocols === null || spec.protocols === undefined,
    protocols: spec.protocols ?? [],
    trafficInterval: String(spec.trafficInterval),
    running: spec.running,
    vlan: spec.vlan ? String(spec.vlan) : "",
    vlanPriority: String(spec.vlanPriority ?? 0),
    outerVlan: spec.outerVlan ? String(spec.outerVlan) : "",
    dot1x: dot1xChoice(spec.dot1x),
  };
}

/** A number field: "" is null; a non-number goes as typed, so the service's 422 names the field. */
function numberOrNull(text: string): number | null {
  const value = Number(text);
  if (text.trim() === "") return null;
  return Number.isNaN(value) ? (text as unknown as number) : value;
}

function specOf(values: FormValues, previous?: DeviceSpec): DeviceSpec {
  const interval = Number(values.trafficInterval);
  return {
    ...(previous ?? {}),
    profile: values.profile,
    mac: values.mac.trim() || null,
    hostname: previous?.hostname ?? null,
    dhcp: {
      mode: values.dhcpMode,
      address: values.dhcpMode === "static" ? values.address.trim() || null : null,
    },
    protocols: values.profileProtocols ? null : values.protocols,
    // A non-number goes as sent, so the service's 422 names the field.
    trafficInterval: values.trafficInterval.trim() === "" || Number.isNaN(interval) ? (values.trafficInterval as unknown as number) : interval,
    running: values.running,
    vlan: numberOrNull(values.vlan),
    vlanPriority: numberOrNull(values.vlanPriority) ?? 0,
    outerVlan: numberOrNull(values.outerVlan),
    dot1x: DOT1X_SPEC[values.dot1x],
  };
}

export function createBody(values: FormValues): DeviceCreate {
  return { name: values.name.trim(), spec: specOf(values), labels: {}, annotations: {} };
}

export function updateBody(values: FormValues, device: Device): DeviceUpdate {
  return {
    spec: specOf(values, device.spec),
    labels: device.labels ?? {},
    annotations: device.annotations ?? {},
  };
}
