"""Neighbor Discovery messages (RFC 4861) and ICMPv6 echo (RFC 4443): build the ones a host sends, read the rest.

Every ND message goes out with hop limit 255, and a received one is only believed with hop limit
255 (RFC 4861 6.1, 7.1: it cannot have crossed a router). The state machine that uses these is
`slaac`; this module is the wire format only.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from iot_emulator.protocols.link import ipv6

ECHO_REQUEST, ECHO_REPLY = 128, 129
DESTINATION_UNREACHABLE, PORT_UNREACHABLE = 1, 4
QUOTE_LIMIT = 1280 - 40 - 8
"""Bytes of the invoking packet an error quotes: the error fits in the IPv6 minimum MTU (RFC 4443 3.1)."""
RATE_INTERVAL = 0.25
"""Seconds per ICMPv6 error to one peer: Linux's icmpv6_xrlim_allow takes net.ipv6.icmp.ratelimit (1 s)
and shifts it right by (128 - prefix length) / 32 of the route to the peer, 2 for an on-link /64."""
ROUTER_SOLICITATION, ROUTER_ADVERTISEMENT = 133, 134
NEIGHBOR_SOLICITATION, NEIGHBOR_ADVERTISEMENT = 135, 136
ND_HOP_LIMIT = 255
OPT_SOURCE_LL, OPT_TARGET_LL, OPT_PREFIX = 1, 2, 3
OPT_RDNSS = 25
"""Recursive DNS Server option (RFC 8106 5.1): lifetime, then one or more IPv6 addresses."""
NA_ROUTER, NA_SOLICITED, NA_OVERRIDE = 0x80, 0x40, 0x20
RA_MANAGED, RA_OTHER = 0x80, 0x40
PIO_ON_LINK, PIO_AUTONOMOUS = 0x80, 0x40
_MAX_OPTIONS = 32


class Prefix(NamedTuple):
    """A Prefix Information option (RFC 4861 4.6.2)."""

    prefix: bytes
    length: int
    on_link: bool
    autonomous: bool
    valid: int
    preferred: int


class RouterAdvert(NamedTuple):
    managed: bool
    other: bool
    router_lifetime: int
    prefixes: tuple[Prefix, ...]
    source_mac: bytes | None
    dns_servers: tuple[tuple[bytes, int], ...] = ()
    """(address, lifetime in s) of its RDNSS options (RFC 8106), in order; lifetime 0: no longer to be used."""


class Neighbor(NamedTuple):
    """A Neighbor Solicitation or Advertisement: its target and link-layer option, NA flags."""

    target: bytes
    flags: int
    mac: bytes | None


def _with_mac(option: int, mac: bytes) -> bytes:
    return bytes([option, 1]) + mac


def _message(src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, message: bytes) -> bytes:
    return ipv6.frame(src_mac, dst_mac, ipv6.icmpv6(src, dst, message, hop_limit=ND_HOP_LIMIT))


def neighbor_solicitation(mac: bytes, src: bytes, target: bytes) -> bytes:
    """An NS for `target` to its solicited-node group. From :: it is a DAD probe (RFC 4862 5.4.2), which
    must carry no source link-layer option."""
    dst = ipv6.solicited_node(target)
    message = struct.pack("!BBHI", NEIGHBOR_SOLICITATION, 0, 0, 0) + target
    if src != ipv6.UNSPECIFIED:
        message += _with_mac(OPT_SOURCE_LL, mac)
    return _message(mac, ipv6.multicast_mac(dst), src, dst, message)


def neighbor_advertisement(mac: bytes, target: bytes, dst: bytes, dst_mac: bytes, *, solicited: bool) -> bytes:
    """An NA for our `target` (override set, as a host's is; solicited when answering an NS)."""
    flags = NA_OVERRIDE | (NA_SOLICITED if solicited else 0)
    message = struct.pack("!BBHB3x", NEIGHBOR_ADVERTISEMENT, 0, 0, flags) + target + _with_mac(OPT_TARGET_LL, mac)
    return _message(mac, dst_mac, target, dst, message)


def router_solicitation(mac: bytes, src: bytes) -> bytes:
    """An RS to all-routers; with the source link-layer option unless sent from :: (RFC 4861 4.1)."""
    message = struct.pack("!BBHI", ROUTER_SOLICITATION, 0, 0, 0)
    if src != ipv6.UNSPECIFIED:
        message += _with_mac(OPT_SOURCE_LL, mac)
    return _message(mac, ipv6.multicast_mac(ipv6.ALL_ROUTERS), src, ipv6.ALL_ROUTERS, message)


def echo_reply(request: ipv6.Ipv6, my_address: bytes, mac: bytes, dst_mac: bytes, *, hop_limit: int) -> bytes | None:
    """The reply to an echo request (identifier, sequence and data echoed), or None if `request` is not one."""
    data = request.payload
    if len(data) < 8 or data[0] != ECHO_REQUEST:
        return None
    message = struct.pack("!BBH", ECHO_REPLY, 0, 0) + data[4:]
    return ipv6.frame(mac, dst_mac, ipv6.icmpv6(my_address, request.src, message, hop_limit=hop_limit))


def port_unreachable(invoking: bytes) -> bytes:
    """The Destination Unreachable / port unreachable message (checksum zero, `ipv6.icmpv6` fills it)
    for `invoking`, the whole IPv6 packet that reached a closed UDP port (RFC 4443 3.1)."""
    return struct.pack("!BBHI", DESTINATION_UNREACHABLE, PORT_UNREACHABLE, 0, 0) + invoking[:QUOTE_LIMIT]


def _options(data: bytes) -> list[tuple[int, bytes]]:
    """(type, body) of each option; stops at a malformed one (length 0 is invalid, RFC 4861 4.6)."""
    out: list[tuple[int, bytes]] = []
    while len(data) >= 8 and len(out) < _MAX_OPTIONS:
        size = data[1] * 8
        if size == 0 or size > len(data):
            break
        out.append((data[0], data[2:size]))
        data = data[size:]
    return out


def parse_neighbor(packet: ipv6.Ipv6) -> Neighbor | None:
    """An NS or NA that is valid per RFC 4861 7.1 (hop limit 255, code 0, length); None otherwise."""
    data = packet.payload
    if len(data) < 24 or data[0] not in (NEIGHBOR_SOLICITATION, NEIGHBOR_ADVERTISEMENT):
        return None
    if packet.hop_limit != ND_HOP_LIMIT or data[1] != 0 or data[8] == 0xFF:  # a multicast target is invalid
        return None
    wanted = OPT_SOURCE_LL if data[0] == NEIGHBOR_SOLICITATION else OPT_TARGET_LL
    mac = next((body[:6] for kind, body in _options(data[24:]) if kind == wanted and len(body) >= 6), None)
    return Neighbor(data[8:24], data[4], mac)


def parse_router_advert(packet: ipv6.Ipv6) -> RouterAdvert | None:
    """An RA valid per RFC 4861 6.1.2 (link-local source, hop limit 255, code 0); None otherwise."""
    data = packet.payload
    if len(data) < 16 or data[0] != ROUTER_ADVERTISEMENT or data[1] != 0:
        return None
    if packet.hop_limit != ND_HOP_LIMIT or packet.src[:8] != ipv6.LINK_LOCAL_PREFIX:
        return None
    flags, lifetime = data[5], int.from_bytes(data[6:8], "big")
    prefixes, mac, dns = [], None, []
    for kind, body in _options(data[16:]):
        if kind == OPT_SOURCE_LL and len(body) >= 6:
            mac = body[:6]
        elif kind == OPT_PREFIX and len(body) == 30:
            length, pflags, valid, preferred = struct.unpack_from("!BBII", body)
            prefixes.append(
                Prefix(body[14:30], length, bool(pflags & PIO_ON_LINK), bool(pflags & PIO_AUTONOMOUS), valid, preferred)
            )
        elif kind == OPT_RDNSS and len(body) >= 22 and (len(body) - 6) % 16 == 0:  # RFC 8106 5.1: length >= 3
            valid_for = int.from_bytes(body[2:6], "big")
            dns += [(body[i : i + 16], valid_for) for i in range(6, len(body), 16)]
    return RouterAdvert(bool(flags & RA_MANAGED), bool(flags & RA_OTHER), lifetime, tuple(prefixes), mac, tuple(dns))
