"""The engine: one asyncio loop, one raw socket, many devices.

Receive path: a frame's destination MAC picks the device (a dict lookup); broadcasts are routed
by what they carry (ARP by target address, DHCP replies by `chaddr`). Timers: one heap of device
deadlines and one `call_at` armed for the earliest, as aioquic's asyncio adapter does per
connection. DHCP exchanges are admitted through a window so that thousands of devices starting
together do not overrun the server (a real site's devices do not all power on in the same
millisecond either).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from iot_emulator.config import manifests
from iot_emulator.devices import device as device_mod
from iot_emulator.devices import macs
from iot_emulator.engine import lease_cache, multicast
from iot_emulator.protocols import dhcp, dhcp_wire, services, wire
from iot_emulator.reporting import messages

RELEASE_BATCH = 8
RELEASE_PAUSE = 0.01
"""~750 releases/s. Measured here: dnsmasq holding 500 leases rewrites its lease file on every
release and lost 208 of 500 sent in 64-frame bursts every 10 ms, none at this pace."""
RELEASE_BUDGET = 3.5
SAVE_DELAY = 0.2
IN_FLIGHT = frozenset({dhcp.DhcpState.SELECTING, dhcp.DhcpState.REQUESTING, dhcp.DhcpState.REBOOTING})


class Link(Protocol):
    """What the engine needs of the network: `rawsock.RawLink`, or a fake in tests."""

    def start(self, loop: asyncio.AbstractEventLoop, on_frame: Callable[[bytes], None]) -> None: ...
    def send(self, frame: bytes) -> None: ...
    def flush(self, timeout: float = ...) -> None: ...
    def close(self) -> None: ...


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
        self.stats_interval = stats_interval
        self.window = window
        self.start_rate = start_rate or None
        """Devices started per second at most (None: as fast as the window admits)."""
        self._tokens = 1.0
        self._tokens_at: float | None = None
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
        self.devices = [self._make_device(c, gateway) for c in configs]
        self._by_mac = {d.mac: d for d in self.devices}
        self._by_ip: dict[bytes, device_mod.Device] = {}
        self._ip_of: dict[device_mod.Device, bytes] = {}  # the reverse, so an unbind is O(1)
        self._pending: deque[device_mod.Device] = deque(self.devices)
        self._in_flight: set[device_mod.Device] = set()
        self._candidates: dict[bytes, device_mod.Device] = {}
        """Address -> the device checking it (RFC 5227) before use: who must see ARP about it."""
        self._candidate_of: dict[device_mod.Device, bytes] = {}
        self._multicast = multicast.Directory()
        self._heap: list[tuple[float, int, device_mod.Device]] = []
        self._scheduled: dict[device_mod.Device, float | None] = {}
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._last_sent: dict[device_mod.Device, int] = {}
        self._last_bound_at = 0.0
        self._stopping = False
        self._save_handle: asyncio.TimerHandle | None = None
        self.extensions: list[Extension] = []
        """Started before the first device (a scenario may hold a device back), stopped before the releases."""

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start every device, run until `stop` is set, then release and report."""
        loop = self._loop = asyncio.get_running_loop()
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
            extension.stop(self._loop.time() if self._loop else time.monotonic())
        if self._rate_timer is not None:
            self._rate_timer.cancel()
        if self._timer is not None:
            self._timer.cancel()
        clock = self._loop.time if self._loop else time.monotonic
        now = clock()
        budget_ends = now + RELEASE_BUDGET
        for i, dev in enumerate(self.devices, 1):
            for frame in dev.stop(now):
                self.link.send(frame)
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
        now = self._loop.time() if self._loop else time.monotonic()
        for config in configs:
            dev = self._make_device(config, gateway)
            self.devices.append(dev)
            self._by_mac[dev.mac] = dev
            self._pending.append(dev)
            if self._loop is not None:
                self._announce(dev)
        if prepare is not None:
            prepare(configs)
        if self._loop is not None:
            self._admit(now)

    def remove_device(self, device_id: str) -> bool:
        """Release its lease, report final stats and `stopped`, forget it. False if unknown."""
        dev = next((d for d in self.devices if d.device_id == device_id), None)
        if dev is None:
            return False
        now = self._loop.time() if self._loop else time.monotonic()
        self._send(dev, dev.stop(now))
        self.events(messages.make("stats", dev.device_id, self.wall(), stats=self._stats_of(dev, now)))
        self._message("stopped", dev, {"packets_sent": dev.counters.packets_sent})
        self.devices.remove(dev)
        del self._by_mac[dev.mac]
        self._forget_runtime(dev)
        self._last_sent.pop(dev, None)
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
        if self._by_mac.get(old.mac) is old:
            del self._by_mac[old.mac]
        self._by_mac[dev.mac] = dev
        self._last_sent[dev] = self._last_sent.pop(old, 0)
        if at_once and self._loop is not None:
            self._send(dev, dev.start(now))
            self._after(dev, now)
        else:
            self._pending.append(dev)
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
        return macs.parse(mac) in self._by_mac

    def _forget_runtime(self, dev: device_mod.Device) -> None:
        """Drop what a running device holds in the engine (address, timers, admission); it stays listed."""
        self._multicast.remove(dev)
        self._on_device_event(dev, "unbound", {})
        with contextlib.suppress(ValueError):
            self._pending.remove(dev)
        self._in_flight.discard(dev)
        self._set_candidate(dev, None)
        self._scheduled.pop(dev, None)  # its heap entries become stale and are skipped

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the engine runs on, once it runs."""
        return self._loop

    def clock(self) -> float:
        """The loop's time (monotonic before the loop runs): what device deadlines are in."""
        return self._loop.time() if self._loop else time.monotonic()

    # -- views (HTTP endpoint, console) --------------------------------------------------------

    def device_stats(self) -> list[dict[str, Any]]:
        now = self._loop.time() if self._loop else time.monotonic()
        return [{"device_id": dev.device_id, **self._stats_of(dev, now)} for dev in self.devices]

    def totals(self) -> dict[str, Any]:
        phases = {p: 0 for p in device_mod.Phase}
        sent = sent_bytes = received = received_bytes = 0
        for dev in self.devices:
            phases[dev.phase] += 1
            c = dev.counters
            sent, sent_bytes = sent + c.packets_sent, sent_bytes + c.bytes_sent
            received, received_bytes = received + c.packets_received, received_bytes + c.bytes_received
        return {
            "devices": len(self.devices),
            **{p.value: n for p, n in phases.items()},
            "packets_sent": sent,
            "bytes_sent": sent_bytes,
            "packets_received": received,
            "bytes_received": received_bytes,
            "started_at": messages.timestamp(self.started_wall),
            "uptime_seconds": round(self.wall() - self.started_wall, 1),
            "interface": self.interface,
        }

    # -- receive path --------------------------------------------------------------------------

    def _on_frame(self, frame: bytes) -> None:
        dev = self._by_mac.get(frame[:6])
        if dev is not None:
            self._feed(dev, frame)
        elif frame[0] & 1:  # broadcast or multicast
            self._on_broadcast(frame)

    def _on_broadcast(self, frame: bytes, exclude: device_mod.Device | None = None) -> None:
        kind = wire.ethertype(frame)
        if kind == wire.ETH_P_ARP:
            packet = wire.parse_arp(frame)
            if packet is None:
                return
            # The owner of the target address answers; a device checking an address must see
            # another host claiming it (sender) or probing for it (RFC 5227: sender 0.0.0.0).
            owner = self._by_ip.get(packet.target_ip)
            claimed = self._candidates.get(packet.sender_ip)
            probed = self._candidates.get(packet.target_ip) if packet.sender_ip == wire.ZERO_IP else None
            for dev in {owner, claimed, probed} - {None, exclude}:
                assert dev is not None
                self._feed(dev, frame)
        elif kind == wire.ETH_P_IP and len(frame) >= 34:
            if self._multicast.joined(frame[30:34]):
                for dev in [d for d in self._multicast.recipients(frame) if d is not exclude]:
                    self._feed(dev, frame)
                return
            heard = [d for d in self._multicast.broadcast_recipients(frame) if d is not exclude]
            for dev in heard:
                self._feed(dev, frame)
            chaddr = dhcp_wire.chaddr_of(frame)
            client = self._by_mac.get(chaddr) if chaddr else None
            if client is not None and client not in heard:
                self._feed(client, frame)

    def _feed(self, dev: device_mod.Device, frame: bytes) -> None:
        now = self._loop.time() if self._loop else time.monotonic()
        self._send(dev, dev.handle(frame, now))
        if not dev.stateless:
            self._after(dev, now)

    def _send(self, sender: device_mod.Device, frames: list[bytes]) -> None:
        """Out to the wire, and to the devices of this process the frame is for.

        The kernel never loops our own frames back to us, so a frame from one emulated device to
        another (an mDNS query, an ARP for a neighbour, unicast to its MAC) is delivered here.
        """
        for frame in frames:
            self.link.send(frame)
            if self._loop is None:
                continue
            local = self._by_mac.get(frame[:6])
            if local is not None:
                if local is not sender:
                    self._loop.call_soon(self._deliver_local, frame, sender)
            elif frame[0] & 1 and self._heard_locally(frame):
                self._loop.call_soon(self._deliver_local, frame, sender)

    def _heard_locally(self, frame: bytes) -> bool:
        """ARP broadcasts and multicast to a group some device of ours joined (not DHCP's broadcasts)."""
        kind = wire.ethertype(frame)
        if kind == wire.ETH_P_ARP and len(frame) >= 42:
            sender, target = frame[28:32], frame[38:42]
            return (
                target in self._by_ip
                or sender in self._candidates
                or (sender == wire.ZERO_IP and target in self._candidates)
            )
        return kind == wire.ETH_P_IP and len(frame) >= 34 and self._multicast.joined(frame[30:34])

    def _deliver_local(self, frame: bytes, sender: device_mod.Device) -> None:
        if self._stopping:
            return
        local = self._by_mac.get(frame[:6])
        if local is not None:
            if local is not sender:
                self._feed(local, frame)
        else:
            self._on_broadcast(frame, exclude=sender)

    # -- timers and admission ------------------------------------------------------------------

    def _after(self, dev: device_mod.Device, now: float) -> None:
        """Bookkeeping after a device ran: its deadline, the in-flight window, the checking set."""
        state = dev.dhcp.state
        if state in IN_FLIGHT:
            self._in_flight.add(dev)
        elif dev in self._in_flight:
            self._in_flight.discard(dev)
            self._admit(now)
        self._set_candidate(dev, dev.dhcp.candidate_address)
        self._multicast.update(dev)
        deadline = dev.next_deadline()
        if deadline != self._scheduled.get(dev):
            self._scheduled[dev] = deadline
            if deadline is not None:
                heapq.heappush(self._heap, (deadline, next(self._seq), dev))
                if deadline < self._timer_at:
                    self._arm(deadline)
                if len(self._heap) > 2 * len(self._scheduled) + 64:
                    self._compact()

    def _compact(self) -> None:
        """Drop superseded heap entries (in place: `_on_timer` holds the list): ~120 bytes each, and
        every reschedule leaves one behind until its time comes."""
        scheduled = self._scheduled
        self._heap[:] = [entry for entry in self._heap if scheduled.get(entry[2]) == entry[0]]
        heapq.heapify(self._heap)

    def _set_candidate(self, dev: device_mod.Device, address: bytes | None) -> None:
        previous = self._candidate_of.get(dev)
        if previous == address:
            return
        if previous is not None:
            self._candidate_of.pop(dev)
            if self._candidates.get(previous) is dev:
                del self._candidates[previous]
        if address is not None:
            self._candidate_of[dev] = address
            self._candidates[address] = dev

    def _admit(self, now: float, extra: int = 0) -> None:
        budget = self.window - len(self._in_flight) + extra
        if self.start_rate is not None:  # a token bucket of one: starts evenly spaced at the rate
            if self._tokens_at is not None:
                self._tokens = min(1.0, self._tokens + (now - self._tokens_at) * self.start_rate)
            self._tokens_at = now
        while self._pending and budget > 0 and not self._stopping:
            if self.start_rate is not None:
                if self._tokens < 1.0:
                    self._admit_later((1.0 - self._tokens) / self.start_rate)
                    return
                self._tokens -= 1.0
            dev = self._pending.popleft()
            self._send(dev, dev.start(now))
            self._after(dev, now)
            budget -= 1

    def _admit_later(self, delay: float) -> None:
        if self._loop is None or self._rate_timer is not None or self._stopping:
            return

        def admit() -> None:
            assert self._loop is not None
            self._rate_timer = None
            self._admit(self._loop.time())

        self._rate_timer = self._loop.call_later(delay, admit)

    def _arm(self, deadline: float) -> None:
        if self._loop is None or self._stopping:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        assert self._loop is not None
        self._timer, self._timer_at = None, float("inf")
        now = self._loop.time()
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, dev = heapq.heappop(heap)
            if self._scheduled.get(dev) != deadline:
                continue  # superseded by a later reschedule
            self._scheduled[dev] = None
            self._send(dev, dev.on_timer(now))
            self._after(dev, now)
        if heap:
            self._arm(heap[0][0])

    async def _tick(self) -> None:
        """Stats every `stats_interval`; admission that does not wait on a silent server."""
        assert self._loop is not None
        next_stats = self._loop.time() + self.stats_interval
        while True:
            await asyncio.sleep(min(1.0, self.stats_interval))
            now = self._loop.time()
            if self._pending and now - self._last_bound_at > 1.0:
                self._admit(now, extra=self.window)  # the server is slow or gone: keep devices coming
            if now >= next_stats:
                self._emit_stats(now)
                next_stats = now + self.stats_interval
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
            self._by_ip[dev.ip] = dev
            self._ip_of[dev] = dev.ip
            self.bound_count += 1
            now = self._loop.time() if self._loop else time.monotonic()
            self.events(messages.make("stats", dev.device_id, self.wall(), stats=self._stats_of(dev, now)))
            self._last_bound_at = self._loop.time() if self._loop else time.monotonic()
            if self.cache is not None:
                self._save_soon()
                lease = dev.dhcp.lease
                self.cache.remember(dev.config.mac, lease_cache.Remembered(
                    address=fields["address"], server_id=device_mod.wire_ip(lease.server_id),
                    expires_at=self.wall() + lease.lease_time))  # fmt: skip
            return
        if kind == "unbound":
            ip = self._ip_of.pop(dev, None)
            if ip is not None and self._by_ip.get(ip) is dev:
                del self._by_ip[ip]
            return
        if kind == "dhcp_release" and self.cache is not None:
            self.cache.mark_released(dev.config.mac)
        if kind == "log" and fields.get("level") not in self.log_levels:
            return
        self._message(kind, dev, fields)

    def _save_soon(self) -> None:
        """Write the lease cache shortly after a bind, so a device killed now still reboots into it."""
        if self._save_handle is None and self._loop is not None:
            self._save_handle = self._loop.call_later(SAVE_DELAY, self._save_cache)

    def _save_cache(self) -> None:
        self._save_handle = None
        if self.cache is not None and not self._stopping:
            self.cache.save()

    def _message(self, kind: str, dev: device_mod.Device, fields: dict[str, Any]) -> None:
        self.events(messages.make(kind, dev.device_id, self.wall(), **fields))

    def _emit_stats(self, now: float) -> None:
        for dev in self.devices:
            self.events(messages.make("stats", dev.device_id, self.wall(), stats=self._stats_of(dev, now)))
            self._last_sent[dev] = dev.counters.packets_sent

    def _stats_of(self, dev: device_mod.Device, now: float) -> dict[str, Any]:
        c = dev.counters
        since = self._last_sent.get(dev, 0)
        lease = dev.dhcp.lease
        return {
            "packets_sent": c.packets_sent,
            "bytes_sent": c.bytes_sent,
            "packet_rate": round((c.packets_sent - since) / self.stats_interval, 3),
            "current_ip": device_mod.wire_ip(dev.ip) if dev.ip else None,
            "uptime_seconds": round(now - dev.started_at, 1) if dev.started_at is not None else 0,
            "protocols": dict(c.protocols),
            "packets_received": c.packets_received,
            "bytes_received": c.bytes_received,
            "state": dev.phase.value,
            "dhcp_state": dev.dhcp.state.name.lower(),
            "mac": dev.config.mac,
            "hostname": dev.config.hostname,
            "profile": dev.config.profile.name,
            "lease": None if lease is None or dev.ip is None else {
                "server_id": device_mod.wire_ip(lease.server_id),
                "lease_time": lease.lease_time,
                "expires_in": _until(lease.expiry, now),
                "t1_in": _until(lease.t1, now),
                "t2_in": _until(lease.t2, now),
            },
        }  # fmt: skip


def _levels_from(level: str) -> frozenset[str]:
    order = ["debug", "info", "warning", "error"]
    return frozenset(order[order.index(level) :]) if level in order else frozenset(order[1:])


def _until(deadline: float, now: float) -> float | None:
    """Seconds left, or None for an infinite lease (JSON has no infinity)."""
    return None if math.isinf(deadline) else round(deadline - now, 1)


def _device_seed(seed: int, device_id: str) -> int:
    """A device's own seed for its DHCP timers, from the run's `--seed` and its id."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{device_id}".encode()).digest()[:8], "big")
