/**
 * The devices view: toolbar, filters, bulk bar, grid and detail panel, and the dialogs they open.
 * It owns the view state (filters, sort, selection, open device, dialog); data comes from hooks.
 */
import type { RowSelectionState, SortingState } from "@tanstack/react-table";
import { Suspense, lazy, useCallback, useMemo, useState } from "react";
import type { ExportFormat, ProfileSummary } from "../../api/types";
import { useTab } from "../../hooks/TabContext";
import { useDeviceActions } from "../../hooks/useDeviceActions";
import { useFleetMembers } from "../../hooks/useFleetMembers";
import { useFleets } from "../../hooks/useFleets";
import type { DeviceList } from "../../hooks/useDeviceList";
import { useLiveTick } from "../../hooks/useLive";
import { saveFile } from "../../lib/download";
import { shownTable, toCsv, toJson } from "../../lib/tableExport";
import { Loading } from "../common/States";
import { BulkBar } from "../toolbar/BulkBar";
import { FilterBar } from "../toolbar/FilterBar";
import { Toolbar } from "../toolbar/Toolbar";
import { DeviceDialogs, type DialogState } from "./DeviceDialogs";
import { DeviceGrid } from "./DeviceGrid";
import { GridStates } from "./GridStates";
import { LIVE_COLUMNS } from "./columns";
import { type Filters, NO_FILTERS, applyFilters, distinct, hasFilters, memberGridDevice, toGridDevice } from "./model";
import "../../styles/base.css";
import "../detail/detail.css";
import "./devices.css";

// The detail panel (and Recharts with it) loads on first use: the grid shows sooner.
const DeviceDetail = lazy(() => import("../detail/DeviceDetail").then((m) => ({ default: m.DeviceDetail })));

export interface DevicesViewProps {
  list: DeviceList;
  profiles: readonly ProfileSummary[];
  profilesByName: ReadonlyMap<string, ProfileSummary>;
}

export function DevicesView({ list, profiles, profilesByName }: DevicesViewProps) {
  const { api, store, notify } = useTab();
  const actions = useDeviceActions(list.reload);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [sorting, setSorting] = useState<SortingState>([]);
  const [selection, setSelection] = useState<RowSelectionState>({});
  const [openId, setOpenId] = useState<string | null>(null);
  const [dialog, setDialog] = useState<DialogState>(null);
  const [busy, setBusy] = useState(false);

  const devices = list.state.devices;
  const fleets = useFleets(5000).state.data;
  const members = useFleetMembers(filters.fleet).data;
  const fleet = fleets?.find((f) => f.name === filters.fleet);
  const all = useMemo(
    () =>
      filters.fleet
        ? fleet && members
          ? members.map((m) => memberGridDevice(m, fleet, profilesByName))
          : []
        : devices.map((d) => toGridDevice(d, profilesByName)),
    [devices, profilesByName, filters.fleet, fleet, members],
  );
  const liveView = Boolean(filters.status) || sorting.some((s) => LIVE_COLUMNS.has(s.id));
  const tick = useLiveTick(1000, liveView);
  const rows = useMemo(
    () => applyFilters(all, filters, (id) => store.get(id)),
    // `tick` re-runs filters and sorting on live values while a live column drives them.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [all, filters, store, tick],
  );
  const selected = useMemo(() => Object.keys(selection).filter((id) => selection[id]), [selection]);
  const open = openId ? all.find((d) => d.id === openId) ?? null : null;

  const gridActions = useMemo(
    () => ({
      open: (id: string) => setOpenId(id),
      start: (id: string) => void actions.start(id),
      stop: (id: string) => void actions.stop(id),
      edit: (id: string) => setDialog({ kind: "edit", id }),
      remove: (id: string) => setDialog({ kind: "delete", ids: [id] }),
    }),
    [actions],
  );

  const whole = useCallback(
    async (run: () => Promise<void>) => {
      setBusy(true);
      try {
        await run();
      } finally {
        setBusy(false);
      }
    },
    [],
  );

  const exportAs = useCallback(
    async (format: ExportFormat) => {
      try {
        const { name, blob } = await api.exportFile(format);
        saveFile(name, blob);
      } catch (exc) {
        notify("error", "Export failed", [exc instanceof Error ? exc.message : String(exc)]);
      }
    },
    [api, notify],
  );

  const exportShown = useCallback(
    (format: "csv" | "json") => {
      const table = shownTable(rows, sorting, (id) => store.get(id));
      const stem = filters.fleet ? `fleet-${filters.fleet}-members` : "devices";
      const [text, type] = format === "csv" ? [toCsv(table), "text/csv"] : [toJson(table), "application/json"];
      saveFile(`${stem}-shown.${format}`, new Blob([text], { type }));
    },
    [rows, sorting, store, filters.fleet],
  );

  return (
    <div className={`iot-devices${open ? " has-detail" : ""}`}>
      <div className="iot-devices__main">
        <div className="iot-bar">
          <Toolbar
            empty={!devices.length}
            busy={busy}
            onPlayAll={() => void whole(actions.startAll)}
            onStopAll={() => void whole(actions.stopAll)}
            onAdd={() => setDialog({ kind: "add" })}
            onImport={() => setDialog({ kind: "import" })}
            onExport={(f) => void exportAs(f)}
            onExportShown={exportShown}
          />
          <FilterBar
            filters={filters}
            onChange={setFilters}
            classes={distinct(all, "deviceClass")}
            vendors={distinct(all, "vendor")}
            profiles={distinct(all, "profile")}
            vlans={distinct(all, "vlan")}
            fleets={(fleets ?? []).map((f) => f.name)}
            shown={rows.length}
            total={all.length}
          />
        </div>
        {selected.length > 0 && (
          <BulkBar
            count={selected.length}
            onStart={() => void actions.bulk("start", selected)}
            onStop={() => void actions.bulk("stop", selected)}
            onDelete={() => setDialog({ kind: "delete", ids: selected })}
            onClear={() => setSelection({})}
          />
        )}
        <GridStates
          list={list}
          filtered={rows.length === 0 && hasFilters(filters) && all.length > 0}
          onClearFilters={() => setFilters(NO_FILTERS)}
          onAdd={() => setDialog({ kind: "add" })}
          onImport={() => setDialog({ kind: "import" })}
        >
          <DeviceGrid
            rows={rows}
            sorting={sorting}
            onSortingChange={setSorting}
            selection={selection}
            onSelectionChange={setSelection}
            openId={openId}
            actions={gridActions}
          />
        </GridStates>
      </div>
      {open && (
        <Suspense fallback={<aside className="iot-detail"><Loading label="Loading details…" /></aside>}>
          <DeviceDetail
            key={open.id}
            device={open}
            onClose={() => setOpenId(null)}
            onStart={gridActions.start}
            onStop={gridActions.stop}
            onEdit={gridActions.edit}
            onChanged={list.reload}
          />
        </Suspense>
      )}
      <DeviceDialogs
        dialog={dialog}
        onClose={() => setDialog(null)}
        devices={devices}
        profiles={profiles}
        reload={list.reload}
        remove={async (ids) => {
          await (ids.length === 1 ? actions.remove(ids[0]!) : actions.bulk("delete", ids));
          setSelection((s) => Object.fromEntries(Object.entries(s).filter(([id]) => !ids.includes(id))));
          if (openId && ids.includes(openId)) setOpenId(null);
        }}
      />
    </div>
  );
}
