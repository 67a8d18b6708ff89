/** A device's Scenario tab: its own scenario's controls, or, for a fleet member, where its scenario lives. */
import { ScenarioControls } from "../common/ScenarioControls";
import { Empty } from "../common/States";
import type { GridDevice } from "../devices/model";

export interface ScenarioPanelProps {
  device: GridDevice;
  /** Called once the service has the change (the list shows the new spec). */
  onChanged: () => Promise<void> | void;
}

export function ScenarioPanel({ device, onChanged }: ScenarioPanelProps) {
  const fleet = device.device.status.fleet;
  if (fleet) {
    return <Empty title={`A member of fleet ${fleet}`}>Its scenario is the fleet's (Fleets view, or PUT /api/fleets/{fleet}/scenario).</Empty>;
  }
  return <ScenarioControls kind="device" name={device.id} scenario={device.device.spec.scenario ?? null} onChanged={onChanged} />;
}
