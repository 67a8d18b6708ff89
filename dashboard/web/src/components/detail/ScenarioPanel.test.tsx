import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { device, harness, renderWith } from "../../test/fakes";
import type { GridDevice } from "../devices/model";
import { ScenarioPanel } from "./ScenarioPanel";

const SCENARIO = { name: "storm", seed: 3, steps: [{ at: 10, target: { count: 2 }, behaviour: { kind: "power_cycle", down: 5 } }] };

function grid(withScenario: boolean): GridDevice {
  const d = device("cam");
  if (withScenario) d.spec = { ...d.spec, scenario: SCENARIO as never };
  return { id: "cam", name: "cam", vendor: "Tinycam", model: "TC-1", deviceClass: "camera", profile: "tiny-cam", mac: d.status.mac ?? "", vlan: "", fleet: null, device: d };
}

describe("ScenarioPanel", () => {
  it("runs a scenario file: its document goes to PUT .../scenario", async () => {
    const h = harness();
    h.http.on("PUT", /^\/api\/devices\/cam\/scenario$/, () => device("cam"));
    const changed = vi.fn();
    renderWith(h, <ScenarioPanel device={grid(false)} onChanged={changed} />);
    expect(screen.getByText("No scenario")).toBeInTheDocument();
    const file = new File(["name: storm\nsteps:\n  - {at: 10, behaviour: {kind: power_cycle, down: 5}}\n"], "storm.yaml");
    await userEvent.upload(screen.getByLabelText("Run a scenario file…"), file);
    await waitFor(() => expect(changed).toHaveBeenCalled());
    const put = h.http.calls.find((c) => c.method === "PUT")!;
    expect(JSON.parse(put.body)).toEqual({ name: "storm", steps: [{ at: 10, behaviour: { kind: "power_cycle", down: 5 } }] });
    expect(h.notices).toEqual([{ kind: "success", title: "Scenario storm set on cam", lines: undefined }]);
  });

  it("shows the attached steps and stops the scenario", async () => {
    const h = harness();
    h.http.on("DELETE", /^\/api\/devices\/cam\/scenario$/, () => device("cam"));
    renderWith(h, <ScenarioPanel device={grid(true)} onChanged={() => {}} />);
    expect(screen.getByRole("region", { name: "Attached scenario" })).toHaveTextContent("power_cycle at 10 s (2 devices)");
    await userEvent.click(screen.getByRole("button", { name: "Stop scenario" }));
    await waitFor(() => expect(h.http.calls.some((c) => c.method === "DELETE")).toBe(true));
  });

  it("tells what the service refused", async () => {
    const h = harness();
    h.http.on("PUT", /scenario$/, () => new Response(JSON.stringify({ detail: [{ loc: ["body", "steps", 0, "behaviour", "down"], msg: "Input should be greater than or equal to 0", type: "x" }] }), { status: 422, headers: { "Content-Type": "application/json" } }));
    renderWith(h, <ScenarioPanel device={grid(false)} onChanged={() => {}} />);
    await userEvent.upload(screen.getByLabelText("Run a scenario file…"), new File(['{"name": "s", "steps": []}'], "s.json"));
    await waitFor(() => expect(h.notices[0]?.kind).toBe("error"));
    expect(h.notices[0]?.title).toBe("Could not run scenario s on cam");
  });
});
