"""mDNS responder: probes, announcements, answers and goodbyes dissected by Scapy, on a virtual clock;
and two devices of one engine, the second's probe answered by the first inside the engine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.config import manifests
from iot_emulator.engine import engine
from iot_emulator.protocols.discovery import mdns
from tests.unit.fakes import RecordingLink
from tests.unit.protocol_env import DHCP_BASE, MAC, Env, make_config, make_profile
from tests.unit.protocol_env import IP as DEV_IP
from tests.unit.test_engine import Harness

PEER_IP, PEER_MAC = "10.77.0.50", "02:00:00:00:00:50"
HOST = "widget-0a0b0c.local."
INSTANCE = "Hue Bridge - 0A0B0C._hue._tcp.local."
MDNS: dict[str, Any] = {
    "services": [
        {
            "type": "_hue._tcp",
            "instance": "Hue Bridge - {MAC6}",
            "port": 443,
            "txt": {"bridgeid": "001788FFFE{MAC6}", "modelid": "BSB002"},
        }
    ],
    "announce_count": 3,
}


def mdns_env() -> tuple[Env, mdns.MdnsResponder]:
    env = Env(make_config(protocols=("mdns",), mdns=MDNS))
    env.host.neighbours.learn(bytes(int(x) for x in PEER_IP.split(".")), bytes.fromhex(PEER_MAC.replace(":", "")))
    [_, responder] = env.build()
    assert isinstance(responder, mdns.MdnsResponder)
    env.start()
    return env, responder


def running_env() -> tuple[Env, mdns.MdnsResponder]:
    """Past probing and announcing."""
    env, responder = mdns_env()
    env.advance(10)
    env.sent()
    assert responder.state is mdns.State.RUNNING
    return env, responder


def from_peer(dns: DNS, *, sport: int = 5353, dst: str = "224.0.0.251") -> Packet:
    dst_mac = "01:00:5e:00:00:fb" if dst.startswith("224.") else MAC
    return Ether(src=PEER_MAC, dst=dst_mac) / IP(src=PEER_IP, dst=dst, ttl=255) / UDP(sport=sport, dport=5353) / dns


def records(packet: Packet, section: str = "an") -> dict[tuple[bytes, int], Any]:
    return {(r.rrname, r.type): r for r in getattr(packet[DNS], section)}


def test_probes_three_times_250ms_apart_first_qu_with_the_proposed_records() -> None:
    env, _ = mdns_env()
    [probe] = env.first_frames()
    assert probe[Ether].dst == "01:00:5e:00:00:fb" and probe[IP].dst == "224.0.0.251" and probe[IP].ttl == 255
    assert probe[UDP].sport == probe[UDP].dport == 5353 and probe[DNS].qr == 0
    assert [(q.qname, q.qtype, q.unicastresponse) for q in probe[DNS].qd] == [
        (HOST.encode(), 255, 1),
        (INSTANCE.encode(), 255, 1),
    ]
    assert set(records(probe, "ns")) == {(HOST.encode(), 1), (INSTANCE.encode(), 33), (INSTANCE.encode(), 16)}
    started = env.now
    env.first_frames()
    [third] = env.first_frames()
    assert env.now == pytest.approx(started + 0.5) and third[DNS].qd[0].unicastresponse == 0


def test_announces_every_record_with_rfc_ttls_and_cache_flush_then_1s_2s() -> None:
    env, _ = mdns_env()
    for _ in range(3):
        env.first_frames()
    [announce] = env.first_frames()
    got = records(announce)
    assert announce[DNS].qr == 1 and announce[DNS].aa == 1 and announce[DNS].qdcount == 0
    a = got[(HOST.encode(), 1)]
    assert (a.rdata, a.ttl, a.cacheflush) == (DEV_IP, 120, 1)
    ptr = got[(b"_hue._tcp.local.", 12)]
    assert (ptr.rdata, ptr.ttl, ptr.cacheflush) == (INSTANCE.encode(), 4500, 0)
    srv = got[(INSTANCE.encode(), 33)]
    assert (srv.port, srv.target, srv.ttl, srv.cacheflush) == (443, HOST.encode(), 120, 1)
    txt = got[(INSTANCE.encode(), 16)]
    assert (txt.rdata, txt.ttl, txt.cacheflush) == ([b"bridgeid=001788FFFE0A0B0C", b"modelid=BSB002"], 4500, 1)
    assert got[(b"_services._dns-sd._udp.local.", 12)].rdata == b"_hue._tcp.local."
    assert got[(b"10.0.77.10.in-addr.arpa.", 12)].rdata == HOST.encode()
    first = env.now
    env.first_frames()
    second = env.now
    env.first_frames()
    assert (second - first, env.now - second) == pytest.approx((1.0, 2.0))
    env.advance(60)
    assert env.sent() == []  # announce_count: 3


def test_answers_a_browse_by_multicast_after_20_to_120ms_with_additional_records() -> None:
    env, _ = running_env()
    env.deliver(from_peer(DNS(qd=[DNSQR(qname="_hue._tcp.local", qtype="PTR")])))
    assert env.sent() == []  # shared record: delayed
    start = env.now
    [answer] = env.first_frames()
    assert 0.020 <= env.now - start <= 0.120
    assert answer[IP].dst == "224.0.0.251" and answer[IP].ttl == 255 and answer[DNS].id == 0
    assert list(records(answer)) == [(b"_hue._tcp.local.", 12)]
    assert set(records(answer, "ar")) == {(INSTANCE.encode(), 33), (INSTANCE.encode(), 16), (HOST.encode(), 1)}


def test_a_query_for_another_name_is_not_answered() -> None:
    env, _ = running_env()
    env.deliver(
        from_peer(DNS(qd=[DNSQR(qname="_googlecast._tcp.local", qtype="PTR"), DNSQR(qname="other.local", qtype="A")]))
    )
    env.advance(1)
    assert env.sent() == []


def test_qu_question_is_answered_by_unicast_and_unique_answers_go_at_once() -> None:
    env, _ = running_env()
    env.deliver(from_peer(DNS(qd=[DNSQR(qname=HOST, qtype="A", unicastresponse=1)])))
    [answer] = env.sent()
    assert answer[IP].dst == PEER_IP and answer[UDP].dport == 5353 and answer[Ether].dst == PEER_MAC
    assert answer[DNS].an[0].rdata == DEV_IP


def test_legacy_unicast_query_gets_its_id_question_and_short_ttls() -> None:
    env, _ = running_env()
    env.deliver(from_peer(DNS(id=0x4242, rd=1, qd=[DNSQR(qname=INSTANCE, qtype="SRV")]), sport=40000))
    [answer] = env.sent()
    assert answer[UDP].sport == 5353 and answer[UDP].dport == 40000 and answer[IP].dst == PEER_IP
    assert answer[DNS].id == 0x4242 and answer[DNS].qd[0].qname == INSTANCE.encode()
    assert answer[DNS].an[0].ttl == 10 and answer[DNS].an[0].cacheflush == 0 and answer[DNS].an[0].port == 443


def test_known_answers_are_suppressed() -> None:
    env, _ = running_env()
    known = DNSRR(rrname="_hue._tcp.local", type="PTR", ttl=4000, rdata=INSTANCE)
    env.deliver(from_peer(DNS(qd=[DNSQR(qname="_hue._tcp.local", qtype="PTR")], an=[known])))
    env.advance(1)
    assert env.sent() == []
    stale = DNSRR(rrname="_hue._tcp.local", type="PTR", ttl=1000, rdata=INSTANCE)  # under half our TTL: answered
    env.deliver(from_peer(DNS(qd=[DNSQR(qname="_hue._tcp.local", qtype="PTR")], an=[stale])))
    env.advance(1)
    assert len(env.sent()) == 1


def test_a_record_is_multicast_at_most_once_a_second() -> None:
    env, _ = running_env()
    query = DNS(qd=[DNSQR(qname=HOST, qtype="A")])
    env.deliver(from_peer(query))
    env.deliver(from_peer(query))
    assert len(env.sent()) == 1
    env.advance(1.0)
    env.deliver(from_peer(query))
    assert len(env.sent()) == 1


def test_a_conflict_while_probing_renames_and_probes_again() -> None:
    env, responder = mdns_env()
    env.first_frames()
    claim = DNS(qr=1, aa=1, an=[DNSRR(rrname=HOST, type="A", ttl=120, rdata="10.77.0.77", cacheflush=1)])
    env.deliver(from_peer(claim))
    assert responder.published.host_name == "widget-0a0b0c-2.local"
    [probe] = env.first_frames()
    assert probe[DNS].qd[0].qname == b"widget-0a0b0c-2.local." and probe[DNS].qd[0].unicastresponse == 1
    env.advance(10)
    assert responder.state is mdns.State.RUNNING


def test_simultaneous_probe_tie_break() -> None:
    env, responder = mdns_env()
    env.first_frames()
    first = env.now

    def probe_from(address: str) -> Packet:
        return from_peer(
            DNS(qd=[DNSQR(qname=HOST, qtype=255)], ns=[DNSRR(rrname=HOST, type="A", ttl=120, rdata=address)])
        )

    env.deliver(probe_from("10.77.0.5"))  # lexicographically earlier than our 10.77.0.10: we win, carry on
    env.first_frames()
    second = env.now
    assert second == pytest.approx(first + 0.25)  # the second probe on time
    env.deliver(probe_from("10.77.0.200"))  # later: we lose, wait 1 s, probe again from the first
    [again] = env.first_frames()
    assert env.now == pytest.approx(second + 1.0) and again[DNS].qd[0].unicastresponse == 1
    assert responder.published.host_name == "widget-0a0b0c.local"


def test_goodbye_on_stop_has_ttl_zero() -> None:
    env, responder = running_env()
    responder.stop(env.now)
    [goodbye] = env.sent()
    assert {r.ttl for r in goodbye[DNS].an} == {0} and len(goodbye[DNS].an) == 6
    assert not env.host.udp_in_use(5353)


def test_no_mdns_section_no_service() -> None:
    assert [s.name for s in Env(make_config(protocols=("mdns",))).build()] == ["resolver"]


# -- two devices of one engine ---------------------------------------------------------------------


async def test_a_probe_is_answered_by_another_device_of_the_same_engine() -> None:
    """Two bridges claim the same host name (the Hue profile's fixed "Philips-hue"): the frames
    between them never reach the wire and back, the engine delivers them, and one of them renames."""
    prof = make_profile(
        name="twin",
        hostname_pattern="Philips-hue",
        mdns=MDNS,
        protocols=["arp", "dhcp", "mdns"],
        dhcp={**DHCP_BASE, "arp_probe": {"count": 0}},
    )
    configs = [
        manifests.DeviceConfig(
            device_id=f"hue-{i}",
            mac=f"00:17:88:00:00:0{i}",
            hostname="Philips-hue",
            profile=prof,
            protocols=("arp", "dhcp", "mdns"),
            traffic_interval=60,
        )
        for i in (1, 2)
    ]
    link = RecordingLink()
    eng = engine.Engine(link, configs, stats_interval=60, seed=5)
    harness = Harness(eng, link)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    try:
        await asyncio.sleep(0)
        await harness.bind_all()
        responders = [next(s for s in d.host.services if isinstance(s, mdns.MdnsResponder)) for d in eng.devices]
        for _ in range(200):
            if all(r.state is mdns.State.RUNNING for r in responders):
                break
            await asyncio.sleep(0.05)
        names = sorted(r.published.host_name for r in responders)
        assert names == ["Philips-hue-2.local", "Philips-hue.local"]
        winner, loser = sorted(responders, key=lambda r: r.published.host_name != "Philips-hue.local")
        heard = [r for r in loser.heard if r.name.lower() == "philips-hue.local" and r.rtype == 1]
        assert heard and heard[0].data == winner.host.address  # the winner's answer, delivered in the engine
        assert all(d.counters.protocols.get("mdns", 0) >= 4 for d in eng.devices)
    finally:
        stop.set()
        await task


def test_a_profile_names_its_mdns_host_apart_from_its_dhcp_host_name() -> None:
    """Nest Minis all send 'Google-Nest-Mini' in DHCP; their A records and SRV targets are their uuid."""
    from iot_emulator.profiles import catalog
    from iot_emulator.protocols.discovery import mdns_records

    prof = catalog.builtin().get("google-nest-mini")
    names = set()
    for mac in ("54:60:09:00:00:01", "54:60:09:00:00:02"):
        config = manifests.DeviceConfig(
            device_id=f"nest-{mac[-2:]}",
            mac=mac,
            hostname=prof.hostname_for(mac),
            profile=prof,
            protocols=("mdns",),
            traffic_interval=60,
        )
        published = mdns_records.Published(config, bytes([10, 0, 0, 5]))
        assert config.hostname == "Google-Nest-Mini"
        srv = [r for r in published.records() if r.rtype == 33]
        assert srv and all(r.data.target == published.host_name for r in srv)  # type: ignore[union-attr]
        names.add(published.host_name)
    assert names == {"8e1a2b3c-4d5e-6f70-8192-a3b4c5000001.local", "8e1a2b3c-4d5e-6f70-8192-a3b4c5000002.local"}
