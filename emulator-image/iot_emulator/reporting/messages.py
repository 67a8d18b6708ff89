"""The JSON-lines messages of the seed contract, built and printed.

Every message has `type`, `device_id`, `timestamp` (ISO 8601 UTC, milliseconds, `Z`) and `v`, the
contract's version. The fields of each type are defined once, in `message_models` (the seed
brief's "Message Format", extended). In the engine a message is a plain dict with those fields:
thousands of devices emit them, and a dict costs a third of a model. The sinks that print them
(`encode`) validate each one against its model and serialise it through pydantic, at about the
cost of `json.dumps` (see `bench/messages.py`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

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
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
