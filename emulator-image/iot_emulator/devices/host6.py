"""A device's IPv6 endpoint: its addresses (`slaac`), answers to Neighbor Solicitations and echo requests.

Opt-in: a device runs one when its manifest lists the protocol "ipv6"; how it behaves (EUI-64 or
stable-privacy identifiers, DAD probes, router solicitations) is its profile's `ipv6` section.
Replies go to the MAC the request came from, as the device's IPv4 ICMP replies do, so no neighbour
cache is kept: the device originates no IPv6 traffic of its own beyond ND, MLD and its DHCPv6 client
(to multicast).
"""

from __future__ import annotations

import random

from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import dhcp6, ipv6, mld, ndp, slaac, wire

SERVICE_GROUPS = {"mdns": ipv6.MDNS_GROUP, "ssdp": ipv6.SSDP_GROUP}
"""Groups a device joins (MLD) for the discovery protocols it speaks, as its stack does on IPv6."""


class Ipv6Host:
    __slots__ = ("dhcp6", "hop_limit", "mac", "slaac")

    def __init__(self, mac: bytes, prof: catalog.Profile, protocols: tuple[str, ...], rng: random.Random) -> None:
        settings = prof.ipv6 or catalog.Ipv6()
        groups = frozenset(group for name, group in SERVICE_GROUPS.items() if name in protocols)
        self.mac = mac
        self.hop_limit = settings.hop_limit
        self.slaac = slaac.Slaac(mac, settings, rng, groups)
        self.dhcp6 = dhcp6.Dhcp6Client(mac, settings.dhcpv6, rng) if settings.dhcpv6 is not None else None
        """Its DHCPv6 client, when the profile has one: started by an RA's M or O flag."""

    def start(self, now: float) -> list[bytes]:
        return self.slaac.start(now)

    def handle(self, frame: bytes, now: float) -> list[bytes]:
        """An IPv6 frame for this device (unicast to its MAC, or multicast the engine routed here)."""
        if frame[6:12] == self.mac:
            return []  # our own frame, looped back
        packet = ipv6.parse(frame)
        if packet is not None and packet.next_header == ipv6.IPPROTO_UDP:
            return self._udp(packet, now)
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

    def _udp(self, packet: ipv6.Ipv6, now: float) -> list[bytes]:
        """DHCPv6 replies to our link-local address; every other datagram is dropped (no IPv6 services yet)."""
        datagram = wire.parse_udp(packet.payload)
        if self.dhcp6 is None or datagram is None or datagram[1] != dhcp6.CLIENT_PORT:
            return []
        if packet.dst not in self.slaac.usable():
            return []
        lease = self.dhcp6.handle(datagram[2], now)
        out = self._dhcp6_timer(now)
        if lease is not None:
            out += self.slaac.add_leased(lease.address, lease.preferred, lease.valid, now)
        return out

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
        if message is None or message.target not in self.slaac.owned:
            return []
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
        return self.slaac.on_timer(now) + self._dhcp6_timer(now)

    def next_deadline(self) -> float | None:
        due = [self.slaac.next_deadline()]
        if self.dhcp6 is not None and self.slaac.link_local is not None and not self.slaac.stopped:
            due.append(self.dhcp6.next_deadline())  # it sends from the link-local address: none, no sending
        present = [d for d in due if d is not None]
        return min(present) if present else None

    def stop(self, *, release: bool = True) -> list[bytes]:
        """Go quiet; first release a DHCPv6 lease (`release`: a clean stop, not a power cut)."""
        out = self.dhcp6.release(self.slaac.link_local) if self.dhcp6 is not None and release else []
        self.slaac.stop()
        return out


def protocol_of(frame: bytes) -> str:
    """The `stats.protocols` name a frame of ours counts under: mld, icmpv6 (echo) or ndp."""
    if frame[20] == ipv6.IPPROTO_HOPOPTS:
        return "mld"
    if frame[20] == ipv6.IPPROTO_UDP:
        return "dhcpv6"
    return "icmpv6" if frame[54] == ndp.ECHO_REPLY else "ndp"
