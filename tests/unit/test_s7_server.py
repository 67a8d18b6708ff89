"""S7comm on port 102, driven with the exact packets of nmap 7.93's s7-info script (after PLCScan) through
the device's TCP stack, and read back at the offsets that script reads (1-based Lua offsets, kept as such)."""

from __future__ import annotations

from typing import Any

from scapy.layers.inet import TCP

from iot_emulator.profiles import catalog
from iot_emulator.protocols.servers import s7_server
from tests.unit.test_tcp_server import SCANNER_ISS, connect, setup

COTP_CR = bytes.fromhex("0300001611e00000001400c1020100c2020102c0010a")
SETUP = bytes.fromhex("0300001902f08032010000000000080000f0000001000101e0")
READ_SZL_0011 = bytes.fromhex("0300002102f080320700000000000800080001120411440100ff09000400110001")
READ_SZL_001C = bytes.fromhex("0300002102f080320700000000000800080001120411440100ff090004001c0001")
S7: dict[str, Any] = {
    "kind": "s7comm",
    "order_number": "6ES7 511-1AK02-0AB0",
    "hardware_version": 2,
    "firmware": "V2.9.4",
    "system_name": "S71500/ET200MP station_1",
    "module_name": "PLC_1",
    "serial_number": "S V-L9A{MAC6}2019",
    "module_type": "CPU 1511-1 PN",
}


def zstring(data: bytes, lua_offset: int) -> str:
    """Lua's string.unpack("z", data, offset): bytes up to the first zero."""
    return data[lua_offset - 1 :].split(b"\0", 1)[0].decode("latin-1")


class Session:
    """One TCP connection to port 102; `ask` sends one packet and returns the device's answer."""

    def __init__(self) -> None:
        self.env, self.peer = setup([S7])
        synack = connect(self.env, self.peer, 102)
        self.seq, self.ack = SCANNER_ISS + 1, synack[TCP].seq + 1

    def ask(self, data: bytes) -> tuple[bytes, list[str]]:
        self.peer.send(TCP(sport=40000, dport=102, flags="PA", seq=self.seq, ack=self.ack, window=8192) / data)
        self.seq += len(data)
        segments = self.peer.segments()
        answer = b"".join(bytes(s[TCP].payload) for s in segments)
        self.ack += len(answer) + sum(1 for s in segments if "F" in str(s[TCP].flags))
        return answer, [str(s[TCP].flags) for s in segments]


def test_s7_info_exchange_reads_module_versions_and_component_names() -> None:
    session = Session()
    cc, _ = session.ask(COTP_CR)
    assert cc == bytes.fromhex("0300001611d00014000100c0010ac1020100c2020102")  # byte 6 = 0xd0, as s7-info checks
    setup_ack, _ = session.ask(SETUP)
    assert setup_ack == bytes.fromhex("0300001b02f080320300000000000800000000f0000001000101e0")
    first, flags = session.ask(READ_SZL_0011)
    assert first[7] == 0x32 and len(first) >= 125 and "F" not in "".join(flags)
    assert zstring(first, 44) == "6ES7 511-1AK02-0AB0 " and zstring(first, 72) == "6ES7 511-1AK02-0AB0 "
    assert tuple(first[122:125]) == (2, 9, 4)  # Lua string.unpack("BBB", response, 123)
    second, _ = session.ask(READ_SZL_001C)
    offset = 0 if second[30] == 0x1C else 4  # the script's own test of byte 31
    assert offset == 4
    assert (
        zstring(second, 40 + offset),
        zstring(second, 74 + offset),
        zstring(second, 108 + offset),
        zstring(second, 142 + offset),
        zstring(second, 176 + offset),
    ) == ("S71500/ET200MP station_1", "PLC_1", "", "Original Siemens Equipment", "S V-L9A0A0B0C2019")


def test_other_jobs_are_refused_unknown_szl_does_not_exist_and_non_tpkt_closes() -> None:
    session = Session()
    session.ask(COTP_CR)
    session.ask(SETUP)
    read_var = bytes.fromhex("0300001f02f080320100000001000e00000401120a10020001000084000000")
    refused, _ = session.ask(read_var)
    assert refused[7:9] == b"\x32\x03" and refused[17:19] == b"\x81\x04" and refused[19] == 0x04
    unknown, _ = session.ask(READ_SZL_0011.replace(bytes.fromhex("00110001"), bytes.fromhex("04240000")))
    assert unknown[27:29] == b"\xd4\x01" and unknown[29] == 0x0A
    _, flags = session.ask(b"GET / HTTP/1.0\r\n\r\n")
    assert any("F" in f for f in flags)


def test_shipped_plc_profile_answers_with_its_firmware() -> None:
    [service] = [s for s in catalog.builtin().get("siemens-s7-1500").listen if s.kind == "s7comm"]
    server = s7_server.S7Comm(service)  # type: ignore[arg-type]
    assert server.module_records[2:22] == b"6ES7 511-1AK02-0AB0 " and server.module_records[-4:] == b"V\x02\x09\x04"
