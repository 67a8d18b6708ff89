import { describe, expect, it } from "vitest";
import { toGridDevice } from "../components/devices/model";
import type { LiveDevice } from "./live/store";
import { device } from "../test/fakes";
import { shownTable, toCsv, toJson } from "./tableExport";

const rows = [
  toGridDevice(device("cam-2", { ip: "10.0.0.9", phase: "bound" }), new Map()),
  toGridDevice(device("=cmd", { phase: "stopped" }), new Map()),
  toGridDevice(device("cam-1", { ip: "10.0.0.10", phase: "bound" }), new Map()),
];
const live = (id: string) => (id === "cam-1" ? ({ packetsSent: 42, packetRate: 1.5, ip: "10.0.0.11", phase: "bound" } as LiveDevice) : undefined);

describe("export of the shown rows", () => {
  it("keeps the grid's columns and order, and reads live values as the grid does", () => {
    const table = shownTable(rows, [{ id: "packets", desc: true }], live);
    expect(table.columns).toEqual(["ID", "Name", "Vendor / model", "Class", "MAC", "IP", "Status", "Packets", "Pkt/s", "Last seen"]);
    expect(table.rows.map((r) => r[0])).toEqual(["cam-1", "cam-2", "=cmd"]);
    expect(table.rows[0]!.slice(5, 9)).toEqual(["10.0.0.11", "Bound", 42, 1.5]);
    expect(shownTable(rows, [], live).rows.map((r) => r[0])).toEqual(["cam-2", "=cmd", "cam-1"]); // unsorted: as given
    expect(shownTable(rows, [{ id: "ip", desc: false }], live).rows.map((r) => r[0])).toEqual(["cam-2", "cam-1", "=cmd"]);
  });

  it("writes CSV with quoting and no formula, and JSON keyed by header", () => {
    const table = { columns: ["ID", "Name"], rows: [["=cmd", 'say "hi", bye'], ["cam-1", null]] };
    expect(toCsv(table)).toBe('ID,Name\r\n\'=cmd,"say ""hi"", bye"\r\ncam-1,\r\n');
    expect(JSON.parse(toJson(table))).toEqual([{ ID: "=cmd", Name: 'say "hi", bye' }, { ID: "cam-1", Name: null }]);
  });
});
