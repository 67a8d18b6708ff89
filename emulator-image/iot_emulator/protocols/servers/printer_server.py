"""A printer's ports: raw 9100 with PJL, LPD 515 (RFC 1179), IPP/1.1 on 631 (RFC 8010, RFC 8011).

Discovery products ask a printer who it is on these ports: PJL `@PJL INFO ID` on 9100 (HP's
Printer Job Language reference, "INFO ID"), IPP Get-Printer-Attributes for
printer-make-and-model, the LPD queue state. Jobs are accepted and thrown away. The responders
keep no state between requests, so an LPD job's data file must fit in `tcp_server.MAX_REQUEST`.
"""

from __future__ import annotations

import struct

from iot_emulator.profiles import answers
from iot_emulator.protocols.servers import tcp_server, text_server

FORM_FEED = b"\x0c"


class JetDirect(tcp_server.SpeaksSecond):
    """Port 9100: print data is swallowed; PJL INFO ID / INFO STATUS lines are answered (HP PJL reference)."""

    protocol = "jetdirect"

    def __init__(self, service: answers.PrinterService) -> None:
        self.model = service.make_and_model

    def respond(self, facts: tcp_server.Facts, request: bytes, now: float) -> tcp_server.Reply | None:
        end = request.rfind(b"\n")
        if end < 0:
            return tcp_server.Reply(b"", len(request), close=False) if len(request) > 1024 else None
        out = b""
        for line in request[: end + 1].split(b"\n"):
            command = line.strip().upper()
            if command.endswith(b"@PJL INFO ID"):
                out += b'@PJL INFO ID\r\n"' + self.model.encode("latin-1") + b'"\r\n' + FORM_FEED
            elif command.endswith(b"@PJL INFO STATUS"):
                out += b'@PJL INFO STATUS\r\nCODE=10001\r\nDISPLAY="Ready"\r\nONLINE=TRUE\r\n' + FORM_FEED
        return tcp_server.Reply(out, end + 1, close=False)


class Lpd(tcp_server.SpeaksSecond):
    """RFC 1179: the queue state (03/04) lists no entries; a job (02) is refused with a non-zero ACK.

    Taking a job needs per-connection state (a control file's ACK before its bytes arrive), which a
    shared responder does not keep; a probe reads the queue state, which is what is answered.
    """

    protocol = "lpd"

    def __init__(self, service: answers.PrinterService) -> None:
        self.queue = service.queue

    def respond(self, facts: tcp_server.Facts, request: bytes, now: float) -> tcp_server.Reply | None:
        end = request.find(b"\n")
        if end < 0:
            return None
        if request[0] in (3, 4):  # RFC 1179 5.3, 5.4: the queue state, then close
            return tcp_server.Reply(f"{self.queue}: no entries\n".encode("latin-1"), end + 1)
        if request[0] == 1:  # 5.1 print any waiting jobs: no answer
            return tcp_server.Reply(b"", end + 1)
        return tcp_server.Reply(b"\x01", end + 1)  # 5.2 receive a job, or unknown: refused


# IPP (RFC 8010 3.1, 3.5): delimiter and value tags
_OPERATION, _END, _PRINTER = 0x01, 0x03, 0x04
_INTEGER, _BOOLEAN, _ENUM = 0x21, 0x22, 0x23
_TEXT, _NAME, _KEYWORD, _URI, _CHARSET, _LANGUAGE, _MIME = 0x41, 0x42, 0x44, 0x45, 0x47, 0x48, 0x49
GET_PRINTER_ATTRIBUTES = 0x000B
SUCCESSFUL_OK = 0x0000
OPERATION_NOT_SUPPORTED = 0x0501
BAD_REQUEST = 0x0400


def attribute(tag: int, name: str, *values: bytes) -> bytes:
    """One attribute; extra values follow with an empty name (RFC 8010 3.1.5)."""
    out = b""
    for i, value in enumerate(values):
        label = name.encode() if i == 0 else b""
        out += struct.pack("!BH", tag, len(label)) + label + struct.pack("!H", len(value)) + value
    return out


def parse_header(body: bytes) -> tuple[int, int, int] | None:
    """(version, operation-id, request-id) of an IPP request, or None if it is too short."""
    if len(body) < 9:
        return None
    major, minor, operation, request_id = struct.unpack_from("!BBHI", body)
    return major << 8 | minor, operation, request_id


