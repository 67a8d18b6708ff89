"""DNS: the message codec against Scapy's DNS layer, the stub resolver and the "dns" service on a virtual clock."""

from __future__ import annotations

from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRSOA, DNSRRSRV
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.protocols import dns_wire
from iot_emulator.protocols.clients import dns
from tests.unit.protocol_env import GATEWAY, GATEWAY_MAC, MAC, Env, ip, make_config
from tests.unit.protocol_env import IP as DEV_IP

SECOND_DNS = "10.77.0.2"


def reply_to(
    query: Packet, *records: DNSRR, rcode: int = 0, authority: DNSRR | DNSRRSOA | None = None, src: str = GATEWAY
) -> Packet:
    """The server's answer to a query the device sent, built by Scapy."""
    return (
        Ether(src=GATEWAY_MAC, dst=MAC)
        / IP(src=src, dst=DEV_IP)
        / UDP(sport=53, dport=query[UDP].sport)
        / DNS(
            id=query[DNS].id,
            qr=1,
            rd=1,
            ra=1,
            rcode=rcode,
            qd=query[DNS].qd,
            an=list(records),
            ns=[authority] if authority else [],
        )
    )


def a(name: str, address: str, ttl: int = 300) -> DNSRR:
    return DNSRR(rrname=name, type="A", ttl=ttl, rdata=address)


class Answers:
    def __init__(self) -> None:
        self.got: list[bytes | None] = []

    def __call__(self, address: bytes | None) -> None:
        self.got.append(address)


def resolver_env(**kw: object) -> tuple[Env, dns.DnsResolver]:
    env = Env(**kw)  # type: ignore[arg-type]
    env.build()
    resolver = env.host.resolver
    assert isinstance(resolver, dns.DnsResolver)
    return env, resolver


# -- codec ------------------------------------------------------------------------------------------


def test_query_bytes_equal_scapy() -> None:
    ours = dns_wire.query(0x1234, "cloud.example.com")
    assert ours == bytes(DNS(id=0x1234, rd=1, qd=DNSQR(qname="cloud.example.com", qtype="A")))


def test_parse_a_compressed_response_with_a_cname_chain() -> None:
    scapy_reply = DNS(
        id=7,
        qr=1,
        qd=DNSQR(qname="api.example.com"),
        an=[
            DNSRR(rrname="api.example.com", type="CNAME", ttl=600, rdata="edge.example.net"),
            DNSRR(rrname="edge.example.net", type="A", ttl=60, rdata="10.77.0.5"),
        ],
    ).compress()  # type: ignore[no-untyped-call]
    message = dns_wire.parse(bytes(scapy_reply))
    assert message is not None and message.is_response and message.id == 7
    assert message.answers[0] == dns_wire.Record("api.example.com", dns_wire.TYPE_CNAME, 600, "edge.example.net")
    assert dns.answer(message, "API.example.com") == (ip("10.77.0.5"), 60)


def test_encoded_records_dissect_in_scapy_and_compress() -> None:
    message = dns_wire.Message(
        0,
        0x8400,
        answers=[
            dns_wire.Record("_hue._tcp.local", dns_wire.TYPE_PTR, 4500, "Hue Bridge\\.v2._hue._tcp.local"),
            dns_wire.Record(
                "Hue Bridge\\.v2._hue._tcp.local",
                dns_wire.TYPE_SRV,
                120,
                dns_wire.Srv(0, 0, 443, "hue.local"),
                rclass=0x8001,
            ),
            dns_wire.Record("Hue Bridge\\.v2._hue._tcp.local", dns_wire.TYPE_TXT, 4500, (b"bridgeid=0017", b"x=1")),
        ],
    )
    raw = dns_wire.encode(message)
    parsed = DNS(raw)
    assert parsed.an[0].rdata == b"Hue Bridge.v2._hue._tcp.local."
    assert isinstance(parsed.an[1], DNSRRSRV) and parsed.an[1].port == 443 and parsed.an[1].target == b"hue.local."
    assert parsed.an[1].cacheflush == 1 and parsed.an[2].rdata == [b"bridgeid=0017", b"x=1"]
    assert raw.count(b"\x05local") == 1 and raw.count(b"\x04_hue") == 1  # written once, then pointers
    assert dns_wire.parse(raw) == message  # and back, dots inside labels kept


