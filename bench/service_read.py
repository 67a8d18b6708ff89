"""What the dashboard spends per emulator message, from the process's stdout to the clients' JSON text.

Now (`process.EmulatorProcess._read_stdout`): stdout read in 64 KiB chunks, each chunk's lines
checked as one JSON array (`events.accepted_lines`: one `json.loads`, one `validate_json`), each
line kept as its message's JSON text. Baseline, in the same run: the path before it, a `readline`
per line, `json.loads`, `events.accepted` (the model's `validate_python`) and `json.dumps` for the
WebSocket frames (`events.Entry.text`). Both then publish to a hub with 4 subscribers (the
fan-out, counted apart). Lines: `stats`, `dhcp_ack` and `log` in turn, as `messages.encode` prints
them, for 1,000 devices. No network, no root.

    .venv/bin/python bench/service_read.py [--lines 6000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from common import median, spread, table
from messages import CASES

from iot_dashboard import events
from iot_emulator.reporting import messages

CHUNK = 1 << 16


def make_lines(n: int) -> bytes:
    cases = list(CASES.values())
    out = []
    for i in range(n):
        type_, fields = cases[i % len(cases)]
        out.append(messages.encode(messages.make(type_, f"dev_{i % 1000:04d}", time.time(), **fields)))
    return b"".join(out)


def reader(blob: bytes) -> asyncio.StreamReader:
    stream = asyncio.StreamReader(limit=1 << 20)
    stream.feed_data(blob)
    stream.feed_eof()
    return stream


async def before(blob: bytes) -> list[tuple[events.Message, str]]:
    stream, out = reader(blob), []
    while line := await stream.readline():
        message = json.loads(line)
        if isinstance(message, dict) and events.accepted(message, "bench"):
            out.append((message, json.dumps(message, separators=(",", ":"), default=str)))
    return out


async def now(blob: bytes) -> list[tuple[events.Message, str]]:
    stream, out, pending = reader(blob), [], b""
    while chunk := await stream.read(CHUNK):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        out += events.accepted_lines(lines, "bench")
    return out


def fan_out(accepted: list[tuple[events.Message, str]]) -> None:
    hub = events.EventHub(queue_size=len(accepted) + 1)
    for _ in range(4):
        hub.subscribe().coalesce_stats = True
    for message, text in accepted:
        hub.publish(message, text)


def per_message_us(run: object, blob: bytes, n: int) -> float:
    start = time.perf_counter()
    asyncio.run(run(blob))  # type: ignore[operator]
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    blob = make_lines(args.lines)
    got_before, got_now = asyncio.run(before(blob)), asyncio.run(now(blob))
    assert [m for m, _ in got_before] == [m for m, _ in got_now] and len(got_now) == args.lines
    old = [per_message_us(before, blob, args.lines) for _ in range(args.repeat)]
    new = [per_message_us(now, blob, args.lines) for _ in range(args.repeat)]
    fan = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        fan_out(got_now)
        fan.append((time.perf_counter() - start) / args.lines * 1e6)
    rows = [
        ["read, validate, JSON text", spread(old), spread(new), f"{median(new) / median(old):.2f}x"],
        ["publish to 4 subscribers (both)", "", spread(fan), ""],
    ]
    print(f"{args.lines} lines (stats, dhcp_ack, log), us per message, median (min-max) of {args.repeat}:")
    print(table(["step", "before", "now", "ratio"], rows))


if __name__ == "__main__":
    main()
