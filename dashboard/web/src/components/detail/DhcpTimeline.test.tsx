import { act, screen, within } from "@testing-library/react";
import { harness, renderWith } from "../../test/fakes";
import { DhcpTimeline } from "./DhcpTimeline";

describe("DhcpTimeline", () => {
  it("lists the exchange newest first with addresses and the answering server, live", () => {
    const h = harness();
    renderWith(h, <DhcpTimeline id="cam" />);
    expect(screen.getByText("No DHCP exchange yet")).toBeInTheDocument();
    const t = (ms: number) => `2026-11-26T12:00:00.${String(ms).padStart(3, "0")}Z`;
    act(() => {
      h.store.apply({ type: "dhcp_discover", device_id: "cam", timestamp: t(1), xid: "0x1a", mac: "00:12:34:56:78:01" });
      h.store.apply({ type: "dhcp_offer", device_id: "cam", timestamp: t(2), xid: "0x1a", offered_ip: "10.77.0.9", server_id: "10.77.0.1", lease_time: 600 });
      h.store.apply({ type: "dhcp_request", device_id: "cam", timestamp: t(3), xid: "0x1a", requested_ip: "10.77.0.9", server_id: "10.77.0.1", state: "selecting" });
      h.store.apply({ type: "dhcp_ack", device_id: "cam", timestamp: t(4), xid: "0x1a", assigned_ip: "10.77.0.9", server_id: "10.77.0.1", lease_time: 600 });
      h.store.apply({ type: "dhcp_nak", device_id: "cam", timestamp: t(5), xid: "0x1b", server_id: "10.77.0.1", message: "wrong network" });
    });
    const items = within(screen.getByRole("list", { name: "DHCP timeline" })).getAllByRole("listitem");
    expect(items.map((i) => i.getAttribute("data-type"))).toEqual([
      "dhcp_nak", "dhcp_ack", "dhcp_request", "dhcp_offer", "dhcp_discover",
    ]);
    expect(items[1]).toHaveTextContent("ACK");
    expect(items[1]).toHaveTextContent("assigns 10.77.0.9 · lease 10m 00s");
    expect(items[1]).toHaveTextContent("server 10.77.0.1");
    expect(items[0]).toHaveTextContent("wrong network");
  });
});
