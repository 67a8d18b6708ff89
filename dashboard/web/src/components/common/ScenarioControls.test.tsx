import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { harness, renderWith } from "../../test/fakes";
import { ScenarioControls } from "./ScenarioControls";

const STORM = { name: "storm", seed: 1, steps: [{ at: 5, target: { share: 0.5 }, behaviour: { kind: "boot_storm" } }] };

describe("ScenarioControls for a fleet", () => {
  it("runs a file on the fleet (PUT /api/fleets/{name}/scenario) and says so", async () => {
    const h = harness();
    h.http.on("PUT", /^\/api\/fleets\/lobby\/scenario$/, () => ({}));
    const changed = vi.fn();
    renderWith(h, <ScenarioControls kind="fleet" name="lobby" scenario={null} onChanged={changed} compact />);
    const file = new File(["name: storm\nsteps:\n  - {at: 5, behaviour: {kind: boot_storm}}\n"], "storm.yaml");
    await userEvent.upload(screen.getByLabelText("Run scenario… (lobby)"), file);
    await waitFor(() => expect(changed).toHaveBeenCalled());
    const put = h.http.calls.find((c) => c.method === "PUT")!;
    expect(put.url).toMatch(/\/api\/fleets\/lobby\/scenario$/);
    expect(JSON.parse(put.body)).toEqual({ name: "storm", steps: [{ at: 5, behaviour: { kind: "boot_storm" } }] });
    expect(h.notices).toEqual([{ kind: "success", title: "Scenario storm set on lobby", lines: undefined }]);
  });

  it("shows the attached scenario's name with its steps as a hint, and stops it", async () => {
    const h = harness();
    h.http.on("DELETE", /^\/api\/fleets\/lobby\/scenario$/, () => ({}));
    renderWith(h, <ScenarioControls kind="fleet" name="lobby" scenario={STORM as never} onChanged={() => {}} compact />);
    expect(screen.getByText("storm")).toHaveAttribute("title", "boot_storm at 5 s (50%)");
    await userEvent.click(screen.getByRole("button", { name: "Stop scenario storm on lobby" }));
    await waitFor(() => expect(h.http.calls.some((c) => c.method === "DELETE" && /fleets\/lobby/.test(c.url))).toBe(true));
  });
});
