"""Waiting, in tests, for a condition that no event announces: a server's lease or log file, a
process table, an object in an API. Where there is an event (a message, a frame, a queue), await it
instead. The timeout is a guard against hangs, never a pace: a condition met returns at once.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")
TIMEOUT = 20.0
"""Seconds before a test fails when it names none."""
EVERY = 0.05
"""Seconds between two looks."""


def _failed(what: str, timeout: float, last: object) -> AssertionError:
    return AssertionError(f"timed out after {timeout:g} s waiting for {what}; last seen: {last!r}")


def until(
    check: Callable[[], T | None], timeout: float = TIMEOUT, what: str = "the condition", *, every: float = EVERY
) -> T:
    """Call `check` until it returns something truthy, and return that; fail naming `what` at the deadline.

    `every`: seconds between looks; longer where a look is costly (a `kubectl` process)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise _failed(what, timeout, value)
        time.sleep(every)
    return value


@overload
async def until_async(check: Callable[[], Awaitable[T | None]], timeout: float = ..., what: str = ...) -> T: ...
@overload
async def until_async(check: Callable[[], T | None], timeout: float = ..., what: str = ...) -> T: ...
async def until_async(check: Callable[[], object], timeout: float = TIMEOUT, what: str = "the condition") -> object:
    """`until` in a coroutine: the event loop runs meanwhile; `check` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise _failed(what, timeout, value)
        await asyncio.sleep(EVERY)
