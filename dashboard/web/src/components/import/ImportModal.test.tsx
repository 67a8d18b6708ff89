import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { harness, json, renderWith } from "../../test/fakes";
import { ImportModal } from "./ImportModal";

const FILE = JSON.stringify({
  devices: [
    { id: "cam_1", vendor: "Tinycam" },
    { id: "cam_2", vendor: "Tinycam", mac: "zz" },
    { id: "cam_3", vendor: "Tinycam" },
  ],
});

function file(text: string, name = "devices.json"): File {
  return new File([text], name, { type: "application/json" });
}

describe("ImportModal", () => {
  it("previews the entries, shows the service's errors per entry from a dry run, and imports nothing", async () => {
    const h = harness();
    h.http.on("POST", /^\/api\/import$/, () =>
      json({ detail: "the import has 1 problem(s); nothing was changed", errors: ["entry 2 (cam_2): mac: 'zz' is not a MAC address"] }, 422),
    );
    const imported: unknown[] = [];
    renderWith(h, <ImportModal onClose={() => {}} onImported={(r) => imported.push(r)} />);
    await userEvent.upload(screen.getByLabelText(/choose a file/), file(FILE));
    const table = await screen.findByRole("region", { name: "Entries to import" });
    expect(within(table).getAllByRole("row")).toHaveLength(4);
    expect(await screen.findByTestId("import-errors")).toHaveTextContent("Nothing can be imported: the file has 1 problem.");
    expect(screen.getByRole("button", { name: "Import 3 entries" })).toBeDisabled();
    const bad = table.querySelector('[data-entry="2"]')!;
    expect(bad).toHaveClass("is-invalid");
    expect(bad).toHaveTextContent("mac: 'zz' is not a MAC address");
    expect(table.querySelector('[data-entry="1"]')).not.toHaveClass("is-invalid");
    expect(imported).toEqual([]);
    const calls = h.http.calls.filter((c) => c.method === "POST");
    expect(calls).toHaveLength(1); // the dry run only
    expect(calls[0]!.url).toContain("dry_run=true");
    expect(calls[0]!.body).toBe(FILE);
  });

  it("imports a valid file whole, as YAML when it is YAML", async () => {
    const h = harness();
    h.http.on("POST", /^\/api\/import$/, (req) => {
      expect(req.headers.get("Content-Type")).toBe("application/yaml");
      return { created: ["IoTDevice/cam"], updated: [], deleted: [] };
    });
    const imported: unknown[] = [];
    renderWith(h, <ImportModal onClose={() => {}} onImported={(r) => imported.push(r)} />);
    const yaml = "apiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {name: cam}\nspec: {profile: tiny-cam}\n";
    await userEvent.upload(screen.getByLabelText(/choose a file/), file(yaml, "cam.yaml"));
    expect(await screen.findByTestId("import-check")).toHaveTextContent("it would create 1 and update 0 resource.");
    expect(imported).toEqual([]); // a dry run imports nothing
    await userEvent.click(await screen.findByRole("button", { name: "Import 1 entry" }));
    await waitFor(() => expect(imported).toEqual([{ created: ["IoTDevice/cam"], updated: [], deleted: [] }]));
    const urls = h.http.calls.filter((c) => c.method === "POST").map((c) => c.url);
    expect(urls).toEqual(["/api/import?mode=merge&dry_run=true", "/api/import?mode=merge&dry_run=false"]);
  });

  it("takes a dropped file, and refuses one it cannot read without calling the service", async () => {
    const h = harness();
    renderWith(h, <ImportModal onClose={() => {}} onImported={() => {}} />);
    const zone = screen.getByText(/Drop a JSON or YAML file here/).closest(".iot-dropzone")!;
    fireEvent.drop(zone, { dataTransfer: { files: [file("{broken", "broken.json")] } });
    expect(await screen.findByRole("alert")).toHaveTextContent("Not valid JSON");
    expect(screen.getByRole("button", { name: /Import/ })).toBeDisabled();
    expect(h.http.calls).toEqual([]);
  });
});
