"""`--pcap FILE`: every frame the process sends and receives, in a file Wireshark opens.

A tap around the link, so it sees exactly what the socket sees (including frames of devices that
the engine delivers to each other only when they also go on the wire). With `per_device`, one
more file per device holds the frames from or to that device's MAC (and the broadcasts it
received are not repeated there: the process file has them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from iot_emulator.engine import engine
from iot_emulator.reporting import capture_format


class PcapWriter:
    """Classic libpcap format (microsecond timestamps), flushed so a crash loses little."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - kept open for the process's life
        self._file.write(capture_format.header())
        self.frames = 0

    def write(self, frame: bytes, wall: float) -> None:
        self._file.write(capture_format.record(frame, wall))
        self.frames += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class TapLink:
    """A Link that records every frame into `PcapWriter`s before passing it on."""

    def __init__(
        self,
        inner: engine.Link,
        path: Path,
        per_device: Iterable[tuple[str, bytes]] = (),
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.wall = wall
        self.process = PcapWriter(path)
        self.devices: dict[bytes, PcapWriter] = {}
        for device_id, mac in per_device:
            self.devices[mac] = PcapWriter(path.with_name(f"{path.stem}-{device_id}{path.suffix or '.pcap'}"))
        self._flush_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop, on_frame: Callable[[bytes], None]) -> None:
        self._loop = loop

        def received(frame: bytes) -> None:
            self._record(frame)
            on_frame(frame)

        self.inner.start(loop, received)

    def send(self, frame: bytes) -> None:
        self._record(frame)
        self.inner.send(frame)

    def flush(self, timeout: float = 1.0) -> None:
        self.inner.flush(timeout)
        for writer in self._writers():
            writer.flush()

    def close(self) -> None:
        self.inner.close()
        for writer in self._writers():
            writer.close()

    def read_vlan_tags(self) -> None:
        self.inner.read_vlan_tags()

    def _record(self, frame: bytes) -> None:
        wall = self.wall()
        self.process.write(frame, wall)
        if self.devices:
            for mac in (frame[:6], frame[6:12]):
                writer = self.devices.get(mac)
                if writer is not None:
                    writer.write(frame, wall)
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_later(1.0, self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_handle = None
        for writer in self._writers():
            writer.flush()

    def _writers(self) -> list[PcapWriter]:
        return [self.process, *self.devices.values()]
