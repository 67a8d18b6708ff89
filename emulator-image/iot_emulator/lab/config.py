"""What a lab is made of, checked before anything is built: name, subnet and pool, server, leases, DNS names.

Validation happens when a `LabConfig` is made, so bad input (the CLI's exit code 2) never leaves
half a lab behind. The pool is the subnet minus a few reserved addresses at each end: the
gateway and room for lab services (fake clouds, NTP) that later tests add in the gateway namespace.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from iot_emulator.lab import dnsmasq, errors, ipv6, kea, vlans

DEFAULT_STATE_DIR = Path("/run/iotemu/labs")
DEFAULT_SUBNET = ipaddress.IPv4Network("10.77.0.0/20")
RESERVED_LOW = 9
"""Hosts kept out of the pool at the start of the subnet: the gateway (.1) and .2-.9 for lab services."""
RESERVED_HIGH = 4
"""Hosts kept out of the pool at the end of the subnet (10.77.15.251-254 in the default lab)."""
WAN_LINK = ipaddress.IPv4Network("100.64.0.0/30")
"""The link between the gateway (.1) and the lab internet's sink namespace (.2), from the shared
address space of RFC 6598, as a provider's access link would be."""
SINK_ADDRESS = ipaddress.IPv4Address("198.51.100.2")
"""Where the lab internet's servers answer and every cloud name points: off the LAN, behind the
gateway's route, so devices reach it through their default gateway as they reach a real cloud."""
WAN_LINK6 = ipaddress.IPv6Network("2001:db8:64::/64")
"""The same link's IPv6 network, in a lab with `--ipv6` and `--internet` (gateway ::1, sink ::2)."""
SINK_ADDRESS6 = ipaddress.IPv6Address("2001:db8:5100::2")
"""SINK_ADDRESS's IPv6 twin (`--ipv6 --internet`): every name's AAAA record, global-looking (RFC 3849's
documentation block) so that RFC 6724 ranks it above IPv4 (docs/ipv6.md)."""
DhcpServer = Literal["dnsmasq", "kea"]
SERVERS: tuple[DhcpServer, ...] = ("dnsmasq", "kea")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_IFACE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_-]{1,63})*\.?$")


def pool_range(subnet: ipaddress.IPv4Network) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """First and last address the DHCP server hands out (10.77.0.10-10.77.15.250 for 10.77.0.0/20)."""
    return subnet.network_address + 1 + RESERVED_LOW, subnet.broadcast_address - RESERVED_HIGH - 1


def pool_size(subnet: ipaddress.IPv4Network) -> int:
    start, end = pool_range(subnet)
    return int(end) - int(start) + 1


