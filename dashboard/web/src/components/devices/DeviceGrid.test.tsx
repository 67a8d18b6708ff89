import type { RowSelectionState, SortingState } from "@tanstack/react-table";
import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useEffect, useState } from "react";
import { PROFILES, device, harness, renderWith } from "../../test/fakes";
import { statsMsg } from "../../test/messages";
import { DeviceGrid } from "./DeviceGrid";
import { type GridDevice, toGridDevice } from "./model";

const gridRenders = vi.hoisted(() => ({ count: 0 }));
vi.mock("@tanstack/react-virtual", async (importOriginal) => {
  const original = await importOriginal<typeof import("@tanstack/react-virtual")>();
  return {
    ...original,
    // DeviceGrid calls the virtualiser once per render: counting calls counts grid renders.
    useVirtualizer: (...args: Parameters<typeof original.useVirtualizer>) => {
      gridRenders.count++;
      return original.useVirtualizer(...args);
    },
  };
});

const byName = new Map(PROFILES.map((p) => [p.name, p]));

function rowsOf(n: number): GridDevice[] {
  return Array.from({ length: n }, (_, i) =>
    toGridDevice(device(`dev-${String(i).padStart(4, "0")}`, {}, i % 2 ? "tiny-plug" : "tiny-cam"), byName),
  );
}

interface Probe {
  record: (selection: RowSelectionState) => void;
  selection: RowSelectionState;
  opened: string[];
  removed: string[];
}

function Grid({ rows, probe }: { rows: GridDevice[]; probe: Probe }) {
  const [sorting, setSorting] = useState<SortingState>([]);
  const [selection, setSelection] = useState<RowSelectionState>({});
  useEffect(() => probe.record(selection), [probe, selection]); // the test reads what the grid asked for
  return (
    <DeviceGrid
        rows={rows}
        sorting={sorting}
        onSortingChange={setSorting}
        selection={selection}
        onSelectionChange={setSelection}
        openId={null}
        actions={{
          open: (id) => probe.opened.push(id),
          start: () => {},
          stop: () => {},
          edit: () => {},
          remove: (id) => probe.removed.push(id),
        }}
      />
  );
}

function newProbe(): Probe {
  const probe: Probe = {
    selection: {},
    opened: [],
    removed: [],
    record: (selection) => {
      probe.selection = selection;
    },
  };
  return probe;
}

