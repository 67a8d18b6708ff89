"""Modbus/TCP server (Modbus Messaging on TCP/IP Implementation Guide v1.0b; Modbus Application Protocol v1.1b3).

A PLC's port 502 is read by nmap's modbus-discover script and by OT-discovery products with
Read Device Identification (function 43, MEI type 14): vendor name, product code, revision,
answered from the profile when its server implements it. Reads of coils, inputs and registers
(functions 1-4) answer zeros; any other function gets exception 01 (illegal function). A frame
whose MBAP length is impossible is answered at once with exception 01 for the byte where the
function would be, as the devices behind nmap's `match modbus m|^GET [\\0/]\\x03H\\xd4[\\x01-\\x03]|`
do to an HTTP request (tid "GE", protocol "T ", function 'T'): that is how nmap -sV names the port.
"""

from __future__ import annotations

import struct

from iot_emulator.profiles import answers
from iot_emulator.protocols.servers import tcp_server

MBAP = struct.Struct("!HHHB")
"""transaction id, protocol id, length (unit id + PDU), unit id"""
READ_DEVICE_ID, MEI_DEVICE_ID = 0x2B, 0x0E
ILLEGAL_FUNCTION, ILLEGAL_VALUE = 0x01, 0x03
READS = {1: 2000, 2: 2000, 3: 125, 4: 125}
"""Read functions -> the most items one request may ask (Modbus Application Protocol 6.1-6.4)."""
MAX_PDU = 253


class Modbus(tcp_server.SpeaksSecond):
    protocol = "modbus"

    def __init__(self, service: answers.ModbusService) -> None:
        ident = service.identification
        self.objects = None if ident is None else [ident.vendor_name, ident.product_code, ident.revision]

    def respond(self, facts: tcp_server.Facts, request: bytes, now: float) -> tcp_server.Reply | None:
        if len(request) < MBAP.size + 1:
            return None
        tid, pid, length, unit = MBAP.unpack_from(request)
        if length < 2 or length > MAX_PDU + 1:  # not a Modbus frame: refuse its "function" and drop the rest
            body = bytes([request[7] | 0x80, ILLEGAL_FUNCTION])
            return tcp_server.Reply(MBAP.pack(tid, pid, 3, unit) + body, len(request), close=False)
        end = 6 + length
        if len(request) < end:
            return None
        pdu = request[MBAP.size : end]
        function = pdu[0]
        if function == READ_DEVICE_ID and len(pdu) >= 4 and pdu[1] == MEI_DEVICE_ID and self.objects is not None:
            body = bytes([READ_DEVICE_ID, MEI_DEVICE_ID, pdu[2], 0x01, 0x00, 0x00, len(self.objects)])
            for index, text in enumerate(self.objects):
                value = text.encode("latin-1")
                body += bytes([index, len(value)]) + value
        elif function in READS and len(pdu) == 5:
            count = int.from_bytes(pdu[3:5], "big")
            if not 1 <= count <= READS[function]:
                body = bytes([function | 0x80, ILLEGAL_VALUE])
            else:
                size = (count + 7) // 8 if function <= 2 else 2 * count
                body = bytes([function, size]) + bytes(size)
        else:
            body = bytes([function | 0x80, ILLEGAL_FUNCTION])
        return tcp_server.Reply(MBAP.pack(tid, pid, len(body) + 1, unit) + body, end, close=False)