def test_malformed_messages_parse_to_none() -> None:
    assert dns_wire.parse(b"\x00\x01") is None
    looping = bytes(DNS(id=1, qd=DNSQR(qname="a.b")))[:12] + b"\xc0\x0c\x00\x01\x00\x01"
    assert dns_wire.parse(looping) is None


# -- resolver ---------------------------------------------------------------------------------------


def test_query_goes_to_the_dhcp_server_and_the_answer_is_cached_by_ttl() -> None:
    env, resolver = resolver_env()
    answers = Answers()
    resolver.resolve("cloud.example.com", env.now, answers)
    [query] = env.sent()
    assert query[IP].dst == GATEWAY and query[UDP].dport == 53 and query[DNS].qd[0].qname == b"cloud.example.com."
    assert query[DNS].rd == 1 and query[DNS].qd[0].qtype == 1 and 32768 <= query[UDP].sport < 61000
    env.deliver(reply_to(query, a("cloud.example.com", "10.77.0.5", ttl=30)))
    assert answers.got == [ip("10.77.0.5")]
    assert env.counters.protocols == {"dns": 1}

    env.advance(29)
    resolver.resolve("CLOUD.example.com.", env.now, answers)  # case and root dot do not matter
    assert answers.got[-1] == ip("10.77.0.5") and env.sent() == []
    env.advance(2)
    resolver.resolve("cloud.example.com", env.now, answers)
    [again] = env.sent()
    assert (again[DNS].id, again[UDP].sport) != (query[DNS].id, query[UDP].sport)  # random per query


def test_concurrent_callers_share_one_query() -> None:
    env, resolver = resolver_env()
    first, second = Answers(), Answers()
    resolver.resolve("mqtt.example.com", env.now, first)
    resolver.resolve("mqtt.example.com", env.now, second)
    [query] = env.sent()
    env.deliver(reply_to(query, a("mqtt.example.com", "10.77.0.6")))
    assert first.got == second.got == [ip("10.77.0.6")]


def test_retransmits_after_1s_to_the_next_server_then_fails_after_2s_more() -> None:
    env, resolver = resolver_env(dns=(GATEWAY, SECOND_DNS))
    answers = Answers()
    resolver.resolve("slow.example.com", env.now, answers)
    [first] = env.sent()
    env.advance(0.99)
    assert env.sent() == []
    env.advance(0.02)
    [second] = env.sent()
    assert first[IP].dst == GATEWAY and second[IP].dst == SECOND_DNS and second[DNS].id == first[DNS].id
    env.advance(1.9)
    assert answers.got == [] and env.sent() == []
    env.advance(0.2)
    assert answers.got == [None] and env.sent() == []
    assert resolver.next_deadline() is None and not env.host.udp_in_use(first[UDP].sport)


def test_a_late_answer_from_the_first_server_still_counts() -> None:
    env, resolver = resolver_env(dns=(GATEWAY, SECOND_DNS))
    answers = Answers()
    resolver.resolve("late.example.com", env.now, answers)
    [first] = env.sent()
    env.advance(1.5)
    env.deliver(reply_to(first, a("late.example.com", "10.77.0.7")))
    assert answers.got == [ip("10.77.0.7")]


def test_answers_that_do_not_match_are_ignored() -> None:
    env, resolver = resolver_env()
    answers = Answers()
    resolver.resolve("cloud.example.com", env.now, answers)
    [query] = env.sent()
    wrong_id = reply_to(query, a("cloud.example.com", "10.66.6.6"))
    wrong_id[DNS].id ^= 1
    env.deliver(wrong_id)
    env.deliver(reply_to(query, a("cloud.example.com", "10.66.6.6"), src="10.77.0.99"))  # not our server
    assert answers.got == []
    env.deliver(reply_to(query, a("cloud.example.com", "10.77.0.5")))
    assert answers.got == [ip("10.77.0.5")]


