import type { Device, Phase } from "../../api/types";
import { useTab } from "../../hooks/TabContext";
import { useLiveTick } from "../../hooks/useLive";
import "../../styles/base.css";
import "./counts.css";

export interface LiveCountsProps {
  devices: readonly Device[];
}

const SHOWN: [Phase, string][] = [
  ["bound", "bound"],
  ["binding", "binding"],
  ["pending", "starting"],
  ["error", "error"],
];

/** Devices per phase, recounted at most once a second from the live store. */
export function LiveCounts({ devices }: LiveCountsProps) {
  const { store } = useTab();
  useLiveTick(1000);
  const counts = new Map<Phase, number>();
  for (const d of devices) {
    const phase = store.get(d.name)?.phase ?? d.status.phase;
    counts.set(phase, (counts.get(phase) ?? 0) + 1);
  }
  return (
    <div className="iot-counts" aria-label="Devices by status" data-testid="live-counts">
      {SHOWN.filter(([phase]) => counts.get(phase)).map(([phase, label]) => (
        <span key={phase} className={`iot-counts__item iot-counts__item--${phase}`}>
          <strong>{counts.get(phase)}</strong> {label}
        </span>
      ))}
    </div>
  );
}
