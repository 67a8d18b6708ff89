"""S7comm on ISO-on-TCP (RFC 1006 TPKT, ISO 8073 COTP class 0): how a Siemens PLC names itself on port 102.

OT-discovery products, PLCScan and nmap's `s7-info` open a COTP connection to the CPU's TSAP,
negotiate an S7 PDU (Setup communication) and read two system state lists: SZL 0x0011 (module
identification: order number, hardware, firmware version) and SZL 0x001C (component
identification: station and module names, plant id, copyright, serial number). The layouts are
Siemens' ("System Software for S7-300/400 System and Standard Functions", SZL-IDs W#16#xy11 and
W#16#xy1C); the S7 header and userdata framing are those Wireshark's s7comm dissector reads. Any
other job is refused (error class 0x81, code 0x04: not allowed at the protection level, as a
CPU with PUT/GET off answers), another SZL gets "object does not exist". Pure function of the bytes
received so far; one TPKT at most 1 KB (the TPDU size offered, 0x0a).
"""

from __future__ import annotations

import struct

from iot_emulator.profiles import answers
from iot_emulator.protocols.servers import tcp_server

TPKT = struct.Struct("!BBH")
"""version 3, reserved, length of the whole packet"""
MAX_TPKT = 1024 + 7
COTP_CR, COTP_CC, COTP_DT, COTP_DR = 0xE0, 0xD0, 0xF0, 0x80
S7_JOB, S7_ACK_DATA, S7_USERDATA = 0x01, 0x03, 0x07
SETUP_COMMUNICATION = 0xF0
SZL_MODULE_ID, SZL_COMPONENT_ID = 0x0011, 0x001C
COMPONENT_FIELD = 32
"""bytes of each SZL 0x001C record's text (zero-padded)"""
MODULE_FIELD = 20
"""bytes of the order number (MLFB) in SZL 0x0011 records (space-padded)"""


def _tpkt(cotp_and_data: bytes) -> bytes:
    return TPKT.pack(3, 0, TPKT.size + len(cotp_and_data)) + cotp_and_data


def _field(text: str) -> bytes:
    """An SZL 0x001C text: zero-padded, always zero-terminated (s7-info reads C strings)."""
    return text.encode("latin-1", "replace")[: COMPONENT_FIELD - 1].ljust(COMPONENT_FIELD, b"\0")


def _dt(s7: bytes) -> bytes:
    return _tpkt(bytes([2, COTP_DT, 0x80]) + s7)


