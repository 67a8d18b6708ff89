import type { ReactNode } from "react";
import { ApiError } from "../../api/errors";
import type { DeviceList } from "../../hooks/useDeviceList";
import { Button } from "../common/Button";
import { Empty, ErrorState, Loading } from "../common/States";
import "../../styles/base.css";
import "../common/connection.css";

export interface GridStatesProps {
  list: DeviceList;
  /** Filters hide every device. */
  filtered: boolean;
  onClearFilters: () => void;
  onAdd: () => void;
  onImport: () => void;
  children: ReactNode;
}

/** The grid, or why there is none: loading, error, no device, or nothing matching the filters. */
export function GridStates({ list, filtered, onClearFilters, onAdd, onImport, children }: GridStatesProps) {
  const { state } = list;
  if (state.status === "loading" && !state.devices.length) return <Loading label="Loading devices…" />;
  if (state.status === "error" && !state.devices.length) {
    if (state.error instanceof ApiError && state.error.status === 401) {
      const hint = new Error(
        "Open the address that `iotemu dashboard` printed (it ends in #token=…), or give the tab its token prop.",
      );
      return <ErrorState title="The service wants an API token" error={hint} onRetry={() => void list.reload()} />;
    }
    return <ErrorState title="Devices could not be loaded" error={state.error} onRetry={() => void list.reload()} />;
  }
  if (!state.devices.length) {
    return (
      <Empty title="No devices yet">
        <p>Add one from a profile, or import a file of manifests or the brief's iot_devices.json.</p>
        <div className="iot-inline">
          <Button variant="primary" icon="plus" onClick={onAdd}>
            Add Device
          </Button>
          <Button icon="upload" onClick={onImport}>
            Import
          </Button>
        </div>
      </Empty>
    );
  }
  return (
    <>
      {state.status === "error" && (
        <div className="iot-banner iot-banner--error" role="alert">
          The device list could not be refreshed: {state.error.message}
        </div>
      )}
      {filtered ? (
        <Empty title="No device matches the filters">
          <Button onClick={onClearFilters}>Clear filters</Button>
        </Empty>
      ) : (
        children
      )}
    </>
  );
}
