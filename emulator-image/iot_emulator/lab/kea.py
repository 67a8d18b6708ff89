"""ISC Kea (kea-dhcp4) as the lab's alternative DHCP server: its configuration and lease file.

A second, independent DHCP implementation catches what one server's leniency hides, and Kea
accepts leases of a few seconds, which the renewal and rebinding tests need (dnsmasq's floor is
2 minutes). Choices:

- memfile lease database with `lfc-interval: 0`: one append-only CSV that `Lab.leases()` reads,
  never compacted under our feet.
- raw sockets (`dhcp-socket-type: raw`): Kea answers clients that have no address yet by
  building the frame itself, so the gateway's neighbour table does not grow per device.
- renew/rebind timers at 50% / 87.5% of `valid-lifetime` (RFC 2131's defaults), given explicitly.
- `authoritative: true`, like dnsmasq's `--dhcp-authoritative` (see `iot_emulator.lab.dnsmasq`).
- log at WARN to a file in the lab directory (INFO and DEBUG log per packet, which slows big runs),
  except the `kea-dhcp4.dhcp4` logger at INFO for its lifecycle lines: Kea opens its sockets some
  20 ms before it starts serving and drops what arrives in between (measured: 29 of 30 DISCOVERs
  sent as soon as port 67 was open went unanswered, 0 of 30 once `DHCP4_STARTED` was logged), so
  that line, with the server's pid, is what "ready" means for Kea.
- KEA_PIDFILE_DIR / KEA_LOCKFILE_DIR point into the lab directory, so labs never share a pid file.
"""

from __future__ import annotations

import csv
import ipaddress
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MIN_LEASE_TIME = 4
"""Shortest lease that still gives distinct whole-second renew (2 s) and rebind (3 s) timers."""

# kea 2.2's memfile columns, used when a file has no header line (kea writes one on creation).
COLUMNS_2_2 = (
    "address",
    "hwaddr",
    "client_id",
    "valid_lifetime",
    "expire",
    "subnet_id",
    "fqdn_fwd",
    "fqdn_rev",
    "hostname",
    "state",
    "user_context",
)


def config(
    *,
    iface: str,
    subnet: ipaddress.IPv4Network,
    gateway: ipaddress.IPv4Address,
    pool: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address],
    lease_time: int,
    lease_file: Path,
    log_file: Path,
) -> dict[str, Any]:
    """The kea-dhcp4 configuration (JSON-ready) for one lab."""
    return {
        "Dhcp4": {
            "interfaces-config": {"interfaces": [iface], "dhcp-socket-type": "raw"},
            "lease-database": {"type": "memfile", "persist": True, "name": str(lease_file), "lfc-interval": 0},
            "valid-lifetime": lease_time,
            "renew-timer": lease_time // 2,
            "rebind-timer": lease_time * 7 // 8,
            "calculate-tee-times": False,
            "authoritative": True,
            "subnet4": [
                {
                    "id": 1,
                    "subnet": str(subnet),
                    "pools": [{"pool": f"{pool[0]} - {pool[1]}"}],
                    "option-data": [
                        {"name": "routers", "data": str(gateway)},
                        {"name": "domain-name-servers", "data": str(gateway)},
                    ],
                }
            ],
            "loggers": [
                {"name": "kea-dhcp4", "output_options": [{"output": str(log_file)}], "severity": "WARN"},
                # Lifecycle messages only (DHCP4_STARTED is the readiness signal); per-packet ones
                # go to other loggers (kea-dhcp4.packets, .leases, ...) and stay at WARN.
                {"name": "kea-dhcp4.dhcp4", "output_options": [{"output": str(log_file)}], "severity": "INFO"},
            ],
        }
    }


def env(directory: Path) -> dict[str, str]:
    """Extra environment for kea-dhcp4: its pid and logger lock files go to the lab directory."""
    return {"KEA_PIDFILE_DIR": str(directory), "KEA_LOCKFILE_DIR": str(directory)}


def started(log_file: Path, pid: int) -> bool:
    """True once the kea-dhcp4 process `pid` has logged DHCP4_STARTED (it then serves every packet)."""
    try:
        text = log_file.read_text(errors="replace")
    except FileNotFoundError:
        return False
    return any("DHCP4_STARTED" in line and f"/{pid}." in line for line in text.splitlines())


def _unescape(value: str) -> str:
    return value.replace("&#x2c", ",")  # kea escapes commas in text columns


def parse_leases(text: str, now: float | None = None) -> dict[str, tuple[str, str]]:
    """Live leases {mac: (ip, hostname)} from a kea memfile CSV.

    The file is an append log: each change to a lease appends the lease's full new row. So the
    last row of an address is its state; a row with `valid_lifetime` 0 is a deleted lease (a
    DHCPRELEASE), `state` 1 (declined) or 2 (expired-reclaimed) is not live, nor is a row whose
    `expire` has passed. If a MAC holds several live addresses, its latest row wins.
    """
    now = time.time() if now is None else now
    columns: Sequence[str] = COLUMNS_2_2
    latest: dict[str, tuple[int, dict[str, str]]] = {}
    for order, row in enumerate(csv.reader(text.splitlines())):
        if not row:
            continue
        if row[0] == "address":
            columns = row
            continue
        if len(row) < len(columns) - 1:  # user_context may be missing; anything shorter is torn
            continue
        latest[row[0]] = (order, dict(zip(columns, row, strict=False)))
    live: dict[str, tuple[int, str, str]] = {}
    for address, (order, lease) in latest.items():
        if lease["valid_lifetime"] == "0" or lease.get("state", "0") != "0" or int(lease["expire"]) <= now:
            continue
        mac = lease["hwaddr"].lower()
        if mac not in live or live[mac][0] < order:
            live[mac] = (order, address, _unescape(lease.get("hostname", "")))
    return {mac: (ip, host) for mac, (_, ip, host) in live.items()}
