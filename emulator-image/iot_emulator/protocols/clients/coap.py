"""The "coap" service: a CoAP client (RFC 7252) that GETs the profile's paths, as sensors poll or report.

Messages (RFC 7252 3): version 1, confirmable (or non-confirmable if the profile says so), a
random 4-byte token per request, message IDs that start at a random value and count up (4.4),
Uri-Path and Uri-Query options delta-encoded (3.1, 5.10.1). No Uri-Host: the server is addressed
by the IP its name resolved to, which is the default Uri-Host (6.4).

Reliability (4.2): a confirmable request is retransmitted after ACK_TIMEOUT x uniform(1,
ACK_RANDOM_FACTOR) s, the wait doubling each time, at most MAX_RETRANSMIT times. An ACK that
carries the response ends the request (5.2.1); an empty ACK means a separate response follows
(5.2.2), which is itself ACKed if confirmable; a RST ends the request. NSTART is 1 (4.7): the
paths of one round are asked one after the other, never in parallel.
"""

from __future__ import annotations

import functools
import random
import struct
from typing import NamedTuple

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols import schedule, service_kit, services

CON, NON, ACK, RST = 0, 1, 2, 3
GET = 0x01
EMPTY = 0x00
OPTION_URI_PATH = 11
OPTION_URI_QUERY = 15
ACK_TIMEOUT = 2.0
ACK_RANDOM_FACTOR = 1.5
MAX_RETRANSMIT = 4
RESPONSE_WAIT = 10.0
"""How long to wait for a separate response after an empty ACK, or for the answer to a NON request."""
TOKEN_LENGTH = 4


class Message(NamedTuple):
    mtype: int
    code: int
    mid: int
    token: bytes = b""
    options: tuple[tuple[int, bytes], ...] = ()
    payload: bytes = b""


def code_text(code: int) -> str:
    """RFC 7252 3: class.detail, e.g. 69 -> "2.05" (Content)."""
    return f"{code >> 5}.{code & 0x1F:02d}"


def _nibble(value: int) -> tuple[int, bytes]:
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, struct.pack("!H", value - 269)


def encode(message: Message) -> bytes:
    out = bytearray([0x40 | message.mtype << 4 | len(message.token), message.code])
    out += struct.pack("!H", message.mid) + message.token
    previous = 0
    for number, value in sorted(message.options, key=lambda o: o[0]):  # stable: repeated options keep order
        delta, delta_ext = _nibble(number - previous)
        length, length_ext = _nibble(len(value))
        out += bytes([delta << 4 | length]) + delta_ext + length_ext + value
        previous = number
    if message.payload:
        out += b"\xff" + message.payload
    return bytes(out)


def _extended(nibble: int, data: bytes, pos: int) -> tuple[int, int]:
    if nibble == 13:
        return data[pos] + 13, pos + 1
    if nibble == 14:
        return struct.unpack_from("!H", data, pos)[0] + 269, pos + 2
    if nibble == 15:
        raise ValueError("reserved nibble")
    return nibble, pos


def parse(data: bytes) -> Message | None:
    """The message, or None if it is not well-formed CoAP version 1."""
    if len(data) < 4 or data[0] >> 6 != 1 or data[0] & 0x0F > 8:
        return None
    tkl = data[0] & 0x0F
    mtype, code, mid = (data[0] >> 4) & 3, data[1], struct.unpack_from("!H", data, 2)[0]
    token, pos, number, options = data[4 : 4 + tkl], 4 + tkl, 0, []
    try:
        while pos < len(data) and data[pos] != 0xFF:
            head = data[pos]
            delta, pos = _extended(head >> 4, data, pos + 1)
            length, pos = _extended(head & 0x0F, data, pos)
            number += delta
            if pos + length > len(data):
                return None
            options.append((number, data[pos : pos + length]))
            pos += length
    except (ValueError, IndexError, struct.error):
        return None
    payload = data[pos + 1 :] if pos < len(data) else b""
    return Message(mtype, code, mid, token, tuple(options), payload)


def uri_options(path: str) -> tuple[tuple[int, bytes], ...]:
    """Uri-Path per segment and Uri-Query per `&` part (RFC 7252 6.4 steps 8-9)."""
    path, _, query = path.partition("?")
    segments = [(OPTION_URI_PATH, s.encode()) for s in path.split("/") if s]
    return tuple(segments + [(OPTION_URI_QUERY, q.encode()) for q in query.split("&") if q])


class _Request:
    __slots__ = ("acked", "deadline", "message", "path", "timeout", "tries")

    def __init__(self, path: str, message: Message, timeout: float, now: float) -> None:
        self.path = path
        self.message = message
        self.timeout = timeout
        self.tries = 0
        self.acked = False
        self.deadline = now + timeout


