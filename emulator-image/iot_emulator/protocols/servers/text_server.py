"""HTTP (RFC 9112) and RTSP (RFC 2326) servers that answer from profile data, byte for byte.

Scanners match a reply's start: nmap's `match http m|^HTTP/1\\.0 200 OK\\r\\nDate: .*\\r\\nServer:
App-webs/\\r\\n|` names a Hikvision camera only if Date comes before Server. So the answer is
written in the profile (`answers.TextService`): status, headers in order, body; this
module frames the request (headers, then Content-Length bytes of body), picks the route and fills
the placeholders. Every answer closes the connection, as the embedded servers copied here do.
An HTTP service with an `onvif` section hands SOAP POSTs under /onvif/ to `onvif_server`.
"""

from __future__ import annotations

import http

from iot_emulator.profiles import answers
from iot_emulator.protocols.servers import onvif_server, tcp_server

_RTSP_REASONS = {451: "Parameter Not Understood", 454: "Session Not Found", 461: "Unsupported Transport"}


def reason_phrase(status: int) -> str:
    try:
        return _RTSP_REASONS.get(status) or http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


_TOKEN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~")


def split_request(data: bytes) -> tuple[str, str, dict[str, str], int] | None:
    """(method, path, headers with lower-case names, length of the whole request), or None until complete.

    What cannot be a request gives method "" at once, as a server that parses the request line as it
    comes: a first byte that is not a method character (a TLS hello, a binary probe), or a first line
    that is not `METHOD target VERSION` (nmap's `\\r\\n\\r\\n` probe). Its length is all of `data`.
    """
    line_end = data.find(b"\r\n")
    if data[0] not in _TOKEN or (line_end >= 0 and len(data[:line_end].split()) != 3):
        return "", "", {}, len(data)
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length", "0")
    total = end + 4 + (int(length) if length.isdigit() else 0)
    if len(data) < total:
        return None
    parts = lines[0].split()
    if "/" not in parts[2]:
        return "", "", headers, total
    method, target = parts[0].upper(), parts[1]
    if "://" in target:  # RTSP (and proxy-style HTTP) send absolute URIs
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return method, target.split("?", 1)[0] or "/", headers, total


class TextResponder(tcp_server.SpeaksSecond):
    """Answers of one `TextService`, shared by the devices of a profile."""

    def __init__(self, service: answers.TextService) -> None:
        self.service = service
        self.protocol: str = service.kind
        self.onvif = None if service.onvif is None else onvif_server.DeviceService(service.onvif)

    def route(self, method: str, path: str) -> answers.Answer:
        """The answer for a request; a malformed one gets route "BAD" or a bare 400."""
        routes = self.service.routes
        if not method:
            return routes.get("BAD") or answers.Answer(status=400)
        for key in (f"{method} {path}", path if path != "*" else "", method):  # `OPTIONS *` is not the catch-all
            if key in routes:
                return routes[key]
        return routes.get("*") or answers.Answer(status=404)

    def respond(self, facts: tcp_server.Facts, request: bytes, now: float) -> tcp_server.Reply | None:
        parsed = split_request(request)
        if parsed is None:
            return None
        method, path, headers, length = parsed
        values = facts.values(now)
        if self.onvif is not None and self.onvif.handles(method, path):
            body_start = request.find(b"\r\n\r\n") + 4
            answer = self.onvif.answer(path, request[body_start:length], values, facts.unix_time(now))
        else:
            answer = self.route(method, path)
        body = tcp_server.render(answer.body, values).encode("utf-8")
        values = {**values, "length": str(len(body)), "cseq": headers.get("cseq", "")}
        fields = self.service.headers if answer.headers is None else answer.headers
        lines = [f"{self.service.version} {answer.status} {answer.reason or reason_phrase(answer.status)}"]
        for name, template in fields.items():
            value = tcp_server.render(template, values)
            if value:
                lines.append(f"{name}{self.service.separator}{value}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return tcp_server.Reply(head + (b"" if method == "HEAD" else body), length)
