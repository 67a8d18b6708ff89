import { describe, expect, it } from "vitest";
import { DhcpRate } from "./dhcpRate";

describe("DhcpRate", () => {
  it("counts each step per second and ignores other messages", () => {
    const rate = new DhcpRate(10);
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 3; i++) rate.add("dhcp_discover", t0 + 100 * i);
    rate.add("dhcp_offer", t0 + 900);
    expect(rate.add("dhcp_release", t0 + 950)).toBe(false);
    expect(rate.add("stats", t0 + 950)).toBe(false);
    rate.add("dhcp_ack", t0 + 1_000);
    rate.add("dhcp_nak", t0 + 1_500);
    const series = rate.series(t0 + 1_999);
    expect(series).toHaveLength(10);
    expect(series.at(-2)).toEqual({ t: t0, discover: 3, offer: 1, request: 0, ack: 0, nak: 0 });
    expect(series.at(-1)).toEqual({ t: t0 + 1_000, discover: 0, offer: 0, request: 0, ack: 1, nak: 1 });
    expect(rate.version).toBe(6);
  });

  it("forgets seconds that left the window, also when their slot is reused", () => {
    const rate = new DhcpRate(5);
    const t0 = 1_700_000_000_000;
    rate.add("dhcp_request", t0);
    expect(rate.series(t0 + 4_000)[0]).toMatchObject({ t: t0, request: 1 });
    expect(rate.series(t0 + 5_000).every((s) => s.request === 0)).toBe(true);
    rate.add("dhcp_request", t0 + 5_000); // the same slot, five seconds later
    const series = rate.series(t0 + 5_000);
    expect(series.at(-1)).toMatchObject({ t: t0 + 5_000, request: 1 });
    expect(series.reduce((n, s) => n + s.request, 0)).toBe(1);
  });
});
