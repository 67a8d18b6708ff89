"""The HTTP client: exact request bytes (header order, User-Agent), response framing, the service on a virtual clock."""

from __future__ import annotations

from typing import Any

import pytest
from scapy.layers.http import HTTPRequest
from scapy.layers.inet import TCP

from iot_emulator.profiles import catalog
from iot_emulator.protocols.clients import http, tcp_client
from tests.unit import protocol_env as penv
from tests.unit.tcp_peer import Server, StubResolver, env_with_log, step_until_sent

CLOUD = "cloud.example.com"
HTTP_PROFILE: dict[str, Any] = {
    "user_agent": "Hikvision-Webs",
    "requests": [
        {
            "method": "GET",
            "host": CLOUD,
            "path": "/ISAPI/System/deviceInfo",
            "headers": {"Accept": "*/*", "X-Device": "DS-2CD2042FWD"},
        }
    ],
}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def request(**fields: Any) -> catalog.HttpRequest:
    return catalog.HttpRequest.model_validate({"host": CLOUD, **fields})


def test_request_bytes_keep_the_profile_order_and_user_agent() -> None:
    req = catalog.Http.model_validate(HTTP_PROFILE).requests[0]
    assert http.request_bytes(req, "Hikvision-Webs") == (
        b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\n"
        b"Host: cloud.example.com\r\n"
        b"Accept: */*\r\n"
        b"X-Device: DS-2CD2042FWD\r\n"
        b"User-Agent: Hikvision-Webs\r\n"
        b"Connection: close\r\n"
        b"\r\n"
    )


def test_request_without_user_agent_on_another_port_with_a_body() -> None:
    req = request(method="POST", path="/api", port=8080, body='{"a":1}', headers={"Content-Type": "application/json"})
    assert http.request_bytes(req, None) == (
        b"POST /api HTTP/1.1\r\nHost: cloud.example.com:8080\r\nContent-Type: application/json\r\n"
        b'Connection: close\r\nContent-Length: 7\r\n\r\n{"a":1}'
    )


def test_profile_headers_replace_the_generated_ones_in_place() -> None:
    req = request(headers={"User-Agent": "curl/7.29.0", "Host": "cloud.example.com", "Connection": "keep-alive"})
    assert http.request_bytes(req, "ignored") == (
        b"GET / HTTP/1.1\r\nUser-Agent: curl/7.29.0\r\nHost: cloud.example.com\r\nConnection: keep-alive\r\n\r\n"
    )


def test_scapy_reads_our_request() -> None:
    req = catalog.Http.model_validate(HTTP_PROFILE).requests[0]
    parsed = HTTPRequest(http.request_bytes(req, "Hikvision-Webs"))
    assert parsed.Method == b"GET" and parsed.Path == b"/ISAPI/System/deviceInfo"
    assert parsed.Host == CLOUD.encode() and parsed.User_Agent == b"Hikvision-Webs"


@pytest.mark.parametrize(
    ("data", "length"),
    [
        (OK, len(OK)),
        (OK[:-1], None),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 27),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nnext", 59),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n", None),
        (b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil close", None),
        (b"HTTP/1.1 200 OK\r\n", None),
    ],
)
def test_message_length(data: bytes, length: int | None) -> None:
    assert http.message_length(data) == length


def test_rtsp_messages_without_length_have_no_body() -> None:
    reply = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"
    assert http.message_length(reply + b"RTSP/1.0", close_delimited=False) == len(reply)
    sdp = b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: 3\r\n\r\nv=0"
    assert http.message_length(sdp, close_delimited=False) == len(sdp)


def test_status_line() -> None:
    assert http.status_line(OK) == (200, "OK")
    assert http.status_line(b"RTSP/1.0 401 Unauthorized\r\n") == (401, "Unauthorized")
    assert http.status_line(b"garbage\r\n") is None


# -- the service --------------------------------------------------------------------------------


def http_env(**profile_fields: Any) -> tuple[penv.Env, list[tuple[str, str]], StubResolver]:
    fields = {"http": HTTP_PROFILE, **profile_fields}
    env, log = env_with_log(penv.make_config(("http",), **fields))
    env.build()
    resolver = StubResolver({CLOUD: penv.GATEWAY})
    env.host.resolver = resolver
    env.start()
    return env, log, resolver


