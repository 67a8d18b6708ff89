"""ISC Kea (kea-dhcp6) as the lab's DHCPv6 server (`iotemu lab up --ipv6 kea|kea-stateless`).

radvd advertises the prefix beside it (see `lab.ipv6`): with the M flag and no A flag in `kea` mode,
so addresses come only from Kea's IA_NA leases; with the O flag and the A flag in `kea-stateless`
mode, so devices form SLAAC addresses and ask Kea only for options (INFORMATION-REQUEST). Kea, unlike
dnsmasq, accepts lifetimes of a few seconds, which the renewal tests need. Choices, as for kea-dhcp4
(`lab.kea`): memfile with `lfc-interval: 0` (one append-only CSV, on tmpfs in the lab directory: a
renewal appends the lease again, a RELEASE appends it with valid lifetime 0), log at WARN but the
`kea-dhcp6.dhcp6` logger at INFO, whose DHCP6_STARTED line (with the pid) means "serving"; a server
DUID that is not persisted (no file outside the lab directory).
"""

from __future__ import annotations

import csv
import ipaddress
import time
from pathlib import Path
from typing import Any, NamedTuple

LEASE_FILE = "kea-leases6.csv"
LOG_FILE = "kea-dhcp6.log"
CONFIG_FILE = "kea-dhcp6.json"
MIN_LIFETIME = 4
"""Shortest valid lifetime that keeps distinct whole-second T1 (2 s) and T2 (3 s)."""


def config(
    *,
    iface: str,
    prefix: ipaddress.IPv6Network,
    pool: tuple[ipaddress.IPv6Address, ipaddress.IPv6Address],
    dns: ipaddress.IPv6Address,
    lifetime: int,
    directory: Path,
) -> dict[str, Any]:
    """The kea-dhcp6 configuration (JSON-ready): one subnet on the lab link, T1/T2 at 50 % / 80 %
    of the lifetime (RFC 8415 21.4's recommendation), preferred = valid."""
    log = str(directory / LOG_FILE)
    return {
        "Dhcp6": {
            "interfaces-config": {"interfaces": [iface]},
            "data-directory": str(directory),  # its server DUID would go to /var/lib/kea otherwise
            "server-id": {"type": "LL", "persist": False},
            "lease-database": {
                "type": "memfile",
                "persist": True,
                "name": str(directory / LEASE_FILE),
                "lfc-interval": 0,
            },
            "preferred-lifetime": lifetime,
            "valid-lifetime": lifetime,
            "renew-timer": lifetime // 2,
            "rebind-timer": lifetime * 4 // 5,
            "subnet6": [
                {
                    "id": 1,
                    "subnet": str(prefix),
                    "interface": iface,
                    "pools": [{"pool": f"{pool[0]} - {pool[1]}"}],
                    "option-data": [{"name": "dns-servers", "data": str(dns)}],
                }
            ],
            "loggers": [
                {"name": "kea-dhcp6", "output_options": [{"output": log}], "severity": "WARN"},
                {"name": "kea-dhcp6.dhcp6", "output_options": [{"output": log}], "severity": "INFO"},
            ],
        }
    }


def started(log_file: Path, pid: int) -> bool:
    """True once the kea-dhcp6 process `pid` has logged DHCP6_STARTED."""
    try:
        text = log_file.read_text(errors="replace")
    except FileNotFoundError:
        return False
    return any("DHCP6_STARTED" in line and f"/{pid}." in line for line in text.splitlines())


class Lease6(NamedTuple):
    """One row of the memfile: an IA_NA address as Kea last wrote it."""

    address: str
    duid: str
    valid_lifetime: int
    expire: int
    iaid: int


def history(text: str) -> list[Lease6]:
    """Every IA_NA row of a kea-dhcp6 memfile CSV, in the order Kea wrote them (allocations, renewals,
    and releases: a row with valid lifetime 0)."""
    out: list[Lease6] = []
    columns: list[str] = []
    for row in csv.reader(text.splitlines()):
        if not row:
            continue
        if row[0] == "address":
            columns = row
            continue
        if not columns or len(row) < len(columns) - 1:  # no header yet, or a torn last line
            continue
        lease = dict(zip(columns, row, strict=False))
        if lease.get("lease_type", "0") != "0":  # 0 = IA_NA; prefixes and temporary addresses are not ours
            continue
        out.append(
            Lease6(
                lease["address"], lease["duid"], int(lease["valid_lifetime"]), int(lease["expire"]), int(lease["iaid"])
            )
        )
    return out


def live(text: str, now: float | None = None) -> dict[str, Lease6]:
    """Live IA_NA leases {address: last row}: not released and not expired."""
    now = time.time() if now is None else now
    last = {lease.address: lease for lease in history(text)}
    return {a: lease for a, lease in last.items() if lease.valid_lifetime > 0 and lease.expire > now}
