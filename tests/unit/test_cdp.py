"""CDPv2 frames dissected by Scapy's contrib CDP layer (an independent reader, checksum included)."""

from __future__ import annotations

from typing import Any

from scapy.contrib import cdp as scapy_cdp
from scapy.layers.l2 import Dot3

from iot_emulator.protocols.discovery import cdp
from tests.unit import protocol_env as penv

SETTINGS: dict[str, Any] = {"software_version": "sip78xx.14-1-1MN-366", "platform": "Cisco IP Phone 7841"}


def test_cdp_frame_names_the_phone_and_its_address_with_a_valid_checksum() -> None:
    env = penv.Env(penv.make_config(protocols=("lldp",), hostname="SEP001BD44A1498", cdp=SETTINGS))
    [agent] = [s for s in env.build() if isinstance(s, cdp.CdpAgent)]
    env.start()
    env.advance(0)
    [raw] = [bytes(f) for f in env.sent() if bytes(f)[:6] == cdp.MULTICAST]
    frame = Dot3(raw)
    assert frame.dst == "01:00:0c:cc:cc:cc" and frame.len == len(cdp.SNAP) + len(agent.pdu())
    header = frame[scapy_cdp.CDPv2_HDR]
    assert header.vers == 2 and header.ttl == 180
    assert cdp.checksum(bytes(header)) == 0  # the checksum field makes the whole PDU sum to zero
    assert header[scapy_cdp.CDPMsgDeviceID].val == b"SEP001BD44A1498"
    assert header[scapy_cdp.CDPMsgPlatform].val == b"Cisco IP Phone 7841"
    assert header[scapy_cdp.CDPMsgSoftwareVersion].val == b"sip78xx.14-1-1MN-366"
    assert header[scapy_cdp.CDPMsgCapabilities].cap == 0x490
    assert header[scapy_cdp.CDPMsgAddr].addr[0].addr == penv.IP


def test_odd_length_checksum_counts_the_last_byte_low() -> None:
    assert cdp.checksum(b"\x01") == 0xFFFE  # RFC 1071 would give 0xFEFF
    env = penv.Env(penv.make_config(protocols=("lldp",), cdp={**SETTINGS, "platform": "Cisco IP Phone 78411"}))
    [agent] = [s for s in env.build() if isinstance(s, cdp.CdpAgent)]
    assert len(agent.pdu()) % 2 == 1 and cdp.checksum(agent.pdu()) == 0
