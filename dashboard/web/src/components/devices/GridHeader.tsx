import type { RowSelectionState, SortingState, Table } from "@tanstack/react-table";
import { memo } from "react";
import type { GridDevice } from "./model";
import "../../styles/base.css";
import "./grid.css";

export interface GridHeaderProps {
  table: Table<GridDevice>;
  /** The table state the header shows: it re-renders when they change, not on every scroll. */
  sorting: SortingState;
  selection: RowSelectionState;
  rowCount: number;
}

const ARIA_SORT = { asc: "ascending", desc: "descending" } as const;

/** Column headers: sort buttons (click again to reverse, a third time to clear) and select-all. */
export const GridHeader = memo(function GridHeader({ table }: GridHeaderProps) {
  const all = table.getIsAllRowsSelected();
  const some = table.getIsSomeRowsSelected();
  return (
    <div className="iot-grid__head" role="rowgroup">
      <div role="row" aria-rowindex={1} className="iot-grid__row iot-grid__row--head">
        {table.getFlatHeaders().map((header) => {
          const column = header.column;
          const meta = column.columnDef.meta;
          const sorted = column.getIsSorted();
          const label = String(column.columnDef.header ?? column.id);
          if (meta?.special === "select") {
            return (
              <div key={header.id} role="columnheader" className="iot-grid__cell">
                <input
                  type="checkbox"
                  aria-label="Select all devices shown"
                  checked={all}
                  ref={(node) => {
                    if (node) node.indeterminate = some && !all;
                  }}
                  onChange={table.getToggleAllRowsSelectedHandler()}
                />
              </div>
            );
          }
          return (
            <div
              key={header.id}
              role="columnheader"
              aria-sort={sorted ? ARIA_SORT[sorted] : column.getCanSort() ? "none" : undefined}
              className={`iot-grid__cell${meta?.align === "right" ? " is-right" : ""}`}
            >
              {column.getCanSort() ? (
                <button type="button" className="iot-sort" onClick={column.getToggleSortingHandler()}>
                  {label}
                  <span className="iot-sort__arrow" aria-hidden="true">
                    {sorted === "asc" ? "▲" : sorted === "desc" ? "▼" : ""}
                  </span>
                </button>
              ) : meta?.special === "actions" ? (
                <span className="iot-visually-hidden">{label}</span>
              ) : (
                label
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
});
