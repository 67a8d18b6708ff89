"""The JSON-lines messages of the seed contract, built and printed.

Every message has `type`, `device_id`, `timestamp` (ISO 8601 UTC, milliseconds, `Z`) and `v`, the
contract's version. The fields of each type are defined once, in `message_models` (the seed
brief's "Message Format", extended). In the engine a message is a plain dict with those fields:
thousands of devices emit them, and a dict costs a third of a model. The sinks that print them
(`encode`) validate each one against its model and serialise it through pydantic, at about the
cost of `json.dumps` (see `bench/messages.py`).
"""

from __future__ import annotations

import collections
import datetime as dt
import fnmatch
import json
import logging
import math
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TextIO

import pydantic

from iot_emulator.reporting import message_models

log_ = logging.getLogger(__name__)

Message = dict[str, Any]
Emit = Callable[[Message], None]

LIFECYCLE = ("started", "stopped", "error", "stats", "log")
SCENARIO = "scenario"
"""A scenario's behaviour started or ended on a device (`scenario`, `step`, `behaviour`, `state`, `detail`)."""
DHCP_TYPES = tuple(t for t in message_models.BY_TYPE if t.startswith("dhcp_"))
VERSION = message_models.VERSION


def timestamp(wall: float) -> str:
    """ISO 8601 UTC to the millisecond; the text of the last millisecond is kept, since a burst (a boot
    storm, a stats round of 10,000 devices) stamps thousands of messages in the same one."""
    fraction, whole = math.modf(wall)
    millisecond = int(whole) * 1000 + round(fraction * 1e6) // 1000  # rounded as `fromtimestamp` does
    global _last
    if millisecond != _last[0]:
        text = dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds")
        _last = millisecond, text.replace("+00:00", "Z")
    return _last[1]


_last: tuple[int, str] = (-1, "")


def make(type_: str, device_id: str, wall: float, **fields: Any) -> Message:
    """A message of `type_` (a `message_models` type) with `fields`, the model's other fields."""
    return {"type": type_, "device_id": device_id, "timestamp": timestamp(wall), "v": VERSION, **fields}


def encode(message: Message) -> bytes:
    """One JSON line of `message`, validated against its model and serialised by it.

    A message its model refuses is a bug: it is logged (naming the field) and still written as it
    is, so a consumer of the seed contract loses nothing."""
    try:
        typed = message_models.parse(message)
    except pydantic.ValidationError as exc:
        log_.error("message %r breaks the contract: %s", message.get("type"), _first_error(exc))
        return (json.dumps(message, separators=(",", ":"), default=str) + "\n").encode()
    return message_models.ADAPTER.dump_json(typed, exclude_unset=True) + b"\n"


