"""The resolver on a dual-stack device: A and AAAA asked together once the device holds an address wider
than link-local (AI_ADDRCONFIG), the answer ordered by RFC 6724, the IPv4 fallback a cloud client takes
when its IPv6 connection does not open."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from scapy.layers.dns import DNS, DNSRR, DNSRRSOA
from scapy.layers.inet import UDP

from iot_emulator.profiles import catalog
from iot_emulator.protocols.clients import dns, http, ntp
from iot_emulator.protocols.transport import tcp_segment
from iot_emulator.protocols.transport.tcp_segment import ACK, RST, SYN
from tests.unit import protocol_env as penv
from tests.unit.tcp_peer import env_with_log
from tests.unit.test_dns import Answers, a, reply_to, resolver_env

CLOUD = "cloud.example.com"
SINK4, SINK6 = "198.51.100.2", "2001:db8:5100::2"
GLOBAL, ULA, LINK_LOCAL = "2001:db8:1ab:6::10", "fd00:1ab:6::10", "fe80::10"


def b(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


class FakeIpv6:
    """The device's IPv6 endpoint (`host.Ipv6Side`) holding `addresses`; what the host sends over IPv6 is kept."""

    def __init__(self, *addresses: str, dns: tuple[str, ...] = ()) -> None:
        self.held = [b(x) for x in addresses]
        self.dns = tuple(b(x) for x in dns)
        self.sent: list[tuple[bytes, bytes, int, bytes]] = []

    def dns_servers(self) -> tuple[bytes, ...]:
        return self.dns

    def addresses(self) -> list[bytes]:
        return self.held

    def source_for(self, dst: bytes) -> bytes | None:
        if dst[:2] == b"\xfe\x80":
            return next((x for x in self.held if x[:2] == b"\xfe\x80"), None)
        return next((x for x in self.held if x[:2] != b"\xfe\x80"), self.held[0] if self.held else None)

    def send(
        self, protocol: str, src: bytes, dst: bytes, next_header: int, upper: bytes, hop_limit: int | None
    ) -> None:
        self.sent.append((src, dst, next_header, upper))


def aaaa(name: str, address: str, ttl: int = 300) -> DNSRR:
    return DNSRR(rrname=name, type="AAAA", ttl=ttl, rdata=address)


def dual_env(*addresses: str, dns6: tuple[str, ...] = ()) -> tuple[penv.Env, dns.DnsResolver]:
    env, resolver = resolver_env()
    env.host.ip6 = FakeIpv6(*addresses, dns=dns6)
    return env, resolver


def queries(env: penv.Env) -> dict[int, Any]:
    """The queries just sent, by question type (1 A, 28 AAAA)."""
    return {q[DNS].qd[0].qtype: q for q in env.sent()}


def test_asks_a_only_without_an_address_wider_than_link_local() -> None:
    env, resolver = dual_env(LINK_LOCAL)
    answers = Answers()
    resolver.resolve(CLOUD, env.now, answers, ipv6=True)
    assert set(queries(env)) == {1}


def test_asks_a_and_aaaa_from_one_port_and_prefers_the_global_aaaa() -> None:
    env, resolver = dual_env(LINK_LOCAL, GLOBAL)
    v6, v4 = Answers(), Answers()
    resolver.resolve(CLOUD, env.now, v6, ipv6=True)
    resolver.resolve(CLOUD, env.now, v4)  # an IPv4-only caller (NTP, CoAP) shares the query
    sent = queries(env)
    assert set(sent) == {1, 28}
    assert sent[1][UDP].sport == sent[28][UDP].sport and sent[1][DNS].id != sent[28][DNS].id
    env.deliver(reply_to(sent[28], aaaa(CLOUD, SINK6)))
    assert v6.got == [] and v4.got == []  # both answers first
    env.deliver(reply_to(sent[1], a(CLOUD, SINK4)))
    assert v6.got == [b(SINK6)] and v4.got == [b(SINK4)]
    assert resolver.alternative(CLOUD, b(SINK6)) == b(SINK4)  # the fallback after a failed IPv6 connection
    resolver.resolve(CLOUD, env.now + 1, v6, ipv6=True)  # cached
    assert v6.got[-1] == b(SINK6) and env.sent() == []


