"""The RTSP client: OPTIONS then DESCRIBE, exact bytes, on one connection (RFC 2326)."""

from __future__ import annotations

from typing import Any

from scapy.layers.inet import TCP

from iot_emulator.profiles import catalog
from iot_emulator.protocols.clients import rtsp
from tests.unit import protocol_env as penv
from tests.unit.tcp_peer import Server, StubResolver, env_with_log, step_until_sent

NVR = "nvr.example.com"
RTSP: dict[str, Any] = {"server": NVR, "path": "/Streaming/Channels/101", "user_agent": "Hikvision NVR RTSP/1.0"}
OPTIONS_OK = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
DESCRIBE_401 = b'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm="IP Camera"\r\n\r\n'


def test_request_bytes() -> None:
    cfg = catalog.Rtsp.model_validate(RTSP)
    assert rtsp.options(cfg) == (
        b"OPTIONS rtsp://nvr.example.com/Streaming/Channels/101 RTSP/1.0\r\n"
        b"CSeq: 1\r\nUser-Agent: Hikvision NVR RTSP/1.0\r\n\r\n"
    )
    assert rtsp.describe(cfg) == (
        b"DESCRIBE rtsp://nvr.example.com/Streaming/Channels/101 RTSP/1.0\r\n"
        b"CSeq: 2\r\nUser-Agent: Hikvision NVR RTSP/1.0\r\nAccept: application/sdp\r\n\r\n"
    )


def test_url_with_a_port_and_no_user_agent() -> None:
    cfg = catalog.Rtsp(server="10.77.0.1", port=8554, path="live")
    assert rtsp.url(cfg) == "rtsp://10.77.0.1:8554/live"
    assert rtsp.options(cfg) == b"OPTIONS rtsp://10.77.0.1:8554/live RTSP/1.0\r\nCSeq: 1\r\n\r\n"


def test_service_sends_options_then_describe_and_closes() -> None:
    env, log = env_with_log(penv.make_config(("rtsp",), rtsp=RTSP))
    env.build()
    env.host.resolver = StubResolver({NVR: penv.GATEWAY})
    env.start()
    step_until_sent(env)
    answers = {b"OPTIONS": OPTIONS_OK, b"DESCRIBE": DESCRIBE_401}
    server = Server(env, lambda data: answers[data.split(b" ", 1)[0]])
    server.run()
    cfg = catalog.Rtsp.model_validate(RTSP)
    assert server.received == [rtsp.options(cfg) + rtsp.describe(cfg)]
    assert server.syns[0][TCP].dport == 554
    assert ("debug", "rtsp: rtsp://nvr.example.com/Streaming/Channels/101: OPTIONS 200, DESCRIBE 401") in log
    assert env.counters.protocols["rtsp"] >= 5
    client = next(s for s in env.host.services if isinstance(s, rtsp.RtspClient))
    assert client.completed == 1 and client.sessions == []
