"""Live captures on demand: the frames from or to some MACs, as a pcap stream, for a bounded time.

Why: a user who sees a device misbehave in the tab wants its frames now, without restarting the
process with `--pcap`. `CaptureTap` wraps the link once, for the process's life; while no capture
runs it keeps nothing, its `send` is the inner link's own bound method (no extra call on the send
path) and a received frame costs one truthiness test. Each `Capture` matches frames by
source or destination MAC (a set resolved when it starts, so a device stopped and started again
during the capture stays in it), plus the DHCP replies broadcast to one of them (a client that
sets the broadcast flag gets its OFFER and ACK to ff:ff:ff:ff:ff:ff, its MAC only in `chaddr`),
and appends pcap records to its own buffer; a slow reader loses
frames (counted), never slows the engine. A capture ends at its deadline, at its byte cap, or
when its reader leaves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncGenerator, Callable, Iterable

from iot_emulator.engine import engine
from iot_emulator.reporting import capture_format
from iot_emulator.reporting.capture_format import header, record

BUFFER_BYTES = 4 * 1024 * 1024
"""Bytes waiting for a slow reader before frames are dropped."""
MAX_CAPTURES = 16
"""Captures running at once in one process."""


@dataclasses.dataclass(frozen=True)
class Request:
    """What to capture, validated by the caller: MACs, seconds and a byte cap."""

    macs: frozenset[bytes]
    seconds: float
    max_bytes: int = capture_format.MAX_BYTES


_BROADCAST = b"\xff" * 6


def dhcp_reply_to(frame: bytes) -> bytes | None:
    """The client MAC (`chaddr`) of a DHCP reply broadcast on Ethernet, else None (IPv4 without options)."""
    if frame[:6] != _BROADCAST or len(frame) < 76 or frame[12:14] != b"\x08\x00" or frame[14] != 0x45:
        return None
    if frame[23] != 17 or frame[36:38] != b"\x00\x44":  # UDP to port 68
        return None
    return frame[70:76]


class Busy(RuntimeError):
    """`MAX_CAPTURES` captures already run."""


class Capture:
    """One running capture: its filter, its pending bytes and why it ended (see the module docstring)."""

    def __init__(self, request: Request, deadline: float) -> None:
        self.macs = request.macs
        self.deadline = deadline
        self.remaining = request.max_bytes - len(header())
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.frames = 0
        self.dropped = 0
        self.full = False
        """The byte cap is reached: the capture ends after what is pending."""
        self.ready = asyncio.Event()

    def offer(self, frame: bytes, wall: float) -> None:
        if self.full:
            return
        if frame[:6] not in self.macs and frame[6:12] not in self.macs and dhcp_reply_to(frame) not in self.macs:
            return
        size = 16 + len(frame)
        if size > self.remaining:
            self.full = True
            self.ready.set()
            return
        if self.pending_bytes + size > BUFFER_BYTES:
            self.dropped += 1
            return
        self.pending.append(record(frame, wall))
        self.pending_bytes += size
        self.remaining -= size
        self.frames += 1
        self.ready.set()

    def take(self) -> bytes:
        data = b"".join(self.pending)
        self.pending, self.pending_bytes = [], 0
        self.ready.clear()
        return data


class CaptureTap:
    """A Link that offers every frame to the running captures before passing it on."""

    def __init__(self, inner: engine.Link, wall: Callable[[], float] = time.time) -> None:
        self.inner = inner
        self.wall = wall
        self.captures: list[Capture] = []
        self._watch(False)

    def _watch(self, on: bool) -> None:
        """Idle: `send` is the inner link's (an instance attribute shadowing the method below)."""
        if on:
            self.__dict__.pop("send", None)
        else:
            self.send = self.inner.send  # type: ignore[method-assign]

    def start(self, loop: asyncio.AbstractEventLoop, on_frame: Callable[[bytes], None]) -> None:
        def received(frame: bytes) -> None:
            if self.captures:
                self._offer(frame)
            on_frame(frame)

        self.inner.start(loop, received)

    def send(self, frame: bytes) -> None:
        """While captures run (see `_watch`)."""
        self._offer(frame)
        self.inner.send(frame)

    def flush(self, timeout: float = 1.0) -> None:
        self.inner.flush(timeout)

    def close(self) -> None:
        self.inner.close()

    def read_vlan_tags(self) -> None:
        self.inner.read_vlan_tags()

    def _offer(self, frame: bytes) -> None:
        wall = self.wall()
        for cap in self.captures:
            cap.offer(frame, wall)

    async def stream(self, request: Request) -> AsyncGenerator[bytes]:
        """The pcap header, then the matching frames as they pass, until the deadline or the byte cap.
        Closing the iterator (the reader left) ends the capture; nothing stays behind."""
        if len(self.captures) >= MAX_CAPTURES:
            raise Busy(f"{MAX_CAPTURES} captures already run in this process")
        loop = asyncio.get_running_loop()
        cap = Capture(request, loop.time() + request.seconds)
        self.captures.append(cap)
        self._watch(True)
        try:
            yield header()
            while not cap.full:
                left = cap.deadline - loop.time()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(cap.ready.wait(), left)
                except TimeoutError:
                    break
                data = cap.take()
                if data:
                    yield data
            rest = cap.take()
            if rest:
                yield rest
        finally:
            self.captures.remove(cap)
            if not self.captures:
                self._watch(False)


def macs_of(
    devices: Iterable[tuple[str, str | None, bytes]], ids: Iterable[str], fleets: Iterable[str]
) -> tuple[frozenset[bytes], list[str]]:
    """MACs of the devices named by id or by fleet, from (device id, fleet, MAC) rows; and the names
    that matched nothing."""
    wanted_ids, wanted_fleets = set(ids), set(fleets)
    found: set[bytes] = set()
    seen_ids: set[str] = set()
    seen_fleets: set[str] = set()
    for device_id, fleet, mac in devices:
        if device_id in wanted_ids:
            found.add(mac)
            seen_ids.add(device_id)
        if fleet is not None and fleet in wanted_fleets:
            found.add(mac)
            seen_fleets.add(fleet)
    missing = [f"device {i!r}" for i in sorted(wanted_ids - seen_ids)]
    missing += [f"fleet {f!r}" for f in sorted(wanted_fleets - seen_fleets)]
    return frozenset(found), missing
