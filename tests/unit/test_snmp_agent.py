"""The SNMP agent against requests built by Scapy's SNMP layer (an independent BER codec), and ICMP port unreachable.

Every request is a Scapy `SNMP` packet sent over UDP to the device's IpHost; every answer is
dissected by Scapy: Get, GetNext walks, GetBulk, v1 errors, v2c exceptions, wrong community,
Set refused. Closed UDP ports answer ICMP port unreachable, no faster than Linux allows.
"""

from __future__ import annotations

from typing import Any

from scapy.layers.inet import ICMP, IP, UDP, UDPerror
from scapy.layers.l2 import Ether
from scapy.layers.snmp import (
    SNMP,
    SNMPbulk,
    SNMPget,
    SNMPnext,
    SNMPresponse,
    SNMPset,
    SNMPvarbind,
)
from scapy.packet import Packet

from iot_emulator.protocols.link import icmp
from tests.unit import protocol_env as penv

SNMP_DATA: dict[str, Any] = {
    "community": "lab",
    "sys_descr": "Acme Laser 9 {serial}",
    "sys_object_id": "1.3.6.1.4.1.11.2.3.9.1",
    "sys_contact": "ops",
    "sys_location": "L2",
    "objects": {"1.3.6.1.2.1.25.3.2.1.3.1": "Acme Laser 9", "1.3.6.1.2.1.43.5.1.1.17.1": "{MAC6}"},
}
SYS_DESCR = "1.3.6.1.2.1.1.1.0"


def setup() -> penv.Env:
    return penv.started(snmp=SNMP_DATA)


def ask(env: penv.Env, pdu: Packet, *, version: int = 1, community: str = "lab", dport: int = 161) -> list[Packet]:
    env.deliver(
        Ether(src=penv.GATEWAY_MAC, dst=env.config.mac)
        / IP(src=penv.GATEWAY, dst=penv.IP)
        / UDP(sport=5555, dport=dport)
        / SNMP(version=version, community=community, PDU=pdu)
    )
    return env.sent()


def answer(env: penv.Env, pdu: Packet, **kw: Any) -> Any:
    [frame] = ask(env, pdu, **kw)
    assert frame[UDP].sport == 161 and frame[UDP].dport == 5555 and frame[IP].ttl == 64
    response = SNMP(bytes(frame[UDP].payload))
    assert isinstance(response.PDU, SNMPresponse)
    return response.PDU


def binds(*oids: str) -> list[Packet]:
    return [SNMPvarbind(oid=o) for o in oids]


def test_get_sysdescr_and_sysobjectid() -> None:
    env = setup()
    pdu = answer(env, SNMPget(id=7, varbindlist=binds(SYS_DESCR, "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0")))
    assert pdu.id == 7 and pdu.error == 0
    values = [(b.oid.val, b.value.val) for b in pdu.varbindlist]
    assert values == [
        (SYS_DESCR, b"Acme Laser 9 4419B60A0B0C"),
        ("1.3.6.1.2.1.1.2.0", "1.3.6.1.4.1.11.2.3.9.1"),
        ("1.3.6.1.2.1.1.5.0", b"widget-0a0b0c"),
    ]


def test_walk_visits_every_object_in_order_and_ends_with_end_of_mib_view() -> None:
    env = setup()
    oid, seen = "1.3.6.1.2.1", []
    for _ in range(40):
        [bind] = answer(env, SNMPnext(varbindlist=binds(oid))).varbindlist
        if bind.endOfMibView is not None:
            break
        oid = bind.oid.val
        seen.append((oid, bind.value.val))
    oids = [o for o, _ in seen]
    assert oids[0] == SYS_DESCR and len(oids) == len(set(oids)) == 18  # system 7, ifNumber, ifEntry 8, two objects
    assert ("1.3.6.1.2.1.2.2.1.6.1", bytes.fromhex("4419b60a0b0c")) in seen  # ifPhysAddress = the MAC
    assert ("1.3.6.1.2.1.43.5.1.1.17.1", b"0A0B0C") in seen
    assert oids == sorted(oids, key=lambda o: tuple(map(int, o.split("."))))


def test_getbulk_returns_repetitions_in_order() -> None:
    env = setup()
    pdu = answer(
        env, SNMPbulk(non_repeaters=1, max_repetitions=3, varbindlist=binds("1.3.6.1.2.1.1", "1.3.6.1.2.1.1.3"))
    )
    oids = [b.oid.val for b in pdu.varbindlist]
    assert oids == [SYS_DESCR, "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0"]


def test_uptime_counts_from_the_agent_start() -> None:
    env = setup()
    env.advance(12.5)
    [bind] = answer(env, SNMPget(varbindlist=binds("1.3.6.1.2.1.1.3.0"))).varbindlist
    assert bind.value.val == 1250


def test_v1_missing_object_is_no_such_name_and_v2c_no_such_object() -> None:
    env = setup()
    pdu = answer(env, SNMPget(varbindlist=binds(SYS_DESCR, "1.3.6.1.2.1.99.0")), version=0)
    assert (pdu.error, pdu.error_index) == (2, 2)
    pdu = answer(env, SNMPget(varbindlist=binds("1.3.6.1.2.1.99.0")))
    assert pdu.error == 0 and pdu.varbindlist[0].noSuchObject is not None


def test_wrong_community_is_ignored_and_set_is_refused() -> None:
    env = setup()
    assert ask(env, SNMPget(varbindlist=binds(SYS_DESCR)), community="public") == []
    pdu = answer(env, SNMPset(varbindlist=[SNMPvarbind(oid="1.3.6.1.2.1.1.5.0", value=b"x")]))
    assert pdu.error == 17  # notWritable


def test_closed_udp_port_answers_port_unreachable_quoting_the_datagram_rate_limited() -> None:
    env = setup()
    answers = [ask(env, SNMPget(varbindlist=binds(SYS_DESCR)), dport=162) for _ in range(10)]
    sent = [frames for frames in answers if frames]
    assert len(sent) == icmp.RATE_BURST  # Linux: a burst of 6, then one a second
    error = sent[0][0]
    assert (error[ICMP].type, error[ICMP].code) == (3, 3) and error[IP].ttl == 64 and error[IP].flags == 0
    assert error[UDPerror].dport == 162 and error[ICMP].chksum == ICMP(bytes(error[ICMP]))[ICMP].chksum
    env.advance(1.0)
    assert ask(env, SNMPget(varbindlist=binds(SYS_DESCR)), dport=162) != []


def test_echo_reply_copies_the_code_and_counts_its_ip_id() -> None:
    env = penv.Env(penv.make_config(protocols=(), tcp={"ip_id": "random"}))
    replies = []
    for seq in (1, 2):
        env.deliver(
            Ether(src=penv.GATEWAY_MAC, dst=env.config.mac)
            / IP(src=penv.GATEWAY, dst=penv.IP)
            / ICMP(type=8, code=9, id=7, seq=seq)
            / b"x"
        )
        [reply] = env.sent()
        replies.append(reply)
    assert [(r[ICMP].type, r[ICMP].code) for r in replies] == [(0, 9), (0, 9)]  # nmap -O IE: CD=S
    assert replies[1][IP].id == (replies[0][IP].id + 1) & 0xFFFF  # II=I
