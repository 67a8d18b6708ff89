"""The `port_scan` behaviour: TCP SYN probes of the device's own subnet, as Mirai's scanner sends them.

Mirai (scanner.c) sends bare SYNs from a raw socket (no options, a random window, the target's
address as sequence number, one source port for the whole scan) and reads SYN-ACKs; a SYN-ACK means an open
port, and the kernel of the scanning host answers it with a RST since no socket owns the port.
Here the probes leave through the device's `IpHost` (its MAC, TTL, IP ID policy; ARP for each
on-link host as the kernel would), at `rate` per second, host after host, every port of `ports`,
over the hosts of the device's subnet only: its address and netmask bound the sweep, whatever
`max_hosts` says, and a subnet outside the lab's ranges is not scanned at all. Replies come
through the TCP stack's tap (segments of no connection): SYN-ACK -> open (answered with a RST
counted as "scan"), RST -> closed. The summary (hosts probed, hosts that answered, open ports) is
logged `REPLY_WAIT` s after the last probe, or when the step ends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING

from iot_emulator.protocols import services
from iot_emulator.protocols.link import wire
from iot_emulator.protocols.transport import tcp, tcp_segment
from iot_emulator.protocols.transport.tcp_segment import ACK, RST, SYN
from iot_emulator.scenarios import base, lab_bounds

if TYPE_CHECKING:
    from iot_emulator.scenarios import compromise

REPLY_WAIT = 4.0
"""Seconds after the last probe during which replies still count (ARP's 3 tries, then a round trip)."""
BATCH = 512
"""Probes sent in one timer call at most: a late timer does not burst the whole backlog."""
_MOD = 1 << 32


def subnet_hosts(address: bytes, netmask: bytes, limit: int) -> list[bytes]:
    """Up to `limit` host addresses of the subnet of `address` (not itself, not network or broadcast)."""
    network = ipaddress.IPv4Network(
        (int.from_bytes(address, "big"), ipaddress.IPv4Address(netmask).exploded), strict=False
    )
    out: list[bytes] = []
    for host in network.hosts() if network.prefixlen < 31 else ():
        if host.packed != address:
            out.append(host.packed)
            if len(out) >= limit:
                break
    return out


class PortScan:
    """host.Service: the sweep, its replies, its summary."""

    def __init__(self, spec: compromise.PortScan, context: services.Context, label: str) -> None:
        self.name: str = spec.kind
        self.spec = spec
        self.host = context.host
        self.rng = context.rng
        self.log = base.labelled(context, label)
        self._done = context.done
        self.stack = tcp.stack_of(context.host, context.rng)
        self.probes: dict[tuple[bytes, int], int] = {}
        """(host, port) -> the ISN of its probe (a reply must acknowledge ISN + 1)."""
        self.open: set[tuple[bytes, int]] = set()
        self.closed: set[tuple[bytes, int]] = set()
        self.sent = 0
        self.total = 0
        self._plan: Iterator[tuple[bytes, int]] = iter(())
        self._sport = 0
        self._started: float | None = None
        self._ends: float | None = None
        self.finished = False
        """True once the behaviour has done all it was asked (it sends nothing more)."""

    # -- host.Service -------------------------------------------------------------------------

    def start(self, now: float) -> None:
        address = self.host.address
        if address is None:
            return
        if not lab_bounds.allowed(address):
            self.finished = True
            self._done()
            self.log("warning", f"{self.name}: {base.address_text(address)} is outside the lab's ranges: no scan")
            return
        hosts = subnet_hosts(address, self.host.netmask, self.spec.max_hosts)
        ports = list(dict.fromkeys(self.spec.ports))
        self.total = len(hosts) * len(ports)
        self._plan = ((h, p) for h in hosts for p in ports)
        self._sport = self.host.ephemeral_port()
        self._started = now
        self.stack.taps.append(self._on_segment)
        network = ipaddress.IPv4Network(
            (int.from_bytes(address, "big"), ipaddress.IPv4Address(self.host.netmask).exploded), strict=False
        )
        self.log(
            "info",
            f"{self.name}: SYN scan of {len(hosts)} hosts of {network}, ports "
            f"{','.join(map(str, ports))}, {self.spec.rate:g}/s",
        )

    def on_timer(self, now: float) -> None:
        if self._started is None or self.finished:
            return
        due = min(self.total, int((now - self._started) * self.spec.rate + 1e-6) + 1)  # 1e-6: 0.1 * 10 < 1
        for _ in range(min(due - self.sent, BATCH)):
            target, port = next(self._plan)
            self._probe(target, port, now)
        if self.sent >= self.total and self._ends is None:
            self._ends = now + REPLY_WAIT
        if self._ends is not None and now >= self._ends:
            self._finish()

    def next_deadline(self) -> float | None:
        if self._started is None or self.finished:
            return None
        if self.sent < self.total:
            return self._started + self.sent / self.spec.rate
        return self._ends if self._ends is not None else self._started

    def stop(self, now: float) -> None:
        if self._started is not None and not self.finished:
            self._finish()

    # -- internals ----------------------------------------------------------------------------

    def _probe(self, target: bytes, port: int, now: float) -> None:
        assert self.host.address is not None
        isn = int.from_bytes(target, "big")  # Mirai's mark: the probe's sequence number is the target's address
        self.probes[(target, port)] = isn
        window = self.rng.getrandbits(16)
        segment = tcp_segment.build(self.host.address, target, self._sport, port, isn, 0, SYN, window)
        self.host.send_ip("scan", target, wire.IPPROTO_TCP, segment)
        self.sent += 1

    def _on_segment(self, source: bytes, segment: tcp_segment.Segment, now: float) -> bool:
        if segment.dport != self._sport:
            return False
        key = (source, segment.sport)
        isn = self.probes.get(key)
        if isn is None or not segment.flags & ACK or segment.ack != (isn + 1) % _MOD:
            return False
        if segment.flags & RST:
            self.closed.add(key)
        elif segment.flags & SYN:  # every SYN-ACK, a retransmitted one too, gets its RST
            self.open.add(key)
            assert self.host.address is not None
            reset = tcp_segment.build(self.host.address, source, self._sport, segment.sport, segment.ack, 0, RST, 0)
            self.host.send_ip("scan", source, wire.IPPROTO_TCP, reset, unconnected=True)
        return True

    def _finish(self) -> None:
        self.finished = True
        self._done()
        if self._on_segment in self.stack.taps:
            self.stack.taps.remove(self._on_segment)
        answered = {h for h, _ in self.open | self.closed}
        found = ", ".join(f"{base.address_text(h)}:{p}" for h, p in sorted(self.open)) or "none"
        hosts = len({h for h, _ in self.probes})
        self.log(
            "info", f"{self.name}: {self.sent} probes to {hosts} hosts, {len(answered)} answered, open ports: {found}"
        )
