"""The soak's chaos: a seeded schedule at fixed offsets, and what each event does to the running system.

Every event is something a site lives through: the DHCP server restarted or down for longer than
T2 (its lease file kept), an emulator process killed with SIGKILL (its supervisor starts it again;
the devices come back with INIT-REBOOT from their lease cache), the devices' link going down and
up, the dashboard service killed and started again on the same store, and the store's disk full
(a request that changes state must fail clearly and leave the file as it was).

Each action returns an `Outcome`: what it checked, and a planned window in which devices are
expected to be without an address (the outage; nothing else plans one).
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import hashlib
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import soak_observe

from iot_dashboard.backends.local import store
from iot_emulator.lab import handle

EVENTS = ("server-restart", "server-outage", "emulator-kill", "link-flap", "service-restart", "disk-full")
DISCOVER_BACKOFF_CAP = 64.0
"""RFC 2131's longest wait between two DISCOVERs (the engine's `BACKOFF_CAP`): after an outage a
device in INIT may wait this long before it asks again."""
LINK_DOWN_SECONDS = 3.0


@dataclasses.dataclass
class Outcome:
    event: str
    at: float
    ok: bool = True
    checks: dict[str, Any] = dataclasses.field(default_factory=dict)
    planned: tuple[float, float] | None = None
    """A window (wall time) in which devices may be without an address."""


class Harness(Protocol):
    """What the actions need of the running soak."""

    lab: handle.Lab
    lease: int
    store_path: Path

    @property
    def service_pid(self) -> int | None: ...

    async def restart_service(self) -> None: ...

    async def answering(self, timeout: float) -> bool: ...

    async def request(self, method: str, path: str) -> tuple[int, str]: ...

    def device_names(self) -> list[str]: ...


def schedule(events: Sequence[str], start: float, end: float, seed: int) -> list[tuple[float, str]]:
    """`events` in a seeded order at evenly spaced offsets in [start, end), each moved by up to
    a tenth of the spacing (seeded): the same seed gives the same schedule. A window too short
    for the events gives them a second each (they run one after the other anyway)."""
    rng = random.Random(seed)
    order = list(events)
    rng.shuffle(order)
    end = max(end, start + len(order))
    step = (end - start) / max(len(order), 1)
    return [(start + step * (i + 0.5) + rng.uniform(-step / 10, step / 10), name) for i, name in enumerate(order)]


def store_digest(path: Path) -> tuple[str, int]:
    """(sha256, resources) of the store file; resources is -1 if it does not parse."""
    data = path.read_bytes()
    try:
        count = len(store.parse(data.decode(), str(path)))
    except (store.StoreError, UnicodeDecodeError):
        count = -1
    return hashlib.sha256(data).hexdigest(), count


async def server_restart(h: Harness, out: Outcome) -> None:
    await asyncio.to_thread(h.lab.restart_server)


async def server_outage(h: Harness, out: Outcome) -> None:
    """Down for the lease time plus a quarter: past T2 (devices rebind) and past expiry (back to INIT)."""
    down = h.lease * 1.25
    t0 = time.time()
    await asyncio.to_thread(h.lab.stop_server)
    await asyncio.sleep(down)
    await asyncio.to_thread(h.lab.start_server)
    out.checks["down_s"] = round(time.time() - t0, 1)
    out.planned = (t0, time.time() + DISCOVER_BACKOFF_CAP + 10)


async def emulator_kill(h: Harness, out: Outcome) -> None:
    pid = h.service_pid
    pids = soak_observe.emulator_pids(pid) if pid else []
    if pid is None or not pids:
        out.ok, out.checks["error"] = False, "no emulator process found"
        return
    victim = random.Random(int(out.at)).choice(pids)
    os.kill(victim, signal.SIGKILL)
    out.checks["killed_pid"] = victim
    count = store_digest(h.store_path)[1]
    out.checks["store_resources"] = count
    deadline = time.monotonic() + 60
    while len(soak_observe.emulator_pids(pid)) < len(pids) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)  # the supervisor's backoff, then the process again
    out.checks["restarted"] = len(soak_observe.emulator_pids(pid)) >= len(pids)
    out.ok = count > 0 and out.checks["restarted"]


async def link_flap(h: Harness, out: Outcome) -> None:
    lab = h.lab
    await asyncio.to_thread(lab.run_in_dev, "ip", "link", "set", lab.dev_iface, "down", check=True)
    await asyncio.sleep(LINK_DOWN_SECONDS)
    await asyncio.to_thread(lab.run_in_dev, "ip", "link", "set", lab.dev_iface, "up", check=True)
    out.checks["down_s"] = LINK_DOWN_SECONDS


async def service_restart(h: Harness, out: Outcome) -> None:
    before = store_digest(h.store_path)
    await h.restart_service()
    after = store_digest(h.store_path)
    out.checks["store_unchanged"] = before == after
    out.checks["store_resources"] = after[1]
    out.ok = before == after and after[1] > 0


def fill(directory: Path) -> Path:
    """Write zeros into `directory` until its file system is full; returns the filler file."""
    filler = directory / "filler"
    chunk = b"\0" * (1 << 16)
    with filler.open("wb") as handle_:
        try:
            while True:
                handle_.write(chunk)
                handle_.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


async def disk_full(h: Harness, out: Outcome) -> None:
    """Fill the store's file system, ask to stop a device, check the refusal and the file, free the space."""
    before = store_digest(h.store_path)
    filler = await asyncio.to_thread(fill, h.store_path.parent)
    try:
        name = h.device_names()[0]
        code, body = await h.request("POST", f"/api/devices/{name}/stop")
        out.checks["status"] = code
        out.checks["detail"] = body[:200]
    finally:
        filler.unlink()
    after = store_digest(h.store_path)
    leftovers = [p.name for p in h.store_path.parent.iterdir() if p.name.endswith(".tmp")]
    out.checks["store_unchanged"] = before == after
    out.checks["temp_files_left"] = leftovers
    status = await h.request("GET", f"/api/devices/{name}")
    out.checks["device_still_running"] = '"running":true' in status[1].replace(" ", "")
    out.ok = code >= 400 and code != 500 and before == after and not leftovers and out.checks["device_still_running"]


ACTIONS: dict[str, Callable[[Harness, Outcome], Awaitable[None]]] = {
    "server-restart": server_restart,
    "server-outage": server_outage,
    "emulator-kill": emulator_kill,
    "link-flap": link_flap,
    "service-restart": service_restart,
    "disk-full": disk_full,
}


async def run(h: Harness, name: str, at: float) -> Outcome:
    """One event, then: does the service answer (within 60 s)?"""
    out = Outcome(name, at)
    try:
        await ACTIONS[name](h, out)
    except Exception as exc:  # an event that breaks is a result, reported
        out.ok, out.checks["error"] = False, f"{type(exc).__name__}: {exc}"
    out.checks["service_answers"] = await h.answering(60)
    out.ok = out.ok and out.checks["service_answers"]
    return out
