"""Requests a browser was tricked into sending: unknown Host names and foreign Origins are refused.

Two browser attacks reach a service on 127.0.0.1 without any credential of their own:

- DNS rebinding: a page on `evil.example` re-points its name to 127.0.0.1 and then talks to us
  as if same-origin. Its requests carry `Host: evil.example`, so only host names we know are
  served: `localhost`, the configured ones (`allowed_hosts`, a leading dot matches a suffix)
  and IP literals (a rebinding attacker cannot make the browser send an IP as Host).
- Cross-site requests: a page elsewhere POSTs a form or `text/plain` body (no preflight).
  Every state-changing request and every WebSocket handshake whose `Origin` is not our own
  (or a configured CORS origin), or whose `Sec-Fetch-Site` says another site sent it, gets 403.

An ASGI middleware, so it guards `/api`, `/ws` and anything mounted later alike, before routing.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def host_name(host_header: str) -> str:
    """`[::1]:8080` -> `::1`, `Example.org:80` -> `example.org`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """Refuses unknown Host headers (400) and cross-origin state changes and WebSockets (403)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str], allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in allowed_hosts if not h.startswith(".")) | LOOPBACK_NAMES
        self.suffixes = tuple(h.lower() for h in allowed_hosts if h.startswith("."))
        self.origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    def host_allowed(self, host_header: str) -> bool:
        name = host_name(host_header)
        return name in self.hosts or _is_ip(name) or (bool(self.suffixes) and name.endswith(self.suffixes))

    def origin_allowed(self, scope: Scope, headers: dict[bytes, bytes], host_header: str) -> bool:
        fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/").lower()
        if not origin:  # programs (curl, the CLI) send none; browsers always do on these requests
            return fetch_site in ("", "same-origin", "none")
        scheme = {"ws": "http", "wss": "https"}.get(scope["scheme"], scope["scheme"])
        own = f"{scheme}://{host_header.strip().lower()}"
        if origin in self.origins:
            return True
        return origin == own and fetch_site in ("", "same-origin", "none")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.host_allowed(host):
            await _refuse(scope, receive, send, 400, f"unknown Host {host_name(host)!r} (allow it with allowed_hosts)")
            return
        unsafe = scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
        if unsafe and not self.origin_allowed(scope, headers, host):
            await _refuse(scope, receive, send, 403, "cross-origin request refused")
            return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, code: int, detail: str) -> None:
    if scope["type"] == "websocket":  # closing before accepting: the server answers the handshake 403
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return
    body = json.dumps({"detail": detail, "errors": []}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
