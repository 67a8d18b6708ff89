"""Read the frames of a capture file: classic pcap (micro- or nanosecond, either byte order) and pcapng.

Why our own reader and not Scapy's: a capture given to `iotemu profiles learn` is untrusted input,
so every size is bounded (file, frame count, frame length) and a damaged file ends the reading
with a count, never with an exception. Ethernet and Linux cooked links are read; frames of
other link types are counted as skipped. Formats: libpcap (wiki.wireshark.org/Development/LibpcapFileFormat),
pcapng (IETF draft-ietf-opsawg-pcapng: SHB, IDB with if_tsresol, EPB, SPB); Linux cooked captures
(SLL, SLL2: tcpdump.org/linktypes) become Ethernet frames whose destination is UNKNOWN_MAC.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MAX_FILE_BYTES = 1 << 30
"""A capture larger than 1 GiB is refused: cut it with editcap or a capture filter first."""
MAX_FRAMES = 2_000_000
MAX_FRAME = 262_144
"""Longer records are damage (the largest snap length tools write)."""
LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2 = 113, 276
"""`tcpdump -i any`: a cooked header instead of Ethernet's; read as Ethernet with an unknown destination."""
UNKNOWN_MAC = bytes(6)
"""The destination of a cooked frame: SLL keeps only the sender's address (`packets` then goes by IP)."""
_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_EPB, _SPB, _IDB = 6, 3, 1


class CaptureError(ValueError):
    """The file is not a capture this reader knows, or is too large."""


@dataclasses.dataclass(frozen=True)
class Frame:
    time: float
    data: bytes


@dataclasses.dataclass
class Counts:
    """What the reader met: frames read, and the ones it could not use."""

    frames: int = 0
    not_ethernet: int = 0
    damaged: int = 0
    """Records cut short or with impossible lengths; the reading stops at the first."""


def read(path: Path, counts: Counts | None = None) -> Iterator[Frame]:
    """The Ethernet frames of `path`, in file order."""
    counts = counts if counts is not None else Counts()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CaptureError(f"cannot read {path}: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise CaptureError(f"{path} is {size} bytes, more than {MAX_FILE_BYTES}: cut it first (editcap -c)")
    with open(path, "rb") as file:
        magic = file.read(4)
        if magic in _PCAP_MAGIC:
            yield from _pcap(file, *_PCAP_MAGIC[magic], counts)
        elif magic == _PCAPNG_SHB:
            yield from _pcapng(file, counts)
        else:
            raise CaptureError(f"{path} is neither pcap nor pcapng (magic {magic.hex() or 'empty'})")


def _pcap(file: BinaryIO, order: str, unit: float, counts: Counts) -> Iterator[Frame]:
    header = file.read(20)
    if len(header) < 20:
        raise CaptureError("the pcap file header is cut short")
    linktype = struct.unpack(order + "I", header[16:20])[0] & 0x0FFFFFFF
    record = struct.Struct(order + "IIII")
    while counts.frames < MAX_FRAMES:
        head = file.read(record.size)
        if not head:
            return
        if len(head) < record.size:
            counts.damaged += 1
            return
        seconds, fraction, caplen, _ = record.unpack(head)
        if caplen > MAX_FRAME:
            counts.damaged += 1
            return
        data = file.read(caplen)
        if len(data) < caplen:
            counts.damaged += 1
            return
        counts.frames += 1
        ethernet = as_ethernet(linktype, data)
        if ethernet is None:
            counts.not_ethernet += 1
            continue
        yield Frame(seconds + fraction * unit, ethernet)


def _pcapng(file: BinaryIO, counts: Counts) -> Iterator[Frame]:
    order = "<"
    links: list[tuple[int, float]] = []  # per interface: (linktype, seconds per tick)
    first = True
    while counts.frames < MAX_FRAMES:
        head = _PCAPNG_SHB if first else file.read(4)
        first = False
        if not head:
            return
        rest = file.read(4)
        if len(head) < 4 or len(rest) < 4:
            counts.damaged += 1
            return
        if head == _PCAPNG_SHB:
            magic = file.read(4)
            order = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">" if magic == b"\x1a\x2b\x3c\x4d" else ""
            if not order:
                raise CaptureError("pcapng section header with an unknown byte-order magic")
            length = struct.unpack(order + "I", rest)[0]
            body = magic + file.read(max(0, length - 12))
            links = []  # interface ids restart in each section
        else:
            length = struct.unpack(order + "I", rest)[0]
            if length < 12 or length > MAX_FRAME + 64 or length % 4:
                counts.damaged += 1
                return
            body = file.read(length - 8)
        if len(body) < length - 8:
            counts.damaged += 1
            return
        kind = struct.unpack(order + "I", head)[0]
        body = body[:-4]  # the trailing copy of the length
        if kind == _IDB and len(body) >= 8:
            links.append((struct.unpack(order + "H", body[:2])[0], _tsresol(body[8:], order)))
        elif kind in (_EPB, _SPB):
            frame = _packet(kind, body, order, links, counts)
            if frame is not None:
                yield frame


def _packet(kind: int, body: bytes, order: str, links: list[tuple[int, float]], counts: Counts) -> Frame | None:
    if kind == _SPB:
        if len(body) < 4 or not links:
            counts.damaged += 1
            return None
        interface, stamp, data = 0, 0, body[4:]
    else:
        if len(body) < 20:
            counts.damaged += 1
            return None
        interface, high, low, caplen, _ = struct.unpack(order + "IIIII", body[:20])
        stamp, data = (high << 32) | low, body[20 : 20 + caplen]
        if len(data) < caplen or interface >= len(links):
            counts.damaged += 1
            return None
    counts.frames += 1
    linktype, tick = links[interface]
    ethernet = as_ethernet(linktype, data)
    if ethernet is None:
        counts.not_ethernet += 1
        return None
    return Frame(stamp * tick, ethernet)


def as_ethernet(linktype: int, data: bytes) -> bytes | None:
    """An Ethernet frame, or None for a link type this reader does not know (or a cooked header cut short)."""
    if linktype == LINKTYPE_ETHERNET:
        return data
    if linktype == LINKTYPE_LINUX_SLL and len(data) >= 16:
        kind, halen, address, protocol = struct.unpack("!H2xH8sH", data[:16])
        return _cooked(kind, halen, address, protocol, data[16:])
    if linktype == LINKTYPE_LINUX_SLL2 and len(data) >= 20:
        protocol, kind, halen, address = struct.unpack("!H6x2xBB8s", data[:20])
        return _cooked(kind, halen, address, protocol, data[20:])
    return None


def _cooked(kind: int, halen: int, address: bytes, protocol: int, payload: bytes) -> bytes | None:
    if halen != 6:
        return None
    dst = b"\xff" * 6 if kind == 1 else UNKNOWN_MAC  # 1: broadcast; to us, multicast, outgoing: not in the header
    return dst + address[:6] + struct.pack("!H", protocol) + payload


def _tsresol(options: bytes, order: str) -> float:
    """Seconds per timestamp tick of an interface (option 9, if_tsresol; default microseconds)."""
    i = 0
    while i + 4 <= len(options):
        code, size = struct.unpack(order + "HH", options[i : i + 4])
        if code == 0:
            break
        if code == 9 and size >= 1 and i + 5 <= len(options):
            value = options[i + 4]
            return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0**-value
        i += 4 + (size + 3) // 4 * 4
    return 1e-6