@dataclasses.dataclass(frozen=True)
class Upstream:
    """A real network the gateway routes the lab to (a branch router's WAN port) instead of the sink.

    The gateway gets a macvlan port of `iface` (its own MAC on that network) with a static address,
    a default route to `gateway` and source NAT; the lab's DNS forwards the names it does not map to
    `dns`. The host's own interfaces, addresses and routes are left as they are."""

    iface: str
    """The interface that reaches the upstream network (e.g. eth0); Ethernet-like (macvlan needs it)."""
    address: ipaddress.IPv4Interface
    """The gateway's WAN address on that network, with its prefix (e.g. 192.168.1.250/24): a free one."""
    gateway: ipaddress.IPv4Address
    """The upstream router (next hop of the lab's default route)."""
    dns: tuple[ipaddress.IPv4Address, ...] = ()
    """Resolvers the lab's DNS forwards to; empty means the upstream router."""
    netns: str | None = None
    """The namespace that holds `iface`; None is the host's own. Tests set it to a namespace they made."""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "address", ipaddress.IPv4Interface(self.address))
            object.__setattr__(self, "gateway", ipaddress.IPv4Address(self.gateway))
            object.__setattr__(self, "dns", tuple(ipaddress.IPv4Address(a) for a in self.dns))
        except ValueError as exc:
            raise errors.LabConfigError(f"upstream: {exc}") from exc
        if not _IFACE.match(self.iface):
            raise errors.LabConfigError(f"upstream: invalid interface name {self.iface!r}")
        if self.gateway not in self.address.network or self.gateway == self.address.ip:
            raise errors.LabConfigError(
                f"upstream: the router {self.gateway} must be another address of {self.address.network}"
            )

    @property
    def resolvers(self) -> tuple[ipaddress.IPv4Address, ...]:
        return self.dns or (self.gateway,)

    def to_json(self) -> dict[str, Any]:
        return {
            "iface": self.iface,
            "address": str(self.address),
            "gateway": str(self.gateway),
            "dns": [str(a) for a in self.dns],
            "netns": self.netns,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Upstream:
        return cls(
            iface=data["iface"],
            address=ipaddress.IPv4Interface(data["address"]),
            gateway=ipaddress.IPv4Address(data["gateway"]),
            dns=tuple(ipaddress.IPv4Address(a) for a in data["dns"]),
            netns=data.get("netns"),
        )


@dataclasses.dataclass(frozen=True)
class LabConfig:
    """What to build. Invalid values raise LabConfigError when the object is made."""

    name: str | None = None
    """Lab name (lowercase letters, digits, '-'; up to 32); None picks "iotlab" + 6 random hex digits."""
    subnet: ipaddress.IPv4Network = DEFAULT_SUBNET
    """The lab LAN; the gateway is its first host. /27 at the smallest."""
    dhcp_server: DhcpServer = "dnsmasq"
    """DHCP implementation; with "kea", dnsmasq still answers DNS (and only DNS)."""
    lease_time: int = 43200
    """Lease time in seconds (dnsmasq: 120 at least; Kea: 4 at least, for renewal tests)."""
    dns_names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Name -> IPv4 address served by the lab's DNS (subdomains included); key "*" catches every
    other name, otherwise unknown names are NXDOMAIN."""
    state_dir: Path = DEFAULT_STATE_DIR
    """Where the lab's JSON record lives; tests use a temporary directory."""
    internet: bool = False
    """Give the lab an internet (`lab.internet`): every name not in `dns_names` resolves to
    SINK_ADDRESS, in a namespace of its own behind the gateway, where real servers answer."""
    upstream: Upstream | None = None
    """Route the lab to a real network instead (`lab.wan`); excludes `internet`."""
    dnsmasq_extra: tuple[str, ...] = ()
    """Extra dnsmasq arguments, appended last (with Kea, to the DNS-only dnsmasq). Benchmarks use
    "--port=0" (no DNS: dnsmasq's DHCP is ~6x faster at 2,000 leases), "--leasefile-ro" (then
    `Lab.leases()` stays empty) and "--quiet-dhcp"; "--dhcp-broadcast" for big fleets, see `core`."""
    vlans: tuple[vlans.Vlan, ...] = ()
    """VLANs the gateway serves on the trunk, each with its own subnet and dnsmasq (`lab.vlans`)."""
    ipv6: ipv6.Mode | None = None
    """The gateway as an IPv6 router of `ipv6.PREFIX` (`lab.ipv6`): "slaac" (radvd), "dhcpv6"
    (dnsmasq: RAs with the M flag, leases), "kea" (radvd with M + kea-dhcp6 leases, `lease_time` as
    their lifetime) or "kea-stateless" (radvd with O + kea-dhcp6 options); None: no IPv6 on the lab link."""

    def __post_init__(self) -> None:
        # Accept the spellings a CLI or YAML produces, store the canonical ones.
        if isinstance(self.subnet, str):
            object.__setattr__(self, "subnet", parse_subnet(self.subnet))
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        object.__setattr__(self, "dnsmasq_extra", tuple(self.dnsmasq_extra))
        object.__setattr__(self, "dns_names", MappingProxyType(dict(self.dns_names)))
        object.__setattr__(self, "vlans", tuple(sorted(self.vlans, key=lambda v: (v.vid, v.outer or 0))))
        problems = _problems(self)
        if problems:
            raise errors.LabConfigError("; ".join(problems))

    def __hash__(self) -> int:  # dns_names is a mapping; hash its items
        return hash(
            (
                self.name,
                self.subnet,
                self.dhcp_server,
                self.lease_time,
                tuple(sorted(self.dns_names.items())),
                self.state_dir,
                self.dnsmasq_extra,
                self.internet,
                self.upstream,
                self.vlans,
                self.ipv6,
            )
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subnet": str(self.subnet),
            "dhcp_server": self.dhcp_server,
            "lease_time": self.lease_time,
            "dns_names": dict(self.dns_names),
            "state_dir": str(self.state_dir),
            "dnsmasq_extra": list(self.dnsmasq_extra),
            "internet": self.internet,
            "upstream": self.upstream.to_json() if self.upstream else None,
            "vlans": [str(v) for v in self.vlans],
            "ipv6": self.ipv6,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabConfig:
        return cls(
            name=data["name"],
            subnet=ipaddress.IPv4Network(data["subnet"]),
            dhcp_server=data["dhcp_server"],
            lease_time=int(data["lease_time"]),
            dns_names=dict(data["dns_names"]),
            state_dir=Path(data["state_dir"]),
            dnsmasq_extra=tuple(data["dnsmasq_extra"]),
            internet=bool(data.get("internet", False)),
            upstream=Upstream.from_json(data["upstream"]) if data.get("upstream") else None,
            vlans=tuple(vlans.Vlan.parse(v) for v in data.get("vlans", ())),
            ipv6=data.get("ipv6"),
        )


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """An IPv4 network from its CIDR text, or LabConfigError saying what is wrong."""
    try:
        return ipaddress.IPv4Network(text)
    except ValueError as exc:
        raise errors.LabConfigError(f"invalid subnet {text!r}: {exc} (expected e.g. 10.77.0.0/20)") from exc


def _problems(config: LabConfig) -> list[str]:
    problems = []
    if config.name is not None and not _NAME.match(config.name):
        problems.append(f"invalid lab name {config.name!r}: use 1-32 lowercase letters, digits and '-'")
    if not isinstance(config.subnet, ipaddress.IPv4Network):
        problems.append(f"subnet must be an IPv4 network, not {config.subnet!r}")
    elif config.subnet.prefixlen > 27:
        problems.append(f"subnet {config.subnet} is too small: a lab needs a /27 or larger")
    if config.dhcp_server not in SERVERS:
        problems.append(f"unknown DHCP server {config.dhcp_server!r}: choose dnsmasq or kea")
    floor = kea.MIN_LEASE_TIME if config.dhcp_server == "kea" else dnsmasq.MIN_LEASE_TIME
    if not isinstance(config.lease_time, int) or not floor <= config.lease_time < 2**31:
        hint = " (use --dhcp-server kea for shorter leases)" if config.dhcp_server == "dnsmasq" else ""
        problems.append(f"lease time {config.lease_time!r} s: {config.dhcp_server} needs {floor} s at least{hint}")
    if config.internet and config.upstream is not None:
        problems.append("a lab has either an internet (the sink) or an upstream, not both")
    if isinstance(config.subnet, ipaddress.IPv4Network):
        wan = config.upstream.address.network if config.upstream else WAN_LINK
        taken = [wan, ipaddress.IPv4Network(SINK_ADDRESS)] if config.internet else [wan] if config.upstream else []
        for net in taken:
            if config.subnet.overlaps(net):
                problems.append(f"subnet {config.subnet} overlaps {net}, which the lab's WAN side uses")
    if isinstance(config.subnet, ipaddress.IPv4Network):
        problems.extend(vlans.check(config.vlans, config.subnet))
    if config.ipv6 is not None and config.ipv6 not in ipv6.MODES:
        problems.append(f"ipv6: {config.ipv6!r} is not one of {', '.join(ipv6.MODES)}")
    for name, address in config.dns_names.items():
        if name != dnsmasq.CATCH_ALL and not _DNS_NAME.match(name):
            problems.append(f"invalid DNS name {name!r}")
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            problems.append(f"DNS name {name!r} maps to {address!r}, not an IPv4 address")
    return problems