class Ipp(tcp_server.SpeaksSecond):
    """IPP/1.1 over HTTP POST: Get-Printer-Attributes answers the printer's description; GET gets a page."""

    protocol = "ipp"

    def __init__(self, service: answers.PrinterService) -> None:
        self.service = service

    def respond(self, facts: tcp_server.Facts, request: bytes, now: float) -> tcp_server.Reply | None:
        parsed = text_server.split_request(request)
        if parsed is None:
            return None
        method, _path, _headers, length = parsed
        server = tcp_server.render(self.service.server or "", facts.values(now))
        if request.split(b"\r\n", 1)[0].endswith(b"HTTP/1.0") and server:
            # IPP needs HTTP/1.1 (RFC 8010 4.1); HP's IPP port says so with its Server header alone
            head = f"HTTP/1.1 505 HTTP Version Not Supported\r\nServer: {server}\r\n\r\n"
            return tcp_server.Reply(head.encode("latin-1"), length)
        if not method:
            return tcp_server.Reply(self.http(server, 400, "text/plain", b""), length)
        if method != "POST":
            page = f"<html><head><title>{self.service.make_and_model}</title></head><body></body></html>"
            return tcp_server.Reply(self.http(server, 200, "text/html", page.encode()), length)
        body = request[request.find(b"\r\n\r\n") + 4 : length]
        header = parse_header(body)
        if header is None:
            return tcp_server.Reply(self.http(server, 400, "text/plain", b""), length)
        _version, operation, request_id = header
        if operation == GET_PRINTER_ATTRIBUTES:
            status, attrs = SUCCESSFUL_OK, self.printer_attributes(facts, now)
        else:
            status, attrs = OPERATION_NOT_SUPPORTED, b""
        ipp = (
            struct.pack("!BBHI", 1, 1, status, request_id)
            + bytes([_OPERATION])
            + attribute(_CHARSET, "attributes-charset", b"utf-8")
            + attribute(_LANGUAGE, "attributes-natural-language", b"en")
            + attrs
            + bytes([_END])
        )
        return tcp_server.Reply(self.http(server, 200, "application/ipp", ipp), length)

    def printer_attributes(self, facts: tcp_server.Facts, now: float) -> bytes:
        values = facts.values(now)
        uri = f"ipp://{values['ip']}:{self.service.port}/{self.service.queue}".encode()
        return bytes([_PRINTER]) + b"".join(
            (
                attribute(_URI, "printer-uri-supported", uri),
                attribute(_KEYWORD, "uri-security-supported", b"none"),
                attribute(_KEYWORD, "uri-authentication-supported", b"none"),
                attribute(_NAME, "printer-name", values["hostname"].encode()),
                attribute(_TEXT, "printer-make-and-model", self.service.make_and_model.encode()),
                attribute(_ENUM, "printer-state", struct.pack("!i", 3)),  # idle
                attribute(_KEYWORD, "printer-state-reasons", b"none"),
                attribute(_KEYWORD, "ipp-versions-supported", b"1.0", b"1.1"),
                attribute(_ENUM, "operations-supported", *(struct.pack("!i", op) for op in (0x02, 0x04, 0x0B))),
                attribute(_CHARSET, "charset-configured", b"utf-8"),
                attribute(_CHARSET, "charset-supported", b"utf-8"),
                attribute(_LANGUAGE, "natural-language-configured", b"en"),
                attribute(_LANGUAGE, "generated-natural-language-supported", b"en"),
                attribute(_MIME, "document-format-default", b"application/octet-stream"),
                attribute(_MIME, "document-format-supported", b"application/octet-stream", b"application/pdf"),
                attribute(_BOOLEAN, "printer-is-accepting-jobs", b"\x01"),
                attribute(_INTEGER, "queued-job-count", struct.pack("!i", 0)),
                attribute(_KEYWORD, "pdl-override-supported", b"not-attempted"),
                attribute(_INTEGER, "printer-up-time", struct.pack("!i", max(1, int(now) & 0x7FFFFFFF))),
                attribute(_KEYWORD, "compression-supported", b"none"),
            )
        )

    @staticmethod
    def http(server: str, status: int, content_type: str, body: bytes) -> bytes:
        field = f"Server: {server}\r\n" if server else ""
        head = (
            f"HTTP/1.1 {status} {text_server.reason_phrase(status)}\r\n{field}Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        return head.encode("latin-1") + body
