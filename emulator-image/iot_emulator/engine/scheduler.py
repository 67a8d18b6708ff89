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

SLICE = 0.005
"""Seconds of device timers run before the loop polls its sockets again (a slice left over runs at once after)."""


class Scheduler:
    """Calls `on_due(device, now)` at each device's deadline, on the loop given to `start`.

    Devices for which `urgent` says so when they are scheduled (the engine: those still getting an
    address) have their own heap, run first: in a boot storm the RFC 5227 checks of the devices just
    ACKed end on time instead of behind thousands of bound devices' mDNS probes."""

    def __init__(
        self,
        on_due: Callable[[device_mod.Device, float], None],
        urgent: Callable[[device_mod.Device], bool] = lambda dev: False,
    ) -> None:
        self.on_due = on_due
        self.urgent = urgent
        self.loop: asyncio.AbstractEventLoop | None = None
        self.heap: list[tuple[float, int, device_mod.Device]] = []
        self.urgent_heap: list[tuple[float, int, device_mod.Device]] = []
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
            heapq.heappush(self.urgent_heap if self.urgent(dev) else self.heap, (deadline, next(self._seq), dev))
            if deadline < self._timer_at:
                self._arm(deadline)
            if len(self.heap) + len(self.urgent_heap) > 2 * len(self.scheduled) + 64:
                self._compact()

    def forget(self, dev: device_mod.Device) -> None:
        self.scheduled.pop(dev, None)  # its heap entries become stale and are skipped

    def _compact(self) -> None:
        """Drop superseded heap entries (in place: `_on_timer` holds the list): ~120 bytes each, and
        every reschedule leaves one behind until its time comes."""
        scheduled = self.scheduled
        for heap in (self.heap, self.urgent_heap):
            heap[:] = [entry for entry in heap if scheduled.get(entry[2]) == entry[0]]
            heapq.heapify(heap)

    def _arm(self, deadline: float) -> None:
        if self.loop is None or self._stopped:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        """Run the devices that are due, for at most `SLICE` seconds: when thousands are due at once
        (a boot storm's services), the loop reads the link between slices, so the DHCP replies of the
        exchanges in flight are not held behind seconds of other devices' timers."""
        assert self.loop is not None
        self._timer, self._timer_at = None, float("inf")
        now = self.loop.time()
        until = time.perf_counter() + SLICE
        if self._run_due(self.urgent_heap, now, until):
            self._run_due(self.heap, now, until)
        heads = [heap[0][0] for heap in (self.urgent_heap, self.heap) if heap]
        if heads:
            self._arm(min(heads))

    def _run_due(self, heap: list[tuple[float, int, device_mod.Device]], now: float, until: float) -> bool:
        """Run `heap`'s devices due by `now` until `until` (perf_counter); False if the slice ran out first
        (the loop polls, and the next slice runs at once after)."""
        while heap and heap[0][0] <= now:
            deadline, _, dev = heapq.heappop(heap)
            if self.scheduled.get(dev) != deadline:
                continue  # superseded by a later reschedule
            self.scheduled[dev] = None
            self.on_due(dev, now)
            if time.perf_counter() >= until:
                return False
        return True
