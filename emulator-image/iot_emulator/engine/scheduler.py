"""Device deadlines: one heap, and one `call_at` armed for the earliest, as aioquic's asyncio adapter does.

A device says when it next needs the engine (`Device.next_deadline`); every reschedule pushes a heap
entry and leaves the old one behind, skipped when its time comes (or dropped by `_compact`). The
clock is the loop's (monotonic before the loop runs): `clock()` is the one place that says so.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable

from iot_emulator.devices import device as device_mod


class Scheduler:
    """Calls `on_due(device, now)` at each device's deadline, on the loop given to `start`."""

    def __init__(self, on_due: Callable[[device_mod.Device, float], None]) -> None:
        self.on_due = on_due
        self.loop: asyncio.AbstractEventLoop | None = None
        self.heap: list[tuple[float, int, device_mod.Device]] = []
        self.scheduled: dict[device_mod.Device, float | None] = {}
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._stopped = False

    def clock(self) -> float:
        """The loop's time (monotonic before the loop runs): what device deadlines are in."""
        return self.loop.time() if self.loop else time.monotonic()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def stop(self) -> None:
        """No timer fires any more (the engine is releasing its devices)."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()

    def schedule(self, dev: device_mod.Device, deadline: float | None) -> None:
        """The device's next deadline (None: it waits for frames only)."""
        if deadline == self.scheduled.get(dev):
            return
        self.scheduled[dev] = deadline
        if deadline is not None:
            heapq.heappush(self.heap, (deadline, next(self._seq), dev))
            if deadline < self._timer_at:
                self._arm(deadline)
            if len(self.heap) > 2 * len(self.scheduled) + 64:
                self._compact()

    def forget(self, dev: device_mod.Device) -> None:
        self.scheduled.pop(dev, None)  # its heap entries become stale and are skipped

    def _compact(self) -> None:
        """Drop superseded heap entries (in place: `_on_timer` holds the list): ~120 bytes each, and
        every reschedule leaves one behind until its time comes."""
        scheduled = self.scheduled
        self.heap[:] = [entry for entry in self.heap if scheduled.get(entry[2]) == entry[0]]
        heapq.heapify(self.heap)

    def _arm(self, deadline: float) -> None:
        if self.loop is None or self._stopped:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        assert self.loop is not None
        self._timer, self._timer_at = None, float("inf")
        now = self.loop.time()
        heap = self.heap
        while heap and heap[0][0] <= now:
            deadline, _, dev = heapq.heappop(heap)
            if self.scheduled.get(dev) != deadline:
                continue  # superseded by a later reschedule
            self.scheduled[dev] = None
            self.on_due(dev, now)
        if heap:
            self._arm(heap[0][0])
