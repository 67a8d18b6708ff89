"""CoAP client: codec against Scapy's CoAP layer, RFC 7252 retransmission on a virtual clock, ACKs and RSTs."""

from __future__ import annotations

import itertools

import pytest
from scapy.contrib.coap import CoAP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.protocols.clients import coap
from tests.unit.protocol_env import GATEWAY_MAC, MAC, Env, make_config
from tests.unit.protocol_env import IP as DEV_IP

SERVER = "10.77.0.1"  # an address: the resolver answers literals at once


def coap_env(paths: list[str], confirmable: bool = True) -> tuple[Env, coap.CoapClient]:
    config = make_config(
        protocols=("coap",),
        coap={"server": SERVER, "paths": paths, "confirmable": confirmable},
        schedule={"coap": {"interval": 300, "jitter": 0}},
    )
    env = Env(config)
    [_, client] = env.build()
    assert isinstance(client, coap.CoapClient)
    env.start()
    return env, client


def from_server(request: Packet, message: bytes) -> Packet:
    return (
        Ether(src=GATEWAY_MAC, dst=MAC)
        / IP(src=SERVER, dst=DEV_IP)
        / UDP(sport=5683, dport=request[UDP].sport)
        / message
    )


def piggybacked(request: Packet, payload: bytes = b"</sensors>") -> bytes:
    """The ACK carrying a 2.05 Content response (payload after the 0xff marker)."""
    return bytes(CoAP(type=2, code=69, msg_id=request[CoAP].msg_id, token=request[CoAP].token)) + b"\xff" + payload


def test_codec_matches_scapy_with_extended_option_lengths() -> None:
    long_segment = "s" * 300
    message = coap.Message(coap.CON, coap.GET, 0xBEEF, b"\x01\x02", coap.uri_options(f"/a/{long_segment}?x=1&y"))
    raw = coap.encode(message)
    dissected = CoAP(raw)
    assert dissected.options == [
        ("Uri-Path", b"a"),
        ("Uri-Path", long_segment.encode()),
        ("Uri-Query", b"x=1"),
        ("Uri-Query", b"y"),
    ]
    assert (dissected.type, dissected.code, dissected.msg_id, dissected.token) == (0, 1, 0xBEEF, b"\x01\x02")
    assert coap.parse(raw) == message
    assert coap.parse(coap.encode(message._replace(payload=b"hi"))) == message._replace(payload=b"hi")
    assert coap.code_text(69) == "2.05" and coap.code_text(132) == "4.04"


def test_confirmable_get_for_each_path_one_at_a_time() -> None:
    env, client = coap_env(["/.well-known/core", "/sensors/temp"])
    [first] = env.first_frames()
    assert first[IP].dst == SERVER and first[UDP].dport == 5683
    assert first[CoAP].type == 0 and first[CoAP].code == 1 and first[CoAP].tkl == 4
    assert first[CoAP].options == [("Uri-Path", b".well-known"), ("Uri-Path", b"core")]
    env.advance(0.5)
    assert env.sent() == []  # NSTART 1: the second path waits for the first answer
    env.deliver(from_server(first, piggybacked(first, b"</sensors/temp>")))
    [second] = env.sent()
    assert second[CoAP].options == [("Uri-Path", b"sensors"), ("Uri-Path", b"temp")]
    assert second[CoAP].msg_id == (first[CoAP].msg_id + 1) & 0xFFFF and second[CoAP].token != first[CoAP].token
    assert second[UDP].sport == first[UDP].sport
    env.deliver(from_server(second, piggybacked(second, b"21.5")))
    assert client.responses == [("/.well-known/core", "2.05", b"</sensors/temp>"), ("/sensors/temp", "2.05", b"21.5")]
    assert env.counters.protocols == {"coap": 2}


def test_retransmission_doubles_from_2_to_3_s_and_gives_up_after_four() -> None:
    env, client = coap_env(["/x"])
    env.first_frames()
    times = [env.now]
    while len(times) < 6:
        env.step()
        if env.sent():
            times.append(env.now)
        elif client.failures:
            times.append(env.now)
            break
    waits = [b - a for a, b in itertools.pairwise(times)]
    assert len(waits) == 5 and client.failures == 1  # 4 retransmissions, then the last wait ends it
    first = waits[0]
    assert 2.0 <= first <= 3.0
    assert waits == pytest.approx([first, 2 * first, 4 * first, 8 * first, 16 * first])


def test_empty_ack_then_separate_confirmable_response_is_acked() -> None:
    env, client = coap_env(["/x"])
    [request] = env.first_frames()
    env.deliver(from_server(request, bytes(CoAP(type=2, code=0, msg_id=request[CoAP].msg_id))))
    env.advance(5)
    assert env.sent() == []  # acknowledged: no retransmission
    separate = bytes(CoAP(type=0, code=69, msg_id=0x7777, token=request[CoAP].token)) + b"\xffok"
    env.deliver(from_server(request, separate))
    [ack] = env.sent()
    assert ack[CoAP].type == 2 and ack[CoAP].code == 0 and ack[CoAP].msg_id == 0x7777 and ack[CoAP].tkl == 0
    assert client.responses == [("/x", "2.05", b"ok")]


def test_reset_ends_the_request() -> None:
    env, client = coap_env(["/x", "/y"])
    [request] = env.first_frames()
    env.deliver(from_server(request, bytes(CoAP(type=3, code=0, msg_id=request[CoAP].msg_id))))
    [following] = env.sent()
    assert client.failures == 1 and following[CoAP].options == [("Uri-Path", b"y")]


def test_non_confirmable_is_sent_once() -> None:
    env, client = coap_env(["/x"], confirmable=False)
    [request] = env.first_frames()
    assert request[CoAP].type == 1
    env.advance(coap.RESPONSE_WAIT + 0.1)
    assert env.sent() == [] and client.failures == 1


def test_no_coap_section_no_service() -> None:
    assert [s.name for s in Env(make_config(protocols=("coap",))).build()] == ["resolver"]
