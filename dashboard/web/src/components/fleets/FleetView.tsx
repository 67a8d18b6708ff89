/** Fleets: desired and bound members, their phases, start/stop, the scale control and the fleet's scenario. */
import type { Fleet } from "../../api/types";
import { useFleets } from "../../hooks/useFleets";
import { Button } from "../common/Button";
import { CaptureButton } from "../common/CaptureButton";
import { ScenarioControls } from "../common/ScenarioControls";
import { Empty, ErrorState, Loading } from "../common/States";
import { authCounts } from "../../lib/auth";
import { networkText } from "../devices/model";
import { ScaleControl } from "./ScaleControl";
import "../../styles/base.css";
import "../devices/grid.css";
import "./fleets.css";

const PHASE_COLOURS: [string, string][] = [
  ["bound", "var(--iot-green)"],
  ["binding", "var(--iot-amber)"],
  ["pending", "var(--iot-blue)"],
  ["error", "var(--iot-red)"],
  ["stopped", "var(--iot-grey-300)"],
];

function PhaseBar({ fleet }: { fleet: Fleet }) {
  const total = Math.max(1, fleet.status.replicas);
  const phases = fleet.status.phases ?? {};
  const text = Object.entries(phases)
    .map(([p, n]) => `${n} ${p}`)
    .join(", ");
  return (
    <div className="iot-phasebar" role="img" aria-label={text || "no members"} title={text}>
      {PHASE_COLOURS.map(([phase, colour]) =>
        phases[phase] ? <span key={phase} style={{ width: `${(100 * phases[phase]) / total}%`, background: colour }} /> : null,
      )}
    </div>
  );
}

export function FleetView() {
  const { state, reload, scale, start, stop } = useFleets();
  if (state.status === "loading" && !state.data) return <Loading label="Loading fleets…" />;
  if (state.status === "error" && !state.data) return <ErrorState title="Fleets could not be loaded" error={state.error} onRetry={() => void reload()} />;
  const fleets = state.data ?? [];
  if (!fleets.length) {
    return (
      <Empty title="No fleets">
        A fleet is many devices from one template (<code>kind: IoTFleet</code>). Import a manifest that holds one.
      </Empty>
    );
  }
  return (
    <div className="iot-fleets">
      <table className="iot-table iot-table--fleets">
        <thead>
          <tr>
            <th scope="col">Fleet</th>
            <th scope="col">Profile</th>
            <th scope="col">Class</th>
            <th scope="col">Network</th>
            <th scope="col" className="is-right">Desired</th>
            <th scope="col" className="is-right">Bound</th>
            <th scope="col">Members</th>
            <th scope="col">Scale</th>
            <th scope="col">Scenario</th>
            <th scope="col">
              <span className="iot-visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {fleets.map((f) => (
            <tr key={f.name} data-fleet={f.name}>
              <th scope="row" className="iot-mono">{f.name}</th>
              <td>
                {f.status.vendor} <span className="iot-cell-muted">{f.status.profile}</span>
              </td>
              <td>{f.status.deviceClass ?? "–"}</td>
              <td data-testid="fleet-network">
                {networkText(f.spec.template)}
                {authCounts(f.status.auth ?? {}) && (
                  <div className="iot-cell-muted" data-testid="fleet-auth">
                    802.1X: {authCounts(f.status.auth ?? {})}
                  </div>
                )}
              </td>
              <td className="is-right" data-testid="fleet-desired">{f.status.replicas}</td>
              <td className="is-right" data-testid="fleet-bound">{f.status.bound}</td>
              <td>
                <PhaseBar fleet={f} />
              </td>
              <td>
                <ScaleControl name={f.name} replicas={f.status.replicas} onScale={scale} />
              </td>
              <td>
                <ScenarioControls kind="fleet" name={f.name} scenario={f.spec.scenario ?? null} onChanged={reload} compact />
              </td>
              <td className="iot-grid__actions">
                {f.status.running ? (
                  <Button icon="stop" onClick={() => void stop(f.name)}>Stop</Button>
                ) : (
                  <Button icon="play" onClick={() => void start(f.name)}>Start</Button>
                )}
                <CaptureButton kind="fleet" name={f.name} disabled={!f.status.running} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
