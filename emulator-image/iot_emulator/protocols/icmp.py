"""ICMP echo (RFC 792): answer pings to a device, with the device's own TTL, so `ping` works."""

from __future__ import annotations

import struct

from iot_emulator import wire

ECHO_REPLY = 0
ECHO_REQUEST = 8


def echo_reply(request: wire.Ipv4, my_mac: bytes, peer_mac: bytes, *, ttl: int, ident: int) -> bytes | None:
    """The reply to an echo request addressed to us, or None if `request` is not one."""
    data = request.payload
    if len(data) < 8 or data[0] != ECHO_REQUEST or data[1] != 0:
        return None
    body = struct.pack("!BBH", ECHO_REPLY, 0, 0) + data[4:]
    body = body[:2] + wire.checksum(body).to_bytes(2, "big") + body[4:]
    packet = wire.ipv4(request.dst, request.src, wire.IPPROTO_ICMP, body, ttl=ttl, ident=ident)
    return wire.ethernet(peer_mac, my_mac, wire.ETH_P_IP, packet)
