"""The lab's IPv6 router (`iotemu lab up --ipv6 [slaac|dhcpv6|kea|kea-stateless]`): the gateway advertises a prefix.

The lab turns IPv6 off in its namespaces (a device that does not speak it must see none); with
`--ipv6` the gateway's lab interface gets it back, with the first address of PREFIX, and:

- `slaac`: radvd (Debian's) sends Router Advertisements with PREFIX as an autonomous on-link prefix
  (the A flag): devices form their own addresses (SLAAC).
- `dhcpv6`: dnsmasq sends Router Advertisements with the M flag (addresses come from DHCPv6) and
  leases addresses of PREFIX from its upper half (`leases6` in the lab's directory).
- `kea`: radvd sends RAs with the M flag and a prefix without the A flag (addresses only from DHCPv6),
  and Kea's kea-dhcp6 (`lab.kea6`) leases the same range.
- `kea-stateless`: radvd sends RAs with the O flag and the A flag (SLAAC addresses), and kea-dhcp6
  answers devices' INFORMATION-REQUESTs with the gateway as DNS server (stateless DHCPv6, RFC 8415 6.1).

With `--internet` too, the prefix is INTERNET_PREFIX (2001:db8:1ab:6::/64) instead of the unique local
PREFIX, so that the devices (and real hosts) prefer the sink's AAAA to its A record (RFC 6724).

radvd's RAs also name the gateway as DNS server (RDNSS, RFC 8106; dnsmasq answers there), which devices
whose OS reads them use after their DHCPv4 lease's (profile field `ipv6.rdnss`).

radvd answers Router Solicitations with multicast (`AdvRASolicitedUnicast off`): a unicast answer
makes the gateway resolve every device's link-local address, and the kernel's IPv6 neighbour table
(1,024 entries, shared by every namespace) overflows past ~1,000 devices (2,000 devices took 40-57 s
instead of 7 s to get their SLAAC address; see docs/ipv6.md).
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from typing import Literal

from iot_emulator.lab import errors, netns

Mode = Literal["slaac", "dhcpv6", "kea", "kea-stateless"]
MODES: tuple[Mode, ...] = ("slaac", "dhcpv6", "kea", "kea-stateless")
KEA_MODES: tuple[Mode, ...] = ("kea", "kea-stateless")
PREFIX = ipaddress.IPv6Network("fd00:1ab:6::/64")
"""A unique local prefix (RFC 4193): never routed, the same in every lab (each lab is its own network)."""
GATEWAY = PREFIX.network_address + 1
DHCPV6_RANGE = (PREFIX.network_address + 0x1000, PREFIX.network_address + 0xFFFF)
"""What dnsmasq (`dhcpv6` mode) or Kea (`kea` mode) leases: up to 61,439 devices."""
INTERNET_PREFIX = ipaddress.IPv6Network("2001:db8:1ab:6::/64")
"""The LAN prefix of a lab with an internet (`--ipv6 --internet`): global-looking, so that real hosts
prefer IPv6 to IPv4 for a name with both records. It is from the documentation block 2001:db8::/32
(RFC 3849), which RFC 6724's default policy table matches only with ::/0 (precedence 40, label 1; the
2001::/32 row is Teredo's 2001:0::/32), above IPv4's ::ffff:0:0/96 (35). With the unique local PREFIX
(fc00::/7: precedence 3, label 13) a host picks IPv4 instead, and a ULA source would not even match a
global destination's label (rule 5)."""


def prefix_for(internet: bool) -> ipaddress.IPv6Network:
    """The lab LAN's prefix: INTERNET_PREFIX when the lab has an internet, the unique local PREFIX otherwise."""
    return INTERNET_PREFIX if internet else PREFIX


def gateway_of(prefix: ipaddress.IPv6Network) -> ipaddress.IPv6Address:
    return prefix.network_address + 1


def dhcpv6_range(prefix: ipaddress.IPv6Network) -> tuple[ipaddress.IPv6Address, ipaddress.IPv6Address]:
    return prefix.network_address + 0x1000, prefix.network_address + 0xFFFF


ADVERT_INTERVAL = (3, 10)
"""Seconds between unsolicited Router Advertisements (min, max): short, so a lab converges fast."""