describe("DeviceGrid", () => {
  it("renders only the rows in view out of 5,000", () => {
    const h = harness();
    renderWith(h, <Grid rows={rowsOf(5000)} probe={newProbe()} />);
    const grid = screen.getByRole("grid", { name: "Devices" });
    expect(grid).toHaveAttribute("aria-rowcount", "5001");
    const rendered = within(grid).getAllByRole("row").length - 1;
    expect(rendered).toBeGreaterThan(10);
    expect(rendered).toBeLessThan(60);
    expect(screen.getByText("dev-0000")).toBeInTheDocument();
    expect(screen.queryByText("dev-4999")).not.toBeInTheDocument();
  });

  it("sorts by a column, both ways, and says so to assistive technology", async () => {
    const h = harness();
    renderWith(h, <Grid rows={rowsOf(30)} probe={newProbe()} />);
    const header = screen.getByRole("columnheader", { name: /ID/ });
    await userEvent.click(within(header).getByRole("button"));
    expect(header).toHaveAttribute("aria-sort", "ascending");
    await userEvent.click(within(header).getByRole("button"));
    expect(header).toHaveAttribute("aria-sort", "descending");
    const first = screen.getAllByRole("row")[1]!;
    expect(first).toHaveAttribute("data-device", "dev-0029");
  });

  it("shows each row's VLAN, QinQ as S-tag/C-tag, a dash when untagged", () => {
    const h = harness();
    const tagged = (name: string, vlan: number, outerVlan: number | null) =>
      toGridDevice({ ...device(name), spec: { ...device(name).spec, vlan, outerVlan } }, byName);
    renderWith(h, <Grid rows={[tagged("cam-10", 10, null), tagged("cam-30", 30, 100), ...rowsOf(1)]} probe={newProbe()} />);
    expect(screen.getByRole("columnheader", { name: /VLAN/ })).toBeInTheDocument();
    const cells = (id: string) => within(document.querySelector(`[data-device="${id}"]`) as HTMLElement);
    expect(cells("cam-10").getByText("10")).toBeInTheDocument();
    expect(cells("cam-30").getByText("100/30")).toBeInTheDocument();
    expect(cells("dev-0000").getAllByText("–").length).toBeGreaterThan(0);
  });

  it("shows each row's 802.1X state live, as a word and a tone, a dash when none", () => {
    const h = harness();
    h.store.apply(statsMsg("dev-0001", "2026-11-26T12:00:00Z", { auth: "authorized" }));
    h.store.apply(statsMsg("dev-0002", "2026-11-26T12:00:00Z", { auth: "failed" }));
    renderWith(h, <Grid rows={rowsOf(3)} probe={newProbe()} />);
    expect(screen.getByRole("columnheader", { name: /802\.1X/ })).toBeInTheDocument();
    const cell = (id: string) => document.querySelector(`[data-device="${id}"] [data-col="auth"]`) as HTMLElement;
    expect(cell("dev-0001")).toHaveTextContent("Authorized");
    expect(cell("dev-0001").querySelector(".iot-status--bound")).not.toBeNull();
    expect(cell("dev-0002")).toHaveTextContent("Held");
    expect(cell("dev-0002").querySelector(".iot-status--error")).not.toBeNull();
    expect(cell("dev-0000")).toHaveTextContent("–");
    act(() => h.store.apply(statsMsg("dev-0002", "2026-11-26T12:00:05Z", { auth: "authorized" })));
    expect(cell("dev-0002")).toHaveTextContent("Authorized");
  });

  it("sorts by a live column from the live store", async () => {
    const h = harness();
    h.store.apply(statsMsg("dev-0003", "2026-11-26T12:00:00Z", { packets_sent: 99 }));
    h.store.apply(statsMsg("dev-0001", "2026-11-26T12:00:00Z", { packets_sent: 50 }));
    renderWith(h, <Grid rows={rowsOf(5)} probe={newProbe()} />);
    const header = screen.getByRole("columnheader", { name: /Packets/ });
    await userEvent.click(within(header).getByRole("button")); // numbers sort descending first
    const order = screen.getAllByRole("row").slice(1, 3).map((r) => r.getAttribute("data-device"));
    expect(order).toEqual(["dev-0003", "dev-0001"]);
  });

  it("updates a row from the live store without re-rendering the grid", () => {
    const h = harness();
    const probe = newProbe();
    renderWith(h, <Grid rows={rowsOf(50)} probe={probe} />);
    const before = gridRenders.count;
    act(() => {
      h.store.apply(
        statsMsg("dev-0002", new Date().toISOString(), { packets_sent: 1234, packet_rate: 5, current_ip: "10.77.0.42", state: "bound" }),
      );
    });
    const row = screen.getAllByRole("row").find((r) => r.getAttribute("data-device") === "dev-0002")!;
    expect(within(row).getByText("10.77.0.42")).toBeInTheDocument();
    expect(within(row).getByText("1,234")).toBeInTheDocument();
    expect(within(row).getByText("Bound")).toBeInTheDocument();
    expect(gridRenders.count).toBe(before);
  });

  it("moves, selects, opens and deletes from the keyboard", async () => {
    const h = harness();
    const probe = newProbe();
    renderWith(h, <Grid rows={rowsOf(40)} probe={probe} />);
    const rows = () => screen.getAllByRole("row").slice(1);
    const first = rows()[0]!;
    expect(first).toHaveAttribute("tabindex", "0");
    expect(rows()[1]).toHaveAttribute("tabindex", "-1");
    first.focus();
    await userEvent.keyboard("{ArrowDown}{ArrowDown}");
    expect(document.activeElement).toHaveAttribute("data-device", "dev-0002");
    await userEvent.keyboard(" ");
    expect(probe.selection).toEqual({ "dev-0002": true });
    expect(document.activeElement).toHaveAttribute("aria-selected", "true");
    await userEvent.keyboard("{Enter}");
    expect(probe.opened).toEqual(["dev-0002"]);
    await userEvent.keyboard("{Delete}");
    expect(probe.removed).toEqual(["dev-0002"]);
    await userEvent.keyboard("{PageDown}"); // a viewport of rows (jsdom has no layout: End is tested in the browser)
    await waitFor(() => expect(document.activeElement).toHaveAttribute("data-device", "dev-0017"));
    await userEvent.keyboard("{Home}");
    await waitFor(() => expect(document.activeElement).toHaveAttribute("data-device", "dev-0000"));
  });

  it("selects all shown rows from the header, and one row by its checkbox", () => {
    const h = harness();
    const probe = newProbe();
    renderWith(h, <Grid rows={rowsOf(3)} probe={probe} />);
    fireEvent.click(screen.getByRole("checkbox", { name: "Select dev-0001" }));
    expect(probe.selection).toEqual({ "dev-0001": true });
    expect(screen.getByRole("checkbox", { name: "Select all devices shown" })).toHaveProperty("indeterminate", true);
    fireEvent.click(screen.getByRole("checkbox", { name: "Select all devices shown" }));
    expect(Object.keys(probe.selection).sort()).toEqual(["dev-0000", "dev-0001", "dev-0002"]);
  });

  it("labels the row actions with the device", () => {
    const h = harness();
    renderWith(h, <Grid rows={rowsOf(1)} probe={newProbe()} />);
    for (const name of ["Start dev-0000", "Edit dev-0000", "Delete dev-0000"]) {
      expect(screen.getByRole("button", { name })).toBeInTheDocument();
    }
  });
});
