import { render, screen } from "@testing-library/react";
import { BreakdownChart, TimeSeriesChart, timeTicks } from "./Charts";

describe("charts", () => {
  it("a time series shows its latest value and says how many points it holds", () => {
    const points = [1, 2, 3].map((i) => ({ t: Date.UTC(2026, 10, 26, 12, 0, i), value: i * 10 }));
    render(<TimeSeriesChart title="Packets/s" points={points} format={(v) => `${v}/s`} />);
    const figure = screen.getByRole("figure");
    expect(figure).toHaveAttribute("data-points", "3");
    expect(figure).toHaveAccessibleName(/Packets\/s: 30\/s at/);
    expect(screen.getByText("30/s")).toBeInTheDocument();
  });

  it("an empty series says so instead of drawing axes", () => {
    render(<TimeSeriesChart title="Bytes/s" points={[]} format={String} emptyText="Not running" />);
    expect(screen.getByText("Not running")).toBeInTheDocument();
  });

  it("a breakdown has a text table for assistive technology", () => {
    render(<BreakdownChart title="By protocol" slices={[{ name: "arp", value: 5 }, { name: "dhcp", value: 2 }]} format={String} />);
    expect(screen.getByRole("table", { name: "By protocol" })).toHaveTextContent("arp5dhcp2");
    expect(screen.getByText("7 total")).toBeInTheDocument();
  });

  it("time ticks fall on whole steps and never repeat a label", () => {
    const t0 = Date.UTC(2026, 10, 26, 12, 0, 0, 300);
    expect(timeTicks(t0, t0 + 2500)).toEqual([t0 + 700, t0 + 1700]);
    expect(timeTicks(t0, t0 + 10 * 60_000).map((t) => (t - t0 + 300) / 60_000)).toEqual([2, 4, 6, 8, 10]);
  });
});
