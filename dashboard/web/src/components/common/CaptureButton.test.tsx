import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { Api } from "../../api/client";
import * as download from "../../lib/download";
import { harness, json, renderWith } from "../../test/fakes";
import { CaptureButton } from "./CaptureButton";

describe("capture", () => {
  it("downloads the pcap with the token in a header, never in the URL, and saves it under the service's name", async () => {
    const h = harness();
    const api = new Api({ baseUrl: "http://svc", token: "secret-token", fetch: h.http.fetch });
    h.services.api = api;
    const seen: { url: string; auth: string | null }[] = [];
    h.http.on("GET", /^\/api\/devices\/cam-1\/capture$/, (request) => {
      seen.push({ url: request.url, auth: request.headers.get("Authorization") });
      return new Response(new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1]), {
        headers: { "Content-Type": "application/vnd.tcpdump.pcap", "Content-Disposition": 'attachment; filename="device-cam-1-x.pcap"' },
      });
    });
    const save = vi.spyOn(download, "saveFile").mockImplementation(() => {});
    renderWith(h, <CaptureButton kind="device" name="cam-1" />);
    await userEvent.selectOptions(screen.getByLabelText("Capture length for cam-1"), "30");
    await userEvent.click(screen.getByRole("button", { name: "Capture" }));
    await waitFor(() => expect(save).toHaveBeenCalled());
    expect(save.mock.calls[0]![0]).toBe("device-cam-1-x.pcap");
    expect(seen).toEqual([{ url: "http://svc/api/devices/cam-1/capture?seconds=30", auth: "Bearer secret-token" }]);
    expect(h.notices.at(-1)).toMatchObject({ kind: "success", title: "Saved device-cam-1-x.pcap" });
    save.mockRestore();
  });

  it("reports the service's refusal", async () => {
    const h = harness();
    h.http.on("GET", /^\/api\/fleets\/cams\/capture$/, () => json({ detail: "IoTFleet/cams is not running: nothing to capture", errors: [] }, 409));
    renderWith(h, <CaptureButton kind="fleet" name="cams" />);
    await userEvent.click(screen.getByRole("button", { name: "Capture" }));
    await waitFor(() => expect(h.notices.at(-1)?.kind).toBe("error"));
    expect(h.notices.at(-1)!.lines!.join(" ")).toContain("not running");
    expect(screen.getByRole("button", { name: "Capture" })).toBeEnabled();
  });
});