class S7Comm(tcp_server.SpeaksSecond):
    """The S7 server of one profile's PLC, shared by its devices."""

    protocol = "s7comm"

    def __init__(self, service: answers.S7Service) -> None:
        self.service = service
        major, minor, patch = (int(part) for part in service.firmware.removeprefix("V").split("."))
        order = service.order_number.ljust(MODULE_FIELD).encode("latin-1")
        records = [
            (1, order, 0x00C0, service.hardware_version, 1),
            (6, order, 0x00C0, service.hardware_version, 1),
            (7, b" " * MODULE_FIELD, 0x00C0, 0x5600 | major, minor << 8 | patch),
        ]
        self.module_records = b"".join(struct.pack("!H20sHHH", *record) for record in records)

    def component_records(self, facts: tcp_server.Facts, now: float) -> bytes:
        values = facts.values(now)
        service = self.service
        fields = [
            (1, service.system_name),
            (2, service.module_name),
            (3, service.plant_id),
            (4, service.copyright),
            (5, service.serial_number),
            (7, service.module_type),
        ]
        return b"".join(struct.pack("!H", index) + _field(tcp_server.render(text, values)) for index, text in fields)

    def respond(self, facts: tcp_server.Facts, request: bytes, now: float) -> tcp_server.Reply | None:
        if len(request) < TPKT.size:
            return None
        version, _, length = TPKT.unpack_from(request)
        if version != 3 or not TPKT.size + 3 <= length <= MAX_TPKT:
            return tcp_server.Reply(b"", len(request))  # not ISO-on-TCP: close, as the CPU does
        if len(request) < length:
            return None
        cotp = request[TPKT.size : length]
        kind = cotp[1] & 0xF0
        if kind == COTP_CR and len(cotp) >= 7:
            return tcp_server.Reply(self.connect_confirm(cotp), length, close=False)
        if kind == COTP_DT and len(cotp) >= 3 and len(cotp) >= cotp[0] + 1:
            answer = self.s7(cotp[cotp[0] + 1 :], facts, now)
            return tcp_server.Reply(answer or b"", length, close=answer is None)
        return tcp_server.Reply(b"", length)  # DR, an unknown TPDU: close

    def connect_confirm(self, cr: bytes) -> bytes:
        """CC for a CR: the caller's reference, ours, class 0, TPDU size 1024 and the TSAPs it asked for."""
        params, offset = {}, 7
        while offset + 2 <= len(cr) and offset < cr[0] + 1:
            code, size = cr[offset], cr[offset + 1]
            params[code] = cr[offset + 2 : offset + 2 + size]
            offset += 2 + size
        body = bytes([COTP_CC]) + cr[4:6] + b"\x00\x01\x00" + b"\xc0\x01\x0a"
        for code in (0xC1, 0xC2):
            if code in params:
                body += bytes([code, len(params[code])]) + params[code]
        return _tpkt(bytes([len(body)]) + body)

    def s7(self, pdu: bytes, facts: tcp_server.Facts, now: float) -> bytes | None:
        """The answer to one S7 PDU, or None to close (not S7comm)."""
        if len(pdu) < 10 or pdu[0] != 0x32:
            return None
        rosctr, ref = pdu[1], pdu[4:6]
        param_length, data_length = struct.unpack_from("!HH", pdu, 6)
        params = pdu[10 : 10 + param_length]
        data = pdu[10 + param_length : 10 + param_length + data_length]
        if rosctr == S7_JOB and params[:1] == bytes([SETUP_COMMUNICATION]) and len(params) >= 8:
            calling, called, size = struct.unpack_from("!HHH", params, 2)
            answer = struct.pack(
                "!BBHHH", SETUP_COMMUNICATION, 0, min(calling, 3), min(called, 3), min(size, self.service.pdu_size)
            )
            return _dt(struct.pack("!BBH2sHHBB", 0x32, S7_ACK_DATA, 0, ref, len(answer), 0, 0, 0) + answer)
        if rosctr == S7_JOB:
            answer = params[:1] + b"\x00"
            return _dt(struct.pack("!BBH2sHHBB", 0x32, S7_ACK_DATA, 0, ref, len(answer), 0, 0x81, 0x04) + answer)
        if rosctr == S7_USERDATA and len(params) >= 8 and len(data) >= 8 and params[5] & 0x0F == 4 and params[6] == 1:
            szl_id, index = struct.unpack_from("!HH", data, 4)
            if szl_id & 0x00FF == SZL_MODULE_ID:
                records, size = self.module_records, 28
            elif szl_id & 0x00FF == SZL_COMPONENT_ID:
                records, size = self.component_records(facts, now), 2 + COMPONENT_FIELD
            else:
                records, size = b"", 0
            param = bytes([0x00, 0x01, 0x12, 0x08, 0x12, 0x84, 0x01, params[7], 0x00, 0x00])
            if size:
                body = struct.pack("!HHHH", szl_id, index, size, len(records) // size) + records
                answer = param + b"\x00\x00" + b"\xff\x09" + struct.pack("!H", len(body)) + body
            else:  # SZL not available: return code 0x0a "object does not exist", error 0xd401
                answer = param + b"\xd4\x01" + b"\x0a\x00\x00\x00"
            s7_header = struct.pack("!BBH2sHH", 0x32, S7_USERDATA, 0, ref, 12, len(answer) - 12)
            return _dt(s7_header + answer)
        return None
