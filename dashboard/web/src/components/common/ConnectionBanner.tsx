import type { Connection } from "../../hooks/useEventStream";
import { useNow } from "../../hooks/useLive";
import { Button } from "./Button";
import "../../styles/base.css";
import "./connection.css";

export interface ConnectionBannerProps {
  connection: Connection;
}

/** Says when live updates are not arriving, why, and when the next attempt is; offers to retry now. */
export function ConnectionBanner({ connection }: ConnectionBannerProps) {
  const now = useNow(1000);
  const { state, attempt, retryAt, lastClose, retryNow } = connection;
  if (state === "open" || (state === "connecting" && attempt === 0)) return null;
  if (state === "unauthorized") {
    return (
      <div className="iot-banner iot-banner--error" role="alert">
        <strong>Live updates refused:</strong> the service wants a valid token ({lastClose}).
      </div>
    );
  }
  const seconds = retryAt ? Math.max(0, Math.ceil((retryAt - now) / 1000)) : 0;
  return (
    <div className="iot-banner iot-banner--warning" role="alert" data-testid="connection-banner">
      <strong>Live updates are disconnected.</strong>{" "}
      {retryAt ? `Reconnecting in ${seconds}s (attempt ${attempt}).` : "Reconnecting…"}
      {lastClose && <span className="iot-cell-muted"> Last close: {lastClose}.</span>}
      <Button variant="ghost" icon="refresh" onClick={retryNow} disabled={!retryAt}>
        Reconnect now
      </Button>
    </div>
  );
}

const PILL: Record<Connection["state"], [string, string]> = {
  open: ["live", "Live"],
  connecting: ["pending", "Connecting"],
  reconnecting: ["warning", "Reconnecting"],
  unauthorized: ["error", "Unauthorized"],
};

/** A small always-visible connection indicator for the header. */
export function ConnectionPill({ connection }: ConnectionBannerProps) {
  const [kind, text] = PILL[connection.state];
  return (
    <span className={`iot-pill iot-pill--${kind}`} data-testid="connection-state" data-state={connection.state}>
      <span className="iot-pill__dot" aria-hidden="true" />
      {text}
    </span>
  );
}
