"""Running a set of devices until a signal: the part shared by the seed CLI, `run` and `demo`."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from iot_emulator.config import manifests
from iot_emulator.devices import macs
from iot_emulator.endpoints import capture, control, http_api
from iot_emulator.engine import engine, lease_cache, rawsock
from iot_emulator.profiles import catalog
from iot_emulator.reporting import console, pcap, pipe_sink
from iot_emulator.scenarios import driver

DEFAULT_STATE_DIR = Path("/var/lib/iotemu")
LAN_START_RATE = 20.0
"""Devices started per second on a host interface unless `--start-rate` says otherwise: a branch
office's DHCP server (often the router itself) is not flooded by a fleet starting at once."""


class RunOptions(BaseModel):
    """How a process runs its devices: the command line's options, validated (exit code 2 names the flag)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interface: str = Field(min_length=1, max_length=15)
    netns: str | None = None
    json_output: bool = False
    http_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    http_host: str = "127.0.0.1"
    stats_interval: Annotated[float, Field(gt=0, le=86400)] = 5.0
    fallback_gateway: ipaddress.IPv4Address | None = None
    state_dir: Path | None = DEFAULT_STATE_DIR
    promiscuous: bool = False
    window: Annotated[int, Field(ge=1, le=4096)] = Field(default=64, description="DHCP exchanges in flight")
    start_rate: Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)] | None = None
    """Devices started per second; 0: unlimited; unset: unlimited in a namespace (a lab), LAN_START_RATE otherwise."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    seed: int | None = None
    control_socket: Path | None = None
    """Unix socket serving the HTTP endpoint plus `POST /devices`, `DELETE /devices/{id}`."""
    pcap: Path | None = None
    """Write every frame sent and received to this file (Wireshark's classic pcap format)."""
    pcap_per_device: bool = False
    """Also one file per device next to `pcap`, named `<stem>-<device id>.pcap`."""
    capture_token: SecretStr | None = Field(default=None, min_length=16, max_length=512)
    """Lets `GET /capture` be served over TCP to requests carrying it (env `IOTEMU_CAPTURE_TOKEN`)."""

    @property
    def effective_start_rate(self) -> float | None:
        """The rate the engine applies (None: unlimited)."""
        if self.start_rate is None:
            return None if self.netns else LAN_START_RATE
        return self.start_rate or None

    @field_validator("pcap")
    @classmethod
    def _pcap_directory_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.parent.is_dir():
            raise ValueError(f"directory {value.parent} does not exist")
        return value

    @model_validator(mode="after")
    def _per_device_needs_a_file(self) -> RunOptions:
        if self.pcap_per_device and self.pcap is None:
            raise ValueError("--pcap-per-device needs --pcap FILE")
        return self


def open_link(options: RunOptions) -> rawsock.RawLink:
    """Open the raw socket before anything else, so a bad interface fails before any frame.

    The engine asks it to read VLAN tags (a slower receive) once a device has a VLAN."""
    link = rawsock.RawLink(options.interface, netns=options.netns, promiscuous=options.promiscuous)
    link.open()
    return link


STDOUT_DRAIN_SECONDS = 2.0
"""At exit, how long a slow stdout reader gets to take the last messages (the stop contract is 5 s)."""


async def run(
    configs: Sequence[manifests.DeviceConfig],
    options: RunOptions,
    link: engine.Link,
    *,
    library: catalog.Library | None = None,
    on_tick: Callable[[engine.Engine], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run the devices until SIGTERM/SIGINT (or `stop`); release, report, return the exit code."""
    if options.pcap is not None:
        per_device = [(c.device_id, macs.parse(c.mac)) for c in configs] if options.pcap_per_device else []
        link = pcap.TapLink(link, options.pcap, per_device)
    tap = capture.CaptureTap(link)  # idle (no capture asked for): one test per frame
    link = tap
    cache = None
    if options.state_dir is not None:
        cache = lease_cache.LeaseCache(options.state_dir / "leases.json")
        cache.load()
    eng = engine.Engine(
        link,
        configs,
        interface=options.interface,
        stats_interval=options.stats_interval,
        window=options.window,
        start_rate=options.effective_start_rate,
        cache=cache,
        fallback_gateway=str(options.fallback_gateway) if options.fallback_gateway else None,
        seed=options.seed,
        log_level=options.log_level,
    )
    scenarios = driver.Driver(eng, library or catalog.builtin())
    human: console.Console | None = None
    stdout: pipe_sink.PipeSink | None = None
    if options.json_output:
        sys.stdout.flush()
        stdout = pipe_sink.PipeSink(sys.stdout.fileno())  # never blocks the devices on a slow reader
        eng.events.add(stdout)
    elif on_tick is None:
        human = console.Console(len(configs))
        eng.events.add(human)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = None
    if options.http_port is not None or options.control_socket is not None:
        ctl = control.Control(eng, library or catalog.builtin(), scenarios) if options.control_socket else None
        unix_path = str(options.control_socket) if options.control_socket else None
        if unix_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(unix_path)
        token = options.capture_token.get_secret_value() if options.capture_token else None
        server = await http_api.start(
            eng,
            options.http_host,
            options.http_port,
            ctl=ctl,
            unix_path=unix_path,
            tap=tap,
            roster=lambda: [(d.device_id, d.config.fleet, d.mac) for d in eng.devices],
            capture_token=token,
        )
    ticker = asyncio.create_task(_render(eng, human, on_tick, options.stats_interval))
    try:
        await eng.run(stop)
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        if server is not None:
            await server.close()
        if stdout is not None:
            await stdout.drain(STDOUT_DRAIN_SECONDS)
        if options.control_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(options.control_socket)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


async def _render(
    eng: engine.Engine,
    human: console.Console | None,
    on_tick: Callable[[engine.Engine], None] | None,
    interval: float,
) -> None:
    """Progress once a second while devices bind, then the summary at each stats interval."""
    last_bound = -1
    waited = 0.0
    while True:
        await asyncio.sleep(1.0)
        waited += 1.0
        if on_tick is not None:
            on_tick(eng)
            continue
        if human is None:
            continue
        totals = eng.totals()
        binding = totals["bound"] < totals["devices"]
        if (binding and totals["bound"] != last_bound) or waited >= interval:
            human.render(totals)
            last_bound, waited = totals["bound"], 0.0
