"""A phone's SIP user agent on UDP 5060, asked as nmap's SIPOptions probe and `sip-methods` ask it.

The requests are nmap 7.93's bytes (nmap-service-probes `Probe UDP SIPOptions`, nselib/sip.lua's
OPTIONS); the answers are dissected as a SIP stack reads them: status line, dialog headers echoed
(RFC 3261 8.2.6), `received`/`rport` on the top Via (RFC 3581), then the profile's headers.
"""

from __future__ import annotations

from typing import Any

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from iot_emulator.profiles import catalog
from iot_emulator.protocols.servers import sip_server
from tests.unit import protocol_env as penv
from tests.unit import test_tcp_server as tcp_server_test

NMAP_PROBE = (
    b"OPTIONS sip:nm SIP/2.0\r\nVia: SIP/2.0/UDP nm;branch=foo;rport\r\nFrom: <sip:nm@nm>;tag=root\r\n"
    b"To: <sip:nm2@nm2>\r\nCall-ID: 50000\r\nCSeq: 42 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n"
    b"Contact: <sip:nm@nm>\r\nAccept: application/sdp\r\n\r\n"
)
SIP: dict[str, Any] = {"kind": "sip", "headers": {"User-Agent": "Acme Phone {model} 1.2", "Allow": "INVITE, OPTIONS"}}
SCANNER = ("10.77.0.1", 41234)


def setup() -> penv.Env:
    return penv.started(listen_udp=[SIP])


def ask(env: penv.Env, payload: bytes) -> list[bytes]:
    env.deliver(
        Ether(dst=penv.MAC, src=penv.GATEWAY_MAC)
        / IP(src=SCANNER[0], dst=penv.IP)
        / UDP(sport=SCANNER[1], dport=5060)
        / payload
    )
    return [bytes(f[UDP].payload) for f in penv.Env.udp(env.sent(), SCANNER[1]) if f[UDP].sport == 5060]


def test_nmap_options_probe_gets_200_with_its_dialog_headers_and_the_phone_identity() -> None:
    [answer] = ask(setup(), NMAP_PROBE)
    lines = answer.decode().split("\r\n")
    assert lines[0] == "SIP/2.0 200 OK"
    assert lines[1] == "Via: SIP/2.0/UDP nm;branch=foo;rport=41234;received=10.77.0.1"
    assert lines[2:4] == ["From: <sip:nm@nm>;tag=root", lines[3]] and lines[3].startswith("To: <sip:nm2@nm2>;tag=")
    assert lines[4:] == [
        "Call-ID: 50000",
        "CSeq: 42 OPTIONS",
        "User-Agent: Acme Phone Widget 2 1.2",
        "Allow: INVITE, OPTIONS",
        "Content-Length: 0",
        "",
        "",
    ]


def test_other_requests_are_refused_and_ack_and_garbage_get_nothing() -> None:
    env = setup()
    invite = NMAP_PROBE.replace(b"OPTIONS sip:nm", b"INVITE sip:nm").replace(b"42 OPTIONS", b"42 INVITE")
    [refused] = ask(env, invite)
    assert refused.startswith(b"SIP/2.0 403 Forbidden\r\n") and b"CSeq: 42 INVITE\r\n" in refused
    assert ask(env, NMAP_PROBE.replace(b"OPTIONS sip:nm", b"ACK sip:nm")) == []
    assert ask(env, b"SIP/2.0 200 OK\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n") == []
    assert ask(env, NMAP_PROBE.replace(b"Call-ID: 50000\r\n", b"")) == []  # no dialog to answer in
    assert ask(env, b"\x00" * 64) == []


def test_compact_headers_and_several_vias_are_echoed_in_order() -> None:
    request = (
        b"OPTIONS sip:100@10.77.0.10 SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1\r\n"
        b"v: SIP/2.0/UDP 10.0.0.8;branch=z9hG4bK0\r\nf: <sip:a@b>;tag=x\r\nt: <sip:100@c>;tag=y\r\n"
        b"i: abc\r\nCSeq: 1 OPTIONS\r\n\r\n"
    )
    [answer] = ask(setup(), request)
    lines = answer.decode().split("\r\n")
    assert lines[1:6] == [
        "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1;received=10.77.0.1",
        "Via: SIP/2.0/UDP 10.0.0.8;branch=z9hG4bK0",
        "From: <sip:a@b>;tag=x",
        "To: <sip:100@c>;tag=y",
        "Call-ID: abc",
    ]


def test_shipped_phones_answer_with_their_user_agent_or_server() -> None:
    expected = {
        "cisco-cp-7841": b"Server: Cisco-CP7841/14.1.1\r\n",
        "polycom-vvx-310": b"User-Agent: PolycomVVX-VVX_310-UA/5.9.5.0614\r\n",
        "yealink-sip-t46s": b"User-Agent: Yealink SIP-T46S 66.86.0.15\r\n",
        "grandstream-gxp1405": b"User-Agent: Grandstream GXP1405 1.0.8.6\r\n",
    }
    for name, header in expected.items():
        [service] = [s for s in catalog.builtin().get(name).listen_udp if s.kind == "sip"]
        facts = {"mac12": "001122334455", "ip": "10.77.0.10"}
        answer = sip_server.answer(service, NMAP_PROBE, facts, SCANNER)  # type: ignore[arg-type]
        assert answer is not None and answer.startswith(b"SIP/2.0 200 OK\r\n") and header in answer, name
        assert answer.count(b"Content-Length:") == 1 and b"Contact: <sip:10.77.0.10:5060>\r\n" in answer, name


def test_tcp_answers_each_request_on_the_open_connection_and_closes_on_what_is_not_sip() -> None:
    tcp_probe = NMAP_PROBE.replace(b"SIP/2.0/UDP nm;branch=foo;rport", b"SIP/2.0/TCP nm;branch=foo")
    env, peer = tcp_server_test.setup([{**SIP, "port": 5060}])
    data, flags = tcp_server_test.exchange(env, peer, 5060, tcp_probe)
    assert data.startswith(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP nm;branch=foo\r\n")  # no received/rport over TCP
    assert b"User-Agent: Acme Phone Widget 2 1.2\r\n" in data and not any("F" in f for f in flags)
    env, peer = tcp_server_test.setup([{**SIP, "port": 5060}])
    data, flags = tcp_server_test.exchange(env, peer, 5060, b"GET / HTTP/1.0\r\n\r\n")
    assert data == b"" and any("F" in f for f in flags)
