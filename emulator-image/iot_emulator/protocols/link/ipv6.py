"""IPv6 framing and addresses (RFC 8200, RFC 4291, RFC 4443 checksum, RFC 7217 identifiers), with struct.

As `wire` does for IPv4: the few headers every frame carries are packed and read here, and tests
compare them with Scapy. Addresses are 16-byte `bytes`; `text()` is for logs and messages only.
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from typing import NamedTuple

from iot_emulator.protocols.link import wire

ETH_P_IPV6 = 0x86DD
IPPROTO_HOPOPTS = 0
IPPROTO_ICMPV6 = 58
UNSPECIFIED = b"\x00" * 16
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
ALL_ROUTERS = bytes.fromhex("ff020000000000000000000000000002")
MLDV2_ROUTERS = bytes.fromhex("ff020000000000000000000000000016")
MDNS_GROUP = bytes.fromhex("ff0200000000000000000000000000fb")
SSDP_GROUP = bytes.fromhex("ff02000000000000000000000000000c")
LINK_LOCAL_PREFIX = bytes.fromhex("fe80000000000000")
_SOLICITED_PREFIX = bytes.fromhex("ff0200000000000000000001ff")
_HEADER = struct.Struct("!IHBB16s16s")
_MAX_HEADERS = 4
"""Extension headers walked before giving up (a frame with more is not for a device)."""


class Ipv6(NamedTuple):
    """The fields of an IPv6 packet the devices act on; `payload` is the upper-layer data."""

    src: bytes
    dst: bytes
    next_header: int
    hop_limit: int
    payload: bytes


def text(address: bytes) -> str:
    return str(ipaddress.IPv6Address(address))


def checksum(src: bytes, dst: bytes, next_header: int, upper: bytes) -> int:
    """The upper-layer checksum over the IPv6 pseudo-header (RFC 8200 8.1)."""
    pseudo = src + dst + struct.pack("!IxxxB", len(upper), next_header)
    return wire.checksum(pseudo + upper)


def packet(src: bytes, dst: bytes, next_header: int, payload: bytes, *, hop_limit: int) -> bytes:
    return _HEADER.pack(6 << 28, len(payload), next_header, hop_limit, src, dst) + payload


def icmpv6(src: bytes, dst: bytes, message: bytes, *, hop_limit: int, hop_by_hop: bytes = b"") -> bytes:
    """An IPv6 packet carrying `message` (checksum field zero) with its checksum filled in.

    `hop_by_hop`: a Hop-by-Hop options header to put first (MLD's Router Alert)."""
    csum = checksum(src, dst, IPPROTO_ICMPV6, message)
    body = message[:2] + csum.to_bytes(2, "big") + message[4:]
    if hop_by_hop:
        return packet(src, dst, IPPROTO_HOPOPTS, hop_by_hop + body, hop_limit=hop_limit)
    return packet(src, dst, IPPROTO_ICMPV6, body, hop_limit=hop_limit)


def frame(src_mac: bytes, dst_mac: bytes, data: bytes) -> bytes:
    return wire.ethernet(dst_mac, src_mac, ETH_P_IPV6, data)


def parse(frame_: bytes) -> Ipv6 | None:
    """An IPv6 packet after its Hop-by-Hop/Destination options; None if malformed or fragmented."""
    if len(frame_) < 54 or frame_[14] >> 4 != 6:
        return None
    _vtf, length, next_header, hop_limit, src, dst = _HEADER.unpack_from(frame_, 14)
    data = frame_[54 : 54 + length]
    for _ in range(_MAX_HEADERS):
        if next_header not in (IPPROTO_HOPOPTS, 60):  # Hop-by-Hop, Destination options
            return Ipv6(src, dst, next_header, hop_limit, data)
        if len(data) < 8:
            return None
        size = (data[1] + 1) * 8
        next_header, data = data[0], data[size:]
    return None


def multicast_mac(group: bytes) -> bytes:
    """RFC 2464 7: 33:33 + the group's low 32 bits."""
    return b"\x33\x33" + group[12:]


def solicited_node(address: bytes) -> bytes:
    """ff02::1:ffXX:XXXX, the group an address's Neighbor Solicitations go to (RFC 4291 2.7.1)."""
    return _SOLICITED_PREFIX + address[13:]


def is_solicited_node(address: bytes) -> bool:
    return address[:13] == _SOLICITED_PREFIX


def eui64(mac: bytes) -> bytes:
    """The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A): U/L bit flipped, ff:fe inserted."""
    return bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:6]


def stable_iid(prefix: bytes, mac: bytes, secret: bytes, dad_counter: int) -> bytes:
    """RFC 7217 section 5: F(Prefix, Net_Iface, Network_ID, DAD_Counter, secret_key) with SHA-256, the low
    64 bits kept; reserved identifiers (RFC 5453: zero, the subnet-router anycast range) move to the next counter."""
    for counter in range(dad_counter, dad_counter + 8):
        digest = hashlib.sha256(prefix[:8] + mac + struct.pack("!I", counter) + secret).digest()
        iid = digest[:8]
        if iid != b"\x00" * 8 and not (iid[:7] == b"\xfd\xff\xff\xff\xff\xff\xff" and iid[7] >= 0x80):
            return iid
    raise AssertionError("eight reserved identifiers in a row")  # pragma: no cover (probability 2**-400)


IPPROTO_UDP = 17


def udp(src: bytes, dst: bytes, sport: int, dport: int, data: bytes, *, hop_limit: int) -> bytes:
    """An IPv6 packet carrying a UDP datagram; the checksum is mandatory over IPv6 (RFC 8200 8.1)."""
    length = 8 + len(data)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    csum = checksum(src, dst, IPPROTO_UDP, header + data) or 0xFFFF
    return packet(src, dst, IPPROTO_UDP, header[:6] + csum.to_bytes(2, "big") + data, hop_limit=hop_limit)
