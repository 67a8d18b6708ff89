"""A device's IPv4 endpoint: what its application protocols send through and receive from.

Every packet leaves with the device's identity (MAC, address, the profile's TTL, DF bit and IP ID
policy), after the next hop's MAC is known: on-link destinations are resolved with ARP, the rest
go to the gateway, multicast maps to its Ethernet group address. Frames accumulate in `outbox`
and the device returns them to the engine (sans-IO: nothing here touches a socket or a clock).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol

from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import arp, icmp, wire
from iot_emulator.protocols.transport import tcp_segment

UdpHandler = Callable[[bytes, int, bytes, bytes, float], None]
"""(source address, source port, destination address, payload, now)"""
ARP_RETRY = 1.0
ARP_TRIES = 3
PENDING_LIMIT = 32  # packets held per unresolved next hop, as a kernel's neighbour queue does
ICMP_PEERS = 16  # peers whose ICMP rate limit a device remembers
_NONE: frozenset[Any] = frozenset()
"""The empty set every device starts with (an empty frozenset per attribute costs 216 bytes)."""


class Counting(Protocol):
    def sent(self, protocol: str, frames: list[bytes]) -> None: ...


class Packet(Protocol):
    """What transport layers read of a received IP packet, IPv4 (`wire.Ipv4`) or IPv6 (`ipv6.Ipv6`):
    addresses are 4 or 16 bytes, and that length is the family everywhere above this module."""

    @property
    def src(self) -> bytes: ...
    @property
    def dst(self) -> bytes: ...
    @property
    def payload(self) -> bytes: ...


class Ipv6Side(Protocol):
    """The device's IPv6 endpoint (devices.host6), as the host sends through it."""

    def source_for(self, dst: bytes) -> bytes | None: ...
    def addresses(self) -> list[bytes]: ...
    def dns_servers(self) -> tuple[bytes, ...]: ...
    def send(
        self, protocol: str, src: bytes, dst: bytes, next_header: int, upper: bytes, hop_limit: int | None
    ) -> None: ...


class TcpHandler(Protocol):
    """The TCP layer (protocols.tcp), as the host sees it."""

    def handle(self, packet: Packet, now: float) -> None: ...
    def on_timer(self, now: float) -> None: ...
    def next_deadline(self) -> float | None: ...
    def close_all(self, now: float) -> None: ...


class Resolver(Protocol):
    """Name resolution for services (protocols.dns): `done(address or None)` is called later or at once.
    `ipv6`: the caller connects over either family (an IPv6 address may come back)."""

    def resolve(self, name: str, now: float, done: Callable[[bytes | None], None], *, ipv6: bool = False) -> None: ...
    def alternative(self, name: str, failed: bytes) -> bytes | None: ...


class Service(Protocol):
    """An application protocol of a device, sans-IO, sending through its `IpHost`."""

    name: str

    def start(self, now: float) -> None: ...
    def on_timer(self, now: float) -> None: ...
    def next_deadline(self) -> float | None: ...
    def stop(self, now: float) -> None: ...


class _NoResolver:
    def resolve(self, name: str, now: float, done: Callable[[bytes | None], None], *, ipv6: bool = False) -> None:
        done(None)

    def alternative(self, name: str, failed: bytes) -> bytes | None:
        return None


def multicast_mac(group: bytes) -> bytes:
    """RFC 1112: 01:00:5e + the low 23 bits of the group address."""
    return b"\x01\x00\x5e" + bytes([group[1] & 0x7F, group[2], group[3]])


def is_multicast(address: bytes) -> bool:
    return 224 <= address[0] <= 239


