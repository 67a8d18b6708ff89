"""Which waiting devices start now: a window of DHCP exchanges in flight, and an optional start rate.

Thousands of devices starting together would overrun the DHCP server (a real site's devices do not
all power on in the same millisecond either), so at most `window` devices are between DISCOVER and
ACK at once; `start_rate` spaces starts evenly with a token bucket of one.
"""

from __future__ import annotations

import contextlib
from collections import deque

from iot_emulator.devices import device as device_mod
from iot_emulator.protocols.link import dhcp

IN_FLIGHT = frozenset({dhcp.DhcpState.SELECTING, dhcp.DhcpState.REQUESTING, dhcp.DhcpState.REBOOTING})
ACQUIRING = IN_FLIGHT | {dhcp.DhcpState.INIT, dhcp.DhcpState.INIT_REBOOT, dhcp.DhcpState.CHECKING}
"""Still getting an address: the exchange, and the RFC 5227 check of the address ACKed."""


class Admission:
    """The devices waiting to start and those with a DHCP exchange in flight."""

    def __init__(self, window: int, start_rate: float | None) -> None:
        self.window = window
        self.start_rate = start_rate or None
        """Devices started per second at most (None: as fast as the window admits)."""
        self.pending: deque[device_mod.Device] = deque()
        self.in_flight: set[device_mod.Device] = set()
        self._tokens = 1.0
        self._tokens_at: float | None = None

    def track(self, dev: device_mod.Device) -> bool:
        """After a device ran: True if its exchange just left the window (room for the next)."""
        if dev.dhcp.state in IN_FLIGHT:
            self.in_flight.add(dev)
        elif dev in self.in_flight:
            self.in_flight.discard(dev)
            return True
        return False

    def forget(self, dev: device_mod.Device) -> None:
        with contextlib.suppress(ValueError):
            self.pending.remove(dev)
        self.in_flight.discard(dev)

    def take(self, now: float, extra: int = 0) -> tuple[list[device_mod.Device], float | None]:
        """The devices to start now, and in how many seconds the start rate admits the next (or None)."""
        budget = self.window - len(self.in_flight) + extra
        if self.start_rate is not None:
            if self._tokens_at is not None:
                self._tokens = min(1.0, self._tokens + (now - self._tokens_at) * self.start_rate)
            self._tokens_at = now
        started: list[device_mod.Device] = []
        while self.pending and budget > 0:
            if self.start_rate is not None:
                if self._tokens < 1.0:
                    return started, (1.0 - self._tokens) / self.start_rate
                self._tokens -= 1.0
            started.append(self.pending.popleft())
            budget -= 1
        return started, None
