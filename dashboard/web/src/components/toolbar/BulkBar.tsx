import { Button } from "../common/Button";
import "../../styles/base.css";
import "./bulkbar.css";

export interface BulkBarProps {
  count: number;
  onStart: () => void;
  onStop: () => void;
  onDelete: () => void;
  onClear: () => void;
}

/** Actions on the selected rows; shown only while some are selected. */
export function BulkBar({ count, onStart, onStop, onDelete, onClear }: BulkBarProps) {
  return (
    <div className="iot-bulkbar" role="toolbar" aria-label="Selected devices">
      <strong>{count} selected</strong>
      <Button icon="play" onClick={onStart}>
        Start
      </Button>
      <Button icon="stop" onClick={onStop}>
        Stop
      </Button>
      <Button icon="trash" variant="danger" onClick={onDelete}>
        Delete
      </Button>
      <Button variant="ghost" onClick={onClear}>
        Clear selection
      </Button>
    </div>
  );
}
