"""The JSON-lines messages of the seed contract, and the sinks that print them.

Every message has `type`, `device_id` and `timestamp` (ISO 8601 UTC, milliseconds, `Z`). Shapes
follow the seed brief's "Message Format"; DHCP states beyond the seed's three use the same style
(`dhcp_request`, `dhcp_nak`, `dhcp_renew`, `dhcp_rebind`, `dhcp_release`, `dhcp_decline`,
`dhcp_expire`). Messages are plain dicts: thousands of devices emit them, and the consumers
(dashboard, operator) parse JSON anyway.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

Message = dict[str, Any]
Emit = Callable[[Message], None]

LIFECYCLE = ("started", "stopped", "error", "stats", "log")
SCENARIO = "scenario"
"""A scenario's behaviour started or ended on a device (`scenario`, `step`, `behaviour`, `state`, `detail`)."""
DHCP_TYPES = (
    "dhcp_discover", "dhcp_offer", "dhcp_request", "dhcp_ack", "dhcp_nak", "dhcp_renew",
    "dhcp_rebind", "dhcp_release", "dhcp_decline", "dhcp_expire",
)  # fmt: skip


def timestamp(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make(type_: str, device_id: str, wall: float, **fields: Any) -> Message:
    return {"type": type_, "device_id": device_id, "timestamp": timestamp(wall), **fields}


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
        self._stream.write(json.dumps(message, separators=(",", ":")) + "\n")
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
