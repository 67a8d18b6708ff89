import { act, screen } from "@testing-library/react";
import { harness, renderWith } from "../../test/fakes";
import { msg, statsMsg } from "../../test/messages";
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
    renderWith(h, <LeaseCard id="phone" dot1xMethod="peap" />);
    expect(screen.getByTestId("detail-auth")).toHaveTextContent("Authenticating");
    expect(screen.getByTestId("detail-auth")).toHaveTextContent("PEAP/MSCHAPv2"); // the profile's, until it reports
    expect(screen.queryByTestId("detail-auth-last")).toBeNull();
  });

  it("shows the last 802.1X outcome: a failure held, then the success", () => {
    const h = harness();
    h.store.apply(statsMsg("phone", "2026-11-26T12:00:00.000Z", { state: "pending", auth: "authenticating" }));
    h.store.apply(msg({ type: "dot1x_failure", device_id: "phone", timestamp: "2026-11-26T12:00:01.000Z",
      identity: "phone-000001", method: "md5", failures: 1, retry_in: 60 }));
    h.store.apply(statsMsg("phone", "2026-11-26T12:00:02.000Z", { state: "pending", auth: "failed" }));
    renderWith(h, <LeaseCard id="phone" dot1xMethod="peap" />);
    expect(screen.getByTestId("detail-auth")).toHaveTextContent("Held");
    expect(screen.getByTestId("detail-auth")).toHaveTextContent("EAP-MD5"); // what it ran beats the profile's
    const last = screen.getByTestId("detail-auth-last");
    expect(last).toHaveAttribute("data-result", "failure");
    expect(last).toHaveTextContent("EAP-Failure (EAP-MD5), retry in 1m 00s");
    expect(last).toHaveTextContent("phone-000001");
    act(() => {
      h.store.apply(msg({ type: "dot1x_success", device_id: "phone", timestamp: "2026-11-26T12:01:02.000Z",
        identity: "phone-000001", method: "md5", seconds: 0.1, reauthentication: false }));
      h.store.apply(statsMsg("phone", "2026-11-26T12:01:03.000Z", { state: "binding", auth: "authorized" }));
    });
    expect(screen.getByTestId("detail-auth")).toHaveTextContent("Authorized");
    expect(screen.getByTestId("detail-auth-last")).toHaveTextContent("EAP-Success (EAP-MD5)");
  });
});
