"""The `dns_tunnel` behaviour: queries whose first label carries encoded data, as DNS tunnels (iodine, dnscat2) send.

What detectors read: many queries per second under one domain, long labels with high entropy
(base32 of random bytes: about 5 bits per character, all 32 symbols), every name new (no cache
hit), record types a resolver rarely sees (TXT, NULL). Each query goes to the device's first DNS
server (the lab's dnsmasq), from one source port held for the whole step (a tunnel client keeps
its socket), with a random ID; answers are counted. Packets are counted under "dns".
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING

from iot_emulator.protocols import dns_wire, service_kit, services
from iot_emulator.scenarios import base, lab_bounds

if TYPE_CHECKING:
    from iot_emulator.scenarios import compromise

RECORDS = {"A": dns_wire.TYPE_A, "TXT": dns_wire.TYPE_TXT, "NULL": 10, "CNAME": dns_wire.TYPE_CNAME}
BATCH = 256
"""Queries sent in one timer call at most."""
OUTSTANDING = 1024
"""Query IDs remembered for matching answers; older ones are forgotten (their answers then not counted)."""


def data_label(rng_bytes: bytes, length: int) -> str:
    """`length` characters of lower-case base32 (RFC 4648 6, no padding) of `rng_bytes`."""
    return base64.b32encode(rng_bytes).decode().lower().rstrip("=")[:length]


class QueryPort:
    """One UDP source port, queries to the device's DNS server, answers matched by ID and counted."""

    def __init__(self, context: services.Context, protocol: str, log: services.Log, name: str) -> None:
        self.host = context.host
        self.rng = context.rng
        self.protocol = protocol
        self.log = log
        self.name = name
        self.port: int | None = None
        self.sent = 0
        self.answered = 0
        self._pending: dict[int, str] = {}
        self._refused = False

    def ask(self, qname: str, qtype: int, now: float) -> bool:
        """Send one query; False when there is no address, no server, or the server is outside the lab."""
        if self.host.address is None or not self.host.dns_servers:
            return False
        server = self.host.dns_servers[0]
        if not lab_bounds.allowed(server):
            if not self._refused:
                self._refused = True
                self.log(
                    "warning",
                    f"{self.name}: DNS server {base.address_text(server)} is outside the lab's ranges: no queries",
                )
            return False
        if self.port is None:
            self.port = service_kit.random_port(self.host, self.rng)
            self.host.bind_udp(self.port, self._on_answer)
        ident = self.rng.getrandbits(16)
        if len(self._pending) >= OUTSTANDING:
            del self._pending[next(iter(self._pending))]
        self._pending[ident] = qname
        self.host.send_udp(self.protocol, server, self.port, 53, dns_wire.query(ident, qname, qtype))
        self.sent += 1
        return True

    def close(self) -> None:
        if self.port is not None:
            self.host.unbind_udp(self.port)
            self.port = None
        self._pending.clear()

    def _on_answer(self, src: bytes, sport: int, dst: bytes, data: bytes, now: float) -> None:
        message = dns_wire.parse(data)
        if sport != 53 or message is None or not message.is_response:
            return
        if self._pending.pop(message.id, None) is not None:
            self.answered += 1


class DnsTunnel:
    """host.Service: `rate` queries per second of `<base32 data>.<domain>`."""

    def __init__(self, spec: compromise.DnsTunnel, context: services.Context, label: str) -> None:
        self.name: str = spec.kind
        self.spec = spec
        self.rng = context.rng
        self.log = base.labelled(context, label)
        self.port = QueryPort(context, base.PROTOCOL["dns_tunnel"], self.log, self.name)
        self.qtype = RECORDS[spec.record]
        self._raw = math.ceil(spec.label_length * 5 / 8)
        self._started: float | None = None
        self.count = 0

    def start(self, now: float) -> None:
        self._started = now
        self.log(
            "info",
            f"{self.name}: {self.spec.record} queries of {self.spec.label_length}-character base32 "
            f"labels under {self.spec.domain}, {self.spec.rate:g}/s",
        )

    def on_timer(self, now: float) -> None:
        if self._started is None:
            return
        due = int((now - self._started) * self.spec.rate + 1e-6) + 1  # 1e-6: 0.1 * 10 < 1
        for _ in range(min(due - self.count, BATCH)):
            label = data_label(self.rng.randbytes(self._raw), self.spec.label_length)
            self.count += 1
            if not self.port.ask(f"{label}.{self.spec.domain}", self.qtype, now):
                break

    def next_deadline(self) -> float | None:
        return None if self._started is None else self._started + self.count / self.spec.rate

    def stop(self, now: float) -> None:
        if self._started is not None:
            self.log(
                "info", f"{self.name}: {self.port.sent} queries under {self.spec.domain}, {self.port.answered} answered"
            )
        self._started = None
        self.port.close()
