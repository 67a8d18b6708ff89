"""The device's HTTP client: the profile's requests, with its headers and User-Agent (RFC 9110, RFC 9112).

A discovery product reads the User-Agent and the requests a device makes (its cloud's paths,
its Host header); so the request is written exactly as the profile says: request line, Host,
the profile's headers in their order, User-Agent (none when the profile has none, as many
embedded clients send), `Connection: close`. The response is read until it is complete
(Content-Length or chunked, RFC 9112 6.3) or the server closes; its status is logged at debug.

`message_length` also frames RTSP responses (RFC 7826 uses the same message syntax).
"""

from __future__ import annotations

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols import services
from iot_emulator.protocols.clients import tcp_client

GENERATED = ("host", "user-agent", "connection", "content-length")
"""Headers the client writes itself; a profile header of the same name replaces it, at the profile's place."""


def request_bytes(request: catalog.HttpRequest, user_agent: str | None, default_port: int = 80) -> bytes:
    """The request as it goes on the wire (the Host header names the port unless it is the scheme's)."""
    named = {name.lower() for name in request.headers}
    lines = [f"{request.method} {request.path} HTTP/1.1"]
    if "host" not in named:
        lines.append(f"Host: {request.host}" + ("" if request.port == default_port else f":{request.port}"))
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    if user_agent is not None and "user-agent" not in named:
        lines.append(f"User-Agent: {user_agent}")
    if "connection" not in named:
        lines.append("Connection: close")
    body = (request.body or "").encode()
    if request.body is not None and "content-length" not in named:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_line(data: bytes | bytearray) -> tuple[int, str] | None:
    """(status code, reason) of a response's first line (`HTTP/1.1 200 OK`, `RTSP/1.0 401 Unauthorized`)."""
    end = data.find(b"\r\n")
    if end < 0:
        return None
    parts = bytes(data[:end]).decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit() or "/" not in parts[0]:
        return None
    return int(parts[1]), parts[2] if len(parts) > 2 else ""


def headers_of(data: bytes | bytearray) -> dict[str, str]:
    """The header fields of the first message in `data`, names lowercased."""
    end = data.find(b"\r\n\r\n")
    head = bytes(data[: end if end >= 0 else len(data)]).decode("latin-1")
    fields = {}
    for line in head.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


def message_length(data: bytes | bytearray, *, bodiless: bool = False, close_delimited: bool = True) -> int | None:
    """Length of the first complete message in `data` (RFC 9112 6.3), None if more is needed or it
    is delimited by the server closing the connection. RTSP has no close-delimited bodies: without
    Content-Length the body is empty (RFC 2326 12.14), so RTSP passes `close_delimited=False`."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    start = end + 4
    status = status_line(data)
    if bodiless or (status is not None and (status[0] < 200 or status[0] in (204, 304))):
        return start
    fields = headers_of(data)
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return _chunked_end(data, start)
    length = fields.get("content-length")
    if length is not None and length.isdigit():
        return start + int(length) if len(data) >= start + int(length) else None
    return None if close_delimited else start


def _chunked_end(data: bytes | bytearray, pos: int) -> int | None:
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return None
        try:
            size = int(bytes(data[pos:line_end]).split(b";")[0].strip() or b"x", 16)
        except ValueError:
            return None
        if size == 0:
            if data[line_end + 2 : line_end + 4] == b"\r\n":
                return line_end + 4
            trailer = data.find(b"\r\n\r\n", line_end + 2)
            return trailer + 4 if trailer >= 0 else None
        pos = line_end + 2 + size + 2
        if pos > len(data):
            return None


class HttpSession(tcp_client.Session):
    def __init__(self, client: HttpClient, target: tcp_client.Target, address: bytes, now: float) -> None:
        request = client.http.requests[target.position]
        self.request = request_bytes(request, client.http.user_agent)
        self.head = request.method.upper() == "HEAD"
        super().__init__(client, target, address, now)

    def begin(self, now: float) -> None:
        self.conn.send(self.request, now)

    def feed(self, now: float) -> None:
        if message_length(self.received, bodiless=self.head) is not None:
            self.end(now, "complete")

    def outcome(self, reason: str) -> tuple[str, str] | None:
        status = status_line(self.received)
        if status is None:
            return None
        return "debug", f"http: {self.target.label} -> {status[0]} {status[1]} ({len(self.received)} bytes)"


class HttpClient(tcp_client.PeriodicClient):
    """The "http" service: every request of the profile at each occurrence of its schedule."""

    DUAL_STACK = True

    def __init__(self, context: services.Context, http: catalog.Http) -> None:
        super().__init__(context, "http", "http", context.config.profile.schedule.get("http"))
        self.http = http
        self._targets = [
            tcp_client.Target(r.host, r.port, f"{r.method} {r.host}{'' if r.port == 80 else f':{r.port}'}{r.path}", i)
            for i, r in enumerate(http.requests)
        ]

    def targets(self) -> list[tcp_client.Target]:
        return self._targets

    def open_session(self, target: tcp_client.Target, address: bytes, now: float) -> tcp_client.Session:
        return HttpSession(self, target, address, now)


@services.register("http")
def _http(context: services.Context) -> host_mod.Service | None:
    http = context.config.profile.http
    if http is None or not http.requests:
        return None
    return HttpClient(context, http)
