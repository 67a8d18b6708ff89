"""Live captures through the dashboard: one pcap stream out of the emulator processes' (or pods') own.

A device runs in one process, a fleet in several (shards): each answers `GET /capture` with a
pcap of its own. The browser gets one file: one libpcap header, then every source's records
as whole records arrive (Wireshark sorts by time; the order between sources is arrival order).
Sources are read concurrently into a small bounded queue, so a fast source waits for the reader
instead of filling memory; closing the merged stream (the browser left) closes every source,
which ends the capture in the emulators.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import anyio

from iot_emulator.reporting import capture_format

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/vnd.tcpdump.pcap"
HEADER_BYTES = 24
RECORD_HEADER = struct.Struct("<IIII")
MAX_SECONDS = capture_format.MAX_SECONDS
DEFAULT_SECONDS = 10.0
GRACE_SECONDS = 15.0
"""How long past its end a source may stay silent before it counts as hung."""
QUEUE_CHUNKS = 64


class Source:
    """One emulator's capture response: its body, and how to close it."""

    def __init__(self, name: str, chunks: AsyncIterator[bytes], close: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.chunks = chunks
        self.close = close


class BadStream(ValueError):
    """A source that does not speak classic pcap."""


async def records(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Whole pcap records (header + frame) of a pcap byte stream; its global header checked and skipped."""
    buffer = bytearray()
    header_seen = False
    async for chunk in chunks:
        buffer += chunk
        if not header_seen:
            if len(buffer) < HEADER_BYTES:
                continue
            if buffer[:4] != capture_format.header()[:4]:
                raise BadStream("not a classic pcap stream")
            del buffer[:HEADER_BYTES]
            header_seen = True
        at = 0
        while len(buffer) - at >= RECORD_HEADER.size:
            incl = RECORD_HEADER.unpack_from(buffer, at)[2]
            if incl > capture_format.SNAPLEN:
                raise BadStream(f"a record of {incl} bytes")
            end = at + RECORD_HEADER.size + incl
            if end > len(buffer):
                break
            at = end
        if at:
            yield bytes(buffer[:at])
            del buffer[:at]


async def merge(sources: Sequence[Source], max_bytes: int = capture_format.MAX_BYTES) -> AsyncIterator[bytes]:
    """One pcap: the header, then the sources' records as they come, until `max_bytes` in all (each
    emulator caps its own stream too); every source closed at the end."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()  # bounded by `room`: a source's end never waits
    room = asyncio.Semaphore(QUEUE_CHUNKS)

    async def pump(source: Source) -> None:
        try:
            async for data in records(source.chunks):
                await room.acquire()
                queue.put_nowait(data)
        except Exception as exc:  # one source broke (a pod gone, a bad stream): the others go on
            log.warning("capture from %s ended: %r", source.name, exc)
        finally:
            queue.put_nowait(None)

    tasks = [asyncio.create_task(pump(s), name=f"capture-{s.name}") for s in sources]
    try:
        header = capture_format.header()
        left = max_bytes - len(header)
        yield header
        done = 0
        while done < len(tasks):
            item = await queue.get()
            if item is None:
                done += 1
                continue
            room.release()
            if len(item) > left:  # whole records only: the file ends before the one that would pass the cap
                yield item[: _whole_records(item, left)]
                break
            left -= len(item)
            yield item
    finally:  # shielded: the browser leaving cancels the response's task scope, and anyio's cancellation
        # would stop every await here, leaving the emulators capturing
        with anyio.CancelScope(shield=True):
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for source in sources:
                try:
                    await source.close()
                except Exception as exc:
                    log.info("closing the capture from %s: %r", source.name, exc)


def _whole_records(data: bytes, limit: int) -> int:
    """The length of the whole records of `data` that fit in `limit` bytes."""
    at = 0
    while at + RECORD_HEADER.size <= len(data):
        end = at + RECORD_HEADER.size + RECORD_HEADER.unpack_from(data, at)[2]
        if end > limit:
            break
        at = end
    return at


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def filename(kind: str, name: str, now: dt.datetime | None = None) -> str:
    """`device-cam-1-20261203T130000Z.pcap`: what the capture is of and when it started."""
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{kind}-{_UNSAFE.sub('_', name)}-{when}.pcap"
