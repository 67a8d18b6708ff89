"""The BER subset SNMP v1/v2c messages use (X.690 definite lengths; RFC 1157, RFC 3416 types).

An SNMP agent reads a SEQUENCE of version, community and one PDU of INTEGERs and a list of
(OID, value) pairs, and writes the same back; that is all this codec knows. Decoding raises
`BerError` on anything malformed, so the agent can drop a bad datagram in one place.
"""

from __future__ import annotations

INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IP_ADDRESS, COUNTER32, GAUGE32, TIMETICKS = 0x40, 0x41, 0x42, 0x43
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
GET, GET_NEXT, RESPONSE, SET, GET_BULK = 0xA0, 0xA1, 0xA2, 0xA3, 0xA5

Oid = tuple[int, ...]
Tlv = tuple[int, bytes]
"""(tag, contents)"""


class BerError(ValueError):
    pass


def tlv(tag: int, contents: bytes) -> bytes:
    size = len(contents)
    if size < 0x80:
        return bytes((tag, size)) + contents
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(raw))) + raw + contents


def integer(value: int, tag: int = INTEGER) -> bytes:
    """A two's-complement INTEGER; the unsigned application types (Counter32, TimeTicks) get a leading 0 when needed."""
    size = max(1, (value.bit_length() + 8) // 8)
    return tlv(tag, value.to_bytes(size, "big", signed=True))


def oid(value: Oid) -> bytes:
    if len(value) < 2:
        raise BerError("an OID has at least two arcs")
    out = bytearray([value[0] * 40 + value[1]])
    for arc in value[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def parse_oid_text(text: str) -> Oid:
    return tuple(int(part) for part in text.strip(".").split("."))


def read(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """(tag, contents, position after) of the TLV at `pos`."""
    if pos + 2 > len(data):
        raise BerError("truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise BerError("bad length")
        size = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        size = first
    if pos + size > len(data):
        raise BerError("truncated")
    return tag, data[pos : pos + size], pos + size


def items(contents: bytes) -> list[Tlv]:
    """The TLVs inside a constructed value, in order."""
    out, pos = [], 0
    while pos < len(contents):
        tag, value, pos = read(contents, pos)
        out.append((tag, value))
    return out


def to_int(contents: bytes) -> int:
    if not contents or len(contents) > 9:
        raise BerError("bad INTEGER")
    return int.from_bytes(contents, "big", signed=True)


def to_oid(contents: bytes) -> Oid:
    if not contents or contents[-1] & 0x80:
        raise BerError("bad OID")
    first = contents[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for byte in contents[1:]:
        value = value << 7 | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return tuple(arcs)
