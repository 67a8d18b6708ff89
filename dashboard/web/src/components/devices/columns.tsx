/**
 * The grid's columns. Static columns render from the row; live columns (IP, status, counters,
 * last seen) render from the live store inside `DeviceRow`, and sort by the store's values.
 */
import { type ColumnDef, type RowData, createColumnHelper } from "@tanstack/react-table";
import type { ReactNode } from "react";
import type { Phase } from "../../api/types";
import { formatCount, formatRate } from "../../lib/format";
import type { LiveDevice, LiveStore } from "../../lib/live/store";
import { Ago } from "../common/Ago";
import { AuthBadge } from "../common/AuthBadge";
import { StatusBadge } from "../common/StatusBadge";
import { type GridDevice, phaseOf } from "./model";

declare module "@tanstack/react-table" {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface ColumnMeta<TData extends RowData, TValue> {
    /** Grid track (CSS grid-template-columns entry). */
    width: string;
    align?: "right";
    /** Renders from the live store (the row re-renders alone when its device changes). */
    live?: (row: GridDevice, live: LiveDevice | undefined) => ReactNode;
    /** Columns `DeviceRow` draws itself. */
    special?: "select" | "actions";
  }
}

const PHASE_ORDER: Record<Phase, number> = { error: 0, binding: 1, pending: 2, bound: 3, stopped: 4, unknown: 5 };

const helper = createColumnHelper<GridDevice>();

/** Sortable live value of a row. */
type LiveKey = (row: GridDevice, live: LiveDevice | undefined) => number | string;

function liveColumn(
  id: string,
  header: string,
  width: string,
  key: LiveKey,
  render: (row: GridDevice, live: LiveDevice | undefined) => ReactNode,
  store: LiveStore,
  align?: "right",
): ColumnDef<GridDevice, number | string> {
  return helper.accessor((row) => key(row, store.get(row.id)), {
    id,
    header,
    sortingFn: "basic",
    meta: { width, align, live: render },
  });
}

function ipKey(ip: string | null | undefined): string {
  if (!ip) return "~"; // after every address
  return ip
    .split(".")
    .map((part) => part.padStart(3, "0"))
    .join(".");
}

export const LIVE_COLUMNS = new Set(["ip", "status", "auth", "packets", "rate", "lastSeen"]);

export function makeColumns(store: LiveStore): ColumnDef<GridDevice, unknown>[] {
  const columns: ColumnDef<GridDevice, unknown>[] = [
    helper.display({ id: "select", header: "Select", enableSorting: false, meta: { width: "36px", special: "select" } }),
    helper.accessor("id", { header: "ID", meta: { width: "minmax(130px, 1.2fr)" } }),
    helper.accessor("name", { header: "Name", meta: { width: "minmax(120px, 1fr)" } }),
    helper.accessor((r) => `${r.vendor} ${r.model}`, {
      id: "vendorModel",
      header: "Vendor / model",
      meta: { width: "minmax(150px, 1.3fr)" },
      cell: (ctx) => (
        <>
          <span className="iot-cell-strong">{ctx.row.original.vendor}</span>{" "}
          <span className="iot-cell-muted">{ctx.row.original.model}</span>
        </>
      ),
    }),
    helper.accessor("deviceClass", { header: "Class", meta: { width: "88px" } }),
    helper.accessor("mac", {
      header: "MAC",
      meta: { width: "148px" },
      cell: (ctx) => <span className="iot-mono">{ctx.getValue()}</span>,
    }),
    helper.accessor("vlan", {
      header: "VLAN",
      meta: { width: "64px" },
      cell: (ctx) => <span className="iot-mono">{ctx.getValue() || "–"}</span>,
    }),
    liveColumn(
      "ip", "IP", "116px",
      (row, live) => ipKey(live ? live.ip : row.device.status.ip),
      (row, live) => <span className="iot-mono">{(live ? live.ip : row.device.status.ip) ?? "–"}</span>,
      store,
    ),
    liveColumn(
      "status", "Status", "106px",
      (row, live) => PHASE_ORDER[phaseOf(row, live)],
      (row, live) => <StatusBadge phase={phaseOf(row, live)} />,
      store,
    ),
    liveColumn(
      "auth", "802.1X", "118px",
      (row, live) => (live ? live.auth : row.device.status.auth) ?? "~",
      (row, live) => <AuthBadge state={(live ? live.auth : row.device.status.auth) ?? null} />,
      store,
    ),
    liveColumn(
      "packets", "Packets", "84px",
      (_row, live) => live?.packetsSent ?? 0,
      (_row, live) => formatCount(live?.packetsSent ?? 0),
      store, "right",
    ),
    liveColumn(
      "rate", "Pkt/s", "72px",
      (_row, live) => live?.packetRate ?? 0,
      (_row, live) => formatRate(live?.packetRate ?? 0, ""),
      store, "right",
    ),
    liveColumn(
      "lastSeen", "Last seen", "88px",
      (row, live) => live?.lastSeen ?? row.device.status.updated ?? "",
      (row, live) => <Ago iso={live?.lastSeen ?? row.device.status.updated} />,
      store, "right",
    ),
    helper.display({ id: "actions", header: "Actions", enableSorting: false, meta: { width: "104px", special: "actions" } }),
  ] as ColumnDef<GridDevice, unknown>[];
  return columns;
}
