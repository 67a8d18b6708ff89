/**
 * The device grid: TanStack Table for columns, sorting and selection; TanStack Virtual so only the
 * rows in view exist in the DOM (5,000 devices scroll like 50). A WAI-ARIA grid: one row is the
 * Tab stop; arrows, Page Up/Down, Home/End move it; Space selects; Enter opens; Delete deletes.
 */
import {
  type OnChangeFn, type RowSelectionState, type SortingState, getCoreRowModel, getSortedRowModel, useReactTable,
} from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useTab } from "../../hooks/TabContext";
import { DeviceRow, type RowHandlers } from "./DeviceRow";
import { GridHeader } from "./GridHeader";
import { makeColumns } from "./columns";
import type { GridDevice } from "./model";
import "../../styles/base.css";
import "./grid.css";

export const ROW_HEIGHT = 34;
/** The sticky header's height: rows start below it inside the scrolled element. */
export const HEADER_HEIGHT = 34;

export interface DeviceGridProps {
  rows: GridDevice[];
  sorting: SortingState;
  onSortingChange: OnChangeFn<SortingState>;
  selection: RowSelectionState;
  onSelectionChange: OnChangeFn<RowSelectionState>;
  openId: string | null;
  actions: Pick<RowHandlers, "open" | "start" | "stop" | "edit" | "remove">;
}

export function DeviceGrid({ rows, sorting, onSortingChange, selection, onSelectionChange, openId, actions }: DeviceGridProps) {
  const { store } = useTab();
  const columns = useMemo(() => makeColumns(store), [store]);
  const table = useReactTable({
    data: rows,
    columns,
    state: { sorting, rowSelection: selection },
    getRowId: (row) => row.id,
    onSortingChange,
    onRowSelectionChange: onSelectionChange,
    enableRowSelection: (row) => row.original.fleet === null, // members act through their fleet
    enableSortingRemoval: true,
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
  });
  const model = table.getRowModel().rows;
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: model.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 6,
    scrollMargin: HEADER_HEIGHT,
    scrollPaddingStart: HEADER_HEIGHT,
  });
  const [active, setActive] = useState(0);
  const focusWanted = useRef(false);
  const activeIndex = Math.min(active, Math.max(0, model.length - 1));

  const template = table
    .getVisibleLeafColumns()
    .map((c) => c.columnDef.meta?.width ?? "1fr")
    .join(" ");

  const handlers = useMemo<RowHandlers>(
    () => ({
      ...actions,
      toggle: (id) => {
        if (table.getRowModel().rowsById[id]?.getCanSelect()) onSelectionChange((s) => ({ ...s, [id]: !s[id] }));
      },
      activate: (index) => setActive(index),
    }),
    [actions, onSelectionChange, table],
  );

  const moveTo = useCallback(
    (index: number) => {
      const next = Math.max(0, Math.min(model.length - 1, index));
      setActive(next);
      focusWanted.current = true;
      virtualizer.scrollToIndex(next, { align: "auto" });
    },
    [model.length, virtualizer],
  );

  useEffect(() => {
    if (!focusWanted.current) return;
    const node = scroller.current?.querySelector<HTMLElement>(`[data-index="${activeIndex}"]`);
    if (node) {
      focusWanted.current = false;
      node.focus({ preventScroll: true });
    }
  });

  const onKeyDown = (event: React.KeyboardEvent) => {
    const target = event.target as HTMLElement;
    if (target.getAttribute("role") !== "row") return; // keys inside a button or checkbox are theirs
    const page = Math.max(1, Math.floor(((scroller.current?.clientHeight ?? 374) - HEADER_HEIGHT) / ROW_HEIGHT) - 1);
    const id = model[activeIndex]?.id;
    const keys: Record<string, () => void> = {
      ArrowDown: () => moveTo(activeIndex + 1),
      ArrowUp: () => moveTo(activeIndex - 1),
      PageDown: () => moveTo(activeIndex + page),
      PageUp: () => moveTo(activeIndex - page),
      Home: () => moveTo(0),
      End: () => moveTo(model.length - 1),
      " ": () => id && handlers.toggle(id),
      Enter: () => id && actions.open(id),
      Delete: () => id && actions.remove(id),
    };
    const run = keys[event.key];
    if (run) {
      event.preventDefault();
      run();
    } else if (event.key === "a" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      table.toggleAllRowsSelected(true);
    }
  };

  const items = virtualizer.getVirtualItems();
  return (
    <div
      className="iot-grid"
      role="grid"
      aria-label="Devices"
      aria-rowcount={model.length + 1}
      aria-multiselectable="true"
      style={{ ["--iot-grid-template" as string]: template }}
    >
      <div className="iot-grid__body" ref={scroller} onKeyDown={onKeyDown} data-testid="grid-body">
        <GridHeader table={table} sorting={sorting} selection={selection} rowCount={model.length} />
        <div className="iot-grid__canvas" role="rowgroup" style={{ height: virtualizer.getTotalSize() }}>
          {items.map((item) => {
            const row = model[item.index]!;
            return (
              <DeviceRow
                key={row.id}
                row={row}
                index={item.index}
                top={item.start - HEADER_HEIGHT}
                selected={Boolean(selection[row.id])}
                open={row.id === openId}
                active={item.index === activeIndex}
                handlers={handlers}
              />
            );
          })}
        </div>
      </div>
    </div>
  );
}
