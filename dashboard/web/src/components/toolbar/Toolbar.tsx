import type { ExportFormat } from "../../api/types";
import { Button } from "../common/Button";
import { MenuButton } from "./MenuButton";
import "../../styles/base.css";
import "./toolbar.css";

export interface ToolbarProps {
  onPlayAll: () => void;
  onStopAll: () => void;
  onAdd: () => void;
  onImport: () => void;
  onExport: (format: ExportFormat) => void;
  /** The grid's shown rows and columns, built in the browser. */
  onExportShown: (format: "csv" | "json") => void;
  /** No device at all: Play/Stop All and Export have nothing to act on. */
  empty: boolean;
  busy: boolean;
}

/** The tab's actions (the brief's four buttons, plus export). */
export function Toolbar({ onPlayAll, onStopAll, onAdd, onImport, onExport, onExportShown, empty, busy }: ToolbarProps) {
  return (
    <div className="iot-toolbar" role="toolbar" aria-label="Device actions">
      <Button variant="primary" icon="play" onClick={onPlayAll} disabled={empty || busy}>
        Play All
      </Button>
      <Button icon="stop" onClick={onStopAll} disabled={empty || busy}>
        Stop All
      </Button>
      <span className="iot-toolbar__sep" aria-hidden="true" />
      <Button icon="plus" onClick={onAdd}>
        Add Device
      </Button>
      <Button icon="upload" onClick={onImport}>
        Import
      </Button>
      <MenuButton
        label="Export"
        icon="download"
        items={[
          { key: "shown-csv", label: "Shown rows (CSV)", onSelect: () => onExportShown("csv") },
          { key: "shown-json", label: "Shown rows (JSON)", onSelect: () => onExportShown("json") },
          { key: "json", label: "Manifests (JSON)", onSelect: () => onExport("json") },
          { key: "yaml", label: "Manifests (YAML)", onSelect: () => onExport("yaml") },
          { key: "iot_devices", label: "iot_devices.json (brief format)", onSelect: () => onExport("iot_devices") },
          { key: "stats", label: "Statistics (CSV)", onSelect: () => onExport("stats") },
        ]}
      />
    </div>
  );
}