def test_a_ula_source_takes_the_ipv4_answer() -> None:
    env, resolver = dual_env(LINK_LOCAL, ULA)
    answers = Answers()
    resolver.resolve(CLOUD, env.now, answers, ipv6=True)
    sent = queries(env)
    env.deliver(reply_to(sent[1], a(CLOUD, SINK4)))
    env.deliver(reply_to(sent[28], aaaa(CLOUD, SINK6)))
    assert answers.got == [b(SINK4)]


def test_no_aaaa_record_gives_the_a_record() -> None:
    env, resolver = dual_env(GLOBAL)
    answers = Answers()
    resolver.resolve(CLOUD, env.now, answers, ipv6=True)
    sent = queries(env)
    soa = DNSRRSOA(rrname="example.com", ttl=3600, mname="ns.example.com", rname="h.example.com", minimum=60)
    env.deliver(reply_to(sent[28], authority=soa))  # NODATA
    env.deliver(reply_to(sent[1], a(CLOUD, SINK4, ttl=30)))
    assert answers.got == [b(SINK4)]
    assert resolver.cache[CLOUD] == dns.Cached(b(SINK4), None, env.now + 30, asked_aaaa=True)


def test_an_unanswered_aaaa_is_retransmitted_then_the_a_answer_is_used() -> None:
    env, resolver = dual_env(GLOBAL)
    answers = Answers()
    resolver.resolve(CLOUD, env.now, answers, ipv6=True)
    sent = queries(env)
    env.deliver(reply_to(sent[1], a(CLOUD, SINK4)))
    env.advance(1.01)
    assert set(queries(env)) == {28}  # only the unanswered question goes again
    env.advance(2.0)
    assert answers.got == [b(SINK4)] and CLOUD not in resolver.cache


def test_an_ipv4_only_device_asks_a_only() -> None:
    env, resolver = resolver_env()
    answers = Answers()
    resolver.resolve(CLOUD, env.now, answers, ipv6=True)
    [query] = env.sent()
    assert query[DNS].qd[0].qtype == 1


@dataclasses.dataclass
class Reply:
    """A received IPv6 packet as the TCP stack reads it (`host.Packet`)."""

    src: bytes
    dst: bytes
    payload: bytes


class DualStub:
    """A resolver that answers the AAAA to dual-stack callers, with the A as the alternative."""

    def __init__(self) -> None:
        self.asked: list[bool] = []

    def resolve(self, name: str, now: float, done: Any, *, ipv6: bool = False) -> None:
        self.asked.append(ipv6)
        done(b(SINK6) if ipv6 else b(SINK4))

    def alternative(self, name: str, failed: bytes) -> bytes | None:
        return b(SINK4) if failed == b(SINK6) else None


def start_until_ipv6_sent(env: penv.Env) -> FakeIpv6:
    """A device with a global IPv6 address and a resolver answering A and AAAA, run until it sends over IPv6."""
    ip6 = FakeIpv6(LINK_LOCAL, GLOBAL)
    env.host.ip6 = ip6
    env.build()
    env.host.resolver = DualStub()
    env.start()
    for _ in range(50):
        if ip6.sent:
            break
        env.step()
    return ip6


