/** One grid row. It alone subscribes to its device in the live store, so live updates re-render rows, not the grid. */
import { type Row, flexRender } from "@tanstack/react-table";
import { memo } from "react";
import { useLiveDevice } from "../../hooks/useLive";
import type { LiveDevice } from "../../lib/live/store";
import { Button } from "../common/Button";
import type { GridDevice } from "./model";
import "../../styles/base.css";
import "./grid.css";

export interface RowHandlers {
  toggle: (id: string) => void;
  open: (id: string) => void;
  start: (id: string) => void;
  stop: (id: string) => void;
  edit: (id: string) => void;
  remove: (id: string) => void;
  activate: (index: number) => void;
}

export interface DeviceRowProps {
  row: Row<GridDevice>;
  index: number;
  /** Offset from the top of the scrolled content (px). */
  top: number;
  selected: boolean;
  open: boolean;
  /** The row that has the keyboard focus stop. */
  active: boolean;
  handlers: RowHandlers;
}

function isUp(row: GridDevice, live: LiveDevice | undefined): boolean {
  const phase = live?.phase ?? row.device.status.phase;
  return row.device.spec.running || (phase !== "stopped" && phase !== "error");
}

function DeviceRowView({ row, index, top, selected, open, active, handlers }: DeviceRowProps) {
  const device = row.original;
  const live = useLiveDevice(device.id);
  const tab = active ? 0 : -1;
  const up = isUp(device, live);
  return (
    <div
      role="row"
      aria-rowindex={index + 2}
      aria-selected={selected}
      data-index={index}
      data-device={device.id}
      tabIndex={tab}
      className={`iot-grid__row${selected ? " is-selected" : ""}${open ? " is-open" : ""}`}
      style={{ transform: `translateY(${top}px)` }}
      onClick={() => handlers.open(device.id)}
      onFocus={(e) => e.target === e.currentTarget && handlers.activate(index)}
    >
      {row.getVisibleCells().map((cell) => {
        const meta = cell.column.columnDef.meta;
        const className = `iot-grid__cell${meta?.align === "right" ? " is-right" : ""}`;
        if (meta?.special === "select") {
          return (
            <div key={cell.id} role="gridcell" className={className} onClick={(e) => e.stopPropagation()}>
              <input
                type="checkbox"
                disabled={device.fleet !== null}
                checked={selected}
                tabIndex={tab}
                aria-label={`Select ${device.id}`}
                onChange={() => handlers.toggle(device.id)}
              />
            </div>
          );
        }
        if (meta?.special === "actions") {
          return (
            <div key={cell.id} role="gridcell" className={`${className} iot-grid__actions`} onClick={(e) => e.stopPropagation()}>
              {device.fleet === null && (
                <>
                  {up ? (
                    <Button variant="ghost" icon="stop" iconOnly label={`Stop ${device.id}`} tabIndex={tab} onClick={() => handlers.stop(device.id)} />
                  ) : (
                    <Button variant="ghost" icon="play" iconOnly label={`Start ${device.id}`} tabIndex={tab} onClick={() => handlers.start(device.id)} />
                  )}
                  <Button variant="ghost" icon="edit" iconOnly label={`Edit ${device.id}`} tabIndex={tab} onClick={() => handlers.edit(device.id)} />
                  <Button variant="ghost" icon="trash" iconOnly label={`Delete ${device.id}`} tabIndex={tab} onClick={() => handlers.remove(device.id)} />
                </>
              )}
            </div>
          );
        }
        return (
          <div key={cell.id} role="gridcell" className={className} data-col={cell.column.id}>
            {meta?.live ? meta.live(device, live) : flexRender(cell.column.columnDef.cell, cell.getContext())}
          </div>
        );
      })}
    </div>
  );
}

export const DeviceRow = memo(
  DeviceRowView,
  (a, b) =>
    a.row.original === b.row.original &&
    a.index === b.index &&
    a.top === b.top &&
    a.selected === b.selected &&
    a.open === b.open &&
    a.active === b.active &&
    a.handlers === b.handlers &&
    a.row.getVisibleCells().length === b.row.getVisibleCells().length,
);
