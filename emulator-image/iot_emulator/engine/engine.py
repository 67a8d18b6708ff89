"""The engine: one asyncio loop, one raw socket, many devices.

This is the facade that runs them: devices in, frames to and from the link, messages out. Its parts
each do one job: `routing` (which devices a frame is for), `scheduler` (device deadlines on the
loop's clock), `admission` (the DHCP window and start rate), `stats` (what is reported).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from iot_emulator.config import manifests
from iot_emulator.devices import device as device_mod
from iot_emulator.devices import macs
from iot_emulator.engine import admission, lease_cache, routing, scheduler, stats
from iot_emulator.protocols import services
from iot_emulator.protocols.link import vlan_tag
from iot_emulator.reporting import messages

RELEASE_BATCH = 8
RELEASE_PAUSE = 0.01
"""~750 releases/s. Measured here: dnsmasq holding 500 leases rewrites its lease file on every
release and lost 208 of 500 sent in 64-frame bursts every 10 ms, none at this pace."""
RELEASE_BUDGET = 3.5
SAVE_DELAY = 0.2
"""Seconds from a bind to the lease cache's write, at least; see `SAVE_SHARE`."""
SAVE_SHARE = 0.05
"""At most this share of the loop goes to writing the lease cache: each write merges and rewrites the
whole file (10,000 devices: ~50 ms), so in a boot storm the next waits 1/SAVE_SHARE times as long as
the last took, instead of rewriting the file every 0.2 s while every device binds."""


class Link(Protocol):
    """What the engine needs of the network: `rawsock.RawLink`, or a fake in tests."""

    def start(self, loop: asyncio.AbstractEventLoop, on_frame: Callable[[bytes], None]) -> None: ...
    def send(self, frame: bytes) -> None: ...
    def flush(self, timeout: float = ...) -> None: ...
    def close(self) -> None: ...
    def read_vlan_tags(self) -> None:
        """From now on, give received frames the VLAN tag the kernel took off (a device has a VLAN)."""


class Extension(Protocol):
    """Something that runs beside the devices on the engine's loop (the scenario driver)."""

    def start(self, loop: asyncio.AbstractEventLoop, now: float) -> None: ...
    def stop(self, now: float) -> None: ...


class _Emit:
    """A device's `emit`: its events to the engine, with the device (64 bytes; a closure costs ~400)."""

    __slots__ = ("device", "engine")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.device: device_mod.Device | None = None

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        assert self.device is not None
        self.engine._on_device_event(self.device, kind, fields)


