"""The stdout sink never blocks on a reader that stopped: bounded queue, stats coalesced, drops counted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iot_emulator.reporting import messages, pipe_sink


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        with contextlib.suppress(OSError):
            os.close(fd)


def stats(device: str, n: int) -> dict[str, Any]:
    return messages.make("stats", device, 0.0, stats={"packets_sent": n})


def read_available(fd: int, into: bytearray) -> None:
    os.set_blocking(fd, False)
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            return
        into += chunk


async def test_a_reader_that_stops_never_blocks_the_loop(pipe: tuple[int, int]) -> None:
    read, write = pipe
    sink = pipe_sink.PipeSink(write, max_queued=100, wall=lambda: 0.0)
    big = "x" * 1000
    for i in range(2000):  # ~2 MB: far beyond the pipe's 64 KB
        sink(messages.log(f"dev-{i % 7}", 0.0, "info", f"{i} {big}"))
    assert sink.queued <= 101 and sink.dropped > 1000
    for n in range(50):
        sink(stats("cam-1", n))
    assert sink.coalesced == 49  # one cam-1 stats waits, always the newest
    data = bytearray()
    loop = asyncio.get_running_loop()
    loop.add_reader(read, read_available, read, data)  # the reader wakes up and reads on
    try:
        await asyncio.wait_for(sink.drain(5.0), 10)
    finally:
        loop.remove_reader(read)
    read_available(read, data)
    lines = [json.loads(line) for line in data.splitlines()]
    assert sink.queued == 0
    cam = [m for m in lines if m["type"] == "stats"]
    assert [m["stats"]["packets_sent"] for m in cam] == [49]
    warnings = [m for m in lines if m.get("scope") == "process"]
    assert warnings == [
        messages.process_log(
            0.0, "warning", f"stdout reader too slow: {sink.dropped} message(s) dropped ({sink.dropped} in all)"
        )
    ]
    assert warnings[0]["device_id"] == ""  # no device is named so
    indices = [int(m["message"].split()[0]) for m in lines if m["type"] == "log" and "scope" not in m]
    assert indices == sorted(indices)  # order kept; the lost ones are the oldest waiting


async def test_a_closed_reader_drops_everything_quietly(pipe: tuple[int, int]) -> None:
    read, write = pipe
    os.close(read)
    sink = pipe_sink.PipeSink(write, max_queued=10)
    for n in range(5):
        sink(stats(f"d{n}", n))
    await sink.drain(1.0)
    assert sink.dropped >= 5 and sink.queued == 0


async def test_stderr_sharing_the_pipe_stays_blocking(pipe: tuple[int, int]) -> None:
    """`2>&1`: stdout and stderr are one open pipe description; the sink must not make stderr non-blocking."""
    _read, write = pipe
    stderr = os.dup(write)  # the same description, as 2>&1 makes it
    try:
        sink = pipe_sink.PipeSink(write, max_queued=10, wall=lambda: 0.0, stderr_fd=stderr)
        assert os.get_blocking(stderr) and os.get_blocking(write)
        for i in range(200):  # beyond the pipe's 64 KB: the sink's own descriptor must not block
            sink(messages.log("cam-1", 0.0, "info", f"{i} " + "x" * 1000))
        assert sink.dropped > 0
        await sink.drain(0.1)
        assert os.get_blocking(stderr) and os.get_blocking(write)
    finally:
        os.close(stderr)


async def test_a_regular_file_is_left_as_it_is(tmp_path: Path) -> None:
    with (tmp_path / "out.jsonl").open("wb") as out:
        sink = pipe_sink.PipeSink(out.fileno(), wall=lambda: 0.0)
        sink(stats("cam-1", 1))
        await sink.drain(1.0)
        assert os.get_blocking(out.fileno())
    assert json.loads((tmp_path / "out.jsonl").read_text())["stats"] == {"packets_sent": 1}
