/**
 * "Capture": a live pcap of a running device or fleet for a chosen number of seconds, saved as a
 * file when it ends. The download is a `fetch` with the Authorization header (a capture is
 * sensitive: the token never goes in a URL); leaving the view or pressing Cancel aborts it, which
 * ends the capture in the emulators.
 */
import { useEffect, useRef, useState } from "react";
import { useTab } from "../../hooks/TabContext";
import { useNow } from "../../hooks/useLive";
import { saveFile } from "../../lib/download";
import { Button } from "./Button";
import "../../styles/base.css";
import "./capture.css";

export const CAPTURE_SECONDS = [10, 30, 60, 300] as const;

export interface CaptureButtonProps {
  kind: "device" | "fleet";
  name: string;
  disabled?: boolean;
}

export function CaptureButton({ kind, name, disabled }: CaptureButtonProps) {
  const { api, notify } = useTab();
  const [seconds, setSeconds] = useState<number>(CAPTURE_SECONDS[0]);
  const [until, setUntil] = useState<number | null>(null);
  const abort = useRef<AbortController | null>(null);
  const now = useNow(1000);

  useEffect(() => () => abort.current?.abort(), []);

  const start = async () => {
    const controller = new AbortController();
    abort.current = controller;
    setUntil(Date.now() + seconds * 1000);
    try {
      const { name: file, blob } = await api.capture(kind, name, seconds, controller.signal);
      saveFile(file, blob);
      notify("success", `Saved ${file}`);
    } catch (exc) {
      if (!controller.signal.aborted) {
        notify("error", `Could not capture ${name}`, [exc instanceof Error ? exc.message : String(exc)]);
      }
    } finally {
      if (abort.current === controller) abort.current = null;
      setUntil(null);
    }
  };

  if (until !== null) {
    const left = Math.max(0, Math.ceil((until - now) / 1000));
    return (
      <span className="iot-capture" data-testid="capture-running">
        <span aria-live="polite">Capturing… {left} s</span>
        <Button variant="ghost" icon="close" onClick={() => abort.current?.abort()}>
          Cancel
        </Button>
      </span>
    );
  }
  return (
    <span className="iot-capture">
      <select
        aria-label={`Capture length for ${name}`}
        value={seconds}
        disabled={disabled}
        onChange={(e) => setSeconds(Number(e.target.value))}
      >
        {CAPTURE_SECONDS.map((s) => (
          <option key={s} value={s}>
            {s < 60 ? `${s} s` : `${s / 60} min`}
          </option>
        ))}
      </select>
      <Button icon="download" disabled={disabled} onClick={() => void start()} title="Download a pcap of its frames">
        Capture
      </Button>
    </span>
  );
}
