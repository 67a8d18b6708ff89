"""The MQTT 3.1.1 client: packets decoded by Scapy's contrib MQTT layer; connect, publish, keep-alive, reconnect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scapy.contrib import mqtt as scapy_mqtt
from scapy.layers.inet import TCP
from scapy.layers.tls import record

from iot_emulator.protocols.clients import mqtt
from tests.unit import protocol_env as penv
from tests.unit.openssl_peer import OpenSslPeer
from tests.unit.tcp_peer import Server, StubResolver, env_with_log, step_until_sent

MQTT: Any = scapy_mqtt.MQTT  # untyped constructor
BROKER = "broker.example.com"
MQTT_PROFILE: dict[str, Any] = {
    "broker": BROKER,
    "client_id": "plug-{mac6}",
    "username": "device",
    "keepalive": 30,
    "topics": ["home/{hostname}/state", "tele/{MAC6}/LWT"],
    "payload": '{"state": "on", "mac": "{mac6}"}',
}
CONNACK_OK = b"\x20\x02\x00\x00"
TLS: Any = record.TLS  # Scapy's TLS classes have untyped constructors
PINGRESP = b"\xd0\x00"


def test_connect_packet_decoded_by_scapy() -> None:
    pkt = MQTT(mqtt.connect_packet("plug-0a0b0c", 60, "device"))
    assert pkt.type == 1 and pkt.protoname == b"MQTT" and pkt.protolevel == 4
    assert pkt.cleansess == 1 and pkt.usernameflag == 1 and pkt.passwordflag == 0 and pkt.willflag == 0
    assert pkt.klive == 60 and pkt.clientId == b"plug-0a0b0c" and pkt.username == b"device"
    anonymous = MQTT(mqtt.connect_packet("x", 5))
    assert anonymous.usernameflag == 0 and bytes(anonymous) == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x05\x00\x01x"


def test_publish_ping_and_disconnect_decoded_by_scapy() -> None:
    pkt = MQTT(mqtt.publish_packet("home/plug/state", b'{"state": "on"}'))
    assert pkt.type == 3 and pkt.QOS == 0 and pkt.RETAIN == 0
    assert pkt.topic == b"home/plug/state" and pkt.value == b'{"state": "on"}'
    assert MQTT(mqtt.PINGREQ_PACKET).type == 12 and MQTT(mqtt.DISCONNECT_PACKET).type == 14


def test_long_packets_use_a_multi_byte_length() -> None:
    payload = bytes(300)
    data = mqtt.publish_packet("t", payload)
    assert data[1:3] == bytes((0x80 | (303 % 128), 303 // 128))
    assert MQTT(data).value == payload


def test_read_packets_waits_for_whole_packets() -> None:
    buffer = bytearray(CONNACK_OK[:3])
    assert mqtt.read_packets(buffer) == [] and buffer == CONNACK_OK[:3]
    buffer += CONNACK_OK[3:] + PINGRESP + mqtt.publish_packet("t", bytes(200))[:2]
    assert mqtt.read_packets(buffer) == [(2, b"\x00\x00"), (13, b"")]
    assert len(buffer) == 2


def test_placeholders_are_filled_and_json_braces_kept() -> None:
    config = penv.make_config(("mqtt",), mqtt=MQTT_PROFILE)
    values = mqtt.placeholders(config)
    assert mqtt.fill(MQTT_PROFILE["payload"], values) == '{"state": "on", "mac": "0a0b0c"}'
    assert mqtt.fill("tele/{MAC6}/{hostname}", values) == "tele/0A0B0C/widget-0a0b0c"


# -- the service --------------------------------------------------------------------------------


class Broker:
    """Server replies of a broker that accepts everyone."""

    def __init__(self, connack: bytes = CONNACK_OK) -> None:
        self.connack = connack
        self.pings = 0

    def __call__(self, data: bytes) -> bytes | None:
        if data[0] >> 4 == mqtt.CONNECT:
            return self.connack
        if data[0] >> 4 == mqtt.PINGREQ:
            self.pings += 1
            return PINGRESP
        return None


def mqtt_env(
    hello: dict[str, Any] | None = None, **fields: Any
) -> tuple[penv.Env, list[tuple[str, str]], mqtt.MqttClient]:
    """A device whose profile has `MQTT_PROFILE` updated with `fields`, and the TLS section `hello` if given."""
    profile_fields: dict[str, Any] = {
        "mqtt": {**MQTT_PROFILE, **fields},
        "schedule": {"mqtt": {"interval": 100, "jitter": 0}},
        **({"tls": hello} if hello is not None else {}),
    }
    env, log = env_with_log(penv.make_config(("mqtt",), **profile_fields))
    env.build()
    env.host.resolver = StubResolver({BROKER: penv.GATEWAY})
    client = next(s for s in env.host.services if isinstance(s, mqtt.MqttClient))
    env.start()
    return env, log, client


def stream_types(data: bytes) -> list[int]:
    buffer = bytearray(data)
    return [kind for kind, _ in mqtt.read_packets(buffer)]


def test_connects_at_start_and_publishes_after_connack() -> None:
    env, log, client = mqtt_env()
    step_until_sent(env)
    broker = Broker()
    server = Server(env, broker)
    server.run()
    stream = server.received[0]
    assert stream_types(stream) == [mqtt.CONNECT, mqtt.PUBLISH, mqtt.PUBLISH]
    connect = MQTT(stream)
    assert connect.clientId == b"plug-0a0b0c" and connect.username == b"device" and connect.klive == 30
    buffer = bytearray(stream)
    bodies = mqtt.read_packets(buffer)[1:]
    publishes = [MQTT(mqtt.packet(kind, 0, body)) for kind, body in bodies]
    assert [p.topic for p in publishes] == [b"home/widget-0a0b0c/state", b"tele/0A0B0C/LWT"]
    assert publishes[0].value == b'{"state": "on", "mac": "0a0b0c"}'
    assert server.syns[0][TCP].dport == 1883 and client.state is mqtt.MqttState.CONNECTED
    assert ("info", "mqtt: connected to broker.example.com:1883 as plug-0a0b0c") in log
    assert client.published == 2


def test_publishes_on_schedule_and_pings_when_idle() -> None:
    env, _, client = mqtt_env()
    step_until_sent(env)
    broker = Broker()
    server = Server(env, broker)
    server.run()
    connected_at = env.now
    env.step()  # keep-alive: 30 s after the last packet sent
    assert env.now == pytest.approx(connected_at + 30)
    server.run()
    assert broker.pings == 1 and stream_types(server.received[0])[-1] == mqtt.PINGREQ
    while (deadline := env.host.next_deadline()) is not None and deadline <= connected_at + 100.5:
        env.step()  # PINGREQs at 60 and 90 s, then the publish interval
        server.run()
    assert broker.pings == 3
    assert client.published == 4 and stream_types(server.received[0])[-2:] == [mqtt.PUBLISH, mqtt.PUBLISH]


def test_stop_sends_disconnect_then_fin() -> None:
    env, _, client = mqtt_env()
    step_until_sent(env)
    server = Server(env, Broker())
    server.run()
    client.stop(env.now)
    server.run()
    assert stream_types(server.received[0])[-1] == mqtt.DISCONNECT
    flags = [str(p[TCP].flags) for p in server.seen]
    assert "F" in flags[-2] and client.state is mqtt.MqttState.STOPPED  # DISCONNECT, FIN; then the ACK of theirs


def test_reconnects_with_backoff_when_the_broker_closes() -> None:
    env, log, client = mqtt_env()
    step_until_sent(env)
    server = Server(env, lambda data: CONNACK_OK if data[0] >> 4 == mqtt.CONNECT else None)
    server.run()
    server.close_after_reply = True
    server.reply = lambda data: b""  # the next packet the broker gets, it answers by closing
    env.step()  # PINGREQ at keep-alive
    lost_at = env.now
    server.run()
    assert client.state is mqtt.MqttState.IDLE
    assert any(level == "warning" and "reconnecting" in message for level, message in log)
    step_until_sent(env)
    assert 0.8 <= env.now - lost_at <= 1.2  # first retry after ~1 s
    [syn] = [p for p in env.sent() if TCP in p]
    assert str(syn[TCP].flags) == "S"


def test_refused_connect_is_retried_later() -> None:
    env, log, client = mqtt_env()
    step_until_sent(env)
    server = Server(env, Broker(connack=b"\x20\x02\x00\x05"))
    server.run()
    assert client.state is mqtt.MqttState.IDLE
    assert ("warning", "mqtt: broker.example.com:1883: CONNECT refused: not authorized; reconnecting") in log
    assert any("F" in str(p[TCP].flags) for p in server.seen)  # our side closed


def test_no_pingresp_means_the_broker_is_gone() -> None:
    env, log, client = mqtt_env(keepalive=5)
    step_until_sent(env)
    server = Server(env, lambda data: CONNACK_OK if data[0] >> 4 == mqtt.CONNECT else None)
    server.run()
    env.step()  # PINGREQ
    server.run()  # ACKed, no PINGRESP
    env.step()  # keep-alive later: lost
    assert client.state is mqtt.MqttState.IDLE
    assert any("no PINGRESP" in message for _, message in log)


def test_no_mqtt_section_no_service() -> None:
    env = penv.Env(penv.make_config(("mqtt",)))
    assert not [s for s in env.build() if isinstance(s, mqtt.MqttClient)]


def test_mqtt_inside_tls_with_the_profiles_hello(tmp_path: Path) -> None:
    """MQTT over TLS (section 5.1) to a real OpenSSL server: the hello is the profile's, SNI the broker's."""
    hello = {"servers": ["cloud.example.com"], "cipher_suites": [0xC02B, 0xC02F], "extensions": [0, 10, 11, 13]}
    env, log, client = mqtt_env(hello, tls=True, port=8883)
    step_until_sent(env)
    broker = OpenSslPeer(tmp_path, Broker(), BROKER)
    server = Server(env, broker.answer)
    server.run()
    record = server.received[0]
    client_hello = TLS(record[: 5 + int.from_bytes(record[3:5], "big")]).msg[0]
    assert client_hello.ciphers == [0xC02B, 0xC02F] and client_hello.ext[0].servernames[0].servername == BROKER.encode()
    assert server.syns[0][TCP].dport == 8883 and client.state is mqtt.MqttState.CONNECTED
    assert stream_types(b"".join(broker.plaintext)) == [mqtt.CONNECT, mqtt.PUBLISH, mqtt.PUBLISH]
    assert MQTT(broker.plaintext[0]).clientId == b"plug-0a0b0c"
    assert ("info", f"mqtt: connected to {BROKER}:8883 as plug-0a0b0c") in log
    client.stop(env.now)
    server.run()
    assert broker.closed and stream_types(broker.plaintext[-1]) == [mqtt.DISCONNECT]


def test_a_tls_broker_that_refuses_the_hello_is_retried() -> None:
    hello = {"servers": ["cloud.example.com"], "cipher_suites": [0xC02B], "extensions": [0, 10, 11, 13]}
    env, log, client = mqtt_env(hello, tls=True, port=8883)
    step_until_sent(env)
    Server(env, lambda data: b"\x15\x03\x03\x00\x02\x02\x28").run()  # fatal handshake_failure
    assert client.state is mqtt.MqttState.IDLE
    assert ("warning", f"mqtt: {BROKER}:8883: TLS: alert 40; reconnecting") in log


def test_mqtt_tls_without_a_tls_section_is_refused() -> None:
    with pytest.raises(ValueError, match=r"mqtt\.tls needs a tls section"):
        penv.make_config(("mqtt",), mqtt={**MQTT_PROFILE, "tls": True})
