import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { IoTDevicesTab } from "./IoTDevicesTab";
import { FakeSocket, PROFILES, device, json, mockFetch } from "./test/fakes";

function setup() {
  const http = mockFetch();
  http.on("GET", /^\/api\/devices$/, () => [device("cam-1"), device("plug-1", {}, "tiny-plug")]);
  http.on("GET", /^\/api\/profiles$/, () => PROFILES);
  vi.stubGlobal("fetch", http.fetch);
  FakeSocket.instances = [];
  const options = { WebSocket: FakeSocket as unknown as typeof WebSocket, random: () => 0.5 };
  return { http, options };
}

describe("IoTDevicesTab", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("lists the devices, follows the WebSocket, and sends the token", async () => {
    const { http, options } = setup();
    render(<IoTDevicesTab apiBaseUrl="http://svc:8080" token="s3cret" streamOptions={options} />);
    expect(await screen.findByText("cam-1")).toBeInTheDocument();
    expect(FakeSocket.last.url).toBe("ws://svc:8080/ws"); // never in the URL
    expect(FakeSocket.last.protocols).toEqual(["iotemu.v1", "iotemu.token.s3cret"]);
    act(() => FakeSocket.last.open());
    expect(screen.getByTestId("connection-state")).toHaveTextContent("Live");
    act(() => {
      FakeSocket.last.emit("device:dhcp_ack", {
        type: "dhcp_ack", device_id: "cam-1", timestamp: new Date().toISOString(), assigned_ip: "10.77.0.9",
        server_id: "10.77.0.1", lease_time: 600,
      });
    });
    await waitFor(() => {
      const row = screen.getAllByRole("row").find((r) => r.getAttribute("data-device") === "cam-1")!;
      expect(row).toHaveTextContent("10.77.0.9");
    });
    expect(http.calls.map((c) => c.url)).toContain("/api/devices");
  });

  it("applies a batch frame (many devices' messages at once) and lists again when the frame says some were lost", async () => {
    const { http, options } = setup();
    render(<IoTDevicesTab apiBaseUrl="http://svc" streamOptions={options} />);
    await screen.findAllByText("cam-1");
    act(() => FakeSocket.last.open());
    const listed = http.calls.filter((c) => c.url === "/api/devices").length;
    const at = new Date().toISOString();
    act(() => {
      FakeSocket.last.emit("batch", {
        v: 1, dropped: 0, total: 0, messages: [
          { type: "started", device_id: "cam-1", timestamp: at },
          { type: "dhcp_ack", device_id: "cam-1", timestamp: at, assigned_ip: "10.77.0.9", server_id: "10.77.0.1", lease_time: 600 },
          { type: "dhcp_ack", device_id: "plug-1", timestamp: at, assigned_ip: "10.77.0.10", server_id: "10.77.0.1", lease_time: 600 },
        ],
      });
    });
    await waitFor(() => {
      const rows = screen.getAllByRole("row");
      expect(rows.find((r) => r.getAttribute("data-device") === "cam-1")).toHaveTextContent("10.77.0.9");
      expect(rows.find((r) => r.getAttribute("data-device") === "plug-1")).toHaveTextContent("10.77.0.10");
    });
    act(() => FakeSocket.last.emit("batch", { v: 1, dropped: 5, total: 5, messages: [] }));
    await waitFor(() => expect(http.calls.filter((c) => c.url === "/api/devices").length).toBeGreaterThan(listed));
  });

  it("shows the banner while disconnected and reloads from the snapshot on reconnect", async () => {
    const { options } = setup();
    render(<IoTDevicesTab apiBaseUrl="http://svc" streamOptions={options} />);
    await screen.findAllByText("cam-1");
    act(() => FakeSocket.last.open());
    act(() => FakeSocket.last.drop(1006));
    expect(screen.getByTestId("connection-banner")).toHaveTextContent("Live updates are disconnected");
    await userEvent.click(screen.getByRole("button", { name: "Reconnect now" }));
    act(() => FakeSocket.last.open());
    act(() => FakeSocket.last.emit("snapshot", { devices: [device("cam-2")], fleets: [] }));
    expect(screen.queryByTestId("connection-banner")).not.toBeInTheDocument();
    expect(await screen.findByText("cam-2")).toBeInTheDocument();
    expect(screen.queryByText("cam-1")).not.toBeInTheDocument();
  });

  it("Play All reports what started and what failed", async () => {
    const { http, options } = setup();
    http.on("POST", /^\/api\/devices\/start-all$/, () => ({
      action: "start", done: ["cam-1"], failed: [{ id: "plug-1", reason: "no such interface" }],
    }));
    render(<IoTDevicesTab apiBaseUrl="http://svc" streamOptions={options} />);
    await screen.findAllByText("cam-1");
    await userEvent.click(screen.getByRole("button", { name: "Play All" }));
    const notice = await screen.findByTestId("notice");
    expect(notice).toHaveTextContent("Started 1; 1 could not start");
    expect(notice).toHaveTextContent("plug-1: no such interface");
  });

  it("filters by class and search, and says when nothing matches", async () => {
    const { options } = setup();
    render(<IoTDevicesTab apiBaseUrl="http://svc" streamOptions={options} />);
    await screen.findAllByText("cam-1");
    const grid = screen.getByRole("grid");
    await userEvent.selectOptions(screen.getByLabelText("Class"), "plug");
    expect(within(grid).queryByText("cam-1")).not.toBeInTheDocument();
    expect(within(grid).getByText("plug-1")).toBeInTheDocument();
    expect(screen.getByText("1 of 2 devices")).toBeInTheDocument();
    await userEvent.type(screen.getByRole("searchbox", { name: "Search devices" }), "zzz");
    expect(screen.getByText("No device matches the filters")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Clear filters" }));
    expect(screen.getByText("2 devices")).toBeInTheDocument();
  });

  it("says so when the service cannot be reached, and offers to retry", async () => {
    const { http, options } = setup();
    http.on("GET", /^\/api\/devices$/, () => {
      throw new TypeError("Failed to fetch");
    });
    render(<IoTDevicesTab apiBaseUrl="http://svc" streamOptions={options} />);
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Devices could not be loaded");
    expect(alert).toHaveTextContent("The service cannot be reached");
    http.on("GET", /^\/api\/devices$/, () => [device("cam-3")]);
    await userEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findByText("cam-3")).toBeInTheDocument();
  });

  it("opens a device's panel with its history from the service", async () => {
    const { http, options } = setup();
    const now = Date.now();
    const ts = (s: number) => new Date(now - (10 - s) * 1000).toISOString();
    http.on("GET", /^\/api\/devices\/cam-1\/events$/, () => [
      { type: "dhcp_discover", device_id: "cam-1", timestamp: ts(1), xid: "0x1" },
      { type: "dhcp_ack", device_id: "cam-1", timestamp: ts(2), xid: "0x1", assigned_ip: "10.77.0.9", server_id: "10.77.0.1" },
      { type: "stats", device_id: "cam-1", timestamp: ts(3), stats: { packets_sent: 4, bytes_sent: 400, packet_rate: 1 } },
      { type: "stats", device_id: "cam-1", timestamp: ts(5), stats: { packets_sent: 8, bytes_sent: 800, packet_rate: 2 } },
    ]);
    http.on("GET", /^\/api\/logs$/, () => [{ type: "log", device_id: "cam-1", timestamp: ts(2), level: "info", message: "bound" }]);
    render(<IoTDevicesTab apiBaseUrl="http://svc" streamOptions={options} />);
    await userEvent.click(await screen.findByText("cam-1"));
    // The panel is a lazy chunk (its modules and their stylesheets load on first use): on a busy
    // machine that takes longer than findBy's default second.
    const panel = await screen.findByTestId("device-detail", {}, { timeout: 5000 });
    await waitFor(() => expect(within(panel).getAllByRole("figure")[0]).toHaveAttribute("data-points", "2"));
    await userEvent.click(within(panel).getByRole("tab", { name: "DHCP" }));
    expect(within(panel).getByRole("list", { name: "DHCP timeline" })).toHaveTextContent("ACK");
    await userEvent.click(within(panel).getByRole("tab", { name: "Log" }));
    expect(within(panel).getByText("bound")).toBeInTheDocument();
    expect(http.calls.some((c) => c.url === "/api/devices/cam-1/events?type=stats&type=dhcp*")).toBe(true);
  });

  it("shows a device's VLAN in its row and its panel", async () => {
    const { http, options } = setup();
    const cam = device("cam-1");
    http.on("GET", /^\/api\/devices$/, () => [{ ...cam, spec: { ...cam.spec, vlan: 30, outerVlan: 100, vlanPriority: 5 } }]);
    http.on("GET", /^\/api\/devices\/cam-1\/events$/, () => []);
    http.on("GET", /^\/api\/logs$/, () => []);
    render(<IoTDevicesTab apiBaseUrl="http://svc" streamOptions={options} />);
    const row = (await screen.findAllByRole("row")).find((r) => r.getAttribute("data-device") === "cam-1")!;
    expect(row).toHaveTextContent("100/30");
    await userEvent.click(within(row).getByText("cam-1"));
    const panel = await screen.findByTestId("device-detail");
    expect(within(panel).getByTestId("device-vlan")).toHaveTextContent("QinQ S-tag 100, VLAN 30, priority 5");
  });

  it("starts a selection in bulk and deletes a device after confirmation", async () => {
    const { http, options } = setup();
    http.on("POST", /^\/api\/devices\/([^/]+)\/start$/, (_req, m) => ({ action: "start", done: [m[1]], failed: [] }));
    http.on("DELETE", /^\/api\/devices\/([^/]+)$/, () => new Response(null, { status: 204 }));
    render(<IoTDevicesTab apiBaseUrl="http://svc" streamOptions={options} />);
    await screen.findAllByText("cam-1");
    await userEvent.click(screen.getByRole("checkbox", { name: "Select cam-1" }));
    await userEvent.click(screen.getByRole("checkbox", { name: "Select plug-1" }));
    const bulk = screen.getByRole("toolbar", { name: "Selected devices" });
    expect(bulk).toHaveTextContent("2 selected");
    await userEvent.click(within(bulk).getByRole("button", { name: "Start" }));
    expect(await screen.findByText("Started 2 devices")).toBeInTheDocument();
    const starts = http.calls.filter((c) => c.method === "POST").map((c) => c.url).sort();
    expect(starts).toEqual(["/api/devices/cam-1/start", "/api/devices/plug-1/start"]);

    await userEvent.click(screen.getByRole("button", { name: "Delete cam-1" }));
    const confirm = screen.getByRole("dialog", { name: "Delete cam-1?" });
    expect(http.calls.some((c) => c.method === "DELETE")).toBe(false); // nothing before confirming
    await userEvent.click(within(confirm).getByRole("button", { name: "Delete" }));
    await waitFor(() => expect(http.calls.some((c) => c.method === "DELETE" && c.url === "/api/devices/cam-1")).toBe(true));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });

  it("says a token is needed when the service answers 401", async () => {
    const { http, options } = setup();
    http.on("GET", /^\/api\/devices$/, () => json({ detail: "missing or wrong bearer token" }, 401));
    render(<IoTDevicesTab apiBaseUrl="http://svc" streamOptions={options} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("The service wants an API token");
  });
});
