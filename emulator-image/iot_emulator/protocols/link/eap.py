"""EAPOL and EAP framing: what an 802.1X supplicant reads and writes on the wire.

EAPOL (IEEE 802.1X-2010 clause 11) carries EAP (RFC 3748) in Ethernet frames of ethertype 0x888E,
sent to the PAE group address 01:80:C2:00:00:03 (no bridge forwards it) or to the authenticator's
MAC. Parsing is bounded: a frame's declared lengths must fit the frame or it is ignored.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

from iot_emulator.protocols.link import wire

ETH_P_PAE = 0x888E
PAE_GROUP = bytes.fromhex("0180c2000003")

_EAPOL = struct.Struct("!BBH")
_EAP = struct.Struct("!BBH")


class EapolType(IntEnum):
    EAP_PACKET = 0
    START = 1
    LOGOFF = 2


class Code(IntEnum):
    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


class Method(IntEnum):
    """EAP method types (IANA "EAP Method Types") the supplicant knows."""

    IDENTITY = 1
    NOTIFICATION = 2
    NAK = 3
    MD5 = 4
    TLS = 13
    PEAP = 25
    MSCHAPV2 = 26


class Eap(NamedTuple):
    code: int
    identifier: int
    type: int | None
    """None for Success and Failure, which carry no type."""
    data: bytes


def eapol(src: bytes, dst: bytes, kind: EapolType, body: bytes = b"", *, version: int = 2) -> bytes:
    """One EAPOL frame: Ethernet header, EAPOL header, body (an EAP packet or nothing)."""
    return wire.ethernet(dst, src, ETH_P_PAE, _EAPOL.pack(version, kind, len(body)) + body)


def eap(code: int, identifier: int, type_: int | None = None, data: bytes = b"") -> bytes:
    """An EAP packet (RFC 3748 section 4)."""
    payload = b"" if type_ is None else bytes([type_]) + data
    return _EAP.pack(code, identifier & 0xFF, 4 + len(payload)) + payload


def parse(frame: bytes) -> tuple[int, Eap | None] | None:
    """(EAPOL packet type, its EAP packet if it carries one) of an EAPOL frame, or None if malformed."""
    if wire.ethertype(frame) != ETH_P_PAE or len(frame) < 18:
        return None
    _version, kind, length = _EAPOL.unpack_from(frame, 14)
    body = frame[18 : 18 + length]
    if len(body) < length:
        return None
    if kind != EapolType.EAP_PACKET:
        return kind, None
    if length < 4:
        return None
    code, identifier, eap_length = _EAP.unpack_from(body)
    if not 4 <= eap_length <= length:
        return None
    if code in (Code.REQUEST, Code.RESPONSE):
        if eap_length < 5:
            return None
        return kind, Eap(code, identifier, body[4], body[5:eap_length])
    return kind, Eap(code, identifier, None, b"")
