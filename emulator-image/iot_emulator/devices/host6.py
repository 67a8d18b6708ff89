"""A device's IPv6 endpoint: its addresses (`slaac`), ND and echo answers, and UDP and TCP over IPv6.

Opt-in: a device runs one when its manifest lists the protocol "ipv6"; how it behaves (EUI-64 or
stable-privacy identifiers, DAD probes, router solicitations) is its profile's `ipv6` section.
ND and echo replies go to the MAC the request came from. Transport is shared with IPv4: UDP to a
port whose service is dual-stack reaches the same handler (`IpHost.bind_udp(ipv6=True)`), a
closed port answers ICMPv6 port unreachable (rate-limited as Linux does), TCP goes to the device's
one TCP stack (a RST for a closed port, a SYN-ACK for a listening one). What the host sends to a
16-byte address comes back here (`send`): a source address is picked (RFC 6724, simplified), and
the next hop (the destination on-link, else the default router) resolved by `neighbours6`.
"""

from __future__ import annotations

import random

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import dhcp6, icmp, ipv6, mld, ndp, neighbours6, slaac, wire
from iot_emulator.protocols.transport import tcp_segment

SERVICE_GROUPS = {"mdns": ipv6.MDNS_GROUP, "ssdp": ipv6.SSDP_GROUP}
"""Groups a device joins (MLD) for the discovery protocols it speaks over IPv6 (the profile's `ipv6.discovery`)."""
ASKED_LIMIT = 16
"""Peers whose last destination address the endpoint remembers (replies leave from it)."""
RDNSS_LIMIT = 3
"""RDNSS addresses a device keeps, newest first (RFC 8106 5.3.1 leaves the number to the host; glibc's
resolver reads 3, its MAXNS)."""


