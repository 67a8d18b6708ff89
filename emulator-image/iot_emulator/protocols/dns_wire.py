"""DNS messages (RFC 1035 section 4) for the stub resolver and the mDNS responder: encode, parse.

Names are compressed on encoding (RFC 1035 4.1.4; RFC 6762 18.14 allows it in PTR and SRV data
too, and mDNS responders use it) and pointers are followed, with a loop guard, on parsing. The
record types are those a device needs: A, CNAME and SOA for resolution (RFC 2308 negative caching
reads the SOA), PTR, SRV (RFC 2782) and TXT for DNS-SD (RFC 6763). The top bit of the class is
the mDNS cache-flush bit in records and the unicast-response bit in questions (RFC 6762 10.2, 5.4).

Struct, not Scapy, for the same reason as `wire`: a responder of every device parses every query
on the link. Tests check these bytes with Scapy's DNS layer.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import NamedTuple, cast

TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_PTR = 12
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_SRV = 33
TYPE_ANY = 255
CLASS_IN = 1
TOP_BIT = 0x8000
"""Class top bit: cache-flush in an mDNS record, unicast-response (QU) in an mDNS question."""
FLAG_RESPONSE = 0x8000
FLAG_AUTHORITATIVE = 0x0400
FLAG_TRUNCATED = 0x0200
FLAG_RECURSION_DESIRED = 0x0100
RCODE_NXDOMAIN = 3
_HEADER = struct.Struct("!HHHHHH")
_MAX_POINTERS = 64
_NAME_TYPES = frozenset({TYPE_PTR, TYPE_CNAME, TYPE_NS})


class Srv(NamedTuple):
    priority: int
    weight: int
    port: int
    target: str


class Soa(NamedTuple):
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


RData = bytes | str | Srv | Soa | tuple[bytes, ...]
"""A: 4 bytes; PTR/CNAME/NS: a name; SRV: Srv; SOA: Soa; TXT: its strings; other types: raw rdata."""


class Question(NamedTuple):
    name: str
    qtype: int
    qclass: int = CLASS_IN

    @property
    def unicast_response(self) -> bool:
        """mDNS QU question (RFC 6762 5.4)."""
        return bool(self.qclass & TOP_BIT)


class Record(NamedTuple):
    name: str
    rtype: int
    ttl: int
    data: RData
    rclass: int = CLASS_IN

    @property
    def cache_flush(self) -> bool:
        return bool(self.rclass & TOP_BIT)

    def key(self) -> tuple[str, int, RData]:
        """What makes two records the same record (names compare case-insensitively), TTL aside."""
        data = self.data.lower() if isinstance(self.data, str) else self.data
        if isinstance(data, Srv):
            data = data._replace(target=data.target.lower())
        return self.name.lower(), self.rtype, data


@dataclasses.dataclass
class Message:
    id: int = 0
    flags: int = 0
    questions: list[Question] = dataclasses.field(default_factory=list)
    answers: list[Record] = dataclasses.field(default_factory=list)
    authority: list[Record] = dataclasses.field(default_factory=list)
    additional: list[Record] = dataclasses.field(default_factory=list)

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_RESPONSE)

    @property
    def rcode(self) -> int:
        return self.flags & 0x000F


# -- names ------------------------------------------------------------------------------------------


def split_name(name: str) -> list[str]:
    """Labels of a dotted name; `\\.` is a dot inside a label (a DNS-SD instance name may hold one)."""
    labels, label, escaped = [], [], False
    for char in name:
        if escaped:
            label.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            labels.append("".join(label))
            label = []
        else:
            label.append(char)
    labels.append("".join(label))
    return [part for part in labels if part]


def join_labels(labels: list[str]) -> str:
    return ".".join(label.replace("\\", "\\\\").replace(".", "\\.") for label in labels)


def same_name(a: str, b: str) -> bool:
    """DNS names compare case-insensitively (RFC 4343), with or without the root dot."""
    return a.rstrip(".").lower() == b.rstrip(".").lower()


# -- encoding ---------------------------------------------------------------------------------------


class _Writer:
    def __init__(self, *, compress: bool = True) -> None:
        self.buf = bytearray()
        self.compress = compress
        self._offsets: dict[tuple[str, ...], int] = {}

    def name(self, name: str) -> None:
        labels = split_name(name)
        for i in range(len(labels)):
            suffix = tuple(label.lower() for label in labels[i:])
            offset = self._offsets.get(suffix)
            if offset is not None:
                self.buf += struct.pack("!H", 0xC000 | offset)
                return
            if self.compress and len(self.buf) < 0x3FFF:
                self._offsets[suffix] = len(self.buf)
            raw = labels[i].encode()
            if len(raw) > 63:
                raise ValueError(f"label {labels[i]!r} of {name!r} is longer than 63 bytes")
            self.buf += bytes([len(raw)]) + raw
        self.buf += b"\x00"

    def question(self, q: Question) -> None:
        self.name(q.name)
        self.buf += struct.pack("!HH", q.qtype, q.qclass)

    def record(self, r: Record) -> None:
        self.name(r.name)
        self.buf += struct.pack("!HHIH", r.rtype, r.rclass, r.ttl, 0)
        start = len(self.buf)
        self.rdata(r.data)
        struct.pack_into("!H", self.buf, start - 2, len(self.buf) - start)

    def rdata(self, data: RData) -> None:
        if isinstance(data, str):
            self.name(data)
        elif isinstance(data, Srv):
            self.buf += struct.pack("!HHH", data.priority, data.weight, data.port)
            self.name(data.target)
        elif isinstance(data, Soa):
            self.name(data.mname)
            self.name(data.rname)
            self.buf += struct.pack("!IIIII", data.serial, data.refresh, data.retry, data.expire, data.minimum)
        elif isinstance(data, tuple):
            strings = cast(tuple[bytes, ...], data)  # Srv and Soa, tuples too, were handled above
            self.buf += b"".join(bytes([len(s)]) + s for s in strings) if strings else b"\x00"  # RFC 6763 6.1
        else:
            self.buf += data


def encode(message: Message) -> bytes:
    w = _Writer()
    w.buf += _HEADER.pack(
        message.id,
        message.flags,
        len(message.questions),
        len(message.answers),
        len(message.authority),
        len(message.additional),
    )
    for q in message.questions:
        w.question(q)
    for section in (message.answers, message.authority, message.additional):
        for r in section:
            w.record(r)
    return bytes(w.buf)


def rdata(record: Record) -> bytes:
    """A record's data as uncompressed bytes: what RFC 6762 8.2 compares to break a probing tie."""
    w = _Writer(compress=False)
    w.rdata(record.data)
    return bytes(w.buf)


