"""The `c2_beacon` behaviour: check-ins to a lab name at a fixed period, what a periodicity detector looks for.

Every `period` s (+/- `jitter` x period, uniformly) the device checks in with the bot's id (the
first 8 hex digits of SHA-256 of its MAC, stable across runs):

- http / https: `GET <path>?id=<id>` to the target (port 80 / 443), with the device's User-Agent;
  over https in TLS with the device's hello and the target as SNI (`web.RequestSession`);
- dns: a TXT query for `<id>.<target>` then an A query for `<counter>.<id>.<target>` alternately,
  to the device's DNS server (what DNS-based C2s such as those of IoT backdoors do).

Each check-in is logged at debug with its answer; a target outside the lab's ranges is refused.
Packets are counted under "c2".
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from iot_emulator.profiles import catalog
from iot_emulator.protocols import dns_wire, schedule, services
from iot_emulator.protocols.clients import tcp_client
from iot_emulator.scenarios import base, lab_bounds, web
from iot_emulator.scenarios.dns_tunnel import QueryPort

if TYPE_CHECKING:
    from iot_emulator.scenarios import compromise

PROTOCOL = base.PROTOCOL["c2_beacon"]


def bot_id(mac: str) -> str:
    return hashlib.sha256(mac.lower().encode()).hexdigest()[:8]


class HttpBeacon(tcp_client.PeriodicClient):
    """host.Service: one GET per period, in the clear or in TLS."""

    def __init__(self, spec: compromise.Beacon, context: services.Context, label: str) -> None:
        when = catalog.Schedule(interval=spec.period, jitter=spec.jitter)
        super().__init__(context, spec.kind, PROTOCOL, when)
        self.log = base.labelled(context, label)
        self.spec = spec
        self.id = bot_id(context.config.mac)
        port = 443 if spec.protocol == "https" else 80
        self.request = web.Request("GET", f"{spec.path}?id={self.id}")
        self._targets = [tcp_client.Target(spec.target, port, f"{spec.protocol} GET {spec.target}{spec.path}")]
        self.check_ins = 0

    def targets(self) -> list[tcp_client.Target]:
        self.check_ins += 1
        return self._targets

    def start(self, now: float) -> None:
        self._last_now = now
        self.ticker.start(now, immediately=True)
        self.log(
            "info",
            f"{self.name}: {self.spec.protocol} check-ins to {self.spec.target} as id {self.id}, every "
            f"{self.spec.period:g} s (jitter {self.spec.jitter:g})",
        )

    def _connect(self, target: tcp_client.Target, address: bytes, now: float) -> None:
        if not lab_bounds.allowed(address):
            self.note(
                "outside",
                "warning",
                f"{self.name}: {target.host} is {base.address_text(address)}, outside "
                "the lab's ranges: check-in not sent",
            )
            return
        super()._connect(target, address, now)

    def open_session(self, target: tcp_client.Target, address: bytes, now: float) -> tcp_client.Session:
        return BeaconSession(self, target, address, now, self.request, tls=self.spec.protocol == "https")


class BeaconSession(web.RequestSession):
    def outcome(self, reason: str) -> tuple[str, str] | None:
        if self.status is None:
            return None
        return "debug", f"{self.client.name}: check-in {self.target.label} -> {self.status[0]} {self.status[1]}"


class DnsBeacon:
    """host.Service: one query per period for `<id>.<target>` (TXT), `<n>.<id>.<target>` (A) every other time."""

    def __init__(self, spec: compromise.Beacon, context: services.Context, label: str) -> None:
        self.name: str = spec.kind
        self.spec = spec
        self.log = base.labelled(context, label)
        self.id = bot_id(context.config.mac)
        self.port = QueryPort(context, PROTOCOL, self.log, self.name)
        self.ticker = profile_ticker(spec, context)
        self.check_ins = 0

    def start(self, now: float) -> None:
        self.ticker.start(now, immediately=True)
        self.log("info", f"{self.name}: dns check-ins {self.id}.{self.spec.target} every {self.spec.period:g} s")

    def on_timer(self, now: float) -> None:
        if self.ticker.fire(now):
            if self.check_ins % 2 == 0:
                self.port.ask(f"{self.id}.{self.spec.target}", dns_wire.TYPE_TXT, now)
            else:
                self.port.ask(f"{self.check_ins}.{self.id}.{self.spec.target}", dns_wire.TYPE_A, now)
            self.check_ins += 1

    def next_deadline(self) -> float | None:
        return self.ticker.due

    def stop(self, now: float) -> None:
        self.ticker.stop()
        self.port.close()


def profile_ticker(spec: compromise.Beacon, context: services.Context) -> schedule.Ticker:
    return schedule.Ticker(catalog.Schedule(interval=spec.period, jitter=spec.jitter), 1.0, context.rng)
