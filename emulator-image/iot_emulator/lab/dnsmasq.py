"""dnsmasq as the lab's DHCP + DNS server (or DNS only, next to Kea): its command line and lease file.

Choices, each from a measured pitfall (see DESIGN.md, "Measured here"):

- `--no-ping`: otherwise every first OFFER waits ~3 s for an ICMP echo check.
- `--dhcp-lease-max` = the pool size: the default (1000) silently refuses the 1001st device.
- `--dhcp-authoritative`: the lab's server is the only one on its link, so it behaves as RFC 2131
  says an authoritative server should. It changes INIT-REBOOT: a REQUEST for an address dnsmasq has
  no lease for (a device that kept its lease across a server whose lease file was lost) is ACKed
  if the address is free and NAKed if not, instead of being ignored until the device gives up.
  The lease file survives `restart_server()` anyway, so normal reboots see the same answer either way.
- `--no-resolv --no-hosts`: DNS never reads the host's resolv.conf or /etc/hosts; names are only
  those the lab maps (`--address`), and any other name is NXDOMAIN (`--local=/#/`) unless a
  catch-all is configured, or forwarded to the `servers` given (a lab routed to a real upstream),
  except names under the reserved top-level names (`scenarios.lab_bounds.RESERVED`), which the lab
  answers alone: the compromise behaviours of scenarios aim at them, and their queries must not
  leave the lab.
- Lease times under 120 s are rejected up front: dnsmasq would silently round them up to 2 minutes.
  Use Kea for the short leases that renewal tests need.

Replies to clients that do not set the BOOTP broadcast flag are unicast, which makes the gateway
kernel add a neighbour entry per device; see `iot_emulator.lab.build` on the 1024-entry limit.
"""

from __future__ import annotations

import ipaddress
import itertools
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from iot_emulator.scenarios import lab_bounds

MIN_LEASE_TIME = 120
"""dnsmasq's floor: shorter lease times are raised to this without a word."""

CATCH_ALL = "*"
"""The `dns_names` key that maps every name not otherwise listed."""


def argv(
    *,
    iface: str,
    pid_file: Path,
    dns_names: Mapping[str, str],
    dhcp_range: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None,
    lease_time: int = 43200,
    lease_file: Path | None = None,
    lease_max: int = 0,
    extra: Sequence[str] = (),
    servers: Sequence[str] = (),
    dns_names6: Mapping[str, str] | None = None,
    bind_dynamic: bool = False,
) -> list[str]:
    """The dnsmasq command line; `dhcp_range=None` gives a DNS-only server that never opens port 67.

    `dns_names6`: AAAA answers beside `dns_names`' A ones (a lab with an IPv6 internet). `bind_dynamic`: also
    listen on addresses the interface gets later (the gateway's IPv6 ones, added after dnsmasq starts), so
    devices can ask the DNS server DHCPv6 names."""
    args = [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        f"--pid-file={pid_file}",
        "--log-facility=-",
        f"--interface={iface}",
        "--bind-dynamic" if bind_dynamic else "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
    ]
    args += [f"--server={server}" for server in servers]
    if servers:  # reserved names stay in the lab: the behaviours of a scenario aim at them (scenarios.lab_bounds)
        args.append(f"--local=/{'/'.join(lab_bounds.RESERVED)}/")
    if CATCH_ALL not in dns_names and not servers:
        args.append("--local=/#/")
    for name, address in [*sorted(dns_names.items()), *sorted((dns_names6 or {}).items())]:
        args.append(f"--address=/{'#' if name == CATCH_ALL else name}/{address}")
    if dhcp_range is None:
        args.append(f"--no-dhcp-interface={iface}")
    else:
        start, end = dhcp_range
        args += [
            f"--dhcp-range={start},{end},{lease_time}",
            f"--dhcp-leasefile={lease_file}",
            f"--dhcp-lease-max={lease_max}",
            "--no-ping",
            "--dhcp-authoritative",
        ]
    return args + list(extra)


def dns_disabled(extra: Sequence[str]) -> bool:
    """True if the extra arguments turn DNS off (`--port=0`, as DHCP benchmarks do)."""
    return any(a in ("--port=0", "-p0") for a in extra) or any(
        a in ("--port", "-p") and b == "0" for a, b in itertools.pairwise(extra)
    )


def parse_leases(text: str, now: float | None = None) -> dict[str, tuple[str, str]]:
    """Live leases {mac: (ip, hostname)} from a dnsmasq lease file.

    A line is `EXPIRY MAC IP HOSTNAME CLIENT-ID` (`*` for no hostname, expiry 0 for infinite);
    dnsmasq rewrites the whole file on each change, so each address appears once. Expired lines
    (dnsmasq drops them lazily) and DHCPv6 lines are left out.
    """
    now = time.time() if now is None else now
    live: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] == "duid" or ":" in fields[2]:
            continue
        expiry = int(fields[0])
        if expiry != 0 and expiry <= now:
            continue
        live[fields[1].lower()] = (fields[2], "" if fields[3] == "*" else fields[3])
    return live
