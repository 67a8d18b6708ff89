"""TCP segments on the wire (RFC 9293 section 3.1; options RFC 9293 3.2, RFC 7323, RFC 2018), packed with struct.

The stack in `tcp.py` thinks in sequence numbers and states; this module only turns a segment
into bytes and back. The SYN's options are written in the profile's order, because that order
(p0f's `olayout`) is what passive fingerprinting reads first. Received checksums are not
verified: veth checksum offload leaves partial ones (see notes/raw-socket-facts.md).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

from iot_emulator.protocols.link import wire

FIN, SYN, RST, PSH, ACK, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x40, 0x80
HEADER = struct.Struct("!HHIIBBHHH")
OPT_EOL, OPT_NOP, OPT_MSS, OPT_WSCALE, OPT_SACK_OK, OPT_TS = 0, 1, 2, 3, 4, 8
MAX_OPTIONS = 40
_TS = struct.Struct("!BBII")
_MOD = 1 << 32


def seq_diff(a: int, b: int) -> int:
    """a - b in sequence space (RFC 9293 3.4: modulo 2**32), as a signed number."""
    return (a - b + (1 << 31)) % _MOD - (1 << 31)


class Options(NamedTuple):
    """The options of a received segment the stack acts on (absent ones are None/False)."""

    mss: int | None = None
    wscale: int | None = None
    sack_ok: bool = False
    ts: tuple[int, int] | None = None  # (TSval, TSecr)


class Segment(NamedTuple):
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    options: Options
    payload: bytes

    @property
    def length(self) -> int:
        """Sequence space the segment occupies: its data, plus one each for SYN and FIN."""
        return len(self.payload) + (1 if self.flags & SYN else 0) + (1 if self.flags & FIN else 0)


LINUX_LAYOUT = ("mss", "sackok", "ts", "nop", "wscale")


def answer_layout(layout: Sequence[str], *, ts: bool, wscale: bool, sackok: bool) -> list[str]:
    """A SYN-ACK's option layout: the profile's order without the options the peer's SYN lacked
    (RFC 7323 1.3: no TS or WS unless offered; RFC 2018 2: no SACK-permitted unless offered).

    Linux's layout keeps each option 32-bit aligned with NOPs (tcp_options_write): `S T`, or `N N T`
    without SACK, or `N N S` without TS, then `N W` (nmap -O's O3 `M5B4NNT11NW7`, ECN `M5B4NNSNW7`).
    For other layouts a NOP that only aligned a dropped option goes with it; `syn_options` pads.
    """
    out: list[str] = []
    if tuple(layout) == LINUX_LAYOUT:
        out.append("mss")
        if ts:
            out += ["sackok", "ts"] if sackok else ["nop", "nop", "ts"]
        elif sackok:
            out += ["nop", "nop", "sackok"]
        return out + (["nop", "wscale"] if wscale else [])
    keep = {"mss": True, "ts": ts, "wscale": wscale, "sackok": sackok, "eol": True}
    pending_nops = 0
    for name in layout:
        if name == "nop":
            pending_nops += 1
            continue
        if keep.get(name, True):
            out += ["nop"] * pending_nops + [name]
        pending_nops = 0
    return out


def syn_options(layout: Sequence[str], *, mss: int, wscale: int, tsval: int, tsecr: int = 0) -> bytes:
    """A SYN's options in the profile's order (`mss sackok ts nop wscale eol`), padded to 32 bits.

    Padding uses EOL (zero) bytes, which is what the RFC asks for and what stacks whose layout is
    not a multiple of four (p0f's `eol+N`) put there.
    """
    out = bytearray()
    for name in layout:
        if name == "mss":
            out += struct.pack("!BBH", OPT_MSS, 4, mss)
        elif name == "sackok":
            out += bytes((OPT_SACK_OK, 2))
        elif name == "ts":
            out += _TS.pack(OPT_TS, 10, tsval, tsecr)
        elif name == "nop":
            out.append(OPT_NOP)
        elif name == "wscale":
            out += bytes((OPT_WSCALE, 3, wscale))
        elif name == "eol":
            out.append(OPT_EOL)
        else:
            raise ValueError(f"unknown TCP option {name!r}")
    out += bytes(-len(out) % 4)
    if len(out) > MAX_OPTIONS:
        raise ValueError(f"TCP options take {len(out)} bytes, more than {MAX_OPTIONS}")
    return bytes(out)


def timestamp_option(tsval: int, tsecr: int) -> bytes:
    """NOP, NOP, TS: the 12 bytes Linux and most stacks put on every segment once RFC 7323 is on."""
    return b"\x01\x01" + _TS.pack(OPT_TS, 10, tsval & 0xFFFFFFFF, tsecr & 0xFFFFFFFF)


def build(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    options: bytes = b"",
    payload: bytes = b"",
) -> bytes:
    """One segment with its checksum over the IPv4 pseudo-header (RFC 9293 3.1), or over IPv6's for 16-byte
    addresses: RFC 8200 8.1's (32-bit length, 24 zero bits, next header) adds up to the same one's-complement
    sum as IPv4's (zero, protocol, 16-bit length) for a segment under 64 KiB."""
    offset = (20 + len(options)) // 4
    header = HEADER.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags, window, 0, 0)
    body = header + options + payload
    pseudo = src + dst + struct.pack("!BBH", 0, wire.IPPROTO_TCP, len(body))
    csum = wire.checksum(pseudo + body)
    return body[:16] + csum.to_bytes(2, "big") + body[18:]


def reset_for(src: bytes, dst: bytes, data: bytes) -> bytes | None:
    """The RST a closed port sends for a received segment (RFC 9293 3.10.7.1), or None (never answer a RST)."""
    segment = parse(data)
    if segment is None or segment.flags & RST:
        return None
    if segment.flags & ACK:
        return build(src, dst, segment.dport, segment.sport, segment.ack, 0, RST, 0)
    return build(src, dst, segment.dport, segment.sport, 0, segment.seq + segment.length, RST | ACK, 0)


def parse(data: bytes) -> Segment | None:
    """A received segment, or None if it is too short or malformed."""
    if len(data) < HEADER.size:
        return None
    sport, dport, seq, ack, offset_byte, flags, window, _csum, _urg = HEADER.unpack_from(data)
    offset = (offset_byte >> 4) * 4
    if offset < HEADER.size or offset > len(data):
        return None
    return Segment(sport, dport, seq, ack, flags, window, parse_options(data[HEADER.size : offset]), data[offset:])


def parse_options(raw: bytes) -> Options:
    """MSS, window scale, SACK-permitted and timestamps; anything else (SACK blocks, MD5) is skipped."""
    mss = wscale = None
    sack_ok = False
    ts = None
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == OPT_EOL:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2 or i + raw[i + 1] > len(raw):
            break  # malformed: keep what was read
        size = raw[i + 1]
        if kind == OPT_MSS and size == 4:
            mss = int.from_bytes(raw[i + 2 : i + 4], "big")
        elif kind == OPT_WSCALE and size == 3:
            wscale = min(raw[i + 2], 14)  # RFC 7323 2.3: larger values are treated as 14
        elif kind == OPT_SACK_OK and size == 2:
            sack_ok = True
        elif kind == OPT_TS and size == 10:
            _, _, tsval, tsecr = _TS.unpack_from(raw, i)
            ts = (tsval, tsecr)
        i += size
    return Options(mss, wscale, sack_ok, ts)
