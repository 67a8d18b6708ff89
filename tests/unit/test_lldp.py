"""LLDP: the LLDPDU's TLVs dissected by Scapy's contrib LLDP layer, LLDP-MED for phones, timing, shutdown."""

from __future__ import annotations

from typing import Any

from scapy.contrib.lldp import (
    LLDPDU,
    LLDPDUChassisID,
    LLDPDUEndOfLLDPDU,
    LLDPDUGenericOrganisationSpecific,
    LLDPDUManagementAddress,
    LLDPDUPortDescription,
    LLDPDUPortID,
    LLDPDUSystemCapabilities,
    LLDPDUSystemDescription,
    LLDPDUSystemName,
    LLDPDUTimeToLive,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.protocols.discovery import lldp
from tests.unit.protocol_env import MAC, Env, make_config

PHONE: dict[str, Any] = {
    "system_name": "SEP{MAC6}",
    "system_description": "Cisco IP Phone CP-7841, V3, sip78xx.14-1",
    "capabilities": ["bridge", "telephone"],
    "port_description": "SW PORT",
    "interval": 30,
}


def lldp_env(device_class: str = "phone", **settings: Any) -> tuple[Env, lldp.LldpAgent]:
    config = make_config(
        protocols=("lldp",), device_class=device_class, model="CP-7841", vendor="Cisco", lldp={**PHONE, **settings}
    )
    env = Env(config)
    [agent] = [s for s in env.build() if isinstance(s, lldp.LldpAgent)]
    env.start()
    return env, agent


def tlvs(frame: Packet) -> list[Packet]:
    out, layer = [], frame[LLDPDU].payload
    while layer and not isinstance(layer, LLDPDUEndOfLLDPDU):
        out.append(layer)
        layer = layer.payload
    return out


def test_lldpdu_carries_the_identity_and_management_address() -> None:
    env, _ = lldp_env(device_class="access_point", capabilities=["bridge", "wlan-ap"], system_name="{hostname}")
    [frame] = env.first_frames()
    assert frame[Ether].dst == "01:80:c2:00:00:0e" and frame[Ether].src == MAC and frame[Ether].type == 0x88CC
    assert len(bytes(frame)) >= 60 and LLDPDUEndOfLLDPDU in frame
    got = tlvs(frame)
    assert [type(t) for t in got] == [
        LLDPDUChassisID,
        LLDPDUPortID,
        LLDPDUTimeToLive,
        LLDPDUPortDescription,
        LLDPDUSystemName,
        LLDPDUSystemDescription,
        LLDPDUSystemCapabilities,
        LLDPDUManagementAddress,
    ]
    assert got[0].subtype == 4 and got[0].id == MAC and got[1].subtype == 3 and got[1].id == MAC
    assert got[2].ttl == 120 and got[3].description == b"SW PORT" and got[4].system_name == b"widget-0a0b0c"
    caps = got[6]
    assert caps.mac_bridge_available == caps.mac_bridge_enabled == 1 and caps.wlan_access_point_available == 1
    assert caps.telephone_available == 0
    assert got[7].management_address_subtype == 1 and got[7].management_address == b"\x0a\x4d\x00\x0a"
    assert not [t for t in got if isinstance(t, LLDPDUGenericOrganisationSpecific)]  # not a MED endpoint


def test_phone_adds_lldp_med_and_starts_fast() -> None:
    env, agent = lldp_env()
    [frame] = env.first_frames()
    got = tlvs(frame)
    assert got[4].system_name == b"SEP0A0B0C" and got[6].telephone_enabled == 1
    org = [
        (bytes.fromhex(f"{t.org_code:06x}"), t.subtype, bytes(t.data))
        for t in got
        if isinstance(t, LLDPDUGenericOrganisationSpecific)
    ]
    assert org == [
        (lldp.OUI_8023, 1, bytes.fromhex("036c000010")),
        (lldp.OUI_MED, 1, bytes.fromhex("002303")),  # capabilities, policy, inventory; class III
        (lldp.OUI_MED, 2, bytes.fromhex("0100002e")),  # voice, untagged, DSCP 46
        (lldp.OUI_MED, 9, b"Cisco"),
        (lldp.OUI_MED, 10, b"CP-7841"),
    ]
    start = env.now
    times = [start]
    for _ in range(3):
        env.first_frames()
        times.append(env.now - start)
    assert times[1:] == [1.0, 2.0, 32.0]  # fast start (3 frames, 1 s apart), then every interval
    assert agent.sent_count == 4 and env.counters.protocols == {"lldp": 4}


def test_shutdown_lldpdu_has_ttl_zero() -> None:
    env, agent = lldp_env()
    env.first_frames()
    agent.stop(env.now)
    [bye] = env.sent()
    got = tlvs(bye)
    assert [type(t) for t in got] == [LLDPDUChassisID, LLDPDUPortID, LLDPDUTimeToLive] and got[2].ttl == 0
    assert agent.next_deadline() is None


def test_ttl_is_four_intervals_capped() -> None:
    _, agent = lldp_env(interval=3600)
    assert agent.ttl == 14400
    assert lldp.tlv(5, b"x" * 300)[:2] == bytes([0x0B, 0x2C])  # type 5, length 300 in 9 bits
