import { authState } from "../../lib/auth";
import "../../styles/base.css";
import "./status.css";

export interface AuthBadgeProps {
  /** The supplicant's state (`stats.auth`); null: nothing reported (not running, or no 802.1X yet). */
  state: string | null;
}

/** A device's 802.1X state, in the status badge's look: colour, dot and word, never colour alone. */
export function AuthBadge({ state }: AuthBadgeProps) {
  if (!state) return <span className="iot-cell-muted">–</span>;
  const info = authState(state);
  return (
    <span className={`iot-status iot-status--${info.tone}`} title={info.hint} data-auth={state}>
      <span className="iot-status__dot" aria-hidden="true" />
      {info.label}
    </span>
  );
}