class Engine:
    """Hosts the devices of one process on one link; see the module docstring."""

    def __init__(
        self,
        link: Link,
        configs: Sequence[manifests.DeviceConfig],
        *,
        interface: str = "",
        stats_interval: float = 5.0,
        window: int = 64,
        start_rate: float | None = None,
        cache: lease_cache.LeaseCache | None = None,
        fallback_gateway: str | None = None,
        seed: int | None = None,
        log_level: str = "info",
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.link = link
        self.interface = interface
        self.events = messages.Fanout()
        self.stats = stats.Stats(stats_interval)
        self.admission = admission.Admission(window, start_rate)
        self.segments = routing.Segments()
        self.scheduler = scheduler.Scheduler(self._on_due, urgent=lambda dev: dev.dhcp.state in admission.ACQUIRING)
        self._rate_timer: asyncio.TimerHandle | None = None
        self.cache = cache
        self.log_levels = _levels_from(log_level)
        self.wall = wall
        self.started_wall = wall()
        self.bound_count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rng = random.Random(seed)
        self._seed = seed
        gateway = bytes(int(x) for x in fallback_gateway.split(".")) if fallback_gateway else None
        self._tagged = False
        self._read_tags_for(configs)
        self.devices = [self._make_device(c, gateway) for c in configs]
        for dev in self.devices:
            self.segments.of(dev).by_mac[dev.mac] = dev
        self.admission.pending.extend(self.devices)
        self._last_bound_at = 0.0
        self._stopping = False
        self._save_handle: asyncio.TimerHandle | None = None
        self._save_delay = SAVE_DELAY
        self.extensions: list[Extension] = []
        """Started before the first device (a scenario may hold a device back), stopped before the releases."""

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start every device, run until `stop` is set, then release and report."""
        loop = self._loop = asyncio.get_running_loop()
        self.scheduler.start(loop)
        now = loop.time()
        self._last_bound_at = now
        self.link.start(loop, self._on_frame)
        for dev in self.devices:
            self._announce(dev)
        for extension in self.extensions:
            extension.start(loop, now)
        self._admit(now)
        ticker = asyncio.create_task(self._tick())
        try:
            await stop.wait()
        finally:
            ticker.cancel()
            await self.shutdown()

    async def shutdown(self) -> None:
        """DHCPRELEASE for every bound device, final stats, `stopped` for each: the SIGTERM path.

        Releases are paced (a RELEASE has no answer, so nothing else slows us to the server's
        speed): in one burst they overflow the server's socket buffer and leases stay behind.
        Pacing stops after RELEASE_BUDGET seconds, so the process still exits within the 5 s
        contract; beyond ~2,600 devices the rest go out at once and a slow server may miss some
        (those leases then expire as a real device's would after a power cut).
        """
        if self._stopping:
            return
        self._stopping = True
        for extension in self.extensions:
            extension.stop(self.clock())
        if self._rate_timer is not None:
            self._rate_timer.cancel()
        self.scheduler.stop()
        clock = self.clock
        now = clock()
        budget_ends = now + RELEASE_BUDGET
        for i, dev in enumerate(self.devices, 1):
            header = _tag_header(dev)
            for frame in dev.stop(now):  # not `_send`: no one is left to deliver to locally
                self.link.send(vlan_tag.push(frame, header) if header else frame)
            if i % RELEASE_BATCH == 0 and self._loop is not None and clock() < budget_ends:
                await asyncio.sleep(RELEASE_PAUSE)
        self.link.flush()
        self._emit_stats(now)
        for dev in self.devices:
            self._message("stopped", dev, {"packets_sent": dev.counters.packets_sent})
        if self.cache is not None:
            self.cache.save()
        self.link.close()

    # -- devices added and removed at run time (the control API) -------------------------------

    def add_devices(
        self,
        configs: Sequence[manifests.DeviceConfig],
        prepare: Callable[[Sequence[manifests.DeviceConfig]], None] | None = None,
    ) -> None:
        """Start more devices; the caller has checked ids and MACs against the running ones.

        `prepare` runs once they exist and before any starts (a scenario holding one back)."""
        gateway = self.devices[0].fallback_gateway if self.devices else None
        now = self.clock()
        self._read_tags_for(configs)
        for config in configs:
            dev = self._make_device(config, gateway)
            self.devices.append(dev)
            self.segments.of(dev).by_mac[dev.mac] = dev
            self.admission.pending.append(dev)
            if self._loop is not None:
                self._announce(dev)
        if prepare is not None:
            prepare(configs)
        if self._loop is not None:
            self._admit(now)

    def _read_tags_for(self, configs: Sequence[manifests.DeviceConfig]) -> None:
        """Reading tags back costs receive speed: the link does it once the first device with a VLAN exists."""
        if not self._tagged and any(c.vlan is not None for c in configs):
            self._tagged = True
            self.link.read_vlan_tags()

    def remove_device(self, device_id: str) -> bool:
        """Release its lease, report final stats and `stopped`, forget it. False if unknown."""
        dev = next((d for d in self.devices if d.device_id == device_id), None)
        if dev is None:
            return False
        now = self.clock()
        self._send(dev, dev.stop(now))
        self.events(messages.make("stats", dev.device_id, self.wall(), stats=self.stats.of(dev, now)))
        self._message("stopped", dev, {"packets_sent": dev.counters.packets_sent})
        self.devices.remove(dev)
        del self.segments.of(dev).by_mac[dev.mac]
        self._forget_runtime(dev)
        self.stats.forget(dev)
        if self.cache is not None:
            self.cache.save()
        self._admit(now)
        return True

    def find(self, device_id: str) -> device_mod.Device | None:
        return next((d for d in self.devices if d.device_id == device_id), None)

    # -- what a scenario does to a device (scenarios.driver) -----------------------------------

    def power_off(self, device_id: str, *, release: bool = False) -> bool:
        """Link down: silent (a power cut) or, with `release`, saying goodbye. The device stays listed."""
        dev = self.find(device_id)
        if dev is None:
            return False
        now = self.clock()
        if release:
            self._send(dev, dev.stop(now))
        else:
            dev.power_off(now)
        self._forget_runtime(dev)
        self._admit(now)
        return True

    def power_on(
        self,
        device_id: str,
        *,
        config: manifests.DeviceConfig | None = None,
        at_once: bool = False,
        fresh: bool = False,
    ) -> bool:
        """Boot the device again, as a new `Device` (with `config`, if it changed) keeping its counters.

        It asks for its last address (INIT-REBOOT) while the lease is valid, unless `fresh` or its MAC
        changed. `at_once` starts it now, past the window and the start rate (a boot storm)."""
        old = self.find(device_id)
        if old is None:
            return False
        now = self.clock()
        if old.phase is not device_mod.Phase.stopped:
            old.power_off(now)  # on already: this is a reboot
            self._forget_runtime(old)
        config = config or old.config
        lease = old.dhcp.lease
        keep = not fresh and lease is not None and config.mac == old.config.mac
        dev = self._make_device(
            config,
            old.fallback_gateway,
            remembered=(lease.address, lease.expiry > now) if keep and lease is not None else (None, False),
            counters=old.counters,
        )
        for key, factory in old.scenario_factories.items():  # built again around the new device's host
            dev.add_service(key, factory, now)
        self.devices[self.devices.index(old)] = dev
        if self.segments.of(old).by_mac.get(old.mac) is old:
            del self.segments.of(old).by_mac[old.mac]
        self.segments.of(dev).by_mac[dev.mac] = dev
        self.stats.replaced(old, dev)
        if at_once and self._loop is not None:
            self._send(dev, dev.start(now))
            self._after(dev, now)
        else:
            self.admission.pending.append(dev)
            self._admit(now)
        return True

    def add_service(self, device_id: str, key: str, factory: device_mod.ServiceFactory) -> bool:
        """Run a scenario's service on the device (`Device.add_service`); False if there is no such device."""
        dev = self.find(device_id)
        if dev is None:
            return False
        now = self.clock()
        dev.add_service(key, factory, now)
        self._send(dev, dev.host.drain())
        self._after(dev, now)
        return True

    def remove_service(self, device_id: str, key: str) -> bool:
        dev = self.find(device_id)
        if dev is None:
            return False
        now = self.clock()
        removed = dev.remove_service(key, now)
        self._send(dev, dev.host.drain())
        self._after(dev, now)
        return removed

    def mac_in_use(self, mac: str) -> bool:
        return self.segments.owns_mac(macs.parse(mac))

    def _forget_runtime(self, dev: device_mod.Device) -> None:
        """Drop what a running device holds in the engine (address, timers, admission); it stays listed."""
        self.segments.of(dev).forget(dev)
        self.admission.forget(dev)
        self.scheduler.forget(dev)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the engine runs on, once it runs."""
        return self._loop

    def clock(self) -> float:
        """The loop's time (monotonic before the loop runs): what device deadlines are in."""
        return self.scheduler.clock()

    # -- views (HTTP endpoint, console) --------------------------------------------------------

    def device_stats(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [{"device_id": dev.device_id, **self.stats.of(dev, now)} for dev in self.devices]

    def totals(self) -> dict[str, Any]:
        return stats.totals(self.devices, started_wall=self.started_wall, wall=self.wall, interface=self.interface)

    # -- receive path --------------------------------------------------------------------------

    def _on_frame(self, frame: bytes) -> None:
        """A frame from the wire: its VLAN's devices get it, untagged (see `vlan_tag.pop`)."""
        router = self.segments.untagged
        if len(frame) >= 14 and ((frame[12] << 8) | frame[13]) in vlan_tag.TPIDS:
            key, frame = vlan_tag.pop(frame)
            tagged = self.segments.for_key(key)
            if tagged is None:  # a VLAN none of our devices is in
                return
            router = tagged
        dev = router.by_mac.get(frame[:6])
        if dev is not None:
            self._feed(dev, frame)
        elif frame[0] & 1:  # broadcast or multicast
            self._on_broadcast(router, frame)

    def _on_broadcast(self, router: routing.Router, frame: bytes, exclude: device_mod.Device | None = None) -> None:
        for dev in router.broadcast_recipients(frame, exclude):
            self._feed(dev, frame)

    def _feed(self, dev: device_mod.Device, frame: bytes) -> None:
        now = self.clock()
        self._send(dev, dev.handle(frame, now))
        if not dev.stateless:
            self._after(dev, now)

    def _send(self, sender: device_mod.Device, frames: list[bytes]) -> None:
        """Out to the wire, and to the devices of this process the frame is for.

        The kernel never loops our own frames back to us, so a frame from one emulated device to
        another (an mDNS query, an ARP for a neighbour, unicast to its MAC) is delivered here, to
        the devices of the sender's VLAN only. The VLAN tags are put on here, where frames leave.
        """
        router = self.segments.of(sender)
        header = _tag_header(sender)
        for frame in frames:
            self.link.send(vlan_tag.push(frame, header) if header else frame)
            if self._loop is None:
                continue
            local = router.by_mac.get(frame[:6])
            if local is not None:
                if local is not sender:
                    self._loop.call_soon(self._deliver_local, frame, sender)
            elif frame[0] & 1 and router.heard_locally(frame):
                self._loop.call_soon(self._deliver_local, frame, sender)

    def _deliver_local(self, frame: bytes, sender: device_mod.Device) -> None:
        if self._stopping:
            return
        router = self.segments.of(sender)
        local = router.by_mac.get(frame[:6])
        if local is not None:
            if local is not sender:
                self._feed(local, frame)
        else:
            self._on_broadcast(router, frame, exclude=sender)

    # -- timers and admission ------------------------------------------------------------------

    def _after(self, dev: device_mod.Device, now: float) -> None:
        """Bookkeeping after a device ran: the in-flight window, its addresses and groups, its deadline."""
        if self.admission.track(dev):
            self._admit(now)
        self.segments.of(dev).update(dev)
        self.scheduler.schedule(dev, dev.next_deadline())

    def _on_due(self, dev: device_mod.Device, now: float) -> None:
        self._send(dev, dev.on_timer(now))
        self._after(dev, now)

    def _admit(self, now: float, extra: int = 0) -> None:
        if self._stopping:
            return
        started, wait = self.admission.take(now, extra)
        for dev in started:
            self._send(dev, dev.start(now))
            self._after(dev, now)
        if wait is not None:
            self._admit_later(wait)

    def _admit_later(self, delay: float) -> None:
        if self._loop is None or self._rate_timer is not None or self._stopping:
            return

        def admit() -> None:
            self._rate_timer = None
            self._admit(self.clock())

        self._rate_timer = self._loop.call_later(delay, admit)

    async def _tick(self) -> None:
        """Stats every `stats_interval`; admission that does not wait on a silent server."""
        assert self._loop is not None
        interval = self.stats.interval
        next_stats = self._loop.time() + interval
        while True:
            await asyncio.sleep(min(1.0, interval))
            now = self._loop.time()
            if self.admission.pending and now - self._last_bound_at > 1.0:
                self._admit(now, extra=self.admission.window)  # the server is slow or gone: keep devices coming
            if now >= next_stats:
                self._emit_stats(now)
                next_stats = now + interval
            if self.cache is not None and self.cache.dirty:
                self.cache.save()

    # -- messages ------------------------------------------------------------------------------

    def _announce(self, dev: device_mod.Device) -> None:
        config = dev.config
        started = {"mac": config.mac, "hostname": config.hostname, "profile": config.profile.name}
        self._message("started", dev, {**started, "interface": self.interface})
        unsupported = services.unsupported(config.protocols)
        if unsupported:
            note = "protocols not yet supported, ignored: " + ", ".join(unsupported)
            self._message("log", dev, {"level": "warning", "message": note})

    def _make_device(
        self,
        config: manifests.DeviceConfig,
        gateway: bytes | None,
        *,
        remembered: tuple[bytes | None, bool] | None = None,
        counters: device_mod.Counters | None = None,
    ) -> device_mod.Device:
        """A device; it remembers the lease cache's address for its MAC unless `remembered` (address or None,
        valid) says otherwise (a reboot remembers its own lease; a fresh start nothing)."""
        if remembered is None and self.cache is not None and (cached := self.cache.get(config.mac)) is not None:
            remembered = (bytes(int(x) for x in cached.address.split(".")), cached.valid(self.wall()))
        emit = _Emit(self)
        dev = device_mod.Device(
            config,
            emit=emit,
            rng=self._rng,  # one generator for all: a Random per device costs 2.5 KB
            remembered=remembered[0] if remembered else None,
            remembered_valid=remembered[1] if remembered else False,
            fallback_gateway=gateway,
            timer_seed=None if self._seed is None else _device_seed(self._seed, config.device_id),
            counters=counters,
        )
        emit.device = dev
        return dev

    def _on_device_event(self, dev: device_mod.Device, kind: str, fields: dict[str, Any]) -> None:
        if kind == "bound":
            assert dev.ip is not None and dev.dhcp.lease is not None
            self.segments.of(dev).bind(dev, dev.ip)
            self.bound_count += 1
            now = self.clock()
            self.events(messages.make("stats", dev.device_id, self.wall(), stats=self.stats.of(dev, now)))
            self._last_bound_at = now
            if self.cache is not None:
                self._save_soon()
                lease = dev.dhcp.lease
                self.cache.remember(
                    dev.config.mac,
                    lease_cache.Remembered(
                        address=fields["address"],
                        server_id=device_mod.wire_ip(lease.server_id),
                        expires_at=self.wall() + lease.lease_time,
                    ),
                )
            return
        if kind == "unbound":
            self.segments.of(dev).unbind(dev)
            return
        if kind == "dhcp_release" and self.cache is not None:
            self.cache.mark_released(dev.config.mac)
        if kind == "log" and fields.get("level") not in self.log_levels:
            return
        self._message(kind, dev, fields)

    def _save_soon(self) -> None:
        """Write the lease cache shortly after a bind, so a device killed now still reboots into it."""
        if self._save_handle is None and self._loop is not None:
            self._save_handle = self._loop.call_later(self._save_delay, self._save_cache)

    def _save_cache(self) -> None:
        self._save_handle = None
        if self.cache is not None and not self._stopping:
            took = time.perf_counter()
            self.cache.save()
            self._save_delay = max(SAVE_DELAY, (time.perf_counter() - took) / SAVE_SHARE)

    def _message(self, kind: str, dev: device_mod.Device, fields: dict[str, Any]) -> None:
        self.events(messages.make(kind, dev.device_id, self.wall(), **fields))

    def _emit_stats(self, now: float) -> None:
        for dev in self.devices:
            self.events(messages.make("stats", dev.device_id, self.wall(), stats=self.stats.of(dev, now)))
            self.stats.reported(dev)


def _tag_header(dev: device_mod.Device) -> bytes:
    """The VLAN tag(s) the device's frames carry on the wire (b"": untagged)."""
    vlan = dev.config.vlan
    return vlan_tag.header(vlan.vid, vlan.pcp, vlan.outer_vid) if vlan is not None else b""


def _levels_from(level: str) -> frozenset[str]:
    order = ["debug", "info", "warning", "error"]
    return frozenset(order[order.index(level) :]) if level in order else frozenset(order[1:])


def _device_seed(seed: int, device_id: str) -> int:
    """A device's own seed for its DHCP timers, from the run's `--seed` and its id."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{device_id}".encode()).digest()[:8], "big")
