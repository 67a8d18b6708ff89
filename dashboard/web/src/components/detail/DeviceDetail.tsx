/** The side panel of one device: lease and counters, live charts, DHCP timeline, log. */
import { useState } from "react";
import { useDeviceHistory } from "../../hooks/useDeviceHistory";
import { useLiveDevice } from "../../hooks/useLive";
import { useProfiles } from "../../hooks/useProfiles";
import { configuredMethod } from "../../lib/auth";
import { Button } from "../common/Button";
import { CaptureButton } from "../common/CaptureButton";
import { ErrorState, Loading } from "../common/States";
import { StatusBadge } from "../common/StatusBadge";
import { Tabs } from "../common/Tabs";
import { type GridDevice, vlanText } from "../devices/model";
import { DhcpTimeline } from "./DhcpTimeline";
import { LeaseCard } from "./LeaseCard";
import { LiveCharts } from "./LiveCharts";
import { LogViewer } from "./LogViewer";
import { ScenarioPanel } from "./ScenarioPanel";
import "../../styles/base.css";
import "./detail.css";

export interface DeviceDetailProps {
  device: GridDevice;
  onClose: () => void;
  onStart: (id: string) => void;
  onStop: (id: string) => void;
  onEdit: (id: string) => void;
  /** The device list reloads (a scenario set or stopped here changes the spec). */
  onChanged: () => Promise<void> | void;
}

type Section = "traffic" | "dhcp" | "log" | "scenario";

export function DeviceDetail({ device, onClose, onStart, onStop, onEdit, onChanged }: DeviceDetailProps) {
  const live = useLiveDevice(device.id);
  const profiles = useProfiles();
  const history = useDeviceHistory(device.id);
  const [section, setSection] = useState<Section>("traffic");
  const phase = live?.phase ?? device.device.status.phase;
  const up = device.device.spec.running || (phase !== "stopped" && phase !== "error");
  const prefix = `iot-detail-${device.id}`;
  return (
    <aside className="iot-detail" aria-label={`Device ${device.id}`} data-testid="device-detail">
      <header className="iot-detail__header">
        <div className="iot-detail__title">
          <h2>{device.id}</h2>
          <StatusBadge phase={phase} />
        </div>
        <div className="iot-detail__sub">
          {device.vendor} {device.model} · {device.deviceClass} · <span className="iot-mono">{device.mac}</span> ·{" "}
          <span data-testid="device-vlan">{vlanText(device.device.spec)}</span>
        </div>
        <div className="iot-detail__actions">
          {device.fleet === null && (
            <>
              {up ? (
                <Button icon="stop" onClick={() => onStop(device.id)}>
                  Stop
                </Button>
              ) : (
                <Button icon="play" variant="primary" onClick={() => onStart(device.id)}>
                  Start
                </Button>
              )}
              <Button icon="edit" onClick={() => onEdit(device.id)}>
                Edit
              </Button>
              <CaptureButton kind="device" name={device.id} disabled={!device.device.spec.running} />
            </>
          )}
          <Button variant="ghost" icon="close" iconOnly label="Close details" onClick={onClose} />
        </div>
      </header>
      <LeaseCard id={device.id} dot1xMethod={configuredMethod(device.device.spec, profiles.byName.get(device.profile))} />
      <Tabs<Section>
        label="Device details"
        idPrefix={prefix}
        active={section}
        onChange={setSection}
        items={[
          { key: "traffic", label: "Traffic" },
          { key: "dhcp", label: "DHCP" },
          { key: "log", label: "Log" },
          { key: "scenario", label: "Scenario" },
        ]}
      />
      <div className="iot-detail__section" role="tabpanel" id={`${prefix}-panel-${section}`} aria-labelledby={`${prefix}-tab-${section}`}>
        {history.status === "loading" && <Loading label="Loading history…" />}
        {history.status === "error" && <ErrorState title="History not available" error={history.error} />}
        {section === "traffic" && <LiveCharts id={device.id} />}
        {section === "dhcp" && <DhcpTimeline id={device.id} />}
        {section === "log" && <LogViewer id={device.id} />}
        {section === "scenario" && <ScenarioPanel device={device} onChanged={onChanged} />}
      </div>
    </aside>
  );
}
