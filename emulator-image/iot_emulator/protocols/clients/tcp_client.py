"""What the TCP application clients (HTTP, TLS, RTSP, MQTT) share: late name answers, quiet logs, sessions.

Three things every one of them needs, written once:

- Name resolution (`host.resolver`, protocols.dns) may answer at once (cache) or later, from a
  callback that carries no clock. A late answer is queued and acted on at the service's next
  timer call, which `next_deadline()` makes immediate: sans-IO code never invents a `now`.
- A server that is down, or a name that does not resolve, fails the same way at every interval
  on every device: the first failure of a kind is logged at its level, repeats at debug.
- HTTP, TLS and RTSP clients do the same thing on a schedule: for each target, resolve, connect,
  exchange, close, give up after a timeout. `PeriodicClient` and `Session` are that shape; the
  protocol modules only say what to send and when the exchange is over.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Sequence
from typing import NamedTuple

from iot_emulator.profiles import catalog
from iot_emulator.protocols import schedule, services
from iot_emulator.protocols.transport import tcp


class ClientBase:
    """A TCP client service of one device: its stack, its resolver, its log."""

    DUAL_STACK = False
    """Connects over IPv6 too, to the address RFC 6724 puts first (`DnsResolver.resolve(ipv6=True)`), and
    falls back to the name's IPv4 address when that connection does not open. The cloud clients (HTTP,
    TLS, MQTT) are; scenarios and RTSP stay on IPv4 (the lab's sshd, telnetd and RTSP sink are IPv4-only)."""

    def __init__(self, context: services.Context, name: str, protocol: str) -> None:
        self.name = name
        self.protocol = protocol
        """The name its packets are counted under in stats."""
        self.context = context
        self.host = context.host
        self.log = context.log
        self.stack = tcp.stack_of(context.host, context.rng)
        self._ready: list[Callable[[float], None]] = []
        self._last_now = 0.0
        self._noted: set[str] = set()

    def resolve(
        self, name: str, now: float, then: Callable[[bytes, float], None], failed: Callable[[float], None] | None = None
    ) -> None:
        """`then(address, now)` once `name` resolves (now, or at the next timer call); else log, `failed(now)`."""
        immediate = True

        def done(address: bytes | None) -> None:
            if address is None:
                self.note(f"resolve {name}", "warning", f"{self.name}: {name} does not resolve, session skipped")
                if failed is not None and immediate:
                    failed(now)
                elif failed is not None:
                    self._ready.append(failed)
                return
            self.clear_note(f"resolve {name}")
            if immediate:
                then(address, now)
            else:
                self._ready.append(functools.partial(then, address))

        self.host.resolver.resolve(name, now, done, ipv6=self.DUAL_STACK)
        immediate = False

    def note(self, key: str, level: str, message: str) -> None:
        """Log at `level` the first time `key` happens, at debug afterwards."""
        if key in self._noted:
            level = "debug"
        self._noted.add(key)
        self.log(level, message)

    def clear_note(self, key: str) -> None:
        self._noted.discard(key)

    def run_ready(self, now: float) -> None:
        self._last_now = now
        ready, self._ready = self._ready, []
        for action in ready:
            action(now)

    def ready_deadline(self) -> float | None:
        """A time already past when late answers wait: the engine calls us back at once."""
        return self._last_now if self._ready else None

    def drop_ready(self) -> None:
        self._ready.clear()


class Target(NamedTuple):
    """Where a periodic client connects: a DNS name (or address literal) and a port."""

    host: str
    port: int
    label: str
    """What logs call it (`GET cloud.example.com/status`)."""
    position: int = 0
    """Its position in the client's list (which request, which server)."""


class Session:
    """One exchange on one connection; subclasses send in `begin` and read in `feed`."""

    def __init__(self, client: PeriodicClient, target: Target, address: bytes, now: float) -> None:
        self.client = client
        self.target = target
        self.address = address
        self.received = bytearray()
        self.deadline = now + client.SESSION_TIMEOUT
        self.finished = False
        self.connected = False
        self.conn = client.stack.connect(address, target.port, self, now, client.protocol)

    # -- tcp.TcpApp ---------------------------------------------------------------------------

    def on_connected(self, conn: tcp.Connection, now: float) -> None:
        self.connected = True
        self.begin(now)

    def on_data(self, conn: tcp.Connection, data: bytes, now: float) -> None:
        if self.finished:
            return
        self.received += data
        self.feed(now)

    def on_closed(self, conn: tcp.Connection, reason: str, now: float) -> None:
        if not self.finished:
            self.end(now, reason)

    # -- for subclasses -----------------------------------------------------------------------

    def begin(self, now: float) -> None:
        raise NotImplementedError

    def feed(self, now: float) -> None:
        """More bytes are in `received`: answer, or `end` the session when the exchange is over."""

    def outcome(self, reason: str) -> tuple[str, str] | None:
        """(level, message) for the log when the session ends, or None for a failure to `note`."""
        return None

    def end(self, now: float, reason: str) -> None:
        """The exchange is over (or failed): close our side, log, leave the client's list."""
        self.finished = True
        self.conn.close(now)
        self.client.ended(self, reason)
        if not self.connected:
            self.client.fall_back(self, now)

    def expire(self, now: float) -> None:
        self.end(now, "timeout")


class PeriodicClient(ClientBase):
    """On each occurrence of the schedule, one session per target; subclasses make the sessions."""

    SESSION_TIMEOUT = 15.0
    """A session still open after this many seconds (a server that accepts and never answers) is closed."""
    MAX_SESSIONS = 16
    """Sessions open at once; an occurrence that would exceed it is skipped (a real client would queue)."""

    def __init__(self, context: services.Context, name: str, protocol: str, when: catalog.Schedule | None) -> None:
        super().__init__(context, name, protocol)
        self.ticker = schedule.Ticker(when, context.config.traffic_interval, context.rng)
        self.sessions: list[Session] = []
        self.completed = 0
        """Sessions that ended with an answer from the server (tests, stats)."""

    def targets(self) -> Sequence[Target]:
        raise NotImplementedError

    def open_session(self, target: Target, address: bytes, now: float) -> Session:
        raise NotImplementedError

    # -- host.Service -------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self._last_now = now
        self.ticker.start(now)

    def on_timer(self, now: float) -> None:
        self.run_ready(now)
        for session in [s for s in self.sessions if s.deadline <= now]:
            session.expire(now)
        if self.ticker.fire(now):
            for target in self.targets():
                self.resolve(target.host, now, functools.partial(self._connect, target))

    def next_deadline(self) -> float | None:
        deadlines = [self.ticker.due, self.ready_deadline(), *(s.deadline for s in self.sessions)]
        return min((d for d in deadlines if d is not None), default=None)

    def stop(self, now: float) -> None:
        """Close what is open with a FIN, as a device shutting down its client does."""
        self.ticker.stop()
        self.drop_ready()
        sessions, self.sessions = self.sessions, []
        for session in sessions:
            session.finished = True
            session.conn.close(now)

    # -- sessions -----------------------------------------------------------------------------

    def _connect(self, target: Target, address: bytes, now: float) -> None:
        if self.host.address is None:
            return
        if len(self.sessions) >= self.MAX_SESSIONS:
            self.note(
                "busy", "warning", f"{self.name}: {len(self.sessions)} sessions still open, {target.label} skipped"
            )
            return
        self.sessions.append(self.open_session(target, address, now))

    def fall_back(self, session: Session, now: float) -> None:
        """A connection over IPv6 that never opened (reset, unreachable, timeout): the same target again at
        the name's IPv4 address, once, as a client walking getaddrinfo's list does."""
        if not self.DUAL_STACK or len(session.address) != 16:
            return
        other = self.host.resolver.alternative(session.target.host, session.address)
        if other is not None:
            self.log("info", f"{self.name}: {session.target.label} over IPv6 failed, trying {_text(other)}")
            self._connect(session.target, other, now)

    def ended(self, session: Session, reason: str) -> None:
        if session in self.sessions:
            self.sessions.remove(session)
        result = session.outcome(reason)
        key = f"session {session.target.label}"
        if result is not None:
            self.completed += 1
            self.clear_note(key)  # the next failure is news again
            self.log(*result)
        else:
            peer = f"{session.target.host}:{session.target.port}"
            self.note(key, "warning", f"{self.name}: {session.target.label} to {peer} failed: {reason}")


def _text(address: bytes) -> str:
    return str(ipaddress.ip_address(address))
