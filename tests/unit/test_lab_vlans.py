"""The lab's VLANs without a lab: `--vlan` parsed and checked, subnets from the id, the record round
trip, each VLAN's dnsmasq command line, and the VLAN switch's forwarding (tests/lab/test_vlan_lab.py
runs it all for real)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from iot_emulator import cli
from iot_emulator.lab import commands, config, errors, vlan_switch, vlans
from iot_emulator.protocols.link import vlan_tag


def lab_config(*args: str) -> config.LabConfig:
    return commands._lab_config(cli.command_parser().parse_args(["lab", "up", *args]))


def test_vlans_from_the_command_line_round_trip_through_the_record() -> None:
    made = lab_config("--vlan", "20", "--vlan", "10", "--vlan", "100.30")
    assert made.vlans == (vlans.Vlan(10), vlans.Vlan(20), vlans.Vlan(30, 100))
    assert config.LabConfig.from_json(made.to_json()) == made
    v10, qinq = vlans.Vlan(10), vlans.Vlan(30, 100)
    assert v10.subnet == ipaddress.IPv4Network("172.16.10.0/24") and v10.gateway == ipaddress.IPv4Address("172.16.10.1")
    assert vlans.Vlan(4094).subnet == ipaddress.IPv4Network("172.31.254.0/24")  # the last of 172.16.0.0/12
    assert (v10.iface("gw0"), v10.port, qinq.iface("gw0"), qinq.port) == ("gw0.10", "sw10", "gw0.100.30", "sw100-30")
    assert len(vlans.Vlan(4094, 4094).port) <= 15 and len(vlans.Vlan(4094, 4094).iface("gw0")) <= 15  # IFNAMSIZ


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vlan", "4095"], "VLAN id 4095 is not in 1-4094"),
        (["--vlan", "0"], "VLAN id 0 is not in 1-4094"),
        (["--vlan", "5000.10"], "outer VLAN id 5000"),
        (["--vlan", "ten"], "expected an id"),
        (["--vlan", "10", "--vlan", "100.10"], "its own id"),
        (["--vlan", "10", "--subnet", "172.16.0.0/16"], "overlaps 172.16.0.0/12"),
    ],
)
def test_bad_vlans_are_refused(args: list[str], message: str) -> None:
    with pytest.raises(errors.LabConfigError, match=message):
        lab_config(*args)


def test_each_vlan_dnsmasq_serves_its_own_subnet_on_its_own_interface(tmp_path: Path) -> None:
    argv = vlans.dnsmasq_argv(vlans.Vlan(20), "gw0", tmp_path, lease_time=600, dns_names={}, extra=("--port=0",))
    assert "--interface=gw0.20" in argv and "--except-interface=lo" in argv
    assert "--dhcp-range=172.16.20.10,172.16.20.250,600" in argv
    assert f"--dhcp-leasefile={tmp_path / 'leases-vlan20'}" in argv and argv[-1] == "--port=0"
    switch = vlans.switch_argv([vlans.Vlan(10), vlans.Vlan(30, 100)], "gw0")
    assert switch[-3:] == ["--trunk=gw0", "--port=10=sw10", "--port=100.30=sw100-30"]


class Port:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)


def test_the_switch_forwards_each_vlan_to_its_port_and_back_with_its_tags() -> None:
    trunk, p10, p30 = Port(), Port(), Port()
    switch = vlan_switch.Switch(trunk, {(0, 10): p10, (100, 30): p30})  # type: ignore[dict-item, arg-type]
    frame = bytes(Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / IP() / UDP())
    switch.from_trunk(vlan_tag.push(frame, vlan_tag.header(10, 5)))
    switch.from_trunk(vlan_tag.push(frame, vlan_tag.header(30, 0, 100)))
    switch.from_trunk(vlan_tag.push(frame, vlan_tag.header(20)))  # no port: dropped
    switch.from_trunk(vlan_tag.push(frame, vlan_tag.header(30)))  # C-tag 30 without the S-tag: dropped
    switch.from_trunk(frame)  # untagged: the gateway's own LAN, not the switch's
    assert p10.sent == [frame] and p30.sent == [frame] and trunk.sent == []
    switch.from_port((100, 30), frame)
    switch.from_port((0, 10), vlan_tag.push(frame, vlan_tag.header(20)))  # tagged on an access port
    assert trunk.sent == [vlan_tag.push(frame, vlan_tag.header(30, 0, 100))]
