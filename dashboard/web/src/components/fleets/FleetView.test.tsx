import { screen } from "@testing-library/react";
import type { Fleet } from "../../api/types";
import { harness, renderWith } from "../../test/fakes";
import { FleetView } from "./FleetView";

const PHONES: Fleet = {
  name: "phones",
  labels: {},
  annotations: {},
  spec: {
    replicas: 3, devicesPerPod: 250, running: true,
    template: { profile: "tiny-phone", vlan: 20, vlanPriority: 5, dot1x: true, protocols: ["arp", "dhcp", "ipv6"], trafficInterval: 60, dhcp: { mode: "auto", address: null } },
  },
  status: {
    running: true, replicas: 3, phases: { bound: 2, binding: 1 }, bound: 2, profile: "tiny-phone",
    vendor: "Phoneco", deviceClass: "phone", auth: { authorized: 2, failed: 1 },
  },
};

describe("FleetView", () => {
  it("shows each fleet's VLAN, IPv6 and 802.1X choice, and its members per 802.1X state", async () => {
    const h = harness();
    h.http.on("GET", /^\/api\/fleets$/, () => [PHONES, { ...PHONES, name: "cams", spec: { ...PHONES.spec, template: { ...PHONES.spec.template, vlan: null, dot1x: null, protocols: null } }, status: { ...PHONES.status, auth: {} } }]);
    renderWith(h, <FleetView />);
    const [phones, cams] = await screen.findAllByTestId("fleet-network");
    expect(phones).toHaveTextContent("VLAN 20, priority 5 · IPv6 · 802.1X on");
    expect(screen.getByTestId("fleet-auth")).toHaveTextContent("802.1X: 2 Authorized · 1 Held");
    expect(cams).toHaveTextContent(/^untagged$/);
  });
});
