"""What a person sees without `--json-output`: progress, notable events, a compact live summary.

Thousands of devices must not print thousands of lines per second: per-device DHCP events are
shown only for small runs, errors and warnings always, and a one-line summary at each interval.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from typing import Any, TextIO

from iot_emulator.reporting import messages

CHATTY_LIMIT = 20  # up to this many devices, each DHCP step is worth a line
SHOWN = {"dhcp_ack", "dhcp_nak", "dhcp_decline", "dhcp_expire", "dhcp_release", "dhcp_renew", "dhcp_rebind"}


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def describe(message: messages.Message) -> str:
    """A readable line for one message."""
    kind, dev, t = message["type"], message["device_id"], message["timestamp"][11:19]
    if kind == "dhcp_ack":
        detail = f"bound {message.get('assigned_ip')} from {message.get('server_id')} for {message.get('lease_time')}s"
    elif kind == "log":
        detail = f"{message.get('level')}: {message.get('message')}"
    elif kind == "error":
        detail = f"{message.get('severity')}: {message.get('error')}"
    else:
        extra = {k: v for k, v in message.items() if k not in ("type", "device_id", "timestamp")}
        detail = " ".join(f"{k}={v}" for k, v in extra.items())
    return f"{t} {dev:<20} {kind:<13} {detail}"


class Console:
    """A message sink plus a periodic `render(totals)`."""

    def __init__(self, device_count: int, stream: TextIO = sys.stdout) -> None:
        self.stream = stream
        self.chatty = device_count <= CHATTY_LIMIT
        self.tty = stream.isatty()

    def __call__(self, message: messages.Message) -> None:
        kind = message["type"]
        level = message.get("level")
        scenario = kind == "log" and str(message.get("message", "")).startswith("[scenario ")  # what a scenario did
        if (
            kind == "error"
            or (kind == "log" and level in ("warning", "error"))
            or scenario
            or (self.chatty and kind in SHOWN)
        ):
            self._line(describe(message))

    def render(self, totals: dict[str, Any]) -> None:
        line = (
            f"{totals['devices']} devices: {totals['bound']} bound, {totals['binding']} binding, "
            f"{totals['pending']} waiting | sent {totals['packets_sent']:,} pkts "
            f"{human_bytes(totals['bytes_sent'])} | received {totals['packets_received']:,} pkts"
        )
        self._line(line)

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


class Table:
    """The demo's live table: one row per device, redrawn in place on a terminal."""

    def __init__(self, stream: TextIO = sys.stdout, header: str = "") -> None:
        self.stream = stream
        self.header = header
        self.tty = stream.isatty()

    def render(self, rows: list[dict[str, Any]], totals: dict[str, Any]) -> None:
        height = shutil.get_terminal_size((100, 40)).lines - 6 if self.tty else len(rows)
        lines = [self.header] if self.header else []
        lines.append(f"{'DEVICE':<24} {'PROFILE':<28} {'IP':<15} {'STATE':<8} {'SENT':>7} {'RECV':>7}")
        for row in rows[: max(height, 5)]:
            lines.append(
                f"{row['device_id']:<24.24} {row['profile']:<28.28} {row['current_ip'] or '-':<15} "
                f"{row['state']:<8} {row['packets_sent']:>7} {row['packets_received']:>7}"
            )
        if len(rows) > height > 0:
            lines.append(f"... and {len(rows) - height} more")
        lines.append(
            f"{totals['bound']}/{totals['devices']} bound, sent {totals['packets_sent']:,} packets "
            f"({human_bytes(totals['bytes_sent'])}). Ctrl-C stops the devices and removes the lab."
        )
        prefix = "\x1b[H\x1b[2J" if self.tty else ""
        self.stream.write(prefix + "\n".join(lines) + "\n")
        self.stream.flush()


Renderer = Callable[[], None]