def test_service_sends_the_request_and_reads_the_response() -> None:
    env, log, resolver = http_env()
    step_until_sent(env)
    server = Server(env, lambda data: OK, close_after_reply=True)
    server.run()
    req = catalog.Http.model_validate(HTTP_PROFILE).requests[0]
    assert server.received == [http.request_bytes(req, "Hikvision-Webs")]
    assert resolver.asked == [CLOUD] and server.syns[0][TCP].dport == 80
    assert ("debug", f"http: GET {CLOUD}/ISAPI/System/deviceInfo -> 200 OK ({len(OK)} bytes)") in log
    client = next(s for s in env.host.services if isinstance(s, http.HttpClient))
    assert client.completed == 1 and client.sessions == []
    assert env.counters.protocols["http"] >= 4  # SYN-ACK's ACK, request, ACKs, FIN


def test_service_repeats_on_its_schedule() -> None:
    env, _, _ = http_env(schedule={"http": {"interval": 30, "jitter": 0}})
    server = Server(env, lambda data: OK, close_after_reply=True)
    step_until_sent(env)
    first = env.now
    server.run()
    env.advance(29.0)
    server.run()
    assert len(server.syns) == 1
    env.advance(1.5)
    server.run()
    assert len(server.syns) == 2 and len(server.received) == 2 and env.now - first == pytest.approx(30.5)


def test_unresolvable_name_skips_the_session_and_logs_once() -> None:
    env, log, resolver = http_env(schedule={"http": {"interval": 10, "jitter": 0}})
    resolver.names.clear()
    env.advance(25)
    assert resolver.asked == [CLOUD, CLOUD] and env.host.outbox == []
    levels = [level for level, message in log if "does not resolve" in message]
    assert levels == ["warning", "debug"]


def test_a_late_answer_is_acted_on_at_the_next_timer_call() -> None:
    env, _, resolver = http_env()
    resolver.defer = True
    env.advance(10)  # the first occurrence is in the first 10 s
    assert resolver.waiting and env.host.outbox == []
    resolver.answer()
    deadline = env.host.next_deadline()
    assert deadline is not None and deadline <= env.now  # due at once
    env.step()
    [syn] = [p for p in env.sent() if TCP in p]
    assert str(syn[TCP].flags) == "S"


def test_a_silent_server_times_out_and_is_closed() -> None:
    env, log, _ = http_env()
    server = Server(env, lambda data: None)  # accepts, ACKs, never answers
    step_until_sent(env)
    server.run()
    env.advance(tcp_client.PeriodicClient.SESSION_TIMEOUT)
    fins = [p for p in env.sent() if TCP in p and "F" in str(p[TCP].flags)]
    assert len(fins) == 1
    assert ("warning", f"http: GET {CLOUD}/ISAPI/System/deviceInfo to {CLOUD}:80 failed: timeout") in log


def test_stop_closes_open_sessions() -> None:
    env, _, _ = http_env()
    server = Server(env, lambda data: None)
    step_until_sent(env)
    server.run()
    for service in env.host.services:
        service.stop(env.now)
    [fin] = [p for p in env.sent() if TCP in p]
    assert "F" in str(fin[TCP].flags)


def test_no_http_section_no_service() -> None:
    env = penv.Env(penv.make_config(("http",)))
    assert not [s for s in env.build() if s.name == "http"]


@pytest.mark.parametrize("prof", [p for p in catalog.builtin() if p.http is not None], ids=lambda p: p.name)
def test_every_shipped_http_profile_makes_requests_scapy_reads(prof: catalog.Profile) -> None:
    assert prof.http is not None
    for req in prof.http.requests:
        parsed = HTTPRequest(http.request_bytes(req, prof.http.user_agent))
        assert parsed.Method == req.method.encode() and parsed.Path == req.path.encode()
        if "user-agent" not in {name.lower() for name in req.headers}:
            ua = prof.http.user_agent
            assert parsed.User_Agent == (ua.encode() if ua is not None else None)
