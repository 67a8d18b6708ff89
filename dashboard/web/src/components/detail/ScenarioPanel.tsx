/**
 * A device's behaviour scenario: what is attached (its steps), running one from a file, stopping it.
 * Setting a scenario restarts the device with it (the service's `PUT .../scenario`); what it does then
 * shows in the Log tab, a line per behaviour's start and end.
 */
import { useId, useState } from "react";
import { parse } from "yaml";
import type { Scenario } from "../../api/types";
import { useTab } from "../../hooks/TabContext";
import { Button } from "../common/Button";
import { Empty } from "../common/States";
import type { GridDevice } from "../devices/model";

export interface ScenarioPanelProps {
  device: GridDevice;
  /** Called once the service has the change (the list shows the new spec). */
  onChanged: () => Promise<void> | void;
}

function describe(step: Scenario["steps"][number]): string {
  const target = step.target;
  const who = target?.devices ? target.devices.join(", ") : target?.share ? `${target.share * 100}%` : target?.count ? `${target.count} devices` : "all";
  const repeat = step.repeat && step.repeat > 1 ? `, ${step.repeat}× every ${step.every} s` : "";
  const lasts = step.duration ? ` for ${step.duration} s` : "";
  return `${step.name ? `${step.name}: ` : ""}${step.behaviour.kind} at ${step.at} s${lasts}${repeat} (${who})`;
}

export function ScenarioPanel({ device, onChanged }: ScenarioPanelProps) {
  const { api, notify } = useTab();
  const inputId = useId();
  const [busy, setBusy] = useState(false);
  const scenario = device.device.spec.scenario ?? null;
  const fleet = device.device.status.fleet;

  const act = async (done: string, failed: string, call: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await call();
      notify("success", done);
      await onChanged();
    } catch (exc) {
      notify("error", `Could not ${failed}`, [exc instanceof Error ? exc.message : String(exc)]);
    } finally {
      setBusy(false);
    }
  };

  const run = async (file: File) => {
    let body: Scenario;
    try {
      body = parse(await file.text()) as Scenario;
    } catch (exc) {
      notify("error", `${file.name} is not YAML or JSON`, [exc instanceof Error ? exc.message : String(exc)]);
      return;
    }
    const name = String(body?.name ?? "");
    await act(`Scenario ${name} set on ${device.id}`, `run scenario ${name} on ${device.id}`, () =>
      api.setDeviceScenario(device.id, body),
    );
  };

  if (fleet) {
    return <Empty title={`A member of fleet ${fleet}`}>Its scenario is the fleet's (PUT /api/fleets/{fleet}/scenario).</Empty>;
  }
  return (
    <div className="iot-scenario">
      {scenario ? (
        <section aria-label="Attached scenario">
          <h3>
            {scenario.name} <span className="iot-chip iot-chip--small iot-chip--scenario">seed {scenario.seed ?? 0}</span>
          </h3>
          <ol className="iot-scenario__steps">
            {scenario.steps.map((step, i) => (
              <li key={i}>{describe(step)}</li>
            ))}
          </ol>
        </section>
      ) : (
        <Empty title="No scenario">Run one from a YAML or JSON file (docs/scenarios.md); the device restarts with it.</Empty>
      )}
      <div className="iot-scenario__actions">
        <label className="iot-btn iot-btn--primary" htmlFor={inputId} aria-disabled={busy}>
          Run a scenario file…
        </label>
        <input
          id={inputId}
          type="file"
          className="iot-visually-hidden"
          accept=".yaml,.yml,.json,application/json,application/yaml,text/yaml"
          disabled={busy}
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = "";
            if (file) void run(file);
          }}
        />
        {scenario && (
          <Button
            icon="stop"
            disabled={busy}
            onClick={() =>
              void act(`Scenario stopped on ${device.id}`, `stop the scenario on ${device.id}`, () =>
                api.clearDeviceScenario(device.id),
              )
            }
          >
            Stop scenario
          </Button>
        )}
      </div>
    </div>
  );
}
