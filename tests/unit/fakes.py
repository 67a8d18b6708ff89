"""A link that records frames instead of sending them, for engine tests without sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class RecordingLink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False
        self.on_frame: Callable[[bytes], None] | None = None
        self.sent_event = asyncio.Event()
        self.reads_vlan_tags = False

    def start(self, loop: asyncio.AbstractEventLoop, on_frame: Callable[[bytes], None]) -> None:
        self.on_frame = on_frame

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)
        self.sent_event.set()

    def flush(self, timeout: float = 1.0) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def read_vlan_tags(self) -> None:
        self.reads_vlan_tags = True

    def deliver(self, frame: bytes) -> None:
        assert self.on_frame is not None, "engine not running"
        self.on_frame(frame)
