import { useId, useRef, useState } from "react";
import { Icon } from "../common/Icon";
import "../../styles/base.css";
import "./dropzone.css";

export interface DropZoneProps {
  fileName: string | null;
  onFile: (file: File) => void;
}

/** A file input that also takes a dropped file; the whole zone is its label, so it is one click or key away. */
export function DropZone({ fileName, onFile }: DropZoneProps) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  return (
    <div
      className={`iot-dropzone${over ? " is-over" : ""}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        const file = e.dataTransfer.files[0];
        if (file) onFile(file);
      }}
    >
      <Icon name="upload" size={20} />
      <label htmlFor={id}>
        {fileName ? (
          <>
            <strong>{fileName}</strong> — drop another file or <u>choose</u> one
          </>
        ) : (
          <>
            Drop a JSON or YAML file here, or <u>choose a file</u>
          </>
        )}
      </label>
      <input
        ref={input}
        id={id}
        type="file"
        accept=".json,.yaml,.yml,application/json,application/yaml,text/yaml"
        className="iot-dropzone__input"
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) onFile(file);
          e.target.value = "";
        }}
      />
      <div className="iot-dropzone__hint">
        Manifests (IoTDevice / IoTFleet, YAML or JSON, a List) or the brief's iot_devices.json. All or nothing.
      </div>
    </div>
  );
}
