"""DICOM Upper Layer acceptor with the Verification service (DICOM PS3.8 section 9, PS3.7 section 9.1.5).

Medical-device discovery (and nmap's `dicom-ping`, dcmtk's `echoscu`) finds a DICOM node by opening
an association: A-ASSOCIATE-RQ, then an A-ASSOCIATE-AC (or -RJ when the called AE title is checked),
then a C-ECHO. This acceptor answers each PDU on its own, so a connection keeps no state beyond its
buffer: presentation contexts for Verification are accepted with Implicit VR Little Endian, others
are refused (abstract syntax not supported); C-ECHO-RQ gets C-ECHO-RSP status 0 (command sets are
always Implicit VR Little Endian, PS3.7 6.3.1); A-RELEASE-RQ gets A-RELEASE-RP and the close.
"""

from __future__ import annotations

import struct

from iot_emulator.profiles import answers
from iot_emulator.protocols.servers import tcp_server

HEADER = struct.Struct("!BxI")
ITEM = struct.Struct("!BxH")
ASSOCIATE_RQ, ASSOCIATE_AC, ASSOCIATE_RJ, P_DATA, RELEASE_RQ, RELEASE_RP, ABORT = 1, 2, 3, 4, 5, 6, 7
APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"
VERIFICATION = b"1.2.840.10008.1.1"
IMPLICIT_LE = b"1.2.840.10008.1.2"
MAX_PDU = 16384
"""Maximum length received, announced in the A-ASSOCIATE-AC (item 51h)."""
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030


def pdu(kind: int, body: bytes) -> bytes:
    return HEADER.pack(kind, len(body)) + body


def item(kind: int, body: bytes) -> bytes:
    return ITEM.pack(kind, len(body)) + body


def items(data: bytes) -> list[tuple[int, bytes]]:
    """The (type, value) items of a variable-items field; stops at a truncated one."""
    out, offset = [], 0
    while offset + ITEM.size <= len(data):
        kind, length = ITEM.unpack_from(data, offset)
        offset += ITEM.size
        out.append((kind, data[offset : offset + length]))
        offset += length
    return out


def _element(tag: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0, tag, len(value)) + value


def command(data: bytes) -> dict[int, bytes]:
    """Group 0000 elements (Implicit VR Little Endian) of a command set: element number -> value."""
    out, offset = {}, 0
    while offset + 8 <= len(data):
        group, element, length = struct.unpack_from("<HHI", data, offset)
        offset += 8
        if group != 0 or length > len(data) - offset:
            break
        out[element] = data[offset : offset + length]
        offset += length
    return out


def echo_response(context_id: int, message_id: bytes) -> bytes:
    uid = VERIFICATION + b"\0" * (len(VERIFICATION) % 2)
    rest = (
        _element(0x0002, uid)
        + _element(0x0100, struct.pack("<H", C_ECHO_RSP))
        + _element(0x0120, message_id[:2].ljust(2, b"\0"))
        + _element(0x0800, struct.pack("<H", 0x0101))  # no data set
        + _element(0x0900, struct.pack("<H", 0))  # success
    )
    body = _element(0x0000, struct.pack("<I", len(rest))) + rest
    pdv = struct.pack("!IBB", len(body) + 2, context_id, 0x03)  # command, last fragment
    return pdu(P_DATA, pdv + body)


class Dicom(tcp_server.SpeaksSecond):
    protocol = "dicom"

    def __init__(self, service: answers.DicomService) -> None:
        self.ae_title = None if service.ae_title is None else service.ae_title.encode("ascii")
        self.user_info = item(
            0x50,
            item(0x51, struct.pack("!I", MAX_PDU))
            + item(0x52, service.implementation_class_uid.encode("ascii"))
            + item(0x55, service.implementation_version.encode("ascii")),
        )

    def accept(self, request: bytes) -> bytes:
        """The A-ASSOCIATE-AC (or -RJ) for an A-ASSOCIATE-RQ's body."""
        called, calling = request[4:20], request[20:36]
        if self.ae_title is not None and called.strip(b" \0") != self.ae_title:
            return pdu(ASSOCIATE_RJ, bytes([0, 1, 1, 7]))  # permanent, service-user, called AE not recognized
        contexts = b""
        for kind, value in items(request[68:]):
            if kind != 0x20 or len(value) < 4:
                continue
            subs = items(value[4:])
            abstract = next((v.rstrip(b"\0") for k, v in subs if k == 0x30), b"")
            offered = [v.rstrip(b"\0") for k, v in subs if k == 0x40]
            if abstract != VERIFICATION:
                result, syntax = 3, offered[0] if offered else IMPLICIT_LE  # abstract syntax not supported
            elif IMPLICIT_LE in offered:
                result, syntax = 0, IMPLICIT_LE
            else:
                result, syntax = 4, offered[0] if offered else IMPLICIT_LE  # transfer syntaxes not supported
            contexts += item(0x21, bytes([value[0], 0, result, 0]) + item(0x40, syntax))
        head = struct.pack("!HH", 1, 0) + called + calling + bytes(32)
        return pdu(ASSOCIATE_AC, head + item(0x10, APPLICATION_CONTEXT) + contexts + self.user_info)

    def respond(self, facts: tcp_server.Facts, request: bytes, now: float) -> tcp_server.Reply | None:
        if len(request) < HEADER.size:
            return None
        kind, length = HEADER.unpack_from(request)
        if not ASSOCIATE_RQ <= kind <= ABORT or length > MAX_PDU:  # not DICOM, or too big: A-ABORT and close
            return tcp_server.Reply(pdu(ABORT, bytes(4)), len(request))
        end = HEADER.size + length
        if len(request) < end:
            return None
        body = request[HEADER.size : end]
        if kind == ASSOCIATE_RQ and len(body) >= 68:
            reply = self.accept(body)
            return tcp_server.Reply(reply, end, close=reply[0] == ASSOCIATE_RJ)
        if kind == P_DATA and len(body) >= 6:
            fields = command(body[6:])
            if int.from_bytes(fields.get(0x0100, b""), "little") == C_ECHO_RQ:
                return tcp_server.Reply(echo_response(body[4], fields.get(0x0110, b"")), end, close=False)
            return tcp_server.Reply(pdu(ABORT, bytes(4)), end)
        if kind == RELEASE_RQ:
            return tcp_server.Reply(pdu(RELEASE_RP, bytes(4)), end)
        return tcp_server.Reply(b"", end, close=kind in (ABORT, RELEASE_RP))
