"""`iotemu demo` (what `make demo` runs): a lab, a mixed fleet in it, a live table, a clean exit.

Everything happens inside the lab's namespaces: the raw socket is opened in the device
namespace and the DHCP/DNS server runs in the gateway namespace. Ctrl-C (or `--duration`)
releases the leases, stops the devices and removes the lab.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Literal

from iot_emulator import cli, console, engine, lab, manifests, runner

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "default-fleet.yaml"


def main(manifest: Path | None, dhcp_server: Literal["dnsmasq", "kea"], duration: float | None) -> int:
    if os.geteuid() != 0:
        raise cli.BadInput("the demo builds a lab and needs root (network namespaces, raw sockets): run with sudo")
    path = manifest or DEFAULT_MANIFEST
    devices = cli.load_devices([path], None)
    config = lab.LabConfig(dhcp_server=dhcp_server)
    print(f"building lab ({dhcp_server}) ...", flush=True)
    with lab.lab(config) as the_lab:
        options = runner.RunOptions(
            interface=the_lab.dev_iface,
            netns=the_lab.dev_netns,
            stats_interval=2.0,
            state_dir=the_lab.directory / "state",
        )
        header = (
            f"iotemu demo: {len(devices)} devices from {path.name} in lab {the_lab.name} "
            f"(gateway {the_lab.gateway_ip}, {dhcp_server})"
        )
        table = console.Table(header=header)
        link = runner.open_link(options)
        try:
            return asyncio.run(_run(devices, options, link, table, duration))
        finally:
            print(f"lab {the_lab.name} removed", file=sys.stderr)


async def _run(
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
