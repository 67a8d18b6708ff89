"""Ethernet / IPv4 / UDP / ARP framing on the hot path, with struct instead of Scapy objects.

Scapy is the reference: tests compare these bytes with Scapy-built frames and dissect them with
Scapy. The engine cannot afford a Scapy object per frame at thousands of devices (~1 ms each to
build, ~0.3 ms to parse), so the few headers every frame carries are packed and read here.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_LLDP = 0x88CC
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
BROADCAST_MAC = b"\xff" * 6
ZERO_IP = b"\x00" * 4
BROADCAST_IP = b"\xff" * 4

_ETH = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    return _ETH.pack(dst, src, ethertype) + payload


def ipv4(
    src: bytes,
    dst: bytes,
    proto: int,
    payload: bytes,
    *,
    ttl: int = 64,
    ident: int = 0,
    dont_fragment: bool = False,
    tos: int = 0,
) -> bytes:
    """An IPv4 header (no options) with its checksum, followed by payload."""
    flags = 0x4000 if dont_fragment else 0
    header = _IPV4.pack(0x45, tos, 20 + len(payload), ident & 0xFFFF, flags, ttl, proto, 0, src, dst)
    csum = checksum(header)
    return header[:10] + csum.to_bytes(2, "big") + header[12:] + payload


def udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP datagram with its checksum over the IPv4 pseudo-header."""
    length = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, IPPROTO_UDP, length)
    csum = checksum(pseudo + _UDP.pack(sport, dport, length, 0) + payload) or 0xFFFF
    return _UDP.pack(sport, dport, length, csum) + payload


def udp_frame(
    src_mac: bytes,
    dst_mac: bytes,
    src_ip: bytes,
    dst_ip: bytes,
    sport: int,
    dport: int,
    payload: bytes,
    *,
    ttl: int = 64,
    ident: int = 0,
    dont_fragment: bool = False,
    tos: int = 0,
) -> bytes:
    datagram = udp(src_ip, dst_ip, sport, dport, payload)
    packet = ipv4(src_ip, dst_ip, IPPROTO_UDP, datagram, ttl=ttl, ident=ident, dont_fragment=dont_fragment, tos=tos)
    return ethernet(dst_mac, src_mac, ETH_P_IP, packet)


class Arp(NamedTuple):
    op: int  # 1 request, 2 reply
    sender_mac: bytes
    sender_ip: bytes
    target_mac: bytes
    target_ip: bytes


def arp_frame(src_mac: bytes, dst_mac: bytes, arp: Arp) -> bytes:
    """An ARP frame padded to the Ethernet minimum (60 bytes without FCS), as NICs send it."""
    body = _ARP.pack(1, ETH_P_IP, 6, 4, arp.op, arp.sender_mac, arp.sender_ip, arp.target_mac, arp.target_ip)
    return (_ETH.pack(dst_mac, src_mac, ETH_P_ARP) + body).ljust(60, b"\x00")


def parse_arp(frame: bytes) -> Arp | None:
    if len(frame) < 42:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, 14)
    if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4:
        return None
    return Arp(op, sha, spa, tha, tpa)


class Ipv4(NamedTuple):
    """The fields of an IPv4 packet the devices act on; `payload` excludes the IP header."""

    src: bytes
    dst: bytes
    proto: int
    ttl: int
    ident: int
    payload: bytes
    header: bytes = b""
    """The IP header as received: ICMP errors quote it (RFC 792)."""


def parse_ipv4(frame: bytes) -> Ipv4 | None:
    if len(frame) < 34:
        return None
    vihl, _tos, total, ident, frag, ttl, proto, _csum, src, dst = _IPV4.unpack_from(frame, 14)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20 or frag & 0x1FFF or frag & 0x2000:  # fragments are not for us
        return None
    end = min(14 + total, len(frame))  # Ethernet padding is not payload
    return Ipv4(src, dst, proto, ttl, ident, frame[14 + ihl : end], frame[14 : 14 + ihl])


def parse_udp(payload: bytes) -> tuple[int, int, bytes] | None:
    """(sport, dport, data). The checksum is not verified: veth offload leaves partial ones."""
    if len(payload) < 8:
        return None
    sport, dport, length, _csum = _UDP.unpack_from(payload)
    return sport, dport, payload[8 : max(8, min(length, len(payload)))]


def ethertype(frame: bytes) -> int:
    return (frame[12] << 8) | frame[13] if len(frame) >= 14 else -1
