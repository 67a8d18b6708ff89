"""The tests' one poll-until helper: returns what the check found, fails naming what it waited for."""

from __future__ import annotations

import itertools

import pytest

from tests import poll


def test_until_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert poll.until(lambda: next(counter) >= 2 and "found", 5, "the third look") == "found"


def test_until_fails_naming_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match="waiting for the impossible; last seen: 0"):
        poll.until(lambda: 0, 0.1, "the impossible")


async def test_until_async_awaits_a_coroutine_check() -> None:
    counter = itertools.count()

    async def check() -> int:
        return next(counter)

    assert await poll.until_async(check, 5, "a second look") == 1
    with pytest.raises(AssertionError, match="waiting for nothing"):
        await poll.until_async(lambda: None, 0.1, "nothing")
