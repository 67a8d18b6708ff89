"""What the engine reports of its devices: each device's `stats` message body, and the process's totals."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from iot_emulator.devices import device as device_mod
from iot_emulator.protocols.link import ipv6
from iot_emulator.reporting import messages


class Stats:
    """Per-device stats; the packet rate is over the last `interval`, since the previous report."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last_sent: dict[device_mod.Device, int] = {}

    def reported(self, dev: device_mod.Device) -> None:
        """The device's stats went out: its rate counts from here."""
        self.last_sent[dev] = dev.counters.packets_sent

    def replaced(self, old: device_mod.Device, new: device_mod.Device) -> None:
        """A rebooted device is a new object with the old one's counters."""
        self.last_sent[new] = self.last_sent.pop(old, 0)

    def forget(self, dev: device_mod.Device) -> None:
        self.last_sent.pop(dev, None)

    def of(self, dev: device_mod.Device, now: float) -> dict[str, Any]:
        body = self._of(dev, now)
        if dev.ipv6 is not None:  # only devices that speak IPv6 carry the field
            body["ipv6_addresses"] = [ipv6.text(a) for a in dev.ipv6.slaac.usable()]
        return body

    def _of(self, dev: device_mod.Device, now: float) -> dict[str, Any]:
        c = dev.counters
        since = self.last_sent.get(dev, 0)
        lease = dev.dhcp.lease
        return {
            "packets_sent": c.packets_sent,
            "bytes_sent": c.bytes_sent,
            "packet_rate": round((c.packets_sent - since) / self.interval, 3),
            "current_ip": device_mod.wire_ip(dev.ip) if dev.ip else None,
            "uptime_seconds": round(now - dev.started_at, 1) if dev.started_at is not None else 0,
            "protocols": dict(c.protocols),
            "packets_received": c.packets_received,
            "bytes_received": c.bytes_received,
            "state": dev.phase.value,
            "dhcp_state": dev.dhcp.state.name.lower(),
            "mac": dev.config.mac,
            "hostname": dev.config.hostname,
            "profile": dev.config.profile.name,
            "auth": dev.auth,
            "lease": None
            if lease is None or dev.ip is None
            else {
                "server_id": device_mod.wire_ip(lease.server_id),
                "lease_time": lease.lease_time,
                "expires_in": _until(lease.expiry, now),
                "t1_in": _until(lease.t1, now),
                "t2_in": _until(lease.t2, now),
            },
        }


def totals(
    devices: Sequence[device_mod.Device], *, started_wall: float, wall: Callable[[], float], interface: str
) -> dict[str, Any]:
    """The process's counters summed, devices by phase and by 802.1X state (`auth`: "mab" for those that
    send no EAPOL), its start and uptime (the HTTP endpoint's /stats)."""
    phases = {p: 0 for p in device_mod.Phase}
    auth: dict[str, int] = {}
    sent = sent_bytes = received = received_bytes = 0
    for dev in devices:
        phases[dev.phase] += 1
        state = dev.auth
        auth[state] = auth.get(state, 0) + 1
        c = dev.counters
        sent, sent_bytes = sent + c.packets_sent, sent_bytes + c.bytes_sent
        received, received_bytes = received + c.packets_received, received_bytes + c.bytes_received
    return {
        "devices": len(devices),
        **{p.value: n for p, n in phases.items()},
        "auth": auth,
        "packets_sent": sent,
        "bytes_sent": sent_bytes,
        "packets_received": received,
        "bytes_received": received_bytes,
        "started_at": messages.timestamp(started_wall),
        "uptime_seconds": round(wall() - started_wall, 1),
        "interface": interface,
    }


def _until(deadline: float, now: float) -> float | None:
    """Seconds left, or None for an infinite lease (JSON has no infinity)."""
    return None if math.isinf(deadline) else round(deadline - now, 1)
