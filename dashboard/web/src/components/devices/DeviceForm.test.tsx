import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Protocol } from "../../api/types";
import { PROFILES, device, harness, json, renderWith } from "../../test/fakes";
import { DeviceForm } from "./DeviceForm";

function setup() {
  const h = harness();
  h.http.on("GET", /^\/api\/profiles\/(.+)$/, () => ({
    name: "tiny-cam", os: "Linux", hostname_pattern: "tinycam-{mac6}",
    dhcp: { options: [53, 61, 57, 55, 60], parameter_request_list: [1, 3, 6, 12, 15], vendor_class_id: "udhcp 1.19.4" },
  }));
  const saved: string[] = [];
  const closed = { count: 0 };
  return { h, saved, closed };
}

describe("DeviceForm", () => {
  it("shows the chosen profile's class, protocols and fingerprint", async () => {
    const { h } = setup();
    renderWith(h, <DeviceForm profiles={PROFILES} onClose={() => {}} onSaved={() => {}} />);
    await userEvent.selectOptions(screen.getByLabelText("Profile", { exact: true }), "tiny-cam");
    const card = screen.getByRole("region", { name: "Profile tiny-cam" });
    expect(card).toHaveTextContent("camera");
    expect(card).toHaveTextContent("44:19:b6");
    await waitFor(() => expect(card).toHaveTextContent("1, 3, 6, 12, 15"));
    expect(card).toHaveTextContent("udhcp 1.19.4");
    expect(screen.getByLabelText("MAC address")).toHaveAttribute("placeholder", "44:19:b6:xx:xx:xx");
  });

  it("sends the spec the service expects and reports the saved device", async () => {
    const { h, saved } = setup();
    h.http.on("POST", /^\/api\/devices$/, async (req) => json({ ...device("cam-9"), ...(await req.json()) }, 201));
    renderWith(h, <DeviceForm profiles={PROFILES} onClose={() => {}} onSaved={(d) => saved.push(d.name)} />);
    await userEvent.type(screen.getByLabelText("Device ID"), "cam-9");
    await userEvent.selectOptions(screen.getByLabelText("Profile", { exact: true }), "tiny-cam");
    await userEvent.click(screen.getByRole("radio", { name: "Request an address" }));
    await userEvent.type(screen.getByLabelText("Requested address"), "10.77.0.50");
    await userEvent.click(screen.getByRole("checkbox", { name: "The profile's protocols" }));
    await userEvent.click(screen.getByRole("checkbox", { name: "icmp" }));
    await userEvent.click(screen.getByRole("button", { name: "Add device" }));
    await waitFor(() => expect(saved).toEqual(["cam-9"]));
    const body = JSON.parse(h.http.calls.find((c) => c.method === "POST")!.body);
    expect(body).toEqual({
      name: "cam-9",
      labels: {},
      annotations: {},
      spec: {
        profile: "tiny-cam", mac: null, hostname: null, dhcp: { mode: "static", address: "10.77.0.50" },
        protocols: ["arp", "dhcp"], trafficInterval: 60, running: true, vlan: null, vlanPriority: 0, outerVlan: null,
        dot1x: null,
      },
    });
  });

  it("sends the VLAN, its priority and the QinQ S-tag", async () => {
    const { h, saved } = setup();
    h.http.on("POST", /^\/api\/devices$/, async (req) => json({ ...device("cam-10"), ...(await req.json()) }, 201));
    renderWith(h, <DeviceForm profiles={PROFILES} onClose={() => {}} onSaved={(d) => saved.push(d.name)} />);
    await userEvent.type(screen.getByLabelText("Device ID"), "cam-10");
    await userEvent.selectOptions(screen.getByLabelText("Profile", { exact: true }), "tiny-cam");
    expect(screen.getByLabelText("Priority (802.1p)")).toBeDisabled(); // no VLAN: nothing to carry it
    await userEvent.type(screen.getByLabelText("VLAN id (802.1Q)"), "30");
    await userEvent.clear(screen.getByLabelText("Priority (802.1p)"));
    await userEvent.type(screen.getByLabelText("Priority (802.1p)"), "5");
    await userEvent.type(screen.getByLabelText("Outer VLAN (QinQ S-tag)"), "100");
    await userEvent.click(screen.getByRole("button", { name: "Add device" }));
    await waitFor(() => expect(saved).toEqual(["cam-10"]));
    const body = JSON.parse(h.http.calls.find((c) => c.method === "POST")!.body);
    expect(body.spec).toMatchObject({ vlan: 30, vlanPriority: 5, outerVlan: 100 });
  });

  it("turns IPv6 and the profile's 802.1X supplicant on, with a VLAN", async () => {
    const { h, saved } = setup();
    h.http.on("POST", /^\/api\/devices$/, async (req) => json({ ...device("desk-phone"), ...(await req.json()) }, 201));
    renderWith(h, <DeviceForm profiles={PROFILES} onClose={() => {}} onSaved={(d) => saved.push(d.name)} />);
    await userEvent.type(screen.getByLabelText("Device ID"), "desk-phone");
    await userEvent.selectOptions(screen.getByLabelText("Profile", { exact: true }), "tiny-phone");
    const dot1x = screen.getByLabelText("802.1X");
    expect(dot1x).toHaveAccessibleDescription("PEAP/MSCHAPv2 as the real device; DHCP waits for the port to be authorized.");
    expect(screen.getByRole("option", { name: "The profile's (PEAP/MSCHAPv2, off)" })).toBeInTheDocument();
    await userEvent.selectOptions(dot1x, "on");
    await userEvent.type(screen.getByLabelText("VLAN id (802.1Q)"), "20");
    const ipv6 = screen.getByRole("checkbox", { name: "IPv6 (link-local, SLAAC, DHCPv6)" });
    expect(ipv6).not.toBeChecked();
    await userEvent.click(ipv6);
    expect(ipv6).toBeChecked();
    expect(screen.getByRole("checkbox", { name: "The profile's protocols" })).not.toBeChecked(); // its list, plus ipv6
    expect(screen.getByRole("checkbox", { name: "ipv6" })).toBeChecked();
    await userEvent.click(screen.getByRole("button", { name: "Add device" }));
    await waitFor(() => expect(saved).toEqual(["desk-phone"]));
    const body = JSON.parse(h.http.calls.find((c) => c.method === "POST")!.body);
    expect(body.spec).toMatchObject({ profile: "tiny-phone", vlan: 20, dot1x: true, protocols: ["arp", "dhcp", "lldp", "ipv6"] });
  });

  it("offers 802.1X only where the profile has a supplicant, and edits keep the choice", async () => {
    const { h } = setup();
    h.http.on("PUT", /^\/api\/devices\/cam-1$/, async (req) => json({ ...device("cam-1"), ...(await req.json()) }));
    const cam = { ...device("cam-1"), spec: { ...device("cam-1").spec, dot1x: false, protocols: ["arp", "dhcp", "ipv6"] as Protocol[] } };
    renderWith(h, <DeviceForm device={cam} profiles={PROFILES} onClose={() => {}} onSaved={() => {}} />);
    expect(screen.getByLabelText("802.1X")).toHaveValue("off");
    expect(screen.getByRole("option", { name: "On: authenticate" })).toBeDisabled();
    expect(screen.getByLabelText("802.1X")).toHaveAccessibleDescription(/no supplicant.*falls back to MAB/);
    const ipv6 = screen.getByRole("checkbox", { name: "IPv6 (link-local, SLAAC, DHCPv6)" });
    expect(ipv6).toBeChecked();
    await userEvent.click(ipv6);
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(h.http.calls.some((c) => c.method === "PUT")).toBe(true));
    const body = JSON.parse(h.http.calls.find((c) => c.method === "PUT")!.body);
    expect(body.spec).toMatchObject({ dot1x: false, protocols: ["arp", "dhcp"] });
  });

  it("puts a refused VLAN or 802.1X choice next to its field", async () => {
    const { h } = setup();
    h.http.on("POST", /^\/api\/devices$/, () =>
      json({ detail: [{ loc: ["body", "spec", "vlan"], msg: "Input should be less than or equal to 4094", type: "less_than_equal" }] }, 422),
    );
    renderWith(h, <DeviceForm profiles={PROFILES} onClose={() => {}} onSaved={() => {}} />);
    await userEvent.type(screen.getByLabelText("Device ID"), "cam-1");
    await userEvent.selectOptions(screen.getByLabelText("Profile", { exact: true }), "tiny-cam");
    await userEvent.type(screen.getByLabelText("VLAN id (802.1Q)"), "4095");
    await userEvent.click(screen.getByRole("button", { name: "Add device" }));
    const vlan = screen.getByLabelText("VLAN id (802.1Q)");
    await waitFor(() => expect(vlan).toHaveAttribute("aria-invalid", "true"));
    expect(vlan).toHaveAccessibleDescription("Input should be less than or equal to 4094");
  });

  it("puts the service's 422 messages next to their fields", async () => {
    const { h, saved } = setup();
    h.http.on("POST", /^\/api\/devices$/, () =>
      json(
        {
          detail: [
            { loc: ["body", "name"], msg: "String should match pattern '^[a-z0-9]'", type: "string_pattern_mismatch" },
            { loc: ["body", "spec", "mac"], msg: "Value error, 01:00:5e:00:00:01 is a multicast MAC", type: "value_error" },
          ],
        },
        422,
      ),
    );
    renderWith(h, <DeviceForm profiles={PROFILES} onClose={() => {}} onSaved={(d) => saved.push(d.name)} />);
    await userEvent.type(screen.getByLabelText("Device ID"), "Bad_Name");
    await userEvent.selectOptions(screen.getByLabelText("Profile", { exact: true }), "tiny-cam");
    await userEvent.type(screen.getByLabelText("MAC address"), "01:00:5e:00:00:01");
    await userEvent.click(screen.getByRole("button", { name: "Add device" }));
    const mac = screen.getByLabelText("MAC address");
    await waitFor(() => expect(mac).toHaveAttribute("aria-invalid", "true"));
    expect(mac).toHaveAccessibleDescription("01:00:5e:00:00:01 is a multicast MAC");
    expect(screen.getByLabelText("Device ID")).toHaveAccessibleDescription("String should match pattern '^[a-z0-9]'");
    expect(screen.getByLabelText("Profile", { exact: true })).not.toHaveAttribute("aria-invalid");
    expect(saved).toEqual([]);
  });

  it("shows problems that name no field above the buttons", async () => {
    const { h } = setup();
    h.http.on("PUT", /^\/api\/devices\/cam-1$/, () => json({ detail: "invalid", errors: ["the emulator is gone"] }, 422));
    renderWith(h, <DeviceForm device={device("cam-1")} profiles={PROFILES} onClose={() => {}} onSaved={() => {}} />);
    expect(screen.getByLabelText("Device ID")).toBeDisabled();
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("the emulator is gone")).toBeInTheDocument();
  });

  it("fills a random MAC inside the profile's OUI", async () => {
    const { h } = setup();
    renderWith(h, <DeviceForm profiles={PROFILES} onClose={() => {}} onSaved={() => {}} />);
    await userEvent.selectOptions(screen.getByLabelText("Profile", { exact: true }), "tiny-plug");
    await userEvent.click(screen.getByRole("button", { name: "Random MAC in OUI" }));
    expect((screen.getByLabelText("MAC address") as HTMLInputElement).value).toMatch(/^50:c7:bf(:[0-9a-f]{2}){3}$/);
  });
});
