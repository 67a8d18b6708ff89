"""A device's IPv6 endpoint: its addresses (`slaac`), answers to Neighbor Solicitations and echo requests.

Opt-in: a device runs one when its manifest lists the protocol "ipv6"; how it behaves (EUI-64 or
stable-privacy identifiers, DAD probes, router solicitations) is its profile's `ipv6` section.
Replies go to the MAC the request came from, as the device's IPv4 ICMP replies do, so no neighbour
cache is kept: the device originates no IPv6 traffic of its own beyond ND and MLD.
"""

from __future__ import annotations

import random

from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import ipv6, mld, ndp, slaac

SERVICE_GROUPS = {"mdns": ipv6.MDNS_GROUP, "ssdp": ipv6.SSDP_GROUP}
"""Groups a device joins (MLD) for the discovery protocols it speaks, as its stack does on IPv6."""


class Ipv6Host:
    __slots__ = ("hop_limit", "mac", "slaac")

    def __init__(self, mac: bytes, prof: catalog.Profile, protocols: tuple[str, ...], rng: random.Random) -> None:
        settings = prof.ipv6 or catalog.Ipv6()
        groups = frozenset(group for name, group in SERVICE_GROUPS.items() if name in protocols)
        self.mac = mac
        self.hop_limit = settings.hop_limit
        self.slaac = slaac.Slaac(mac, settings, rng, groups)

    def start(self, now: float) -> list[bytes]:
        return self.slaac.start(now)

    def handle(self, frame: bytes, now: float) -> list[bytes]:
        """An IPv6 frame for this device (unicast to its MAC, or multicast the engine routed here)."""
        if frame[6:12] == self.mac:
            return []  # our own frame, looped back
        packet = ipv6.parse(frame)
        if packet is None or packet.next_header != ipv6.IPPROTO_ICMPV6 or not packet.payload:
            return []
        kind = packet.payload[0]
        if kind in (ndp.NEIGHBOR_SOLICITATION, ndp.NEIGHBOR_ADVERTISEMENT):
            return self._neighbor(packet, frame[6:12], now)
        if kind == ndp.ROUTER_ADVERTISEMENT:
            advert = ndp.parse_router_advert(packet)
            return self.slaac.handle_router_advert(advert, packet.src, now) if advert else []
        if kind == ndp.ECHO_REQUEST and packet.dst in self.slaac.usable():
            reply = ndp.echo_reply(packet, packet.dst, self.mac, frame[6:12], hop_limit=self.hop_limit)
            return [reply] if reply else []
        if kind == mld.QUERY and mld.query_group(packet) is not None:
            return self.slaac.query(now)
        return []

    def _neighbor(self, packet: ipv6.Ipv6, src_mac: bytes, now: float) -> list[bytes]:
        message = ndp.parse_neighbor(packet)
        if message is None or message.target not in self.slaac.owned:
            return []
        tentative = message.target not in self.slaac.usable()
        if packet.payload[0] == ndp.NEIGHBOR_ADVERTISEMENT:
            return self.slaac.conflict(message.target, now) if tentative else []
        if packet.src == ipv6.UNSPECIFIED:  # another host's DAD probe
            return self.slaac.conflict(message.target, now) if tentative else [self._advertise(message.target)]
        if tentative:
            return []  # RFC 4862 5.4.3: a tentative address is not answered for
        return [
            ndp.neighbor_advertisement(self.mac, message.target, packet.src, message.mac or src_mac, solicited=True)
        ]

    def _advertise(self, target: bytes) -> bytes:
        """RFC 4861 7.2.4: an NS from :: is answered to all-nodes, unsolicited."""
        return ndp.neighbor_advertisement(self.mac, target, ipv6.ALL_NODES, ipv6.multicast_mac(ipv6.ALL_NODES),
                                          solicited=False)  # fmt: skip

    def on_timer(self, now: float) -> list[bytes]:
        return self.slaac.on_timer(now)

    def next_deadline(self) -> float | None:
        return self.slaac.next_deadline()

    def stop(self) -> None:
        self.slaac.stop()


def protocol_of(frame: bytes) -> str:
    """The `stats.protocols` name a frame of ours counts under: mld, icmpv6 (echo) or ndp."""
    if frame[20] == ipv6.IPPROTO_HOPOPTS:
        return "mld"
    return "icmpv6" if frame[54] == ndp.ECHO_REPLY else "ndp"
