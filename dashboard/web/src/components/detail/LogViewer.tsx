import { useMemo, useState } from "react";
import { useLiveLogs } from "../../hooks/useLive";
import { formatTime } from "../../lib/format";
import { LOG_LEVELS, type LogLevel, type LogRecord } from "../../lib/live/messages";
import { Button } from "../common/Button";
import { Empty } from "../common/States";
import "../../styles/base.css";
import "./log.css";

export interface LogViewerProps {
  id: string;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3, critical: 4 };

/** The device's log: minimum level, text filter, and pause (the view freezes; new lines are counted). */
export function LogViewer({ id }: LogViewerProps) {
  const live = useLiveLogs(id);
  const [level, setLevel] = useState<LogLevel>("debug");
  const [text, setText] = useState("");
  const [frozen, setFrozen] = useState<readonly LogRecord[] | null>(null);
  const lines = frozen ?? live;
  const shown = useMemo(() => {
    const needle = text.trim().toLowerCase();
    return lines.filter((l) => RANK[l.level] >= RANK[level] && (!needle || l.message.toLowerCase().includes(needle)));
  }, [lines, level, text]);
  const pending = frozen ? Math.max(0, live.length - frozen.length) : 0;
  return (
    <div className="iot-log">
      <div className="iot-log__controls">
        <label className="iot-select">
          <span>Level</span>
          <select value={level} onChange={(e) => setLevel(e.target.value as LogLevel)}>
            {LOG_LEVELS.map((l) => (
              <option key={l} value={l}>
                {l === "debug" ? "all" : `${l}+`}
              </option>
            ))}
          </select>
        </label>
        <label className="iot-log__filter">
          <span className="iot-visually-hidden">Filter log text</span>
          <input type="search" placeholder="Filter text…" value={text} onChange={(e) => setText(e.target.value)} />
        </label>
        <Button icon={frozen ? "play" : "pause"} onClick={() => setFrozen(frozen ? null : live)} aria-pressed={Boolean(frozen)}>
          {frozen ? `Resume${pending ? ` (${pending} new)` : ""}` : "Pause"}
        </Button>
      </div>
      {shown.length === 0 ? (
        <Empty title={lines.length ? "No line matches the filters" : "No log lines yet"} />
      ) : (
        <ol className="iot-log__lines" aria-label="Device log" tabIndex={0}>
          {[...shown].reverse().map((l, i) => (
            <li key={`${l.timestamp}-${i}`} className={`iot-log__line iot-log__line--${l.level}`}>
              <time dateTime={l.timestamp}>{formatTime(l.timestamp, true)}</time>
              <span className="iot-log__level">{l.level.toUpperCase()}</span>
              <span className="iot-log__msg">
                {l.source === "dashboard" && <span className="iot-chip iot-chip--small">service</span>}
                {l.source === "scenario" && <span className="iot-chip iot-chip--small iot-chip--scenario">scenario</span>}
                {l.message}
              </span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
