"""SNTP client: request bytes dissected by Scapy, offset/delay from Scapy-built answers, server choice."""

from __future__ import annotations

import pytest
from scapy.layers.dns import DNS, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.ntp import NTPHeader
from scapy.packet import Packet

from iot_emulator.protocols.clients import ntp
from tests.unit.protocol_env import GATEWAY, GATEWAY_MAC, MAC, Env, ip, make_config
from tests.unit.protocol_env import IP as DEV_IP
from tests.unit.test_dns import reply_to

NTP1, NTP2 = "10.77.0.3", "10.77.0.4"
REAL_TIME = 3_964_000_000.0  # a 2025 time in NTP seconds: what the server's clock says


def ntp_env(**kw: object) -> tuple[Env, ntp.NtpClient]:
    config = kw.pop("config", None) or make_config(protocols=("ntp",), schedule={"ntp": {"interval": 600, "jitter": 0}})
    env = Env(config, **kw)  # type: ignore[arg-type]
    [_, client] = env.build()
    assert isinstance(client, ntp.NtpClient)
    env.start()
    return env, client


def answer(
    request: Packet,
    *,
    server: str,
    recv: float,
    sent: float,
    stratum: int = 2,
    leap: int = 0,
    orig: float | None = None,
    ref_id: str = "",
) -> Packet:
    """A server's answer; its origin timestamp is the request's transmit timestamp byte for byte, as servers copy it."""
    header = NTPHeader(leap=leap, version=4, mode=4, stratum=stratum, orig=orig or 0, recv=recv, sent=sent)
    if ref_id:
        header.ref_id = ref_id
    raw = bytes(header)
    if orig is None:
        raw = raw[:24] + bytes(request[UDP].payload)[40:48] + raw[32:]
    return Ether(src=GATEWAY_MAC, dst=MAC) / IP(src=server, dst=DEV_IP) / UDP(sport=123, dport=request[UDP].sport) / raw


def test_request_is_sntp_v4_mode_3_from_a_clock_that_boots_in_1970() -> None:
    env, _client = ntp_env(ntp=(NTP1,))
    [request] = env.first_frames()
    assert request[IP].dst == NTP1 and request[UDP].dport == 123 and 32768 <= request[UDP].sport < 61000
    header = request[NTPHeader]
    assert (header.leap, header.version, header.mode, header.stratum) == (0, 4, 3, 0)
    assert header.orig == header.recv == 0 and abs(header.sent - ntp.UNIX_EPOCH) < 11  # 1970 + seconds since bind
    assert bytes(request[UDP].payload) == ntp.request(int.from_bytes(bytes(request[UDP].payload)[40:], "big"))
    assert env.counters.protocols == {"ntp": 1}


def test_the_profile_ntp_version_goes_in_the_request() -> None:
    config = make_config(protocols=("ntp",), ntp_version=3, schedule={"ntp": {"interval": 600, "jitter": 0}})
    env, _client = ntp_env(ntp=(NTP1,), config=config)
    [request] = env.first_frames()
    assert (request[NTPHeader].version, request[NTPHeader].mode) == (3, 3)


def test_offset_and_delay_then_the_clock_is_stepped() -> None:
    env, client = ntp_env(ntp=(NTP1,))
    [request] = env.first_frames()
    t1 = request[NTPHeader].sent
    env.advance(0.040)  # 40 ms round trip, the server holds it 10 ms
    env.deliver(answer(request, server=NTP1, recv=REAL_TIME, sent=REAL_TIME + 0.010))
    sample = client.last
    assert sample is not None and sample.server == ip(NTP1) and sample.stratum == 2
    assert sample.delay == pytest.approx(0.030, abs=1e-6)
    assert sample.offset == pytest.approx(REAL_TIME + 0.005 - (t1 + 0.020), abs=2**-16)
    assert client.clock(env.now) == pytest.approx(REAL_TIME + 0.010 + 0.015, abs=2**-16)  # server time + half delay
    assert ntp.offset_and_delay(10.0, 12.0, 12.5, 11.0) == (1.75, 0.5)


def test_option_42_servers_come_before_the_profile_names_and_the_next_after_a_timeout() -> None:
    config = make_config(protocols=("ntp",), ntp_servers=["pool.ntp.org"])
    env, client = ntp_env(config=config, ntp=(NTP1, NTP2))
    [first] = env.first_frames()
    assert first[IP].dst == NTP1
    env.advance(ntp.REPLY_TIMEOUT + 0.01)
    [second] = env.sent()
    assert second[IP].dst == NTP2 and DNS not in second
    env.deliver(answer(first, server=NTP1, recv=REAL_TIME, sent=REAL_TIME))  # too late: not the current request
    assert client.last is None
    env.deliver(answer(second, server=NTP2, recv=REAL_TIME, sent=REAL_TIME))
    assert client.last is not None and client.last.server == ip(NTP2)


def test_profile_names_are_resolved_when_dhcp_gave_no_server() -> None:
    config = make_config(protocols=("ntp",), ntp_servers=["time.example.com"])
    env, _client = ntp_env(config=config)
    [query] = env.first_frames()
    assert query[DNS].qd[0].qname == b"time.example.com." and query[IP].dst == GATEWAY
    env.deliver(reply_to(query, DNSRR(rrname="time.example.com", type="A", ttl=60, rdata=NTP2)))
    env.advance(0.001)
    [arp, *_] = env.sent()  # an on-link server the device never talked to: ARP first
    assert arp[Ether].type == 0x0806 and arp.pdst == NTP2
    env.host.learn(ip(NTP2), b"\x02" * 6, env.now)
    [request] = env.sent()
    assert request[IP].dst == NTP2 and NTPHeader in request and env.counters.protocols["ntp"] == 1


def test_spoofed_and_kiss_of_death_answers() -> None:
    env, client = ntp_env(ntp=(NTP1, NTP2))
    [request] = env.first_frames()
    env.deliver(answer(request, server=NTP1, recv=REAL_TIME, sent=REAL_TIME, orig=12345.0))  # origin mismatch
    env.deliver(answer(request, server=NTP2, recv=REAL_TIME, sent=REAL_TIME))  # not the server asked
    assert client.last is None
    env.deliver(answer(request, server=NTP1, recv=REAL_TIME, sent=REAL_TIME, stratum=0, ref_id="DENY"))
    assert client.kiss == "DENY" and client.last is None
    env.advance(600)  # next round: NTP1 is retired, NTP2 is asked
    assert [f[IP].dst for f in env.sent()] == [NTP2]


def test_no_servers_no_service() -> None:
    env = Env(make_config(protocols=("ntp",)))
    assert [s.name for s in env.build()] == ["resolver"]


def test_an_unsynchronized_server_is_not_believed() -> None:
    env, client = ntp_env(ntp=(NTP1,))
    [request] = env.first_frames()
    before = client.clock(env.now)
    env.deliver(answer(request, server=NTP1, recv=REAL_TIME, sent=REAL_TIME, leap=3))
    assert client.last is None and client.clock(env.now) == before
