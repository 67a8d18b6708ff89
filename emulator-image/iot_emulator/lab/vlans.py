"""The lab's VLANs: per VLAN a gateway interface, a subnet and a dnsmasq (DHCP + DNS) of its own.

`iotemu lab up --vlan 10 --vlan 20` makes the veth a trunk, as a VLAN-aware switch port would be:
a switch (`vlan_switch`, in the gateway namespace) forwards frames tagged 10 from `gw0` to the
access port `sw10`, untagged, and frames from that port back onto the trunk tagged 10. The other
end of that port's veth, `gw0.10`, holds the first address of VLAN 10's subnet and its own dnsmasq,
so a device tagged 10 is served by VLAN 10's server only, and broadcasts stay in their VLAN.
Untagged frames still reach the lab's own server on `gw0`.

A QinQ VLAN (`--vlan 100.30`: S-tag 100, C-tag 30) is served on `gw0.100.30`; the switch matches
and puts back both tags (802.1ad S-tag outside the 802.1Q C-tag), as a provider bridge hands a
customer VLAN over.

Subnets come from the VLAN id, so they are easy to guess: VLAN v is 172.(16 + v // 256).(v % 256).0/24
in 172.16.0.0/12 (VLAN 10: 172.16.10.0/24, gateway 172.16.10.1); the lab's VLANs therefore need
distinct C-tag ids.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from iot_emulator.lab import dnsmasq, errors, netns

MAX_VLANS = 32
"""A lab's VLANs at most: each runs a dnsmasq of its own."""
VLAN_BLOCK = ipaddress.IPv4Network("172.16.0.0/12")
_SPEC = re.compile(r"^(?:(\d{1,4})\.)?(\d{1,4})$")


@dataclasses.dataclass(frozen=True)
class Vlan:
    """One lab VLAN: its C-tag id and, for QinQ, the S-tag id outside it."""

    vid: int
    outer: int | None = None

    def __post_init__(self) -> None:
        for what, value in (("VLAN id", self.vid), ("outer VLAN id", self.outer)):
            if value is not None and not 1 <= value <= 4094:
                raise errors.LabConfigError(f"--vlan: {what} {value} is not in 1-4094")

    @classmethod
    def parse(cls, text: str) -> Vlan:
        """`10` (802.1Q) or `100.30` (QinQ: S-tag 100, C-tag 30)."""
        match = _SPEC.match(text.strip())
        if match is None:
            raise errors.LabConfigError(f"--vlan {text!r}: expected an id (10) or S-tag.C-tag (100.30)")
        outer, vid = match.groups()
        return cls(int(vid), int(outer) if outer else None)

    def __str__(self) -> str:
        return f"{self.outer}.{self.vid}" if self.outer else str(self.vid)

    @property
    def label(self) -> str:
        """A name for its files and server role: `vlan10`, `vlan100-30`."""
        return f"vlan{self.outer}-{self.vid}" if self.outer else f"vlan{self.vid}"

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network((int(VLAN_BLOCK.network_address) + (self.vid << 8), 24))

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1

    def iface(self, trunk: str) -> str:
        """The gateway's interface in this VLAN (gw0.10, gw0.100.30): its address, its dnsmasq."""
        return f"{trunk}.{self}"

    @property
    def port(self) -> str:
        """The switch's access port for this VLAN (sw10, sw100-30), the other end of `iface`'s veth."""
        return "sw" + self.label.removeprefix("vlan")

    def lease_file(self, directory: Path) -> Path:
        return directory / f"leases-{self.label}"


def check(vlans: Iterable[Vlan], lab_subnet: ipaddress.IPv4Network) -> list[str]:
    """What is wrong with a lab's VLAN list (empty: nothing)."""
    vlans = list(vlans)
    problems = []
    if len(vlans) > MAX_VLANS:
        problems.append(f"--vlan: {len(vlans)} VLANs, at most {MAX_VLANS}")
    vids = [v.vid for v in vlans]
    if len(set(vids)) != len(vids):
        problems.append("--vlan: each VLAN needs its own id (the C-tag picks its subnet)")
    if vlans and lab_subnet.overlaps(VLAN_BLOCK):
        problems.append(f"subnet {lab_subnet} overlaps {VLAN_BLOCK}, where the lab's VLAN subnets are")
    return problems


def build(gw_ns: str, vlans: Iterable[Vlan], trunk: str) -> None:
    """Each VLAN's veth pair in the gateway namespace: its switch port and its addressed interface."""
    for vlan in vlans:
        iface = vlan.iface(trunk)
        netns.ip(gw_ns, "link", "add", vlan.port, "type", "veth", "peer", "name", iface)
        netns.ip(gw_ns, "addr", "add", f"{vlan.gateway}/24", "dev", iface)
        # As on the trunk (build._build_network): no partial UDP checksums in the frames dnsmasq sends.
        netns.run(netns.exec_argv(gw_ns, ["ethtool", "-K", iface, "tx", "off"]))
        netns.ip(gw_ns, "link", "set", vlan.port, "up")
        netns.ip(gw_ns, "link", "set", iface, "up")
        netns.wait_running(gw_ns, iface)


def switch_argv(vlans: Iterable[Vlan], trunk: str) -> list[str]:
    """The command line of the lab's VLAN switch (`vlan_switch`)."""
    ports = [f"--port={vlan}={vlan.port}" for vlan in vlans]
    return [sys.executable, "-m", "iot_emulator.lab.vlan_switch", f"--trunk={trunk}", *ports]


def dnsmasq_argv(
    vlan: Vlan, trunk: str, directory: Path, *, lease_time: int, dns_names: dict[str, str], extra: tuple[str, ...]
) -> list[str]:
    """The command line of the VLAN's own dnsmasq: DHCP for its subnet and DNS, on its subinterface only."""
    subnet = vlan.subnet
    return dnsmasq.argv(
        iface=vlan.iface(trunk),
        pid_file=directory / f"dnsmasq-{vlan.label}.pid",
        dns_names=dns_names,
        dhcp_range=(subnet.network_address + 10, subnet.broadcast_address - 5),
        lease_time=lease_time,
        lease_file=vlan.lease_file(directory),
        lease_max=subnet.num_addresses,
        extra=("--except-interface=lo", *extra),  # the lab's own dnsmasq holds the loopback's port 53
    )
