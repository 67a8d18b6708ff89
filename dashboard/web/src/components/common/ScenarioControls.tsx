/**
 * The behaviour scenario of a device or a fleet: what is attached (its steps), running one from a
 * YAML or JSON file, stopping it. Setting a scenario restarts the device (or the fleet's members)
 * with it, so the steps count from then (`PUT .../scenario`); what it does shows in the Log tab.
 */
import { useId, useState } from "react";
import { parse } from "yaml";
import type { Scenario } from "../../api/types";
import { useTab } from "../../hooks/TabContext";
import { Button } from "./Button";
import { Empty } from "./States";
import "../../styles/base.css";
import "./scenario.css";

export interface ScenarioControlsProps {
  kind: "device" | "fleet";
  name: string;
  scenario: Scenario | null;
  /** Called once the service has the change (the list shows the new spec). */
  onChanged: () => Promise<void> | void;
  /** One line (a table cell): the scenario's name and the actions, no steps. */
  compact?: boolean;
}

export function describeStep(step: Scenario["steps"][number]): string {
  const target = step.target;
  const who = target?.devices ? target.devices.join(", ") : target?.share ? `${target.share * 100}%` : target?.count ? `${target.count} devices` : "all";
  const repeat = step.repeat && step.repeat > 1 ? `, ${step.repeat}× every ${step.every} s` : "";
  const lasts = step.duration ? ` for ${step.duration} s` : "";
  return `${step.name ? `${step.name}: ` : ""}${step.behaviour.kind} at ${step.at} s${lasts}${repeat} (${who})`;
}

export function ScenarioControls({ kind, name, scenario, onChanged, compact = false }: ScenarioControlsProps) {
  const { api, notify } = useTab();
  const inputId = useId();
  const [busy, setBusy] = useState(false);
  const set = kind === "device" ? api.setDeviceScenario : api.setFleetScenario;
  const clear = kind === "device" ? api.clearDeviceScenario : api.clearFleetScenario;

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
    const scenarioName = String(body?.name ?? "");
    await act(`Scenario ${scenarioName} set on ${name}`, `run scenario ${scenarioName} on ${name}`, () => set(name, body));
  };

  const actions = (
    <div className="iot-scenario__actions">
      <label className={`iot-btn${compact ? "" : " iot-btn--primary"}`} htmlFor={inputId} aria-disabled={busy}>
        {compact ? `Run scenario… (${name})` : "Run a scenario file…"}
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
          aria-label={compact ? `Stop scenario ${scenario.name} on ${name}` : undefined}
          onClick={() => void act(`Scenario stopped on ${name}`, `stop the scenario on ${name}`, () => clear(name))}
        >
          Stop scenario
        </Button>
      )}
    </div>
  );

  if (compact) {
    return (
      <div className="iot-scenario iot-scenario--compact">
        {scenario && (
          <span className="iot-chip iot-chip--small iot-chip--scenario" title={scenario.steps.map(describeStep).join("\n")}>
            {scenario.name}
          </span>
        )}
        {actions}
      </div>
    );
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
              <li key={i}>{describeStep(step)}</li>
            ))}
          </ol>
        </section>
      ) : (
        <Empty title="No scenario">
          Run one from a YAML or JSON file (docs/scenarios.md); the {kind === "device" ? "device restarts" : "fleet's members restart"} with it.
        </Empty>
      )}
      {actions}
    </div>
  );
}
