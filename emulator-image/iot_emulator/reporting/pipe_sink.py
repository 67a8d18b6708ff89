"""JSON lines to stdout without ever blocking the engine on its reader.

Why: a `flush()` to a pipe nobody reads blocks once the pipe's 64 KB are full, and the engine's
one event loop stops with it: devices no longer answer ARP or ping, leases run out. Here the
descriptor is non-blocking and written when the loop says it is writable; what waits sits in a
bounded queue. While a device's `stats` waits it is replaced in place by the newer one (a slow
reader gets the latest counters, not a backlog); when the queue is full the oldest message is
dropped and counted, and a process-level `log` warning (`messages.process_log`, no device) says
how many were lost once the reader catches up.

Non-blocking is a flag of the open file description, which `2>&1` shares between stdout and
stderr, and a shell shares with its children: setting it on stdout itself could make a stderr log
write fail, or leave the terminal non-blocking. So a pipe is reopened (`/proc/self/fd/N`: a new
description of the same pipe) and only that private one is non-blocking; a regular file never
waits for a reader and stays as it is; anything else (a terminal, a socket) is made non-blocking
only when stderr is not the same file, and otherwise written blocking.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import stat
import time
from typing import Any

from iot_emulator.reporting import messages

log = logging.getLogger(__name__)

_BATCH_BYTES = 64 << 10
"""Bytes handed to one write(2)."""


class PipeSink:
    """A `messages.Emit` writing JSON lines to `fd` from the running event loop, never blocking."""

    def __init__(self, fd: int = 1, max_queued: int = 20_000, wall: Any = time.time, stderr_fd: int = 2) -> None:
        self._fd, self._private, self._restore_blocking = _nonblocking(fd, stderr_fd)
        self._max = max_queued
        self._wall = wall
        self._queue: collections.deque[list[Any]] = collections.deque()  # [device id of a stats | None, line]
        self._pending_stats: dict[str, list[Any]] = {}
        self._buffer = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watching = False
        self._closed = False
        self.dropped = 0
        """Messages lost because the reader was too slow (or gone)."""
        self.coalesced = 0
        """`stats` messages replaced by a newer one of the same device before they were written."""
        self._unreported = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __call__(self, message: messages.Message) -> None:
        if self._closed:
            self.dropped += 1
            return
        line = messages.encode(message)
        device_id = message.get("device_id") if message.get("type") == "stats" else None
        waiting = self._pending_stats.get(device_id) if device_id is not None else None
        if waiting is not None:
            waiting[1] = line
            self.coalesced += 1
        else:
            if len(self._queue) >= self._max:
                self._drop_oldest()
            entry = [device_id, line]
            self._queue.append(entry)
            self._idle.clear()
            if device_id is not None:
                self._pending_stats[device_id] = entry
        self._flush()

    def _drop_oldest(self) -> None:
        device_id, _ = self._queue.popleft()
        if device_id is not None:
            self._pending_stats.pop(device_id, None)
        self.dropped += 1
        self._unreported += 1

    def _take_batch(self) -> None:
        parts: list[bytes] = []
        size = 0
        while self._queue and size < _BATCH_BYTES:
            device_id, line = self._queue.popleft()
            if device_id is not None:
                self._pending_stats.pop(device_id, None)
            parts.append(line)
            size += len(line)
        self._buffer = b"".join(parts)

    def _flush(self) -> None:
        while True:
            if not self._buffer:
                if self._unreported and not self._queue:
                    self._report_drops()
                if not self._queue:
                    self._watch(False)
                    self._idle.set()
                    return
                self._take_batch()
            try:
                written = os.write(self._fd, self._buffer)
            except BlockingIOError:
                self._watch(True)
                return
            except (BrokenPipeError, OSError) as exc:  # the reader is gone: nothing will ever be read
                log.warning("stdout closed (%s): JSON lines are dropped from now on", exc)
                self.dropped += len(self._queue) + (1 if self._buffer else 0)
                self._queue.clear()
                self._pending_stats.clear()
                self._buffer = b""
                self._closed = True
                self._watch(False)
                self._idle.set()
                return
            self._buffer = self._buffer[written:]

    def _report_drops(self) -> None:
        count, self._unreported = self._unreported, 0
        text = f"stdout reader too slow: {count} message(s) dropped ({self.dropped} in all)"
        log.warning("%s", text)
        self._queue.append([None, messages.encode(messages.process_log(self._wall(), "warning", text))])

    def _watch(self, on: bool) -> None:
        if on == self._watching:
            return
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        if on:
            loop.add_writer(self._fd, self._flush)
        else:
            loop.remove_writer(self._fd)
        self._watching = on

    @property
    def queued(self) -> int:
        return len(self._queue) + (1 if self._buffer else 0)

    async def drain(self, timeout: float) -> None:
        """At exit: give the reader `timeout` seconds to take what is queued, then let the rest go."""
        self._flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        self.dropped += self.queued
        self._watch(False)
        self._closed = True
        if self._private:
            os.close(self._fd)
        elif self._restore_blocking:
            os.set_blocking(self._fd, True)


def _nonblocking(fd: int, stderr_fd: int) -> tuple[int, bool, bool]:
    """The descriptor to write, whether it is our own (to close), whether `fd` was made non-blocking
    (to restore); see the module docstring for why not simply `fd`."""
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode) or not os.get_blocking(fd):
        return fd, False, False
    if stat.S_ISFIFO(info.st_mode):
        try:
            private = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            pass
        else:
            return private, True, False
    try:
        other = os.fstat(stderr_fd)
        shared = (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino)
    except OSError:
        shared = False
    if shared:
        log.debug("stdout is also stderr and not a pipe: written blocking")
        return fd, False, False
    os.set_blocking(fd, False)
    return fd, False, True