def test_nxdomain_is_cached_by_the_soa_minimum() -> None:
    env, resolver = resolver_env()
    answers = Answers()
    resolver.resolve("nope.example.com", env.now, answers)
    [query] = env.sent()
    soa = DNSRRSOA(rrname="example.com", ttl=3600, mname="ns.example.com", rname="h.example.com", minimum=60)
    env.deliver(reply_to(query, rcode=3, authority=soa))
    assert answers.got == [None]
    resolver.resolve("nope.example.com", env.now + 59, answers)
    assert answers.got == [None, None] and env.sent() == []


def test_cname_chain_ttl_is_the_smallest() -> None:
    env, resolver = resolver_env()
    answers = Answers()
    resolver.resolve("api.example.com", env.now, answers)
    [query] = env.sent()
    env.deliver(
        reply_to(
            query,
            DNSRR(rrname="api.example.com", type="CNAME", ttl=20, rdata="edge.example.net"),
            a("edge.example.net", "10.77.0.8", ttl=300),
        )
    )
    assert answers.got == [ip("10.77.0.8")]
    assert resolver.cache["api.example.com"] == dns.Cached(ip("10.77.0.8"), None, env.now + 20, asked_aaaa=False)


def test_servfail_moves_to_the_next_server_at_once() -> None:
    env, resolver = resolver_env(dns=(GATEWAY, SECOND_DNS))
    resolver.resolve("x.example.com", env.now, Answers())
    [query] = env.sent()
    env.deliver(reply_to(query, rcode=2))
    [retry] = env.sent()
    assert retry[IP].dst == SECOND_DNS


def test_literals_and_missing_servers_answer_at_once() -> None:
    env, resolver = resolver_env(dns=())
    answers = Answers()
    resolver.resolve("10.77.0.9", env.now, answers)
    resolver.resolve("cloud.example.com", env.now, answers)
    assert answers.got == [ip("10.77.0.9"), None] and env.sent() == []


def test_every_device_gets_a_resolver_even_without_the_dns_protocol() -> None:
    env = Env(make_config(protocols=("ntp",)))
    built = env.build()
    assert isinstance(env.host.resolver, dns.DnsResolver) and built[0] is env.host.resolver


# -- the "dns" service ------------------------------------------------------------------------------


def test_dns_service_resolves_the_profile_names_on_its_schedule() -> None:
    config = make_config(
        protocols=("dns",),
        dns_names=["a.example.com", "b.example.com"],
        schedule={"dns": {"interval": 300, "jitter": 0}},
    )
    env = Env(config)
    [_, names] = env.build()
    assert isinstance(names, dns.DnsNames)
    env.start()
    queries = env.sent()
    for _ in range(100):  # the first lookup comes within the first 10 s
        if queries := env.sent():
            break
        env.advance(0.1)
    assert sorted(q[DNS].qd[0].qname for q in queries) == [b"a.example.com.", b"b.example.com."]
    for query in queries:
        env.deliver(reply_to(query, a(query[DNS].qd[0].qname.decode(), "10.77.0.5", ttl=0)))
    assert names.answers == {"a.example.com": ip("10.77.0.5"), "b.example.com": ip("10.77.0.5")}
    due = names.ticker.due
    assert due is not None and due - env.now > 299  # every 300 s, no jitter
    env.advance(due - env.now - 0.01)
    assert env.sent() == []
    env.advance(0.02)
    assert len(env.sent()) == 2  # TTL 0 (dnsmasq's default for its own names): asked again each time


def test_dns_service_is_not_built_without_names() -> None:
    env = Env(make_config(protocols=("dns",)))
    assert [s.name for s in env.build()] == ["resolver"]
