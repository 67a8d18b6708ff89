"""What a learner found: profile values by dotted path, and the sentence saying where each came from.

Every protocol learner returns one `Findings`; `learn.build` lays them over the base profile.
A value is set only when the capture showed it, so whatever is absent stays the base's.
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass
class Findings:
    values: dict[str, object] = dataclasses.field(default_factory=dict)
    """Dotted profile path (`dhcp.options`, `tcp.window`, `tls`) -> the value learned."""
    sources: dict[str, str] = dataclasses.field(default_factory=dict)
    """Dotted path -> what in the capture it was learned from (goes to the profile's `sources`)."""
    protocols: list[str] = dataclasses.field(default_factory=list)
    """Emulator protocol names the capture shows the device speaking."""
    notes: list[str] = dataclasses.field(default_factory=list)
    """What was seen but could not be learned, and why (written as comments)."""

    def set(self, path: str, value: object, source: str) -> None:
        self.values[path] = value
        self.sources[path] = source

    def speaks(self, *protocols: str) -> None:
        self.protocols += [p for p in protocols if p not in self.protocols]

    def merge(self, other: Findings) -> None:
        self.values.update(other.values)
        self.sources.update(other.sources)
        self.speaks(*other.protocols)
        self.notes += other.notes


def mac_placeholders(text: str, mac: bytes, hostname: str | None = None, *, mac12: bool = True) -> str:
    """`text` with the device's MAC digits (and host name) written as profile placeholders, so
    a fleet of the learned profile gets one value per device, as the real devices would.
    `mac12=False` where only {mac6}/{MAC6} exist (mDNS, `service_kit.fill`)."""
    digits = mac.hex()
    out = text
    if hostname and hostname != text and hostname in out:
        out = out.replace(hostname, "\x00hostname\x01")
    forms = [(digits.upper(), "MAC12"), (digits, "mac12")] if mac12 else []
    for value, name in [*forms, (digits[6:].upper(), "MAC6"), (digits[6:], "mac6")]:
        out = re.sub(re.escape(value), f"\x00{name}\x01", out)
    return out


def as_format(text: str) -> str:
    """A placeholder-marked text as a `str.format` pattern (literal braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}").replace("\x00", "{").replace("\x01", "}")


def as_fill(text: str) -> str:
    """A placeholder-marked text for `mqtt.fill`-style templates (braces left as they are)."""
    return text.replace("\x00", "{").replace("\x01", "}")


def hexes(values: list[int]) -> str:
    return ",".join(str(v) for v in values)