def query(ident: int, name: str, qtype: int = TYPE_A) -> bytes:
    """A recursive query (RD set) for one name, as a stub resolver sends it: no EDNS, one question."""
    return encode(Message(ident, FLAG_RECURSION_DESIRED, [Question(name, qtype)]))


# -- parsing ----------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def name(self) -> str:
        labels: list[str] = []
        pos, jumps, end = self.pos, 0, None
        while True:
            if pos >= len(self.data):
                raise ValueError("name runs past the message")
            length = self.data[pos]
            if length & 0xC0 == 0xC0:
                if pos + 1 >= len(self.data) or jumps >= _MAX_POINTERS:
                    raise ValueError("bad compression pointer")
                end = pos + 2 if end is None else end
                pos, jumps = ((length & 0x3F) << 8) | self.data[pos + 1], jumps + 1
            elif length & 0xC0:
                raise ValueError("unknown label type")
            elif length == 0:
                self.pos = pos + 1 if end is None else end
                return join_labels(labels)
            else:
                labels.append(self.data[pos + 1 : pos + 1 + length].decode("utf-8", "replace"))
                pos += 1 + length

    def question(self) -> Question:
        name = self.name()
        qtype, qclass = struct.unpack("!HH", self.take(4))
        return Question(name, qtype, qclass)

    def record(self) -> Record:
        name = self.name()
        rtype, rclass, ttl, length = struct.unpack("!HHIH", self.take(10))
        end = self.pos + length
        if end > len(self.data):
            raise ValueError("rdata runs past the message")
        data: RData
        if rtype == TYPE_A and length == 4:
            data = self.take(4)
        elif rtype in _NAME_TYPES:
            data = self.name()
        elif rtype == TYPE_SRV:
            priority, weight, port = struct.unpack("!HHH", self.take(6))
            data = Srv(priority, weight, port, self.name())
        elif rtype == TYPE_SOA:
            mname, rname = self.name(), self.name()
            data = Soa(mname, rname, *struct.unpack("!IIIII", self.take(20)))
        elif rtype == TYPE_TXT:
            raw, strings, i = self.take(length), [], 0
            while i < len(raw):
                strings.append(raw[i + 1 : i + 1 + raw[i]])
                i += 1 + raw[i]
            data = tuple(s for s in strings if s)
        else:
            data = self.take(length)
        self.pos = end
        return Record(name, rtype, ttl, data, rclass)


def parse(data: bytes) -> Message | None:
    """The message, or None if it is malformed (a responder must not fail on what the link sends)."""
    if len(data) < _HEADER.size:
        return None
    ident, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    reader = _Reader(data)
    reader.pos = _HEADER.size
    try:
        questions = [reader.question() for _ in range(qd)]
        sections = [[reader.record() for _ in range(count)] for count in (an, ns, ar)]
    except (ValueError, struct.error):
        return None
    return Message(ident, flags, questions, *sections)
