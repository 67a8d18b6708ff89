import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { harness, renderWith } from "../../test/fakes";
import { logMsg } from "../../test/messages";
import type { LogLevel } from "../../lib/live/messages";
import { LogViewer } from "./LogViewer";

const log = (s: number, level: LogLevel, message: string) =>
  logMsg("cam", `2026-11-26T12:00:${String(s).padStart(2, "0")}.000Z`, level, message);

describe("LogViewer", () => {
  it("filters by level and text, newest first", async () => {
    const h = harness();
    h.store.apply(log(1, "debug", "tick"));
    h.store.apply(log(2, "info", "DHCP bound to 10.77.0.9"));
    h.store.apply(log(3, "warning", "NTP server did not resolve"));
    h.store.apply({ type: "error", device_id: "cam", timestamp: "2026-11-26T12:00:04.000Z", error: "socket closed", severity: "error" });
    renderWith(h, <LogViewer id="cam" />);
    const lines = () => within(screen.getByRole("list", { name: "Device log" })).getAllByRole("listitem").map((li) => li.textContent);
    expect(lines()).toHaveLength(4);
    expect(lines()[0]).toContain("socket closed");
    await userEvent.selectOptions(screen.getByLabelText("Level"), "warning");
    expect(lines()).toHaveLength(2);
    await userEvent.type(screen.getByLabelText("Filter log text"), "ntp");
    expect(lines()).toEqual([expect.stringContaining("NTP server did not resolve")]);
    await userEvent.clear(screen.getByLabelText("Filter log text"));
    await userEvent.type(screen.getByLabelText("Filter log text"), "nothing like this");
    expect(screen.getByText("No line matches the filters")).toBeInTheDocument();
  });

  it("pauses: new lines are counted, not shown, until resumed", async () => {
    const h = harness();
    h.store.apply(log(1, "info", "first"));
    renderWith(h, <LogViewer id="cam" />);
    await userEvent.click(screen.getByRole("button", { name: "Pause" }));
    act(() => {
      h.store.apply(log(2, "info", "second"));
      h.store.apply(log(3, "info", "third"));
    });
    expect(screen.queryByText("second")).not.toBeInTheDocument();
    const resume = screen.getByRole("button", { name: "Resume (2 new)" });
    expect(resume).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(resume);
    expect(screen.getByText("third")).toBeInTheDocument();
  });

  it("shows a scenario's behaviours as lines of their own, once", () => {
    const h = harness();
    const at = "2026-11-26T12:00:05.000Z";
    h.store.apply({ type: "scenario", device_id: "cam", timestamp: at, scenario: "storm", step: "1",
      behaviour: "power_cycle", state: "started", detail: "power off for 10 s" });
    h.store.apply({ type: "log", device_id: "cam", timestamp: at, level: "info", echo_of: "scenario",
      message: "[scenario storm] power_cycle: started (step 1): power off for 10 s" });
    h.store.apply(log(6, "info", "[scenario storm] churn: leaves for 30 s"));
    renderWith(h, <LogViewer id="cam" />);
    const items = within(screen.getByRole("list", { name: "Device log" })).getAllByRole("listitem");
    expect(items.map((li) => li.textContent)).toEqual([
      expect.stringContaining("[scenario storm] churn: leaves for 30 s"),
      expect.stringContaining("scenario[scenario storm] power_cycle: started (step 1): power off for 10 s"),
    ]);
  });
});
