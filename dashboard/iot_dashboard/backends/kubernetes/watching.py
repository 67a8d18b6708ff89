"""List, then watch, for as long as the service runs: the one loop the pod and resource watches share.

The objects are listed once, then watched from the list's resourceVersion with bookmarks keeping
it fresh; a watch request the server ends is resumed from the last version seen, an expired one
(410 Gone) lists again, and any other failure lists again after a backoff that doubles up to
`MAX_BACKOFF`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from iot_dashboard.backends.kubernetes import client

log = logging.getLogger(__name__)
MAX_BACKOFF = 30.0
Object = dict[str, Any]


class Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


async def follow(
    what: str,
    list_call: Callable[[], Awaitable[tuple[list[Object], str]]],
    watch_call: Callable[[str], AsyncIterator[Object]],
    on_listed: Callable[[list[Object]], None],
    on_event: Callable[[str, Object], None],
    on_error: Callable[[str | None], None] = lambda error: None,
) -> None:
    """Run forever: `on_listed(items)` after each list, `on_event(type, object)` for each change after it."""
    delay = 1.0
    while True:
        try:
            items, version = await list_call()
            on_listed(items)
            on_error(None)
            delay = 1.0
            while True:  # each watch request ends after a few minutes; resume where it stopped
                async for event in watch_call(version):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            raise Expired
                        raise client.KubeError(int(obj.get("code") or 0), str(obj.get("message")))
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if kind != "BOOKMARK":
                        on_event(str(kind), obj)
        except Expired:
            continue
        except (client.KubeError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            on_error(str(exc))
            log.warning("watching %s failed, again in %.0f s: %s", what, delay, exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_BACKOFF)
