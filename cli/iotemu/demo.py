"""`iotemu demo` (what `make demo` runs): a lab, the dashboard, the default devices running, a live table.

Everything happens inside the lab's namespaces: the emulator's raw socket is opened in the device
namespace and the DHCP/DNS server runs in the gateway namespace. The dashboard listens on
127.0.0.1:8080 with the default device library; the terminal shows a live table read from the
dashboard's API. Ctrl-C (or `--duration`) releases the leases, stops the devices and removes
the lab. `--terminal` skips the dashboard and runs the devices in this process (the emulator alone:
it works where the dashboard extra is not installed).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path
from typing import Any, Literal

from iot_emulator import cli, lab, runner
from iot_emulator.config import manifests
from iot_emulator.engine import engine
from iot_emulator.reporting import console

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "default-fleet.yaml"
REFRESH = 2.0


def main(
    manifest: Path | None,
    dhcp_server: Literal["dnsmasq", "kea"],
    duration: float | None,
    *,
    terminal: bool = False,
    port: int = 8080,
    internet: bool = True,
) -> int:
    if os.geteuid() != 0:
        raise cli.BadInput("the demo builds a lab and needs root (network namespaces, raw sockets): run with sudo")
    path = manifest or DEFAULT_MANIFEST
    devices = cli.load_devices([path], None)  # a bad manifest fails before the lab exists
    if not terminal:
        _check_dashboard()  # a missing dashboard too
    print(f"building lab ({dhcp_server}) ...", flush=True)
    with lab.lab(lab.LabConfig(dhcp_server=dhcp_server, internet=internet)) as the_lab:  # sessions complete
        header = (
            f"iotemu demo: {len(devices)} devices from {path.name} in lab {the_lab.name} "
            f"(gateway {the_lab.gateway_ip}, {dhcp_server})"
        )
        try:
            if terminal:
                return _run_here(devices, the_lab, console.Table(header=header), duration)
            return _run_dashboard(path, the_lab, header, duration, port)
        finally:
            print(f"lab {the_lab.name} removed", file=sys.stderr)


def _check_dashboard() -> None:
    """The dashboard is imported only here and below: `--terminal` runs where it is not installed."""
    try:
        from iot_dashboard import service  # noqa: F401
    except ModuleNotFoundError as exc:
        raise cli.BadInput(
            f"the demo's dashboard is not installed (no module {exc.name!r}): "
            "pip install 'iot-fleet-emulator[dashboard]', or run `iotemu demo --terminal`"
        ) from None


def _run_dashboard(path: Path, the_lab: lab.Lab, header: str, duration: float | None, port: int) -> int:
    from iot_dashboard import service

    settings = service.lab_settings(the_lab, seed_file=path, port=port)
    stop = threading.Event()

    def ready(url: str) -> None:
        threading.Thread(target=_drive, args=(url, header, stop), daemon=True).start()

    try:
        return service.serve(settings, on_ready=ready, duration=duration)
    finally:
        stop.set()


def _drive(url: str, header: str, stop: threading.Event) -> None:
    """Press Play All, then draw the table from `GET /api/devices` until the service stops."""
    import httpx  # the dashboard's client: installed with it

    base = url.split("#")[0].rstrip("/")
    token = url.split("token=")[1] if "token=" in url else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    table = console.Table(header=f"{header}\ndashboard: {url}")
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        try:
            client.post("/api/devices/start-all").raise_for_status()
            while not stop.wait(REFRESH):
                rows = [_row(d) for d in client.get("/api/devices").json()]
                table.render(rows, _totals(rows))
        except (httpx.ConnectError, httpx.RemoteProtocolError):
            pass  # the service is shutting down
        except httpx.HTTPError as exc:
            print(f"demo: dashboard API: {exc}", file=sys.stderr)


def _row(device: dict[str, Any]) -> dict[str, Any]:
    status = device.get("status", {})
    stats = status.get("stats") or {}
    return {
        "device_id": device["name"],
        "profile": status.get("profile", ""),
        "current_ip": status.get("ip"),
        "state": status.get("phase", "?"),
        "packets_sent": stats.get("packetsSent", stats.get("packets_sent", 0)),
        "packets_received": stats.get("packetsReceived", stats.get("packets_received", 0)),
        "bytes_sent": stats.get("bytesSent", stats.get("bytes_sent", 0)),
    }


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "devices": len(rows),
        "bound": sum(r["state"] == "bound" for r in rows),
        "packets_sent": sum(r["packets_sent"] for r in rows),
        "bytes_sent": sum(r["bytes_sent"] for r in rows),
    }


def _run_here(
    devices: list[manifests.DeviceConfig], the_lab: lab.Lab, table: console.Table, duration: float | None
) -> int:
    options = runner.RunOptions(
        interface=the_lab.dev_iface,
        netns=the_lab.dev_netns,
        stats_interval=REFRESH,
        state_dir=the_lab.directory / "state",
    )
    link = runner.open_link(options)
    return asyncio.run(_run_engine(devices, options, link, table, duration))


async def _run_engine(
    devices: list[manifests.DeviceConfig],
    options: runner.RunOptions,
    link: engine.Link,
    table: console.Table,
    duration: float | None,
) -> int:
    stop = asyncio.Event()
    if duration is not None:
        asyncio.get_running_loop().call_later(duration, stop.set)

    def draw(eng: engine.Engine) -> None:
        table.render(eng.device_stats(), eng.totals())

    return await runner.run(devices, options, link, on_tick=draw, stop=stop)
