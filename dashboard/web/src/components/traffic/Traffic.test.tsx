import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Fleet } from "../../api/types";
import { DhcpRate } from "../../lib/live/dhcpRate";
import { device, harness, renderWith } from "../../test/fakes";
import { statsMsg } from "../../test/messages";
import { DhcpStormBars } from "./DhcpStorm";
import { ProtocolMix } from "./ProtocolMix";

describe("DHCP timeline", () => {
  it("draws one column per second, stacked by step, with totals and the peak", () => {
    const rate = new DhcpRate(60);
    const t0 = Date.UTC(2026, 11, 3, 12, 0, 0);
    for (let i = 0; i < 40; i++) rate.add("dhcp_discover", t0 + i);
    for (let i = 0; i < 30; i++) rate.add("dhcp_ack", t0 + 1_000 + i);
    rate.add("dhcp_nak", t0 + 1_000);
    renderWith(harness(), <DhcpStormBars series={rate.series(t0 + 2_000)} />);
    const figure = screen.getByTestId("dhcp-storm");
    expect(figure).toHaveAttribute("data-total", "71");
    const busy = figure.querySelectorAll('.iot-storm__col:not([data-total="0"])');
    expect([...busy].map((c) => c.getAttribute("data-total"))).toEqual(["40", "31"]);
    expect(busy[0]!.querySelector('[data-kind="discover"]')).toHaveStyle({ height: "100%" });
    expect(within(figure).getByRole("img")).toHaveAccessibleName(/40 DISCOVER, 0 OFFER, 0 REQUEST, 30 ACK, 1 NAK/);
    expect(figure).toHaveTextContent(/peak 40\/s/);
  });
});

describe("protocol mix", () => {
  it("sums the live protocols per fleet, then per profile", async () => {
    const h = harness();
    const stats = (id: string, protocols: Record<string, number>) =>
      h.store.apply(statsMsg(id, "2026-12-03T12:00:00.000Z", { protocols }));
    const fleet = { name: "cams", spec: { template: { profile: "dahua" } }, status: { profile: "dahua" } } as unknown as Fleet;
    act(() => {
      stats("cams-0000", { dhcp: 4, mdns: 6 });
      stats("cams-0001", { dhcp: 4, mdns: 6 });
      stats("cam-1", { dhcp: 2, rtsp: 8 });
    });
    renderWith(h, <ProtocolMix devices={[device("cam-1", {}, "tiny-cam")]} fleets={[fleet]} />);
    const cams = screen.getByRole("row", { name: /^cams/ });
    expect(cams).toHaveTextContent("cams220");
    expect(within(cams).getAllByRole("listitem").map((li) => li.getAttribute("data-protocol"))).toEqual(["mdns", "dhcp"]);
    expect(cams).toHaveTextContent("mdns 60%");
    expect(screen.getByRole("row", { name: /stand-alone/ })).toHaveTextContent("rtsp 80%");
    await userEvent.click(screen.getByRole("tab", { name: "By profile" }));
    expect(screen.getByRole("row", { name: /^dahua/ })).toHaveTextContent("dahua220");
    expect(screen.getByRole("row", { name: /^tiny-cam/ })).toHaveTextContent("tiny-cam110");
  });

  it("says when nothing reported yet", () => {
    renderWith(harness(), <ProtocolMix devices={[]} fleets={[]} />);
    expect(screen.getByText("No statistics yet")).toBeInTheDocument();
  });
});
