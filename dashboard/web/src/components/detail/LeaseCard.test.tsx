import { act, screen } from "@testing-library/react";
import { harness, renderWith } from "../../test/fakes";
import { statsMsg } from "../../test/messages";
import { LeaseCard } from "./LeaseCard";

describe("LeaseCard", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-11-26T12:00:00.000Z"));
  });
  afterEach(() => vi.useRealTimers());

  it("counts T1, T2 and expiry down from the last stats message", () => {
    const h = harness();
    h.store.apply(statsMsg("cam", "2026-11-26T12:00:00.000Z", {
      current_ip: "10.77.0.9", state: "bound", dhcp_state: "bound", packets_sent: 3,
      lease: { server_id: "10.77.0.1", lease_time: 120, expires_in: 120, t1_in: 60, t2_in: 105 },
    }));
    renderWith(h, <LeaseCard id="cam" />);
    expect(screen.getByTestId("detail-ip")).toHaveTextContent("10.77.0.9");
    expect(screen.getByText("10.77.0.1")).toBeInTheDocument();
    expect(screen.getByText("in 1m 00s")).toBeInTheDocument();
    act(() => vi.advanceTimersByTime(15_000));
    expect(screen.getByText("in 45s")).toBeInTheDocument();
    expect(screen.getByText("in 1m 30s")).toBeInTheDocument();
    act(() => vi.advanceTimersByTime(50_000));
    expect(screen.getByText("due")).toBeInTheDocument();
    expect(screen.queryByTestId("detail-ipv6")).toBeNull(); // an IPv4-only device shows no IPv6 row
  });

  it("lists the IPv6 addresses of a device that speaks IPv6", () => {
    const h = harness();
    h.store.apply(statsMsg("cam", "2026-11-26T12:00:00.000Z", {
      current_ip: "10.77.0.9", state: "bound", dhcp_state: "bound",
      ipv6_addresses: ["fe80::4619:b6ff:fe00:1", "2001:db8:1::4619:b6ff:fe00:1"],
    }));
    renderWith(h, <LeaseCard id="cam" />);
    const cell = screen.getByTestId("detail-ipv6");
    expect(cell).toHaveTextContent("fe80::4619:b6ff:fe00:1");
    expect(cell).toHaveTextContent("2001:db8:1::4619:b6ff:fe00:1");
  });

  it("shows the 802.1X state the stats report", () => {
    const h = harness();
    h.store.apply(statsMsg("phone", "2026-11-26T12:00:00.000Z", { state: "binding", auth: "authenticating" }));
    renderWith(h, <LeaseCard id="phone" />);
    expect(screen.getByTestId("detail-auth")).toHaveTextContent("authenticating");
  });
});