RADVD_CONF = """interface {iface} {{
    AdvSendAdvert on;
    AdvRASolicitedUnicast off;
    AdvManagedFlag {managed};
    AdvOtherConfigFlag {other};
    MinRtrAdvInterval {min_interval};
    MaxRtrAdvInterval {max_interval};
    prefix {prefix} {{ AdvOnLink on; AdvAutonomous {autonomous}; AdvValidLifetime 600; AdvPreferredLifetime 300; }};
    RDNSS {gateway} {{ AdvRDNSSLifetime 600; }};
}};
"""
RA_FLAGS: dict[Mode, tuple[bool, bool, bool]] = {
    "slaac": (False, False, True),
    "kea": (True, True, False),
    "kea-stateless": (False, True, True),
}
"""radvd's flags per mode: (M: addresses from DHCPv6, O: other options from DHCPv6, A: SLAAC from the prefix)."""


def enable(gw_netns: str, iface: str, prefix: ipaddress.IPv6Network = PREFIX) -> None:
    """IPv6 back on the gateway's lab interface, with the prefix's first address (its link-local comes by itself)."""
    netns.sysctl_in(
        gw_netns,
        {
            f"net.ipv6.conf.{iface}.disable_ipv6": "0",
            f"net.ipv6.conf.{iface}.accept_dad": "0",  # the lab owns the prefix: no wait before advertising
            "net.ipv6.conf.all.forwarding": "1",  # a router: radvd refuses to advertise otherwise
        },
    )
    netns.ip(gw_netns, "-6", "addr", "add", f"{gateway_of(prefix)}/{prefix.prefixlen}", "dev", iface)


_IFA_F_TENTATIVE = 0x40
"""/proc/net/if_inet6's flag for an address still under DAD (linux/if_addr.h)."""


def wait_link_local(gw_netns: str, iface: str, *, timeout: float = 5.0) -> None:
    """Return once `iface` holds a usable (not tentative) link-local address: Kea binds its DHCPv6
    socket to it at start and, without one, serves nothing (measured: DHCPSRV_OPEN_SOCKET_FAIL when
    it started right after IPv6 was turned on)."""

    def ready() -> bool:
        for line in Path("/proc/thread-self/net/if_inet6").read_text().splitlines():
            address, _index, _plen, _scope, flags, name = line.split()
            if name == iface and address.startswith("fe80") and not int(flags, 16) & _IFA_F_TENTATIVE:
                return True
        return False

    deadline = time.monotonic() + timeout
    while not netns.call_in(gw_netns, ready):
        if time.monotonic() > deadline:
            raise errors.LabError(f"{iface} in {gw_netns} has no link-local IPv6 address after {timeout:g} s")
        time.sleep(0.01)


def radvd_argv(
    iface: str, directory: Path, mode: Mode = "slaac", prefix: ipaddress.IPv6Network = PREFIX
) -> tuple[list[str], Path]:
    """radvd in the foreground with its configuration written to `directory`; (argv, its pid file)."""
    conf, pid = directory / "radvd.conf", directory / "radvd.pid"
    low, high = ADVERT_INTERVAL
    managed, other, autonomous = (("on" if flag else "off") for flag in RA_FLAGS[mode])
    conf.write_text(
        RADVD_CONF.format(
            iface=iface,
            prefix=prefix,
            gateway=gateway_of(prefix),
            min_interval=low,
            max_interval=high,
            managed=managed,
            other=other,
            autonomous=autonomous,
        )
    )
    return ["radvd", "-n", "-m", "stderr", "-C", str(conf), "-p", str(pid)], pid


def dnsmasq_argv(iface: str, directory: Path, lease_time: int, prefix: ipaddress.IPv6Network = PREFIX) -> list[str]:
    """dnsmasq as the IPv6 router (RAs with the M flag) and DHCPv6 server of `prefix`; no DNS, no DHCPv4."""
    first, last = dhcpv6_range(prefix)
    return [
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        f"--interface={iface}",
        "--enable-ra",
        f"--ra-param={iface},{ADVERT_INTERVAL[1]}",
        f"--dhcp-range={first},{last},{prefix.prefixlen},{lease_time}",
        f"--dhcp-leasefile={directory / 'leases6'}",
        f"--pid-file={directory / 'dnsmasq6.pid'}",
        "--log-dhcp",
    ]


def dhcpv6_started(log: Path) -> bool:
    return "DHCPv6, IP range" in log.read_text(errors="replace")
