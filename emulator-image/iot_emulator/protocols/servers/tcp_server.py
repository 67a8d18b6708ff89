"""The server side of a device's TCP: sans-IO responders plugged into listening ports.

A `Responder` is what a service says; it is built once per profile and shared by every device
of it (no per-device state), so a thousand cameras hold one HTTP responder. Each accepted
connection gets a `ServerApp`: a bounded receive buffer (`MAX_REQUEST`), an idle deadline
(`IDLE`) after which the connection is reset, and the device's `Facts` (the values placeholders
take). A responder sees the bytes received so far and returns a `Reply` once it has a whole
request, or None to wait for more.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import re
from collections.abc import Mapping
from typing import Protocol

from iot_emulator.protocols import services
from iot_emulator.protocols.discovery import ssdp
from iot_emulator.protocols.transport import tcp_connection

MAX_REQUEST = 8192
"""Bytes a connection may hold unanswered; a peer that sends more is reset."""
IDLE = 15.0
"""Seconds a server connection may sit without traffic (nmap waits 5 s for a banner, then closes)."""
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\}")


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    data: bytes
    consumed: int
    """Bytes of the request this reply answers (removed from the buffer)."""
    close: bool = True
    """Close after sending (FIN), as embedded servers do after each answer."""


class Responder(Protocol):
    """One listening service of a profile, shared by its devices."""

    protocol: str
    """The counter its segments go under (`stats.protocols`)."""

    def greeting(self, facts: Facts, now: float) -> bytes: ...
    def respond(self, facts: Facts, request: bytes, now: float) -> Reply | None: ...


def render(template: str, values: Mapping[str, str]) -> str:
    """`{name}` replaced by `values[name]`; unknown names and other braces (JavaScript, CSS) stay as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


class Facts:
    """What a device's answers say about it: names, addresses, its clock. One per device, made on demand."""

    __slots__ = ("_static", "context")

    def __init__(self, context: services.Context) -> None:
        self.context = context
        self._static: dict[str, str] | None = None

    def values(self, now: float) -> dict[str, str]:
        if self._static is None:
            config = self.context.config
            mac12 = config.mac.replace(":", "").lower()
            self._static = {
                "hostname": config.hostname,
                "mac12": mac12,
                "MAC12": mac12.upper(),
                "mac6": mac12[-6:],
                "MAC6": mac12[-6:].upper(),
                "uuid": ssdp.device_uuid(config),
                "model": config.profile.model,
                "vendor": config.profile.vendor,
                "serial": mac12.upper(),
                "mac": config.mac.lower(),
                "MAC": config.mac.upper(),
                "mac_fffe": f"{mac12[:6]}fffe{mac12[6:]}",
            }
        address = self.context.host.address
        ip = ".".join(map(str, address)) if address else "0.0.0.0"
        clock = self.unix_time(now)
        nonce = hashlib.md5(f"{self._static['mac12']}{int(clock)}".encode(), usedforsecurity=False).hexdigest()
        return {**self._static, "ip": ip, "date": email.utils.formatdate(clock, usegmt=True), "nonce": nonce}

    def unix_time(self, now: float) -> float:
        """The device's clock (`IpHost.unix_time`)."""
        return self.context.host.unix_time(now)


class ServerApp:
    """One accepted connection: greet, collect the request, answer, close; reset if idle or oversized."""

    __slots__ = ("buffer", "facts", "responder")

    def __init__(self, responder: Responder, facts: Facts) -> None:
        self.responder = responder
        self.facts = facts
        self.buffer = bytearray()

    def on_connected(self, conn: tcp_connection.Connection, now: float) -> None:
        conn.expire_at = now + IDLE
        greeting = self.responder.greeting(self.facts, now)
        if greeting:
            conn.send(greeting, now)

    def on_data(self, conn: tcp_connection.Connection, data: bytes, now: float) -> None:
        conn.expire_at = now + IDLE
        self.buffer += data
        while self.buffer and not conn.closed:
            reply = self.responder.respond(self.facts, bytes(self.buffer), now)
            if reply is None:
                if len(self.buffer) > MAX_REQUEST:
                    conn.abort(now)
                return
            del self.buffer[: max(reply.consumed, 1)]
            if reply.data:
                conn.send(reply.data, now)
            if reply.close:
                self.buffer.clear()
                conn.close(now)
                return

    def on_closed(self, conn: tcp_connection.Connection, reason: str, now: float) -> None:
        self.buffer = bytearray()


class SpeaksSecond:
    """Base of the responders that wait for a request (most of them): no greeting."""

    def greeting(self, facts: Facts, now: float) -> bytes:
        return b""


class Banner:
    """A service that speaks first (Telnet options and login prompt, an SSH version line) and ignores input."""

    def __init__(self, protocol: str, banner: bytes) -> None:
        self.protocol = protocol
        self.banner = banner

    def greeting(self, facts: Facts, now: float) -> bytes:
        return render(self.banner.decode("latin-1"), facts.values(now)).encode("latin-1")

    def respond(self, facts: Facts, request: bytes, now: float) -> Reply | None:
        return Reply(b"", len(request), close=False)
