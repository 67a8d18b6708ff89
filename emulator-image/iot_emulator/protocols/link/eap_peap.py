"""PEAPv0's phase 2: EAP-MSCHAPv2 inside the TLS tunnel, then the Result TLV ([MS-PEAP], RFC 2759).

PEAPv0 as Microsoft and FreeRADIUS run it sends the inner EAP packets without their 4-byte header
(type and data only), except the EAP-TLV packets (type 33, the Result TLV), which carry a full
header. A packet is taken as whole when its header's length matches and its type is 33.
EAP-MSCHAPv2 packets: draft-kamath-pppext-eap-mschapv2 (OpCodes 1 Challenge, 2 Response,
3 Success, 4 Failure).
"""

from __future__ import annotations

import os
import struct

from iot_emulator.protocols.link import eap, mschapv2

TLV = 33
RESULT_TLV = 3
_CHALLENGE, _RESPONSE, _SUCCESS, _FAILURE = 1, 2, 3, 4


class PeapInner:
    """The inside of one PEAP conversation; `__call__(plaintext) -> plaintext` for `eap_tls.TlsPeer`."""

    __slots__ = ("_expected", "_password", "identity", "result")

    def __init__(self, identity: str, password: str) -> None:
        self.identity = identity
        self._password = password
        self._expected: str | None = None  # the server's "S=" proof we expect after our response
        self.result: bool | None = None
        """True once the server proved it knows the password and sent a success Result TLV."""

    def __call__(self, data: bytes) -> bytes:
        whole = len(data) >= 5 and data[0] == eap.Code.REQUEST and struct.unpack_from("!H", data, 2)[0] == len(data)
        if whole and data[4] == TLV:
            return self._result_tlv(data[1], data[5:])
        if not data:
            return b""
        kind = data[0]
        if kind == eap.Method.IDENTITY:
            return bytes([eap.Method.IDENTITY]) + self.identity.encode()
        if kind != eap.Method.MSCHAPV2 or len(data) < 2:
            return bytes([eap.Method.NAK, eap.Method.MSCHAPV2])
        opcode = data[1]
        if opcode == _CHALLENGE and len(data) >= 6 + 16 and data[5] == 16:
            return self._response(data[2], data[6:22])
        if opcode == _SUCCESS:
            message = data[5:].decode("latin-1")
            self.result = self._expected is not None and message.startswith(self._expected)
            return bytes([eap.Method.MSCHAPV2, _SUCCESS])
        self.result = False  # Failure (E=691: wrong password) or nonsense
        return bytes([eap.Method.MSCHAPV2, _FAILURE])

    def _response(self, ms_id: int, challenge: bytes) -> bytes:
        peer = os.urandom(16)
        nt = mschapv2.nt_response(challenge, peer, self.identity, self._password)
        self._expected = mschapv2.authenticator_response(self._password, nt, peer, challenge, self.identity)
        value = peer + b"\x00" * 8 + nt + b"\x00"
        name = self.identity.encode()
        body = struct.pack("!BBHB", _RESPONSE, ms_id, 4 + 1 + len(value) + len(name), len(value)) + value + name
        return bytes([eap.Method.MSCHAPV2]) + body

    def _result_tlv(self, identifier: int, tlvs: bytes) -> bytes:
        status = 2  # failure unless the server says success and proved itself
        while len(tlvs) >= 4:
            kind, length = struct.unpack_from("!HH", tlvs)
            if kind & 0x3FFF == RESULT_TLV and length == 2 and len(tlvs) >= 6:
                status = struct.unpack_from("!H", tlvs, 4)[0]
            tlvs = tlvs[4 + length :]
        if status != 1 or not self.result:
            status, self.result = 2, False
        tlv = struct.pack("!HHH", 0x8000 | RESULT_TLV, 2, status)
        return eap.eap(eap.Code.RESPONSE, identifier, TLV, tlv)
