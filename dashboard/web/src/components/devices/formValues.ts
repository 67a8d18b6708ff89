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
