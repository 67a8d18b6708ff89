import type { Notice } from "../../hooks/TabContext";
import { Button } from "./Button";
import "../../styles/base.css";
import "./notices.css";

export interface NoticesProps {
  notices: Notice[];
  onDismiss: (id: number) => void;
}

/** Outcomes of actions, bottom right, announced politely; errors stay until dismissed. */
export function Notices({ notices, onDismiss }: NoticesProps) {
  return (
    <div className="iot-notices" role="status" aria-live="polite">
      {notices.map((n) => (
        <div key={n.id} className={`iot-notice iot-notice--${n.kind}`} data-testid="notice">
          <div className="iot-notice__text">
            <strong>{n.title}</strong>
            {n.lines && n.lines.length > 0 && (
              <ul>
                {n.lines.map((line, i) => (
                  <li key={i}>{line}</li>
                ))}
              </ul>
            )}
          </div>
          <Button variant="ghost" icon="close" iconOnly label="Dismiss" onClick={() => onDismiss(n.id)} />
        </div>
      ))}
    </div>
  );
}