class Ipv6Host:
    __slots__ = (
        "_asked",
        "_icmp_limits",
        "_rdnss",
        "_seen",
        "clock",
        "dhcp6",
        "hop_limit",
        "host",
        "mac",
        "neighbours",
        "slaac",
    )

    def __init__(
        self,
        mac: bytes,
        prof: catalog.Profile,
        protocols: tuple[str, ...],
        rng: random.Random,
        host: host_mod.IpHost | None = None,
    ) -> None:
        settings = prof.ipv6 or catalog.Ipv6()
        groups = frozenset(
            group for name, group in SERVICE_GROUPS.items() if name in protocols and name in settings.discovery
        )
        self.mac = mac
        self.hop_limit = settings.hop_limit
        self.slaac = slaac.Slaac(mac, settings, rng, groups)
        self.dhcp6 = dhcp6.Dhcp6Client(mac, settings.dhcpv6, rng) if settings.dhcpv6 is not None else None
        """Its DHCPv6 client, when the profile has one: started by an RA's M or O flag."""
        self._rdnss: dict[bytes, float] | None = {} if settings.rdnss else None
        """RDNSS address -> until when it may be used, oldest first, for a profile that reads them (`ipv6.rdnss`)."""
        self.host = host
        """The device's host: its UDP ports, TCP stack and outbox (None: ND, MLD, echo and DHCPv6 only)."""
        if host is not None:
            host.ip6 = self
        self.neighbours = neighbours6.Neighbours(mac)
        self.clock = 0.0
        """The latest `now` the device was called with: what its services send carries no clock."""
        self._asked: dict[bytes, bytes] = {}
        """peer -> the address of ours it last wrote to: the source of what goes back to it."""
        self._icmp_limits: dict[bytes, icmp.RateLimit] | None = None
        self._seen: tuple[bytes, ...] = ()

    def start(self, now: float) -> list[bytes]:
        return self.slaac.start(now)

    def handle(self, frame: bytes, now: float) -> list[bytes]:
        """An IPv6 frame for this device (unicast to its MAC, or multicast the engine routed here)."""
        if frame[6:12] == self.mac:
            return []  # our own frame, looped back
        self.clock = now
        packet = ipv6.parse(frame)
        if packet is not None and packet.next_header == ipv6.IPPROTO_UDP:
            return self._udp(packet, frame, now)
        if packet is not None and packet.next_header == wire.IPPROTO_TCP:
            self._tcp(packet)
            return []
        if packet is None or packet.next_header != ipv6.IPPROTO_ICMPV6 or not packet.payload:
            return []
        kind = packet.payload[0]
        if kind in (ndp.NEIGHBOR_SOLICITATION, ndp.NEIGHBOR_ADVERTISEMENT):
            return self._neighbor(packet, frame[6:12], now)
        if kind == ndp.ROUTER_ADVERTISEMENT:
            advert = ndp.parse_router_advert(packet)
            return self._router_advert(advert, packet.src, now) if advert else []
        if kind == ndp.ECHO_REQUEST:
            return self._echo(packet, frame[6:12])
        if kind == mld.QUERY and mld.query_group(packet) is not None:
            return self.slaac.query(now)
        return []

    def _echo(self, packet: ipv6.Ipv6, src_mac: bytes) -> list[bytes]:
        """Echo requests to one of its addresses, or to all-nodes (answered from the link-local address, as
        Linux does with icmp echo_ignore_multicast 0: `ping -6 ff02::1%eth0` lists every host)."""
        if packet.dst == ipv6.ALL_NODES:
            source = self.slaac.link_local
        else:
            source = packet.dst if packet.dst in self.slaac.usable() else None
        reply = ndp.echo_reply(packet, source, self.mac, src_mac, hop_limit=self.hop_limit) if source else None
        return [reply] if reply else []

    def _router_advert(self, advert: ndp.RouterAdvert, src: bytes, now: float) -> list[bytes]:
        out = self.slaac.handle_router_advert(advert, src, now)
        self._learn(src, advert.source_mac)  # RFC 4861 6.3.4
        if self._rdnss is not None and not self.slaac.stopped:
            self._take_rdnss(advert.dns_servers, now)
        if not (advert.managed or advert.other) or self.slaac.stopped:
            return out
        if self.dhcp6 is None:
            self.slaac.log(
                "info",
                f"IPv6 RA from {ipv6.text(src)} asks for DHCPv6 (M={advert.managed:d}, "
                f"O={advert.other:d}): this profile has no DHCPv6 client",
            )
            return out
        if advert.managed:
            self.dhcp6.start_stateful(now)
        else:
            self.dhcp6.start_stateless(now)
        return out + self._dhcp6_timer(now)

    def _take_rdnss(self, servers: tuple[tuple[bytes, int], ...], now: float) -> None:
        """RFC 8106 5.3.1: each server valid for its lifetime (0: drop it, all ones: forever); the newest
        first, at most RDNSS_LIMIT."""
        assert self._rdnss is not None
        for address, lifetime in servers:
            self._rdnss.pop(address, None)
            if lifetime:
                self._rdnss[address] = slaac.lifetime_end(now, lifetime)
        while len(self._rdnss) > RDNSS_LIMIT:
            del self._rdnss[next(iter(self._rdnss))]

    def _udp(self, packet: ipv6.Ipv6, frame: bytes, now: float) -> list[bytes]:
        """DHCPv6 replies to its client; datagrams to a dual-stack port to that port's handler (multicast
        to a group the device joined too); to a closed port of one of its addresses, port unreachable."""
        datagram = wire.parse_udp(packet.payload)
        if datagram is None:
            return []
        mine = packet.dst in self.slaac.usable()
        if self.dhcp6 is not None and datagram[1] == dhcp6.CLIENT_PORT:
            return self._dhcp6_reply(datagram[2], now) if mine else []
        if not mine and packet.dst not in self.slaac.groups():
            return []
        handler = self.host.udp6_handler(datagram[1]) if self.host is not None else None
        if handler is not None:
            self._remember(packet)
            handler(packet.src, datagram[0], packet.dst, datagram[2], now)
        elif mine and packet.src[0] != 0xFF and packet.src != ipv6.UNSPECIFIED:
            self._port_unreachable(packet, frame, now)
        return []

    def _dhcp6_reply(self, data: bytes, now: float) -> list[bytes]:
        assert self.dhcp6 is not None
        lease = self.dhcp6.handle(data, now)
        out = self._dhcp6_timer(now)
        if lease is not None:
            out += self.slaac.add_leased(lease.address, lease.preferred, lease.valid, now)
        return out

    def _tcp(self, packet: ipv6.Ipv6) -> None:
        """A segment to one of its addresses: the device's TCP stack, or a RST when it has none (nothing listens)."""
        if self.host is None or packet.dst not in self.slaac.usable() or packet.src[0] == 0xFF:
            return
        self._remember(packet)
        if self.host.tcp is not None:
            self.host.tcp.handle(packet, self.clock)
            return
        reset = tcp_segment.reset_for(packet.dst, packet.src, packet.payload)
        if reset is not None:
            self.send("tcp", packet.dst, packet.src, wire.IPPROTO_TCP, reset, None)

    def _port_unreachable(self, packet: ipv6.Ipv6, frame: bytes, now: float) -> None:
        """RFC 4443 3.1, rate-limited per peer as Linux's icmpv6_xrlim_allow (a burst of 6, then one per 250 ms)."""
        limits = self._icmp_limits
        if limits is None:
            limits = self._icmp_limits = {}
        limit = limits.get(packet.src)
        if limit is None:
            if len(limits) >= host_mod.ICMP_PEERS:
                limits.clear()  # a sweep from many sources: start over rather than grow
            limit = limits[packet.src] = icmp.RateLimit(ndp.RATE_INTERVAL)
        if limit.allow(now):
            invoking = frame[14 : 54 + int.from_bytes(frame[18:20], "big")]
            message = ndp.port_unreachable(invoking)
            self._route("icmpv6", packet.src, ipv6.icmpv6(packet.dst, packet.src, message, hop_limit=self.hop_limit))

    def _remember(self, packet: ipv6.Ipv6) -> None:
        if packet.dst[0] == 0xFF or self._asked.get(packet.src) == packet.dst:
            return
        if len(self._asked) >= ASKED_LIMIT:
            self._asked.clear()
        self._asked[packet.src] = packet.dst

    def _dhcp6_timer(self, now: float) -> list[bytes]:
        source = self.slaac.link_local
        if self.dhcp6 is None or source is None or self.slaac.stopped:
            return []
        return self.dhcp6.on_timer(now, source)

    def pop_logs(self) -> list[tuple[str, str]]:
        if self.dhcp6 is not None:
            for level, message in self.dhcp6.pop_logs():
                self.slaac.log(level, message)
        return self.slaac.pop_logs()

    def _neighbor(self, packet: ipv6.Ipv6, src_mac: bytes, now: float) -> list[bytes]:
        message = ndp.parse_neighbor(packet)
        if message is None:
            return []
        if message.target not in self.slaac.owned:
            if packet.payload[0] == ndp.NEIGHBOR_ADVERTISEMENT:  # an answer to our solicitation (RFC 4861 7.2.5)
                self._learn(message.target, message.mac, create=False)
            return []
        if packet.payload[0] == ndp.NEIGHBOR_SOLICITATION and packet.src != ipv6.UNSPECIFIED:
            self._learn(packet.src, message.mac)  # RFC 4861 7.2.3: the asker's link-layer option
        tentative = message.target not in self.slaac.usable()
        if packet.payload[0] == ndp.NEIGHBOR_ADVERTISEMENT:
            return self._conflict(message.target, now) if tentative else []
        if packet.src == ipv6.UNSPECIFIED:  # another host's DAD probe
            return self._conflict(message.target, now) if tentative else [self._advertise(message.target)]
        if tentative:
            return []  # RFC 4862 5.4.3: a tentative address is not answered for
        return [
            ndp.neighbor_advertisement(self.mac, message.target, packet.src, message.mac or src_mac, solicited=True)
        ]

    def _conflict(self, target: bytes, now: float) -> list[bytes]:
        """DAD failed for `target`; a leased one is declined to its DHCPv6 server."""
        entry = self.slaac.addresses.get(target)
        out = self.slaac.conflict(target, now)
        if entry is not None and entry.kind == "DHCPv6" and self.dhcp6 is not None:
            self.dhcp6.decline(now)
            out += self._dhcp6_timer(now)
        return out

    def _advertise(self, target: bytes) -> bytes:
        """RFC 4861 7.2.4: an NS from :: is answered to all-nodes, unsolicited."""
        return ndp.neighbor_advertisement(
            self.mac, target, ipv6.ALL_NODES, ipv6.multicast_mac(ipv6.ALL_NODES), solicited=False
        )

    def on_timer(self, now: float) -> list[bytes]:
        self.clock = now
        if self.host is not None:
            for kind, frame in self.neighbours.on_timer(now):
                self.host.send_frame(kind, frame)
        return self.slaac.on_timer(now) + self._dhcp6_timer(now)

    def next_deadline(self) -> float | None:
        due = [self.slaac.next_deadline(), self.neighbours.next_deadline()]
        if self.dhcp6 is not None and self.slaac.link_local is not None and not self.slaac.stopped:
            due.append(self.dhcp6.next_deadline())  # it sends from the link-local address: none, no sending
        present = [d for d in due if d is not None]
        return min(present) if present else None

    def stop(self, *, release: bool = True) -> list[bytes]:
        """Go quiet; first release a DHCPv6 lease (`release`: a clean stop, not a power cut)."""
        out = self.dhcp6.release(self.slaac.link_local) if self.dhcp6 is not None and release else []
        self.slaac.stop()
        self.neighbours.forget()
        return out

    def dns_servers(self) -> tuple[bytes, ...]:
        """The DNS servers DHCPv6 gave (option 23), then those RAs name and still valid (RDNSS, for a profile
        that reads them); none before a REPLY or an RA."""
        leased = self.dhcp6.dns_servers if self.dhcp6 is not None else ()
        if not self._rdnss:
            return leased
        advertised = tuple(a for a, until in reversed(self._rdnss.items()) if until > self.clock and a not in leased)
        return (*leased, *advertised)

    def addresses(self) -> list[bytes]:
        """The usable addresses, the link-local one first (what mDNS publishes)."""
        return sorted(self.slaac.usable(), key=lambda a: not _link_scope(a))

    def changed(self) -> bool:
        """The usable addresses changed since the last call (the device then tells its services)."""
        now = tuple(self.slaac.usable())
        if now == self._seen:
            return False
        self._seen = now
        return True

    # -- sending (host_mod.Ipv6Side) -----------------------------------------------------------

    def source_for(self, dst: bytes) -> bytes | None:
        """RFC 6724 section 5, the rules that matter on one link: the link-local address for link-local and
        link-scope multicast destinations; the address the peer last wrote to; else a preferred address
        before a deprecated one, the longest prefix shared with `dst` first, a temporary one first."""
        if _link_scope(dst):
            return self.slaac.link_local
        candidates = [a for a in self.slaac.addresses.values() if a.state is not slaac.State.TENTATIVE]
        asked = self._asked.get(dst)
        if asked is not None and any(a.address == asked for a in candidates):
            return asked
        wide = [a for a in candidates if a.kind != "link-local"]
        if not wide:
            return self.slaac.link_local
        best = max(
            wide,  # rule 3 (avoid deprecated), rule 8 (longest match), rule 7 (temporary, as use_tempaddr=2 does)
            key=lambda a: (a.state is slaac.State.PREFERRED, _common_bits(a.address, dst), a.kind == "temporary"),
        )
        return best.address

    def send(
        self, protocol: str, src: bytes, dst: bytes, next_header: int, upper: bytes, hop_limit: int | None
    ) -> None:
        """An upper-layer packet (its checksum done) from the device to `dst`, through the host's outbox."""
        self._route(protocol, dst, ipv6.packet(src, dst, next_header, upper, hop_limit=hop_limit or self.hop_limit))

    def _route(self, protocol: str, dst: bytes, data: bytes) -> None:
        if self.host is None or self.slaac.stopped:
            return
        if dst[0] == 0xFF:
            self.host.send_frame(protocol, ipv6.frame(self.mac, ipv6.multicast_mac(dst), data))
            return
        hop = self._next_hop(dst)
        if hop is None:
            return  # no default router: nothing off-link is reachable (RFC 4861 5.2)
        for kind, frame in self.neighbours.send(protocol, hop, data, data[8:24], self.clock):
            self.host.send_frame(kind, frame)

    def _next_hop(self, dst: bytes) -> bytes | None:
        if _link_scope(dst) or self.neighbours.get(dst) is not None:
            return dst
        if any(a.kind == "SLAAC" and a.prefix == dst[:8] for a in self.slaac.addresses.values()):
            return dst  # on-link: the prefix came in an RA (its L flag is assumed)
        router = self.slaac.router
        return router[0] if router is not None and router[2] > self.clock else None

    def _learn(self, address: bytes, mac: bytes | None, *, create: bool = True) -> None:
        if mac is None or self.host is None:
            return
        for kind, frame in self.neighbours.learn(address, mac, create=create):
            self.host.send_frame(kind, frame)


def _link_scope(address: bytes) -> bool:
    """fe80::/10, or a multicast group of interface- or link-local scope (ff01::/16, ff02::/16)."""
    if address[0] == 0xFF:
        return address[1] & 0x0F <= 2
    return address[0] == 0xFE and address[1] & 0xC0 == 0x80


def _common_bits(a: bytes, b: bytes) -> int:
    """RFC 6724 rule 8's CommonPrefixLen, over the first 64 bits."""
    x = int.from_bytes(a[:8], "big") ^ int.from_bytes(b[:8], "big")
    return 64 - x.bit_length()


def protocol_of(frame: bytes) -> str:
    """The `stats.protocols` name a frame of ours counts under: mld, icmpv6 (echo) or ndp."""
    if frame[20] == ipv6.IPPROTO_HOPOPTS:
        return "mld"
    if frame[20] == ipv6.IPPROTO_UDP:
        return "dhcpv6"
    return "icmpv6" if frame[54] == ndp.ECHO_REPLY else "ndp"
