"""A phone's SIP user agent server on UDP and TCP (RFC 3261, RFC 3581): what scanners read from port 5060.

nmap -sU -sV (probe SIPOptions), nmap's `sip-methods`, SIPVicious `svmap` and NAC products send an
OPTIONS request to 5060 and name the phone from the answer's User-Agent or Server header and its
Allow list; the rest of the answer is the request's own dialog headers sent back (Via with
`received`/`rport`, From, To with a tag, Call-ID, CSeq), as RFC 3261 8.2.6 says. A phone that is
not asked by its call server refuses the other requests (`reject_status`, 403 by default, as phones
that accept requests only from their proxy do); ACK and responses get no answer. Pure function of
the request, the sender's address and the device's facts; parsing is bounded (`MAX_REQUEST`). Over
TCP (`SipTcp`, for phones whose call server uses TCP) the same answers go back on the connection,
which stays open, and nmap's TCP SIPOptions probe reads them.
"""

from __future__ import annotations

import hashlib

from iot_emulator.profiles import answers
from iot_emulator.protocols.servers import tcp_server

MAX_REQUEST = 4096
_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length"}
_REASONS = {
    200: "OK",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    488: "Not Acceptable Here",
    501: "Not Implemented",
    603: "Decline",
}
_ECHOED = (("Via", "via"), ("From", "from"), ("To", "to"), ("Call-ID", "call-id"), ("CSeq", "cseq"))


def parse(data: bytes) -> tuple[str, list[tuple[str, str]]] | None:
    """(method, headers as (lower-case full name, value) in order) of a SIP request, or None when it is not one."""
    if len(data) > MAX_REQUEST:
        return None
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not parts[0].isalpha() or not parts[0].isupper():
        return None
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers.append((_COMPACT.get(key, key), value.strip()))
    return parts[0], headers


def _top_via(value: str, source: tuple[str, int] | None) -> str:
    """The first Via with `received` and, when the client asked for it (RFC 3581), `rport` filled in; over TCP
    (no `source`) as it came."""
    if source is None:
        return value
    sent_by, *params = value.split(";")
    names = [p.strip().lower().split("=", 1)[0] for p in params]
    kept = [p for p, name in zip(params, names, strict=True) if name not in ("rport", "received")]
    rport = [f"rport={source[1]}"] if "rport" in names else []
    return ";".join([sent_by, *kept, *rport, f"received={source[0]}"])


def answer(
    service: answers.SipService, data: bytes, facts: dict[str, str], source: tuple[str, int] | None
) -> bytes | None:
    """The response to a SIP request from `source` (address, UDP port; None over TCP), or None for ACK and what
    is not a request."""
    request = parse(data)
    if request is None:
        return None
    method, headers = request
    if method == "ACK":
        return None
    status = 200 if method == "OPTIONS" else service.reject_status
    lines = [f"SIP/2.0 {status} {_REASONS.get(status, 'Error')}"]
    first_via = True
    for name, key in _ECHOED:
        for header, value in headers:
            if header != key:
                continue
            if key == "via" and first_via:
                value, first_via = _top_via(value, source), False
            elif key == "to" and ";tag=" not in value.replace(" ", ""):
                call_id = next((v for h, v in headers if h == "call-id"), "")
                tag = hashlib.md5(f"{facts['mac12']}{call_id}".encode(), usedforsecurity=False).hexdigest()[:10]
                value = f"{value};tag={tag}"
            lines.append(f"{name}: {value}")
    if not any(line.startswith("Call-ID:") for line in lines) or not any(line.startswith("CSeq:") for line in lines):
        return None  # RFC 3261 8.2.2.1 wants a 400 here; phones drop such datagrams
    for name, template in service.headers.items():
        value = tcp_server.render(template, facts)
        if value:
            lines.append(f"{name}: {value}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


class SipTcp(tcp_server.SpeaksSecond):
    """SIP over TCP: one answer per request (framed by Content-Length), the connection kept; not SIP closes it."""

    protocol = "sip"

    def __init__(self, service: answers.SipService) -> None:
        self.service = service

    def respond(self, facts: tcp_server.Facts, request: bytes, now: float) -> tcp_server.Reply | None:
        end = request.find(b"\r\n\r\n")
        if end < 0:  # wait for the header's end, unless this cannot become a SIP request
            waiting = len(request) <= MAX_REQUEST and request[:1].isalpha()
            return None if waiting else tcp_server.Reply(b"", len(request))
        parsed = parse(request[: end + 4])
        if parsed is None:
            return tcp_server.Reply(b"", len(request))
        length = next((value for name, value in parsed[1] if name == "content-length"), "0")
        total = end + 4 + (int(length) if length.isdigit() else 0)
        if len(request) < total:
            return None
        reply = answer(self.service, request[:total], facts.values(now), None)
        return tcp_server.Reply(reply or b"", total, close=False)