class IpHost:
    __slots__ = (
        "_arp_due",
        "_icmp_limits",
        "_ip_id",
        "_on_addresses",
        "_pending",
        "_ports",
        "_udp",
        "_udp6",
        "address",
        "broadcast_ports",
        "counters",
        "dns_servers",
        "domain",
        "gateway",
        "groups",
        "ip6",
        "mac",
        "mdns_names",
        "mdns_unique",
        "neighbours",
        "netmask",
        "ntp_servers",
        "outbox",
        "profile",
        "resolver",
        "rng",
        "services",
        "tcp",
    )

    def __init__(self, mac: bytes, prof: catalog.Profile, rng: random.Random, counters: Counting) -> None:
        self.mac = mac
        self.profile = prof
        self.rng = rng
        self.counters = counters
        self.outbox: list[bytes] = []
        self.address: bytes | None = None
        self.netmask = b"\xff\xff\xff\x00"
        self.gateway: bytes | None = None
        self.dns_servers: list[bytes] = []
        self.ntp_servers: list[bytes] = []
        self.domain: str | None = None
        self.neighbours = arp.ArpTable()
        self.tcp: TcpHandler | None = None
        self.resolver: Resolver = _NoResolver()
        self.services: list[Service] = []
        self.groups: frozenset[bytes] = _NONE
        """Multicast groups joined (replaced, never mutated: most devices join none)."""
        self.mdns_names: frozenset[str] = _NONE
        self.broadcast_ports: frozenset[int] = _NONE
        """UDP ports bound to hear broadcasts; the engine hands a broadcast only to the devices that bind its port."""
        """Lower-case names the device's mDNS responder answers for (the engine routes queries by them)."""
        self.mdns_unique: frozenset[str] = _NONE
        """The unique ones among them (cache-flush records): responses naming them must reach the device."""
        self._udp: dict[int, UdpHandler] = {}
        self._udp6: frozenset[int] = _NONE
        """The bound ports whose service is dual-stack: they hear UDP over IPv6 too (`udp6_handler`)."""
        self._on_addresses: tuple[Callable[[float], None], ...] = ()
        self.ip6: Ipv6Side | None = None
        """The IPv6 endpoint, for a device that speaks IPv6: packets to 16-byte addresses leave through it."""
        self._icmp_limits: dict[bytes, icmp.RateLimit] | None = None  # created at the first unreachable
        self._pending: dict[bytes, list[tuple[str, bytes]]] = {}
        self._arp_due: dict[bytes, tuple[float, int]] = {}
        self._ip_id = 0 if prof.tcp.ip_id == "zero" else rng.randrange(0x10000)
        self._ports = rng.randrange(32768, 60999)

    # -- configuration --------------------------------------------------------------------------

    def configure(
        self,
        address: bytes,
        netmask: bytes | None,
        gateway: bytes | None,
        dns: list[bytes],
        ntp: list[bytes],
        domain: str | None,
    ) -> None:
        """Take the addresses a lease gives (or a static configuration)."""
        self.address = address
        self.netmask = netmask or self.netmask
        self.gateway = gateway
        self.dns_servers = dns
        self.ntp_servers = ntp
        self.domain = domain

    def deconfigure(self, now: float) -> None:
        """The address is gone: stop services, drop connections and queues."""
        for service in self.services:
            service.stop(now)
        if self.tcp is not None:
            self.tcp.close_all(now)
        self.services = []
        self.address = None
        self._pending.clear()
        self._arp_due.clear()
        self.neighbours.forget()
        self.groups = self.mdns_names = self.mdns_unique = _NONE

    # -- sending --------------------------------------------------------------------------------

    def send_ip(
        self,
        protocol: str,
        dst: bytes,
        proto: int,
        payload: bytes,
        *,
        ttl: int | None = None,
        dont_fragment: bool | None = None,
        src: bytes | None = None,
        unconnected: bool = False,
    ) -> None:
        """One IPv4 packet from the device; held until the next hop's MAC is known.

        `unconnected`: a packet no connection owns (a SYN-ACK, a RST for a closed port). A stack whose
        connections count their IP ID from a random start with DF set (Linux: `ip_id: random`) sends
        these with ID 0, as Linux's ip_select_ident does without a connected socket (nmap -O's TI=Z)."""
        if len(dst) == 16:
            source6 = src or (self.ip6.source_for(dst) if self.ip6 is not None else None)
            if self.ip6 is not None and source6 is not None:
                self.ip6.send(protocol, source6, dst, proto, payload, ttl)
            return
        source = src if src is not None else self.address
        if source is None:
            return
        df = self.profile.tcp.dont_fragment if dont_fragment is None else dont_fragment
        zero = unconnected and df and self.profile.tcp.ip_id == "random"
        packet = wire.ipv4(
            source,
            dst,
            proto,
            payload,
            ttl=ttl or self.profile.ip_ttl,
            ident=0 if zero else self.next_ip_id(),
            dont_fragment=df,
        )
        self._route(protocol, dst, packet)

    def send_udp(
        self, protocol: str, dst: bytes, sport: int, dport: int, payload: bytes, *, ttl: int | None = None
    ) -> None:
        source = self.source_for(dst)
        if source is None:
            return
        # wire.udp's IPv4 pseudo-header sums to the same checksum as IPv6's (RFC 8200 8.1) for 16-byte addresses
        datagram = wire.udp(source, dst, sport, dport, payload)
        self.send_ip(protocol, dst, wire.IPPROTO_UDP, datagram, ttl=ttl, src=source)

    def source_for(self, dst: bytes) -> bytes | None:
        """The device's address to send to `dst` from: its IPv4 address, or for a 16-byte `dst` the IPv6
        address the endpoint picks (None while it has none)."""
        if len(dst) == 16:
            return self.ip6.source_for(dst) if self.ip6 is not None else None
        return self.address

    def send_frame(self, protocol: str, frame: bytes) -> None:
        """A whole Ethernet frame (LLDP, or a frame built elsewhere), counted under `protocol`."""
        self.counters.sent(protocol, [frame])
        self.outbox.append(frame)

    def next_ip_id(self) -> int:
        if self.profile.tcp.ip_id == "zero":
            return 0
        if self.profile.tcp.ip_id == "random":
            return self.rng.randrange(0x10000)
        return self._count_ip_id()

    def _count_ip_id(self) -> int:
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        return self._ip_id

    def ephemeral_port(self) -> int:
        """The next local port, from the Linux range (32768-60999), as most IoT stacks use."""
        self._ports = 32768 + (self._ports - 32768 + 1) % (60999 - 32768)
        return self._ports

    def drain(self) -> list[bytes]:
        out, self.outbox = self.outbox, []
        return out

    # -- receiving ------------------------------------------------------------------------------

    def bind_udp(self, port: int, handler: UdpHandler, *, broadcast: bool = False, ipv6: bool = False) -> None:
        """`broadcast`: also hear datagrams to 255.255.255.255 on this port (discovery protocols).
        `ipv6`: the service is dual-stack (a socket on `::`), so datagrams over IPv6 reach it too."""
        self._udp[port] = handler
        if broadcast:
            self.broadcast_ports = self.broadcast_ports | {port}
        if ipv6:
            self._udp6 = self._udp6 | {port}

    def unbind_udp(self, port: int) -> None:
        self._udp.pop(port, None)
        self.broadcast_ports = self.broadcast_ports - {port}
        if port in self._udp6:
            self._udp6 = self._udp6 - {port}

    def udp6_handler(self, port: int) -> UdpHandler | None:
        """The handler of a dual-stack port, for a datagram over IPv6 (an IPv4-only port is closed there)."""
        return self._udp.get(port) if port in self._udp6 else None

    def speaks_ipv6(self, service: str) -> bool:
        """The device speaks IPv6 and its profile runs `service` (mdns, ssdp) over it too (`ipv6.discovery`)."""
        return self.ip6 is not None and service in (self.profile.ipv6 or catalog.Ipv6()).discovery

    def ipv6_addresses(self) -> list[bytes]:
        """The device's usable IPv6 addresses (link-local first), none for a device without IPv6."""
        return self.ip6.addresses() if self.ip6 is not None else []

    def watch_addresses(self, callback: Callable[[float], None]) -> None:
        """Call `callback(now)` when the IPv6 addresses change (mDNS publishes them)."""
        self._on_addresses = (*self._on_addresses, callback)

    def unwatch_addresses(self, callback: Callable[[float], None]) -> None:
        self._on_addresses = tuple(c for c in self._on_addresses if c != callback)

    def addresses_changed(self, now: float) -> None:
        for callback in self._on_addresses:
            callback(now)

    def udp_in_use(self, port: int) -> bool:
        """A local UDP port has a handler: services picking random ports (DNS, RFC 5452) avoid it."""
        return port in self._udp

    def join(self, group: bytes) -> None:
        """Receive multicast to `group` (the engine delivers by membership)."""
        self.groups = self.groups | {group}

    def leave(self, group: bytes) -> None:
        self.groups = self.groups - {group}

    def accepts(self, dst: bytes) -> bool:
        return dst == self.address or dst in self.groups or dst == wire.BROADCAST_IP

    def handle_ipv4(self, packet: wire.Ipv4, src_mac: bytes, now: float) -> None:
        if self.address is None or not self.accepts(packet.dst):
            return
        if packet.proto == wire.IPPROTO_UDP:
            datagram = wire.parse_udp(packet.payload)
            if datagram is None:
                return
            sport, dport, data = datagram
            handler = self._udp.get(dport)
            if handler is not None:
                handler(packet.src, sport, packet.dst, data, now)
            elif packet.dst == self.address and packet.header:
                self._port_unreachable(packet, now)
        elif packet.proto == wire.IPPROTO_TCP:
            if self.tcp is not None and packet.dst == self.address:
                self.tcp.handle(packet, now)
            elif packet.dst == self.address:  # no stack yet (nothing listens, nothing connected): every port is closed
                reset = tcp_segment.reset_for(self.address, packet.src, packet.payload)
                if reset is not None:
                    self.send_ip("tcp", packet.src, wire.IPPROTO_TCP, reset, unconnected=True)
        elif packet.proto == wire.IPPROTO_ICMP and packet.dst == self.address:
            ident = 0 if self.profile.tcp.ip_id == "zero" else self._count_ip_id()  # Linux: one counter (nmap II=I)
            reply = icmp.echo_reply(packet, self.mac, src_mac, ttl=self.profile.ip_ttl, ident=ident)
            if reply is None and self.profile.icmp_timestamp:
                ms_today = int(self.unix_time(now) % 86_400 * 1000)
                reply = icmp.timestamp_reply(
                    packet, self.mac, src_mac, ttl=self.profile.ip_ttl, ident=ident, ms_today=ms_today
                )
            if reply is not None:
                self.send_frame("icmp", reply)

    def unix_time(self, now: float) -> float:
        """The device's clock: its NTP client's when it runs one, else a clock that started at 1970 at boot."""
        for service in self.services:
            clock = getattr(service, "clock", None)
            if service.name == "ntp" and callable(clock):
                return float(clock(now)) - 2_208_988_800
        return max(now, 0.0)

    def _port_unreachable(self, packet: wire.Ipv4, now: float) -> None:
        limits = self._icmp_limits
        if limits is None:
            limits = self._icmp_limits = {}
        limit = limits.get(packet.src)
        if limit is None:
            if len(limits) >= ICMP_PEERS:
                limits.clear()  # a sweep from many sources: start over rather than grow
            limit = limits[packet.src] = icmp.RateLimit()
        if limit.allow(now):
            self.send_ip("icmp", packet.src, wire.IPPROTO_ICMP, icmp.port_unreachable(packet), dont_fragment=False)

    def learn(self, ip: bytes, mac: bytes, now: float) -> bool:
        """A neighbour's MAC (from an ARP reply or request): release what waited for it.

        True if that changed anything with a timer (an ARP retry cancelled, packets sent)."""
        if ip not in self._pending and self.neighbours.get(ip) is None and ip != self.gateway:
            return False  # not a host we talk to: a device's neighbour table stays small
        self.neighbours.learn(ip, mac)
        retried = self._arp_due.pop(ip, None) is not None
        waiting = self._pending.pop(ip, [])
        for protocol, packet in waiting:
            self.send_frame(protocol, wire.ethernet(mac, self.mac, wire.ETH_P_IP, packet))
        if retried or waiting:
            self._shrink()
        return retried or bool(waiting)

    # -- timers ---------------------------------------------------------------------------------

    def on_timer(self, now: float) -> None:
        for hop, (due, tries) in list(self._arp_due.items()):
            if due > now:
                continue
            if tries >= ARP_TRIES:  # unreachable: drop what waited, as a kernel does
                self._arp_due.pop(hop)
                self._pending.pop(hop, None)
                self._shrink()
            else:
                self._who_has(hop, now, tries + 1)
        if self.tcp is not None:
            deadline = self.tcp.next_deadline()
            if deadline is not None and deadline <= now:
                self.tcp.on_timer(now)
        for service in list(self.services):
            deadline = service.next_deadline()
            if deadline is not None and deadline <= now:
                service.on_timer(now)

    def _shrink(self) -> None:
        """Emptied queues back to fresh dicts: an emptied dict keeps its table (~170 bytes more)."""
        if not self._arp_due:
            self._arp_due = {}
        if not self._pending:
            self._pending = {}

    def next_deadline(self) -> float | None:
        deadlines = [due for due, _ in self._arp_due.values()]
        if self.tcp is not None:
            deadlines.append(self.tcp.next_deadline())  # type: ignore[arg-type]
        deadlines += [s.next_deadline() for s in self.services]  # type: ignore[misc]
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    # -- internals ------------------------------------------------------------------------------

    def _route(self, protocol: str, dst: bytes, packet: bytes) -> None:
        if is_multicast(dst):
            self.send_frame(protocol, wire.ethernet(multicast_mac(dst), self.mac, wire.ETH_P_IP, packet))
            return
        if dst == wire.BROADCAST_IP:
            self.send_frame(protocol, wire.ethernet(wire.BROADCAST_MAC, self.mac, wire.ETH_P_IP, packet))
            return
        hop = dst if self._on_link(dst) or self.gateway is None else self.gateway
        mac = self.neighbours.get(hop)
        if mac is not None:
            self.send_frame(protocol, wire.ethernet(mac, self.mac, wire.ETH_P_IP, packet))
            return
        queue = self._pending.setdefault(hop, [])
        if len(queue) < PENDING_LIMIT:
            queue.append((protocol, packet))
        if hop not in self._arp_due:
            self._who_has(hop, 0.0, 1)

    def _who_has(self, hop: bytes, now: float, tries: int) -> None:
        assert self.address is not None
        self._arp_due[hop] = (now + ARP_RETRY, tries)
        self.send_frame("arp", arp.who_has(self.mac, self.address, hop))

    def _on_link(self, dst: bytes) -> bool:
        assert self.address is not None
        mask = int.from_bytes(self.netmask, "big")
        return int.from_bytes(dst, "big") & mask == int.from_bytes(self.address, "big") & mask