def test_http_falls_back_to_ipv4_when_the_ipv6_connection_is_reset() -> None:
    profile: dict[str, Any] = {
        "http": {"user_agent": "UA", "requests": [{"method": "GET", "host": CLOUD, "path": "/"}]}
    }
    env, log = env_with_log(penv.make_config(("http",), **profile))
    ip6 = start_until_ipv6_sent(env)
    [(src, dst, _, syn)] = ip6.sent
    assert (src, dst) == (b(GLOBAL), b(SINK6))
    segment = tcp_segment.parse(syn)
    assert segment is not None and segment.flags == SYN
    reset = tcp_segment.build(dst, src, segment.dport, segment.sport, 0, segment.seq + 1, RST | ACK, 0)

    assert env.host.tcp is not None
    env.host.tcp.handle(Reply(dst, src, reset), env.now)
    ipv4 = env.sent()
    assert [p["IP"].dst for p in ipv4 if p.haslayer("TCP")] == [SINK4]  # the same request at the A record, at once
    assert any("over IPv6 failed, trying 198.51.100.2" in message for _, message in log)
    client = next(s for s in env.host.services if isinstance(s, http.HttpClient))
    assert len(client.sessions) == 1 and client.sessions[0].address == b(SINK4)


def test_ntp_asks_over_ipv6_then_the_a_record_when_it_stays_silent() -> None:
    env, _ = env_with_log(penv.make_config(("ntp",), ntp_servers=["time.example.com"]))
    ip6 = start_until_ipv6_sent(env)
    [(src, dst, next_header, datagram)] = ip6.sent
    assert (src, dst, next_header) == (b(GLOBAL), b(SINK6), 17)
    sport = int.from_bytes(datagram[:2], "big")
    assert env.host.udp6_handler(sport) is not None  # the reply over IPv6 reaches the client
    env.advance(ntp.REPLY_TIMEOUT + 0.01)
    [request] = [p for p in env.sent() if p.haslayer("UDP")]
    assert request["IP"].dst == SINK4 and request["UDP"].dport == 123


def test_the_dhcpv6_dns_server_is_asked_over_ipv6_when_the_dhcpv4_one_is_silent() -> None:
    dns6 = "2001:db8:1ab:6::1"
    env, resolver = dual_env(LINK_LOCAL, GLOBAL, dns6=(dns6,))
    answers = Answers()
    resolver.resolve(CLOUD, env.now, answers, ipv6=True)
    assert set(queries(env)) == {1, 28}  # first to the DHCPv4 server (option 6)
    env.advance(1.01)
    ip6 = env.host.ip6
    assert isinstance(ip6, FakeIpv6)
    sent = [(src, dst, DNS(upper[8:])) for src, dst, _, upper in ip6.sent]
    assert [(src, dst) for src, dst, _ in sent] == [(b(GLOBAL), b(dns6))] * 2  # then DHCPv6's, over IPv6
    port = int.from_bytes(ip6.sent[0][3][:2], "big")
    handler = env.host.udp6_handler(port)
    assert handler is not None
    for _, _, query in sent:
        record = aaaa(CLOUD, SINK6) if query.qd[0].qtype == 28 else a(CLOUD, SINK4)
        reply = DNS(id=query.id, qr=1, rd=1, ra=1, qd=query.qd, an=[record])
        handler(b(dns6), 53, b(GLOBAL), bytes(reply), env.now)
    assert answers.got == [b(SINK6)]


def test_mqtt_falls_back_to_ipv4_when_the_ipv6_connection_is_reset() -> None:
    mqtt = catalog.builtin().get("siemens-s7-1500").mqtt
    assert mqtt is not None
    env, log = env_with_log(penv.make_config(("mqtt",), mqtt=mqtt.model_copy(update={"broker": CLOUD}).model_dump()))
    ip6 = start_until_ipv6_sent(env)
    [(src, dst, _, syn)] = ip6.sent
    segment = tcp_segment.parse(syn)
    assert dst == b(SINK6) and segment is not None and segment.flags == SYN and segment.dport == 1883
    reset = tcp_segment.build(dst, src, segment.dport, segment.sport, 0, segment.seq + 1, RST | ACK, 0)
    assert env.host.tcp is not None
    env.host.tcp.handle(Reply(dst, src, reset), env.now)
    [again] = [p for p in env.sent() if p.haslayer("TCP")]
    assert again["IP"].dst == SINK4 and again["TCP"].dport == 1883 and again["TCP"].flags == "S"
    assert any("over IPv6 failed (refused), trying its IPv4 address" in message for _, message in log), log