def _first_error(exc: pydantic.ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


def log(device_id: str, wall: float, level: str, message: str) -> Message:
    return make("log", device_id, wall, level=level, message=message)


def scenario(
    device_id: str, wall: float, scenario: str, step: str, behaviour: str, state: str, detail: str = ""
) -> Message:
    """The typed label of what a scenario did, to match against what a product detected."""
    return make(
        SCENARIO, device_id, wall, scenario=scenario, step=step, behaviour=behaviour, state=state, detail=detail
    )


def scenario_line(scenario: str, behaviour: str, text: str) -> str:
    """The `log` line of the same event: `[scenario NAME] behaviour: ...` (what the compromise services print too)."""
    return f"[scenario {scenario}] {behaviour}: {text}"


PROCESS_ID = ""
"""`device_id` of a process-level message: no device has an empty name (names are DNS labels)."""


def process_log(wall: float, level: str, message: str) -> Message:
    """A `log` about the emulator process itself, not a device (`scope: process`): consumers keep no
    per-device state for it (the dashboard shows it as a service log)."""
    return make("log", PROCESS_ID, wall, level=level, message=message, scope="process")


def error(device_id: str, wall: float, error: str, severity: str = "error") -> Message:
    return make("error", device_id, wall, error=error, severity=severity)


class JsonLinesSink:
    """One JSON object per line, flushed at once: the contract with the seed's consumers."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self._stream = stream

    def __call__(self, message: Message) -> None:
        self._stream.write(encode(message).decode())
        self._stream.flush()


class Fanout:
    """Delivers each message to several sinks (stdout, the HTTP /events stream, a console)."""

    def __init__(self, *sinks: Emit) -> None:
        self.sinks = list(sinks)

    def add(self, sink: Emit) -> None:
        self.sinks.append(sink)

    def remove(self, sink: Emit) -> None:
        self.sinks.remove(sink)

    def __call__(self, message: Message) -> None:
        for sink in self.sinks:
            sink(message)


class Signal(Protocol):
    """How a waiting reader hears of new messages: an `asyncio.Event` (this module runs no event loop)."""

    def set(self) -> None: ...

    def clear(self) -> None: ...

    def wait(self) -> Awaitable[object]: ...


_TYPE_CACHE_MAX = 1024
"""Distinct message types whose filter verdict a subscriber remembers."""


class Subscriber:
    """One reader of the message stream (an SSE client of an emulator, a browser of the dashboard): its
    filters and its bounded queue. `offer` is a sink and never blocks: when the reader is slower than the
    devices, the oldest message is dropped and counted, and `take_drops` tells the reader how many it lost.
    A slow reader can neither slow the engine nor grow memory without bound."""

    def __init__(
        self,
        size: int,
        signal: Signal,
        devices: Iterable[str] = (),
        types: Iterable[str] = (),
        *,
        unfiltered: frozenset[str] = frozenset(),
    ) -> None:
        self._size = size
        self._signal = signal
        self._queue: collections.deque[Message] = collections.deque()
        self._unfiltered = unfiltered
        """Message types that no device filter holds back (the dashboard's `resource` changes)."""
        self.devices: frozenset[str] = frozenset()
        self.types: tuple[str, ...] = ()
        self._type_ok: dict[str, bool] = {}
        self.dropped = 0
        """Messages lost over the reader's lifetime."""
        self.pending_drops = 0
        """Messages lost since the reader was last told (`take_drops`)."""
        self.closed = False
        self.set_filter(devices, types)

    def set_filter(self, devices: Iterable[str] = (), types: Iterable[str] = ()) -> None:
        """Empty means everything. Types are shell patterns on the message type (`dhcp*`, `stats`);
        a `device:` prefix (the WebSocket event's name) is taken off."""
        self.devices = frozenset(devices)
        self.types = tuple(t.removeprefix("device:") for t in types)
        self._type_ok = {}

    def wants(self, message: Message) -> bool:
        type_ = str(message.get("type", ""))
        if self.devices and message.get("device_id") not in self.devices and type_ not in self._unfiltered:
            return False
        if not self.types:
            return True
        ok = self._type_ok.get(type_)
        if ok is None:
            ok = any(fnmatch.fnmatchcase(type_, p) for p in self.types)
            if len(self._type_ok) < _TYPE_CACHE_MAX:
                self._type_ok[type_] = ok
        return ok

    def offer(self, message: Message) -> None:
        if self.closed or not self.wants(message):
            return
        if len(self._queue) >= self._size:
            self._queue.popleft()
            self.dropped += 1
            self.pending_drops += 1
        self._queue.append(message)
        self._signal.set()

    __call__ = offer

    def close(self, *, discard: bool = False) -> None:
        """Ends the reading: `next_batch` returns what is queued (nothing, with `discard`), then []."""
        if discard:
            self._queue.clear()
        self.closed = True
        self._signal.set()

    async def next_batch(self, limit: int = 256) -> list[Message]:
        """The next messages in order (at least one), or [] once closed and drained."""
        while not self._queue and not self.closed:
            self._signal.clear()
            await self._signal.wait()
        batch: list[Message] = []
        while self._queue and len(batch) < limit:
            batch.append(self._queue.popleft())
        return batch

    def take_drops(self) -> int:
        drops, self.pending_drops = self.pending_drops, 0
        return drops

    @property
    def queued(self) -> int:
        return len(self._queue)
