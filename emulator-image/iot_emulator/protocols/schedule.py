"""When a periodic protocol speaks: the profile's interval, with jitter, in bursts.

Devices of one class must not speak in lockstep (a thousand cameras polling their cloud in the
same millisecond is not what a branch looks like), so every occurrence is jittered and the first
one is spread over the first interval.
"""

from __future__ import annotations

import random

from iot_emulator.profiles import catalog

DEFAULT = catalog.Schedule()


class Ticker:
    """Deadlines for one protocol of one device: `due` is the next time it should act."""

    __slots__ = ("_left_in_burst", "_rng", "due", "interval", "schedule")

    def __init__(self, schedule: catalog.Schedule | None, traffic_interval: float, rng: random.Random) -> None:
        self.schedule = schedule or catalog.Schedule(interval=1, relative=True)
        self.interval = self.schedule.interval * (traffic_interval if self.schedule.relative else 1.0)
        self._rng = rng
        self._left_in_burst = 0
        self.due: float | None = None

    def start(self, now: float, *, immediately: bool = False) -> None:
        """Arm the first occurrence: right away, or somewhere in the first interval."""
        self.due = now if immediately else now + self._rng.uniform(0.05, 1.0) * min(self.interval, 10.0)
        self._left_in_burst = self.schedule.burst

    def fire(self, now: float) -> bool:
        """Call when `due` has passed: True if it is time to act, and the next deadline is armed."""
        if self.due is None or now < self.due:
            return False
        self._left_in_burst -= 1
        if self._left_in_burst > 0:
            self.due = now + self.schedule.burst_spacing
        else:
            spread = self.interval * self.schedule.jitter
            self.due = now + max(0.01, self.interval + self._rng.uniform(-spread, spread))
            self._left_in_burst = self.schedule.burst
        return True

    def stop(self) -> None:
        self.due = None
