import type { Device, ProfileSummary } from "../../api/types";
import { useTab } from "../../hooks/TabContext";
import { ConfirmDialog } from "../common/ConfirmDialog";
import { ImportModal } from "../import/ImportModal";
import { DeviceForm } from "./DeviceForm";

export type DialogState =
  | null
  | { kind: "add" }
  | { kind: "edit"; id: string }
  | { kind: "import" }
  | { kind: "delete"; ids: string[] };

export interface DeviceDialogsProps {
  dialog: DialogState;
  onClose: () => void;
  devices: readonly Device[];
  profiles: readonly ProfileSummary[];
  reload: () => Promise<void>;
  remove: (ids: string[]) => Promise<void>;
}

/** The dialog the devices view has open, if any. */
export function DeviceDialogs({ dialog, onClose, devices, profiles, reload, remove }: DeviceDialogsProps) {
  const { notify } = useTab();
  if (!dialog) return null;
  switch (dialog.kind) {
    case "add":
    case "edit": {
      const device = dialog.kind === "edit" ? devices.find((d) => d.name === dialog.id) : undefined;
      return (
        <DeviceForm
          device={device}
          profiles={profiles}
          onClose={onClose}
          onSaved={(saved) => {
            notify("success", device ? `Saved ${saved.name}` : `Added ${saved.name}`);
            onClose();
            void reload();
          }}
        />
      );
    }
    case "import":
      return (
        <ImportModal
          onClose={onClose}
          onImported={(result) => {
            const lines = [
              result.created?.length ? `${result.created.length} created` : "",
              result.updated?.length ? `${result.updated.length} updated` : "",
            ].filter(Boolean);
            notify("success", "Import done", lines);
            onClose();
            void reload();
          }}
        />
      );
    case "delete": {
      const { ids } = dialog;
      const what = ids.length === 1 ? ids[0]! : `${ids.length} devices`;
      return (
        <ConfirmDialog
          title={`Delete ${what}?`}
          message={`${ids.length === 1 ? "The device is" : "They are"} stopped first (DHCP release) and removed from the device file. This cannot be undone.`}
          confirmLabel="Delete"
          danger
          onConfirm={() => remove(ids)}
          onClose={onClose}
        />
      );
    }
  }
}