class CoapClient:
    """GETs every path of the profile on each round of its schedule, one request in flight at a time."""

    name = "coap"

    def __init__(self, context: services.Context, settings: catalog.Coap) -> None:
        self.host = context.host
        self.log = context.log
        self.rng: random.Random = context.rng
        self.settings = settings
        self.ticker = schedule.Ticker(
            context.config.profile.schedule.get("coap"), context.config.traffic_interval, context.rng
        )
        self.responses: list[tuple[str, str, bytes]] = []
        """(path, response code like "2.05", payload) of each answered request, for stats and tests."""
        self.failures = 0
        self._mid = self.rng.getrandbits(16)
        self._port: int | None = None
        self._server: bytes | None = None
        self._paths: list[str] = []
        self._request: _Request | None = None
        self._ready_at: float | None = None
        self._round_id = 0

    # -- host.Service -------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self.ticker.start(now)

    def on_timer(self, now: float) -> None:
        if self._ready_at is not None and self._ready_at <= now:
            self._ready_at = None
            self._next_path(now)
        request = self._request
        if request is not None and request.deadline <= now:
            self._on_timeout(request, now)
        if self.ticker.fire(now) and self._request is None and not self._paths:
            self._round_id += 1
            done = functools.partial(self._resolved, round_id=self._round_id)
            self.host.resolver.resolve(self.settings.server, now, done)

    def next_deadline(self) -> float | None:
        due = [self.ticker.due, self._ready_at, self._request.deadline if self._request else None]
        return min((d for d in due if d is not None), default=None)

    def stop(self, now: float) -> None:
        self.ticker.stop()
        self._round_id += 1
        self._request, self._paths, self._ready_at = None, [], None
        if self._port is not None:
            self.host.unbind_udp(self._port)
            self._port = None

    # -- internals ----------------------------------------------------------------------------------

    def _resolved(self, address: bytes | None, *, round_id: int) -> None:
        if round_id != self._round_id:
            return
        if address is None:
            self.log("warning", f"CoAP server {self.settings.server} did not resolve")
            return
        self._server = address
        self._paths = list(self.settings.paths)
        self._ready_at = 0.0  # sent at the next timer call, which knows the time

    def _next_path(self, now: float) -> None:
        self._request = None
        if not self._paths or self._server is None:
            return
        path = self._paths.pop(0)
        if self._port is None:
            self._port = service_kit.random_port(self.host, self.rng)  # one socket for the service's life
            self.host.bind_udp(self._port, self._on_datagram)
        self._mid = (self._mid + 1) & 0xFFFF
        token = self.rng.getrandbits(8 * TOKEN_LENGTH).to_bytes(TOKEN_LENGTH, "big")
        confirmable = self.settings.confirmable
        message = Message(CON if confirmable else NON, GET, self._mid, token, uri_options(path))
        timeout = ACK_TIMEOUT * self.rng.uniform(1.0, ACK_RANDOM_FACTOR) if confirmable else RESPONSE_WAIT
        self._request = _Request(path, message, timeout, now)
        self._transmit(message)

    def _transmit(self, message: Message) -> None:
        assert self._server is not None and self._port is not None
        self.host.send_udp("coap", self._server, self._port, self.settings.port, encode(message))

    def _on_timeout(self, request: _Request, now: float) -> None:
        if request.message.mtype == CON and not request.acked and request.tries < MAX_RETRANSMIT:
            request.tries += 1
            request.timeout *= 2
            request.deadline = now + request.timeout
            self._transmit(request.message)
            return
        self.failures += 1
        self.log("warning", f"CoAP GET {request.path}: no response")
        self._next_path(now)

    def _on_datagram(self, src: bytes, sport: int, dst: bytes, data: bytes, now: float) -> None:
        request = self._request
        message = parse(data)
        if message is None or src != self._server or sport != self.settings.port:
            return
        if request is None:
            if message.mtype == CON:  # nothing of ours: reject it (RFC 7252 4.2)
                self._transmit(Message(RST, EMPTY, message.mid))
            return
        ours = request.message
        if message.mtype in (ACK, RST) and message.mid == ours.mid:
            if message.mtype == RST:
                self.failures += 1
                self._next_path(now)
            elif message.code == EMPTY:  # separate response to follow (5.2.2)
                request.acked = True
                request.deadline = now + RESPONSE_WAIT
            elif message.token == ours.token:
                self._answered(request, message, now)
        elif message.mtype in (CON, NON) and message.token == ours.token and message.code != EMPTY:
            if message.mtype == CON:
                self._transmit(Message(ACK, EMPTY, message.mid))
            self._answered(request, message, now)

    def _answered(self, request: _Request, message: Message, now: float) -> None:
        self.responses.append((request.path, code_text(message.code), message.payload))
        del self.responses[:-32]
        self._next_path(now)


@services.register("coap")
def _coap(context: services.Context) -> host_mod.Service | None:
    settings = context.config.profile.coap
    return CoapClient(context, settings) if settings is not None and settings.paths else None
