"""The lab's IPv6 router (`iotemu lab up --ipv6 [slaac|dhcpv6]`): the gateway advertises a prefix.

The lab turns IPv6 off in its namespaces (a device that does not speak it must see none); with
`--ipv6` the gateway's lab interface gets it back, with the first address of PREFIX, and:

- `slaac`: radvd (Debian's) sends Router Advertisements with PREFIX as an autonomous on-link prefix
  (the A flag): devices form their own addresses (SLAAC).
- `dhcpv6`: dnsmasq sends Router Advertisements with the M flag (addresses come from DHCPv6) and
  leases addresses of PREFIX from its upper half (`leases6` in the lab's directory).

radvd answers Router Solicitations with multicast (`AdvRASolicitedUnicast off`): a unicast answer
makes the gateway resolve every device's link-local address, and the kernel's IPv6 neighbour table
(1,024 entries, shared by every namespace) overflows past ~1,000 devices (2,000 devices took 40-57 s
instead of 7 s to get their SLAAC address; see docs/ipv6.md).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from iot_emulator.lab import netns

Mode = Literal["slaac", "dhcpv6"]
MODES: tuple[Mode, ...] = ("slaac", "dhcpv6")
PREFIX = ipaddress.IPv6Network("fd00:1ab:6::/64")
"""A unique local prefix (RFC 4193): never routed, the same in every lab (each lab is its own network)."""
GATEWAY = PREFIX.network_address + 1
DHCPV6_RANGE = (PREFIX.network_address + 0x1000, PREFIX.network_address + 0xFFFF)
"""What dnsmasq leases in `dhcpv6` mode (up to 61,439 devices)."""
ADVERT_INTERVAL = (3, 10)
"""Seconds between unsolicited Router Advertisements (min, max): short, so a lab converges fast."""

RADVD_CONF = """interface {iface} {{
    AdvSendAdvert on;
    AdvRASolicitedUnicast off;
    MinRtrAdvInterval {min_interval};
    MaxRtrAdvInterval {max_interval};
    prefix {prefix} {{ AdvOnLink on; AdvAutonomous on; AdvValidLifetime 600; AdvPreferredLifetime 300; }};
}};
"""


def enable(gw_netns: str, iface: str) -> None:
    """IPv6 back on the gateway's lab interface, with GATEWAY/64 (its link-local comes by itself)."""
    netns.sysctl_in(
        gw_netns,
        {
            f"net.ipv6.conf.{iface}.disable_ipv6": "0",
            f"net.ipv6.conf.{iface}.accept_dad": "0",  # the lab owns the prefix: no wait before advertising
            "net.ipv6.conf.all.forwarding": "1",  # a router: radvd refuses to advertise otherwise
        },
    )
    netns.ip(gw_netns, "-6", "addr", "add", f"{GATEWAY}/{PREFIX.prefixlen}", "dev", iface)


def radvd_argv(iface: str, directory: Path) -> tuple[list[str], Path]:
    """radvd in the foreground with its configuration written to `directory`; (argv, its pid file)."""
    conf, pid = directory / "radvd.conf", directory / "radvd.pid"
    low, high = ADVERT_INTERVAL
    conf.write_text(RADVD_CONF.format(iface=iface, prefix=PREFIX, min_interval=low, max_interval=high))
    return ["radvd", "-n", "-m", "stderr", "-C", str(conf), "-p", str(pid)], pid


def dnsmasq_argv(iface: str, directory: Path, lease_time: int) -> list[str]:
    """dnsmasq as the IPv6 router (RAs with the M flag) and DHCPv6 server of PREFIX; no DNS, no DHCPv4."""
    first, last = DHCPV6_RANGE
    return [
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        f"--interface={iface}",
        "--enable-ra",
        f"--ra-param={iface},{ADVERT_INTERVAL[1]}",
        f"--dhcp-range={first},{last},{PREFIX.prefixlen},{lease_time}",
        f"--dhcp-leasefile={directory / 'leases6'}",
        f"--pid-file={directory / 'dnsmasq6.pid'}",
        "--log-dhcp",
    ]


def dhcpv6_started(log: Path) -> bool:
    return "DHCPv6, IP range" in log.read_text(errors="replace")
