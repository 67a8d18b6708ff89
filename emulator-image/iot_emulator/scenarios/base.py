"""What every compromise behaviour shares: its label in the log, and the end of its run.

A user matches what their product detected to what the emulator did by the log: every line a
behaviour writes starts with `[scenario <label>] <kind>:` (the service's `name` is its kind, and
`labelled` adds the scenario part), and each behaviour counts its packets under its own protocol
name (`PROTOCOL`), which the device's stats carry.
"""

from __future__ import annotations

from iot_emulator.protocols import services

PROTOCOL = {"port_scan": "scan", "c2_beacon": "c2", "dns_tunnel": "dns", "exfiltration": "exfil"}
"""Stats' protocol name per kind; brute_force counts under its service ("telnet" or "ssh")."""


def labelled(context: services.Context, label: str) -> services.Log:
    """The device's log, each message prefixed with `[scenario <label>] ` (the message starts with the kind)."""

    def log(level: str, message: str) -> None:
        context.log(level, f"[scenario {label}] {message}")

    return log


def address_text(address: bytes) -> str:
    return ".".join(str(b) for b in address)
