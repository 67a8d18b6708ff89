import type { Phase } from "../../api/types";
import "../../styles/base.css";
import "./status.css";

/** What each phase is called and how it looks: colour *and* text (and a shape), never colour alone. */
export const PHASE_LABEL: Record<Phase, string> = {
  pending: "Running",
  binding: "Binding",
  bound: "Bound",
  stopped: "Stopped",
  error: "Error",
  unknown: "Unknown",
};

const PHASE_HINT: Record<Phase, string> = {
  pending: "started; no DHCP exchange yet",
  binding: "asking DHCP for an address",
  bound: "holds a DHCP lease",
  stopped: "not running",
  error: "failed; see the log",
  unknown: "no status",
};

export interface StatusBadgeProps {
  phase: Phase;
}

export function StatusBadge({ phase }: StatusBadgeProps) {
  return (
    <span className={`iot-status iot-status--${phase}`} title={PHASE_HINT[phase]} data-phase={phase}>
      <span className="iot-status__dot" aria-hidden="true" />
      {PHASE_LABEL[phase]}
    </span>
  );
}
