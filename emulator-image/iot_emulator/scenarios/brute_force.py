"""The `brute_force` behaviour: login attempts from Mirai's list against a lab telnet or SSH server.

Every `interval` s one connection to the target (telnet on 23, SSH on 22 unless `port` says),
one user name and password from `credentials.MIRAI` in order, `attempts` times; each attempt's
result is logged (rejected, accepted, or why it failed) and a summary when the last one ends.
The target's address is checked against the lab's ranges once resolved (`lab_bounds.allowed`).
Packets are counted under "telnet" or "ssh".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from iot_emulator.profiles import catalog
from iot_emulator.protocols import services
from iot_emulator.protocols.clients import tcp_client
from iot_emulator.scenarios import base, credentials, lab_bounds, ssh, ssh_transport, telnet

if TYPE_CHECKING:
    from iot_emulator.scenarios import compromise

PORTS = {"telnet": 23, "ssh": 22}


class BruteForce(tcp_client.PeriodicClient):
    """host.Service: one login attempt per tick, `attempts` ticks."""

    SESSION_TIMEOUT = 20.0

    def __init__(self, spec: compromise.BruteForce, context: services.Context, label: str) -> None:
        super().__init__(context, spec.kind, spec.service, catalog.Schedule(interval=spec.interval, jitter=0))
        self.log = base.labelled(context, label)
        self.spec = spec
        port = spec.port or PORTS[spec.service]
        self._targets = [tcp_client.Target(spec.target, port, f"{spec.service} {spec.target}:{port}")]
        self.rounds = 0
        self.tried = 0
        self.verified_host_keys = 0
        """SSH attempts whose server signed the exchange hash with an Ed25519 key that verified."""
        self.results: dict[str, int] = {}
        """Outcome -> attempts ("rejected", "accepted", or why the session ended without an answer)."""
        self.finished = False
        """True once the behaviour has done all it was asked (it sends nothing more)."""

    def targets(self) -> list[tcp_client.Target]:
        return self._targets

    def start(self, now: float) -> None:
        self._last_now = now
        self.ticker.start(now, immediately=True)
        target = self._targets[0]
        self.log(
            "info",
            f"{self.name}: {self.spec.attempts} {self.spec.service} login attempts at "
            f"{target.host}:{target.port}, every {self.spec.interval:g} s",
        )

    def on_timer(self, now: float) -> None:
        fired = self.ticker.due is not None and now >= self.ticker.due
        super().on_timer(now)
        if fired:
            self.rounds += 1
            if self.rounds >= self.spec.attempts:
                self.ticker.stop()
        self._maybe_summary()

    def stop(self, now: float) -> None:
        super().stop(now)
        self._summary()

    def _connect(self, target: tcp_client.Target, address: bytes, now: float) -> None:
        if not lab_bounds.allowed(address):
            self.note(
                "outside",
                "warning",
                f"{self.name}: {target.host} is {base.address_text(address)}, outside "
                "the lab's ranges: attempt not made",
            )
            self._count("refused target")
            return
        super()._connect(target, address, now)

    def open_session(self, target: tcp_client.Target, address: bytes, now: float) -> tcp_client.Session:
        user, password = credentials.MIRAI[self.tried % len(credentials.MIRAI)]
        self.tried += 1
        if self.spec.service == "telnet":
            return telnet.TelnetLogin(self, target, address, now, user, password)
        first = self.spec.ssh_cipher.encode()
        ciphers = (first, *(c for c in ssh_transport.CIPHERS if c != first))
        return ssh.SshLogin(self, target, address, now, user, password, ciphers)

    def ended(self, session: tcp_client.Session, reason: str) -> None:
        self._count(getattr(session, "result", None) or reason)
        if isinstance(session, ssh.SshLogin) and session.ssh.host_key_verified:
            self.verified_host_keys += 1
        super().ended(session, reason)
        self._maybe_summary()

    def resolve(
        self, name: str, now: float, then: Callable[[bytes, float], None], failed: Callable[[float], None] | None = None
    ) -> None:
        super().resolve(name, now, then, failed or self._unresolved)

    def _unresolved(self, now: float) -> None:
        self._count("unresolved")
        self._maybe_summary()

    def _count(self, result: str) -> None:
        self.results[result] = self.results.get(result, 0) + 1

    def _maybe_summary(self) -> None:
        """Once every attempt made has its result (a name may still be resolving after the last tick)."""
        if self.ticker.due is None and not self.sessions and sum(self.results.values()) >= self.rounds:
            self._summary()

    def _summary(self) -> None:
        if self.finished or not self.rounds:
            return
        self.finished = True
        self.context.done()
        counts = ", ".join(f"{n} {what}" for what, n in sorted(self.results.items())) or "no answer"
        self.log("info", f"{self.name}: {self.tried} {self.spec.service} attempts at {self._targets[0].host}: {counts}")
