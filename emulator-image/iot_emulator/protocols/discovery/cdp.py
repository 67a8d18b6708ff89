"""The "cdp" service: Cisco Discovery Protocol v2 as Cisco IP phones send it to their switch port.

Cisco switches (and NAC products that read the switch's CDP table, Cisco ISE's profiler first)
learn a phone's model, load and addresses from CDP; phones send it from link-up, beside LLDP-MED,
every 60 s with a hold time of 180 s. Frame: IEEE 802.3 with LLC/SNAP (AA AA 03, OUI 00000C, PID
0x2000) to 01:00:0c:cc:cc:cc; header version 2, TTL, checksum; TLVs Device ID, Addresses (once
the phone has one), Port ID, Capabilities, Software Version, Platform, Duplex. The checksum is
RFC 1071's, except that an odd last byte counts as the low byte of a word (Cisco's quirk, which
Wireshark's dissector reproduces).
"""

from __future__ import annotations

import struct

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols import service_kit, services

MULTICAST = bytes.fromhex("01000ccccccc")
SNAP = bytes.fromhex("aaaa0300000c2000")
VERSION = 2
DEVICE_ID, ADDRESSES, PORT_ID, CAPABILITIES, SOFTWARE, PLATFORM, DUPLEX = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0B


def checksum(data: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data[: len(data) // 2 * 2]))
    if len(data) % 2:
        total += data[-1]  # Cisco: the odd byte is the low byte of the last word
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value) + 4) + value


def packet(tlvs: list[bytes], ttl: int) -> bytes:
    """The CDP PDU (header and TLVs) with its checksum."""
    body = b"".join(tlvs)
    head = struct.pack("!BBH", VERSION, ttl, 0)
    return head[:2] + struct.pack("!H", checksum(head + body)) + body


def frame(src_mac: bytes, pdu: bytes) -> bytes:
    payload = SNAP + pdu
    return (MULTICAST + src_mac + struct.pack("!H", len(payload)) + payload).ljust(60, b"\x00")


class CdpAgent:
    name = "cdp"

    def __init__(self, context: services.Context, settings: catalog.Cdp) -> None:
        self.host = context.host
        self.config = context.config
        self.settings = settings
        self._due: float | None = None

    def pdu(self, ttl: int | None = None) -> bytes:
        s = self.settings
        tlvs = [tlv(DEVICE_ID, service_kit.fill(s.device_id, self.config).encode()[:255])]
        if self.host.address is not None:  # one address: NLPID (1), length 1, protocol 0xCC (IP), 4 bytes
            tlvs.append(tlv(ADDRESSES, struct.pack("!IBBBH", 1, 1, 1, 0xCC, 4) + self.host.address))
        tlvs += [
            tlv(PORT_ID, s.port_id.encode()),
            tlv(CAPABILITIES, struct.pack("!I", s.capabilities)),
            tlv(SOFTWARE, s.software_version.encode()),
            tlv(PLATFORM, s.platform.encode()),
            tlv(DUPLEX, b"\x01"),
        ]
        return packet(tlvs, s.holdtime if ttl is None else ttl)

    def start(self, now: float) -> None:
        self._due = now

    def on_timer(self, now: float) -> None:
        if self._due is None or self._due > now:
            return
        self.host.send_frame("cdp", frame(self.host.mac, self.pdu()))
        self._due = now + self.settings.interval

    def next_deadline(self) -> float | None:
        return self._due

    def stop(self, now: float) -> None:
        self._due = None


@services.register("cdp")
def _cdp(context: services.Context) -> host_mod.Service | None:
    settings = context.config.profile.cdp
    return CdpAgent(context, settings) if settings is not None else None
