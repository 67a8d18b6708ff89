/**
 * "Export what is shown": the grid's rows (filtered, in the grid's order) and its columns, as CSV
 * or JSON, built in the browser from exactly what the grid displays (live values included), so
 * the file matches the screen. The service's exports (manifests, stats) are the other menu items.
 */
import type { SortingState } from "@tanstack/react-table";
import { PHASE_LABEL } from "../components/common/StatusBadge";
import { type GridDevice, phaseOf } from "../components/devices/model";
import type { LiveDevice } from "./live/store";

type Cell = string | number | null;

interface Column {
  /** The grid's column id (its sorting key). */
  id: string;
  header: string;
  value: (row: GridDevice, live: LiveDevice | undefined) => Cell;
}

/** The grid's data columns, in its order (selection and actions are not data). */
export const COLUMNS: readonly Column[] = [
  { id: "id", header: "ID", value: (r) => r.id },
  { id: "name", header: "Name", value: (r) => r.name },
  { id: "vendorModel", header: "Vendor / model", value: (r) => `${r.vendor} ${r.model}`.trim() },
  { id: "deviceClass", header: "Class", value: (r) => r.deviceClass },
  { id: "mac", header: "MAC", value: (r) => r.mac },
  { id: "ip", header: "IP", value: (r, l) => (l ? l.ip : r.device.status.ip) ?? null },
  { id: "status", header: "Status", value: (r, l) => PHASE_LABEL[phaseOf(r, l)] },
  { id: "packets", header: "Packets", value: (_r, l) => l?.packetsSent ?? 0 },
  { id: "rate", header: "Pkt/s", value: (_r, l) => l?.packetRate ?? 0 },
  { id: "lastSeen", header: "Last seen", value: (r, l) => l?.lastSeen ?? r.device.status.updated ?? null },
];

export interface Table {
  columns: string[];
  rows: Cell[][];
}

function compare(a: Cell, b: Cell): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/** The rows as the grid shows them: in its sort order (first sort key first), every data column. */
export function shownTable(
  rows: readonly GridDevice[],
  sorting: SortingState,
  live: (id: string) => LiveDevice | undefined,
): Table {
  const cells = rows.map((row) => {
    const state = live(row.id);
    return COLUMNS.map((c) => c.value(row, state));
  });
  const keys = sorting
    .map((s) => ({ index: COLUMNS.findIndex((c) => c.id === s.id), desc: s.desc }))
    .filter((k) => k.index >= 0);
  if (keys.length) {
    cells.sort((x, y) => {
      for (const { index, desc } of keys) {
        const order = compare(x[index]!, y[index]!);
        if (order) return desc ? -order : order;
      }
      return 0;
    });
  }
  return { columns: COLUMNS.map((c) => c.header), rows: cells };
}

/** RFC 4180 CSV; a text cell that a spreadsheet would run as a formula gets a leading `'`. */
export function toCsv(table: Table): string {
  const quote = (cell: Cell): string => {
    if (cell === null) return "";
    let text = String(cell);
    if (typeof cell === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [table.columns, ...table.rows].map((r) => r.map(quote).join(",")).join("\r\n") + "\r\n";
}

/** JSON: one object per row, keyed by the column headers. */
export function toJson(table: Table): string {
  const objects = table.rows.map((r) => Object.fromEntries(table.columns.map((c, i) => [c, r[i] ?? null])));
  return JSON.stringify(objects, null, 2) + "\n";
}
