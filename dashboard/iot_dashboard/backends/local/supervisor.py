"""The local supervisor: a few long-lived emulator processes, devices started and stopped in them.

Why not one process per device (the brief's design): 200 devices would be 200 interpreters of
~40 MB and seconds of start-up each. Instead devices are placed in *shards*, the way the operator
places them in pods: stand-alone devices fill `devices-0`, `devices-1`, ... up to
`devices_per_process` each, and each fleet is cut into shards of its `devicesPerPod` members
(`fleet/cams/0`, `fleet/cams/1`, ...). A shard's process is started when its first device is
and stopped when its last one goes; devices come and go through the process's control API.

With `warm_processes`, the first shards of `devices` are kept started while they have no device
(spawned again in the background after they are stopped), so Start All only sends requests.

A shard remembers the devices it should host, so a crash loses nothing: every device of the
shard gets a `device:error` (the crash, its exit code, the stderr tail in the log), the process is
started again after a backoff that doubles on each crash in a row (reset once a process has run
long enough), and its devices are added again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from iot_dashboard import events
from iot_dashboard.backends.local import forkserver, process
from iot_dashboard.settings import LocalSettings

log = logging.getLogger(__name__)
DEVICES_GROUP = "devices"
_CONCURRENT_DELETES = 32


@dataclasses.dataclass(frozen=True)
class Unit:
    """One device as the supervisor sees it: its id, its shard group and its IoTDevice manifest."""

    device_id: str
    group: str
    """`devices` (packed by capacity) or `fleet/<name>/<shard>` (one process)."""
    manifest: dict[str, Any]


def rounds(units: Sequence[Unit]) -> list[list[Unit]]:
    """The units cut into requests in which no host name repeats, in order within each.

    The emulator refuses a request that names a host name twice (a manifest's mistake), yet devices
    of one model share their default name (the brief's import gives each vendor's), so the store
    may hold many: sent in one request they were all refused, then added one request per device
    (10-16 s for 1,000). Here the n-th device of a name goes in the n-th request: as many requests
    as the most repeated name (~11 for 250 devices of 24 models)."""
    out: list[list[Unit]] = []
    seen: dict[str, int] = {}
    for unit in units:
        hostname = unit.manifest.get("spec", {}).get("hostname")
        index = 0
        if isinstance(hostname, str):
            index = seen.get(hostname, 0)
            seen[hostname] = index + 1
        while len(out) <= index:
            out.append([])
        out[index].append(unit)
    return out


class Shard:
    def __init__(self, name: str, group: str, capacity: int) -> None:
        self.name = name
        self.group = group
        self.capacity = capacity
        self.devices: dict[str, Unit] = {}
        """What this shard should run: what a restart adds again."""
        self.proc: process.EmulatorProcess | None = None
        self.lock = asyncio.Lock()
        self.crashes = 0
        self.started_at = 0.0
        self.restart_task: asyncio.Task[None] | None = None
        self.watch_task: asyncio.Task[None] | None = None
        self.closing = False

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.running


class Supervisor:
    """See the module docstring. `apply` is the one entry point that changes what runs."""

    def __init__(self, settings: LocalSettings, hub: events.EventHub, socket_dir: Path, state_dir: Path) -> None:
        self.settings = settings
        self.hub = hub
        self.socket_dir = socket_dir
        self.state_dir = state_dir
        self.shards: dict[str, Shard] = {}
        self.placement: dict[str, str] = {}
        """device id -> shard name, for every device wanted up."""
        self.restarts = 0
        self._socket_ids = itertools.count()
        self._closed = False
        self._warming: set[asyncio.Task[None]] = set()
        self.fork_server: forkserver.ForkServer | None = None
        self._fork_restart: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Start the fork server (`fork_server`, when the command is the emulator's); on failure,
        log it: processes are then started as interpreters."""
        s = self.settings
        if not s.fork_server or not forkserver.forkable(s.emulator_command) or self._closed:
            return
        server = forkserver.ForkServer(s.emulator_command[0], self.socket_dir, ready_timeout=s.ready_timeout)
        try:
            await server.start()
        except process.ControlError as exc:
            log.warning("%s; emulator processes start as new interpreters", exc)
            return
        self.fork_server = server

    async def _launch(self, argv: Sequence[str]) -> process.Child:
        """A fork of the zygote when it runs, else a new interpreter (the fallback; a zygote that died
        is started again in the background meanwhile)."""
        server = self.fork_server
        if server is not None and server.running:
            try:
                return await server.spawn(argv)
            except process.ControlError as exc:
                log.warning("%s; starting a new interpreter instead", exc)
        elif server is not None and not self._closed and self._fork_restart is None:
            log.warning("fork server (pid %s) exited; starting it again", server.proc.pid)
            self._fork_restart = asyncio.create_task(self._restart_fork_server(server), name="fork-server")
        return await process.exec_child(argv)

    async def _restart_fork_server(self, dead: forkserver.ForkServer) -> None:
        try:
            await dead.stop()  # reaped, readers drained
            self.fork_server = None
            await self.open()
        finally:
            self._fork_restart = None

    # -- queries ---------------------------------------------------------------------------------

    def running_units(self) -> dict[str, Unit]:
        return {d: self.shards[s].devices[d] for d, s in self.placement.items()}

    @property
    def processes(self) -> int:
        return sum(1 for s in self.shards.values() if s.alive)

    @property
    def warming(self) -> int:
        """Warm processes being started now."""
        return len(self._warming)

    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.shards.values() if s.proc is not None and s.proc.pid is not None and s.alive]

    # -- changes ---------------------------------------------------------------------------------

    async def apply(self, start: Sequence[Unit], stop: Iterable[str]) -> dict[str, str | None]:
        """Stop then start devices; returns device id -> None (done) or the reason it failed."""
        results: dict[str, str | None] = {}
        by_shard: dict[str, list[str]] = {}
        for device_id in stop:
            shard_name = self.placement.get(device_id)
            if shard_name is None:
                results[device_id] = None
            else:
                by_shard.setdefault(shard_name, []).append(device_id)
        await asyncio.gather(*(self._remove(self.shards[n], ids, results) for n, ids in by_shard.items()))
        plan: dict[str, list[Unit]] = {}
        for unit in start:
            if unit.device_id in self.placement:
                results[unit.device_id] = f"{unit.device_id} is already running"
                continue
            shard = self._place(unit)
            shard.devices[unit.device_id] = unit  # reserve room before the next placement
            plan.setdefault(shard.name, []).append(unit)
        await asyncio.gather(*(self._add(self.shards[n], units, results) for n, units in plan.items()))
        self.warm()
        return results

    def warm(self) -> None:
        """Start, in the background, the warm processes (`warm_processes`) that are not running."""
        for index in range(0 if self._closed else self.settings.warm_processes):
            name = f"{DEVICES_GROUP}-{index}"
            shard = self.shards.get(name)
            if shard is None:
                shard = self.shards[name] = Shard(name, DEVICES_GROUP, self.settings.devices_per_process)
            if not shard.alive and not shard.lock.locked():
                task = asyncio.create_task(self._warm(shard), name=f"warm-{name}")
                self._warming.add(task)
                task.add_done_callback(self._warming.discard)

    async def _warm(self, shard: Shard) -> None:
        async with shard.lock:
            if shard.alive or self._closed or self.shards.get(shard.name) is not shard:
                return
            try:
                await self._spawn(shard)
            except process.ControlError as exc:
                log.warning("warm emulator process %s not started: %s", shard.name, exc)

    def _place(self, unit: Unit) -> Shard:
        if unit.group != DEVICES_GROUP:
            shard = self.shards.get(unit.group)
            if shard is None:
                shard = self.shards[unit.group] = Shard(unit.group, unit.group, capacity=1 << 31)
            return shard
        for index in itertools.count():
            name = f"{DEVICES_GROUP}-{index}"
            shard = self.shards.get(name)
            if shard is None:
                shard = self.shards[name] = Shard(name, DEVICES_GROUP, self.settings.devices_per_process)
            if len(shard.devices) < shard.capacity:
                return shard
        raise AssertionError("unreachable")

    async def _add(self, shard: Shard, units: list[Unit], results: dict[str, str | None]) -> None:
        async with shard.lock:
            if not shard.alive:
                try:
                    await self._spawn(shard)
                except process.ControlError as exc:
                    for unit in units:
                        self._forget(shard, unit.device_id)
                        results[unit.device_id] = str(exc)
                    return
            for device_id, error in (await self._post(shard, units)).items():
                results[device_id] = error
                if error is None:
                    self.placement[device_id] = shard.name
                else:
                    self._forget(shard, device_id)
        await self._retire_if_empty(shard)

    async def _post(self, shard: Shard, units: list[Unit]) -> dict[str, str | None]:
        """A request per round of distinct host names (see `rounds`), one after the other."""
        results: dict[str, str | None] = {}
        for batch in rounds(units):
            results.update(await self._post_batch(shard, batch))
        return results

    async def _post_batch(self, shard: Shard, units: list[Unit]) -> dict[str, str | None]:
        """One request for the batch; if it is refused, one per device to say which failed and why."""
        assert shard.proc is not None
        try:
            await shard.proc.add([u.manifest for u in units])
            return {u.device_id: None for u in units}
        except process.ControlError as exc:
            if len(units) == 1 or exc.status == 0:
                return {u.device_id: str(exc) for u in units}
        out: dict[str, str | None] = {}
        for unit in units:
            try:
                await shard.proc.add([unit.manifest])
                out[unit.device_id] = None
            except process.ControlError as exc:
                out[unit.device_id] = str(exc)
        return out

    async def _remove(self, shard: Shard, ids: list[str], results: dict[str, str | None]) -> None:
        limit = asyncio.Semaphore(_CONCURRENT_DELETES)

        async def one(device_id: str) -> None:
            async with limit:
                try:
                    if shard.alive:
                        assert shard.proc is not None
                        await shard.proc.remove(device_id)
                    self._forget(shard, device_id)
                    results[device_id] = None
                except process.ControlError as exc:
                    results[device_id] = str(exc)

        async with shard.lock:
            if shard.alive and shard.devices.keys() <= set(ids):
                # The whole shard goes (Stop All): its process is stopped instead (SIGTERM: the emulator
                # releases every lease, sends final stats and `stopped` for each, in ~0.5 s for 250);
                # one DELETE per device costs ~15 ms each in the emulator (3.6 s for 250).
                for device_id in ids:
                    self._forget(shard, device_id)
                    results[device_id] = None
            else:
                await asyncio.gather(*(one(d) for d in ids))
        await self._retire_if_empty(shard)

    def _forget(self, shard: Shard, device_id: str) -> None:
        shard.devices.pop(device_id, None)
        if self.placement.get(device_id) == shard.name:
            del self.placement[device_id]

    async def _retire_if_empty(self, shard: Shard) -> None:
        """An empty shard's process is stopped and reaped: no root process is kept for stopped devices
        (warm spares cost ~0.3 MB per stored device, 700 MB for 2,500, for a faster Play All)."""
        if shard.devices:
            return
        async with shard.lock:
            if not shard.devices:
                await self._stop(shard)
                self.shards.pop(shard.name, None)

    # -- processes -------------------------------------------------------------------------------

    def _argv(self, shard: Shard) -> list[str]:
        s = self.settings
        state = self.state_dir / shard.name.replace("/", "-")
        argv = [*s.emulator_command, "run", "--interface", s.interface or "", "--json-output"]
        argv += ["--stats-interval", str(s.stats_interval), "--window", str(s.window), "--state-dir", str(state)]
        if s.netns:
            argv += ["--netns", s.netns]
        if s.start_rate is not None:
            argv += ["--start-rate", str(s.start_rate)]
        if s.promiscuous:
            argv.append("--promiscuous")
        if s.profiles_dir:
            argv += ["--profiles-dir", str(s.profiles_dir)]
        return argv

    async def _spawn(self, shard: Shard) -> None:
        """Start the shard's process (the caller holds its lock) and watch it for a crash."""
        if self._closed:
            raise process.ControlError(0, ["the service is shutting down"])
        sock = self.socket_dir / f"emu{next(self._socket_ids)}.sock"
        argv = [*self._argv(shard), "--control-socket", str(sock)]
        proc = process.EmulatorProcess(
            shard.name, argv, sock, self.hub.publish, stop_timeout=self.settings.stop_timeout, launcher=self._launch
        )
        shard.proc, shard.closing = proc, False
        await proc.spawn(self.settings.ready_timeout)
        shard.started_at = time.monotonic()
        shard.watch_task = asyncio.create_task(self._watch(shard, proc), name=f"watch-{shard.name}")

    async def _stop(self, shard: Shard) -> None:
        shard.closing = True
        if shard.restart_task is not None:
            shard.restart_task.cancel()
        if shard.proc is not None:
            await shard.proc.stop()
        shard.proc = None

    async def _watch(self, shard: Shard, proc: process.EmulatorProcess) -> None:
        code = await proc.wait()
        if shard.closing or shard.proc is not proc or self._closed:
            return
        ran = time.monotonic() - shard.started_at
        shard.crashes = 1 if ran >= self.settings.restart_reset_after else shard.crashes + 1
        delay = min(self.settings.restart_initial * 2 ** (shard.crashes - 1), self.settings.restart_max)
        tail = " | ".join(proc.stderr_tail) or "no stderr"
        text = f"emulator process {shard.name} (pid {proc.pid}) exited with code {code}; restarting in {delay:.1f} s"
        log.error("%s; stderr: %s", text, tail)
        self.hub.service_log("error", f"{text}; stderr: {tail}", shard=shard.name, exit_code=code)
        for device_id in shard.devices:
            self.hub.device_error(device_id, text, fatal=True)
        await proc.stop()  # readers drained, socket removed
        shard.restart_task = asyncio.create_task(self._restart(shard, delay), name=f"restart-{shard.name}")

    async def _restart(self, shard: Shard, delay: float) -> None:
        await asyncio.sleep(delay)
        async with shard.lock:
            if shard.alive or shard.closing or self._closed or not shard.devices:
                return
            units = list(shard.devices.values())
            try:
                await self._spawn(shard)
                failed = {d: e for d, e in (await self._post(shard, units)).items() if e is not None}
            except process.ControlError as exc:
                shard.crashes += 1
                delay = min(self.settings.restart_initial * 2 ** (shard.crashes - 1), self.settings.restart_max)
                text = f"restart of emulator process {shard.name} failed: {exc}; next try in {delay:.1f} s"
                self.hub.service_log("error", text)
                shard.restart_task = asyncio.create_task(self._restart(shard, delay), name=f"restart-{shard.name}")
                return
            self.restarts += 1
        for device_id, error in failed.items():
            self._forget(shard, device_id)
            self.hub.device_error(device_id, f"not re-added after restart: {error}")
        self.hub.service_log(
            "warning",
            f"emulator process {shard.name} restarted (pid {shard.proc.pid if shard.proc else '?'}); "
            f"{len(units) - len(failed)} devices re-added",
            shard=shard.name,
        )

    async def close(self) -> None:
        """Stop every process (SIGTERM, SIGKILL after the timeout), all at once."""
        self._closed = True
        for warming in list(self._warming):
            warming.cancel()
        await asyncio.gather(*self._warming, return_exceptions=True)
        await asyncio.gather(*(self._stop(s) for s in self.shards.values()), return_exceptions=True)
        for shard in self.shards.values():
            for task in (shard.restart_task, shard.watch_task):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        self.placement.clear()
        if self._fork_restart is not None:
            self._fork_restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fork_restart
        if self.fork_server is not None:
            await self.fork_server.stop()
        process.kill_groups()
