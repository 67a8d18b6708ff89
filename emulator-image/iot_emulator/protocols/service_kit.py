"""Small pieces the UDP application services share: timed actions, random local ports, placeholders.

A service (mDNS, SSDP, CoAP, ...) often has several things due at different times (a delayed
answer, a retransmission, the next announcement). The host asks each service for one deadline
and calls it once it has passed; `Timers` keeps the rest in order, sans-IO like everything here.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

from iot_emulator.config import manifests
from iot_emulator.devices import host

EPHEMERAL = (32768, 61000)
"""Linux's default local port range, which most IoT stacks share (end exclusive)."""


class Timers:
    """Actions due at given times: `at(due, action)`, then `run(now)` runs every one that is due."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()

    def at(self, due: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), action))

    def run(self, now: float) -> None:
        """Run what is due, in time order, including actions that become due while running."""
        while self._heap and self._heap[0][0] <= now:
            _, _, action = heapq.heappop(self._heap)
            action(now)

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)


def random_port(ip_host: host.IpHost, rng: random.Random) -> int:
    """A free local UDP port picked at random (RFC 6056 3.3.1), as DNS resolvers do per query (RFC 5452)."""
    while True:
        port = rng.randrange(*EPHEMERAL)
        if not ip_host.udp_in_use(port):
            return port


def fill(pattern: str, config: manifests.DeviceConfig) -> str:
    """Placeholders of `hostname_pattern` ({vendor} {model} {mac6} {MAC6} {index} {name}) plus {hostname}."""
    mac6 = config.mac.replace(":", "")[-6:]
    prof = config.profile
    values = {
        "vendor": prof.vendor,
        "model": prof.model,
        "mac6": mac6.lower(),
        "MAC6": mac6.upper(),
        "index": config.index,
        "name": config.device_id,
        "hostname": config.hostname,
    }
    try:
        return pattern.format(**values)
    except (KeyError, IndexError, ValueError):
        return pattern  # a literal brace in a TXT value, say: published as written
