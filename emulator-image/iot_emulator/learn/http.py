"""The device's plain HTTP requests: request line, Host, headers in order, User-Agent, body.

Read from the first bytes of each TCP flow the device opened (RFC 9112 2-6). A request is kept
once per (method, host, path, port), in the order first seen. `protocols.http.request_bytes`
writes Host, then the profile's headers, then User-Agent and `Connection: close`; so Host,
User-Agent, Content-Length and a `Connection: close` are not stored as headers, anything else is,
in the device's order (a header the device sends under a generated name replaces it there).
"""

from __future__ import annotations

import re

from iot_emulator.learn import findings, packets

REQUEST_LINE = re.compile(rb"^([A-Z]{3,10}) (\S{1,2048}) HTTP/1\.[01]\r\n")
MAX_REQUESTS = 16
MAX_BODY = 4096


def learn(decoded: packets.Decoded) -> findings.Findings:
    out = findings.Findings()
    requests: list[dict[str, object]] = []
    keys: set[tuple[object, ...]] = set()
    agents: list[str | None] = []
    for flow in decoded.flows:
        parsed = parse_request(bytes(flow.sent), flow.dport)
        if parsed is None:
            continue
        request, agent = parsed
        agents.append(agent)
        key = (request["method"], request["host"], request["path"], request["port"])
        if key not in keys and len(requests) < MAX_REQUESTS:
            keys.add(key)
            requests.append(request)
    if not requests:
        return out
    agent = next((a for a in agents if a is not None), None)
    others = sorted({a for a in agents if a is not None and a != agent})
    say = f"User-Agent of {len(agents)} HTTP requests" + (f" (others seen: {others})" if others else "")
    out.set("http", {"user_agent": agent, "requests": requests}, f"{say}; {len(requests)} distinct requests")
    out.speaks("http")
    return out


def parse_request(data: bytes, port: int) -> tuple[dict[str, object], str | None] | None:
    """(an `HttpRequest` as a dict, its User-Agent) of the request at the start of `data`, or None."""
    match = REQUEST_LINE.match(data)
    end = data.find(b"\r\n\r\n")
    if match is None or end < 0:
        return None
    headers: list[tuple[str, str]] = []
    for line in data[match.end() : end].decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            return None
        headers.append((name.strip(), value.strip()))
    named = {name.lower(): value for name, value in headers}
    host = named.get("host", "")
    if host.endswith(f":{port}"):
        host = host[: -len(f":{port}")]
    if not host:
        return None
    kept = {
        name: value
        for name, value in headers
        if name.lower() not in ("host", "user-agent", "content-length")
        and not (name.lower() == "connection" and value.lower() == "close")
    }
    request: dict[str, object] = {
        "method": match[1].decode(),
        "host": host,
        "path": match[2].decode("latin-1"),
        "port": port,
        "headers": kept,
    }
    length = named.get("content-length", "")
    if length.isdigit() and int(length):
        body = data[end + 4 : end + 4 + min(int(length), MAX_BODY)]
        request["body"] = body.decode("utf-8", "replace")
    return request, named.get("user-agent")
