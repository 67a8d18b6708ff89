"""One emulated device: its protocol machines, its address, its counters. Sans-IO.

The engine hands a device the frames addressed to it and calls it at its deadline; the device
returns frames to send and reports messages through `emit`. Every frame leaving a device is
counted under the protocol that produced it, which is what `stats.protocols` shows.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from iot_emulator import macs, manifests, wire
from iot_emulator.protocols import arp, dhcp, dhcp_wire, icmp

Emit = Callable[[str, dict[str, Any]], None]


class Phase(StrEnum):
    """What a person (and the dashboard's status column) sees of a device."""

    pending = "pending"
    binding = "binding"
    bound = "bound"
    stopped = "stopped"


class Counters:
    __slots__ = ("bytes_received", "bytes_sent", "packets_received", "packets_sent", "protocols")

    def __init__(self) -> None:
        self.packets_sent = 0
        self.bytes_sent = 0
        self.packets_received = 0
        self.bytes_received = 0
        self.protocols: dict[str, int] = {}

    def sent(self, protocol: str, frames: list[bytes]) -> None:
        self.packets_sent += len(frames)
        self.bytes_sent += sum(len(f) for f in frames)
        self.protocols[protocol] = self.protocols.get(protocol, 0) + len(frames)


class Device:
    """A device's state machines behind one `handle / on_timer / next_deadline` surface."""

    __slots__ = (
        "_ip_ident", "_next_refresh", "config", "counters", "dhcp", "emit", "fallback_gateway",
        "gateway_ip", "ip", "mac", "neighbours", "phase", "started_at",
    )  # fmt: skip

    def __init__(
        self,
        config: manifests.DeviceConfig,
        *,
        emit: Emit,
        rng: random.Random,
        remembered: bytes | None = None,
        remembered_valid: bool = False,
        fallback_gateway: bytes | None = None,
    ) -> None:
        self.config = config
        self.mac = macs.parse(config.mac)
        self.emit = emit
        self.counters = Counters()
        self.neighbours = arp.ArpTable()
        self.ip: bytes | None = None
        self.gateway_ip: bytes | None = None
        self.fallback_gateway = fallback_gateway
        self.phase = Phase.pending
        self.started_at: float | None = None
        self._next_refresh: float | None = None
        self._ip_ident = rng.randrange(0x10000)
        static = config.static_address.packed if config.static_address else None
        self.dhcp = dhcp.DhcpClient(
            mac=self.mac,
            hostname=config.hostname,
            fingerprint=config.profile.dhcp,
            rng=rng,
            remembered=static or remembered,
            remembered_valid=remembered_valid and static is None,
            static_address=static,
        )

    @property
    def device_id(self) -> str:
        return self.config.device_id

    @property
    def binding(self) -> bool:
        return bool(self.dhcp.binding)

    # -- entry points ---------------------------------------------------------------------------

    def start(self, now: float) -> list[bytes]:
        self.started_at = now
        self.phase = Phase.binding
        return self._from_dhcp(self.dhcp.start(now), now)

    def handle(self, frame: bytes, now: float) -> list[bytes]:
        """A frame for this device: unicast to its MAC, or a broadcast the engine routed here."""
        if self.phase is Phase.stopped:
            return []
        self.counters.packets_received += 1
        self.counters.bytes_received += len(frame)
        kind = wire.ethertype(frame)
        if kind == wire.ETH_P_ARP:
            packet = wire.parse_arp(frame)
            return self._on_arp(packet, frame[6:12], now) if packet else []
        if kind != wire.ETH_P_IP:
            return []
        message = dhcp_wire.parse(frame)
        if message is not None:
            return self._from_dhcp(self.dhcp.handle(message, now), now)
        ip = wire.parse_ipv4(frame)
        if ip is None or self.ip is None or ip.dst != self.ip:
            return []
        if ip.proto == wire.IPPROTO_ICMP:
            reply = icmp.echo_reply(ip, self.mac, frame[6:12], ttl=self.config.profile.ip_ttl, ident=self._ident())
            return self._count("icmp", [reply] if reply else [])
        return []

    def on_timer(self, now: float) -> list[bytes]:
        out = []
        deadline = self.dhcp.next_deadline()
        if deadline is not None and deadline <= now:
            out += self._from_dhcp(self.dhcp.on_timer(now), now)
        if self._next_refresh is not None and self._next_refresh <= now:
            out += self._refresh_gateway(now)
        return out

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self.dhcp.next_deadline(), self._next_refresh) if d is not None]
        return min(deadlines) if deadlines else None

    def stop(self, now: float) -> list[bytes]:
        """Release the lease (DHCPRELEASE) and go quiet."""
        out = self._from_dhcp(self.dhcp.release(now), now)
        self.ip = None
        self.phase = Phase.stopped
        self._next_refresh = None
        return out

    # -- protocols ------------------------------------------------------------------------------

    def _on_arp(self, packet: wire.Arp, src_mac: bytes, now: float) -> list[bytes]:
        out = self._from_dhcp(self.dhcp.handle_arp(packet, now), now)
        if self.ip is None:
            return out
        if packet.sender_ip == self.gateway_ip:
            self.neighbours.learn(packet.sender_ip, packet.sender_mac)
        if packet.op == arp.REQUEST and packet.target_ip == self.ip and packet.sender_ip != self.ip:
            out += self._count("arp", [arp.reply_to(packet, self.mac, src_mac)])
        return out

    def _refresh_gateway(self, now: float) -> list[bytes]:
        """Ask for the gateway's MAC, as a stack does when its neighbour entry goes stale."""
        self._next_refresh = now + self.config.traffic_interval
        if self.ip is None or self.gateway_ip is None:
            return []
        return self._count("arp", [arp.who_has(self.mac, self.ip, self.gateway_ip)])

    def _from_dhcp(self, frames: list[bytes], now: float) -> list[bytes]:
        """Count DHCP's frames (its ARP probes under `arp`) and act on its events."""
        out = self._count_dhcp(frames)
        for kind, fields in self.dhcp.pop_events():
            if kind == "bound":
                out += self._on_bound(now)
            elif kind == "unbound":
                self.ip = None
                self.phase = Phase.binding
                self._next_refresh = None
                self.neighbours.forget()
                self.emit("unbound", fields)
            else:
                self.emit(kind, fields)
        return out

    def _on_bound(self, now: float) -> list[bytes]:
        lease = self.dhcp.lease
        assert lease is not None
        self.ip = lease.address
        self.gateway_ip = lease.routers[0] if lease.routers else self.fallback_gateway
        self.phase = Phase.bound
        self.emit("bound", {"address": wire_ip(lease.address)})
        self._next_refresh = now  # resolve the gateway right away
        return []

    def _count_dhcp(self, frames: list[bytes]) -> list[bytes]:
        for frame in frames:
            self.counters.sent("arp" if wire.ethertype(frame) == wire.ETH_P_ARP else "dhcp", [frame])
        return frames

    def _count(self, protocol: str, frames: list[bytes]) -> list[bytes]:
        self.counters.sent(protocol, frames)
        return frames

    def _ident(self) -> int:
        self._ip_ident = (self._ip_ident + 1) & 0xFFFF
        return self._ip_ident


def wire_ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)
