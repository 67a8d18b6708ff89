"""`WS /ws` sends one `batch` frame per tick with everything that happened since the last one.

One frame per device per event to every client does not scale: starting 1,000 devices is 1,000
frames (and 1,000 JSON encodings) per client, and the browser handles each apart. Here a client's
sender waits for its subscription to hold something, then sends at most one frame per `tick`
seconds carrying all that is queued (up to `MAX_MESSAGES`; more follow in the next frame at
once): a client gets O(ticks) frames whatever the number of devices. A frame's messages keep the
order they were published in; the subscription coalesces each device's `stats` to the latest
(`events.Subscription`, `coalesce_stats`), and the messages lost to a full queue are counted in
the frame (`dropped`, `total`) so the tab knows to list again. Each message's JSON text is made
once for all clients (`events.Entry`); a frame is those texts joined, not a new encoding.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence

from iot_dashboard import events

VERSION = 1
"""`data.v` of a `batch` frame: raised when a field changes meaning."""
EVENT = "batch"
MAX_MESSAGES = 5000
"""Messages per frame at most: bounds a frame's size (~3 MB of stats) and the time spent making it."""


def frame_text(entries: Sequence[events.Entry], dropped: int, total: int) -> str:
    """The `batch` frame (`frames.BatchFrame`) as JSON text, from the entries' cached texts."""
    body = ",".join(entry.text for entry in entries)
    return f'{{"event":"{EVENT}","data":{{"v":{VERSION},"dropped":{dropped},"total":{total},"messages":[{body}]}}}}'


async def frames(
    sub: events.Subscription,
    tick: float,
    *,
    limit: int = MAX_MESSAGES,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[str]:
    """The client's `batch` frames until the subscription closes: the first as soon as something is
    queued, then at most one per `tick` (one right after another only while more than `limit` wait)."""
    last = -float("inf")
    while await sub.wait():
        delay = last + tick - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        entries = sub.take(limit)
        drops = sub.take_drops()
        if not entries and not drops:
            continue
        if len(entries) < limit:
            last = clock()
        yield frame_text(entries, drops, sub.dropped)
