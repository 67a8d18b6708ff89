"""ICMP (RFC 792): echo replies with the device's own TTL, so `ping` works; port unreachable for closed UDP ports.

A closed UDP port answers with Destination Unreachable / port unreachable, quoting the datagram
as Linux does (as much as fits in 576 bytes, RFC 1812 4.3.2.3), and rate-limited as Linux's
icmp_ratelimit does (a token bucket per peer: 1 s per message, a burst of 6, `XRLIM_BURST_FACTOR`
in net/ipv4/icmp.c): an `nmap -sU` of a device is as slow as of a Linux host.
"""

from __future__ import annotations

import struct

from iot_emulator.protocols.link import wire

ECHO_REPLY = 0
ECHO_REQUEST = 8
TIMESTAMP_REQUEST, TIMESTAMP_REPLY = 13, 14
UNREACHABLE, PORT_UNREACHABLE = 3, 3
QUOTE_LIMIT = 576 - 20 - 8
"""Bytes of the offending datagram an error quotes: the error fits in 576 bytes (RFC 1812 4.3.2.3)."""
RATE_INTERVAL = 1.0
RATE_BURST = 6


class RateLimit:
    """Linux's per-peer ICMP token bucket (inet_peer_xrlim_allow): `allow(now)` spends one token."""

    __slots__ = ("_interval", "_last", "_tokens")

    def __init__(self, interval: float = RATE_INTERVAL) -> None:
        self._interval = interval
        """Seconds per message: 1 s for IPv4; ICMPv6 scales it down for wider routes (`ndp.RATE_INTERVAL`)."""
        self._tokens = RATE_BURST * interval
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        if self._last is not None:
            self._tokens = min(self._tokens + now - self._last, RATE_BURST * self._interval)
        self._last = now
        if self._tokens < self._interval:
            return False
        self._tokens -= self._interval
        return True


def port_unreachable(request: wire.Ipv4) -> bytes:
    """The ICMP message (no IP header) saying that `request`'s UDP port is closed."""
    quoted = (request.header + request.payload)[:QUOTE_LIMIT]
    body = struct.pack("!BBHI", UNREACHABLE, PORT_UNREACHABLE, 0, 0) + quoted
    return body[:2] + wire.checksum(body).to_bytes(2, "big") + body[4:]


def _reply(request: wire.Ipv4, body: bytes, my_mac: bytes, peer_mac: bytes, ttl: int, ident: int) -> bytes:
    body = body[:2] + wire.checksum(body).to_bytes(2, "big") + body[4:]
    packet = wire.ipv4(request.dst, request.src, wire.IPPROTO_ICMP, body, ttl=ttl, ident=ident)
    return wire.ethernet(peer_mac, my_mac, wire.ETH_P_IP, packet)


def echo_reply(request: wire.Ipv4, my_mac: bytes, peer_mac: bytes, *, ttl: int, ident: int) -> bytes | None:
    """The reply to an echo request addressed to us, or None if `request` is not one."""
    data = request.payload
    if len(data) < 8 or data[0] != ECHO_REQUEST:
        return None
    body = struct.pack("!BBH", ECHO_REPLY, data[1], 0) + data[4:]  # the code is echoed, as Linux does (nmap IE CD=S)
    return _reply(request, body, my_mac, peer_mac, ttl, ident)


def timestamp_reply(
    request: wire.Ipv4, my_mac: bytes, peer_mac: bytes, *, ttl: int, ident: int, ms_today: int
) -> bytes | None:
    """RFC 792 Timestamp Reply as Linux sends it (net/ipv4/icmp.c icmp_timestamp): identifier, sequence and
    originate copied, receive = transmit = milliseconds since midnight UT; None if `request` is not a
    Timestamp request of 20 bytes or more."""
    data = request.payload
    if len(data) < 20 or data[0] != TIMESTAMP_REQUEST:
        return None
    stamp = struct.pack("!I", ms_today % 86_400_000)
    body = struct.pack("!BBH", TIMESTAMP_REPLY, 0, 0) + data[4:12] + stamp + stamp
    return _reply(request, body, my_mac, peer_mac, ttl, ident)
