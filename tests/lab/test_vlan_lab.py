"""VLANs against real dnsmasq servers: one per VLAN on the gateway's 802.1Q subinterfaces.

One emulator process, one raw socket on the trunk (`lab0`), four devices: VLAN 10 (priority 5),
VLAN 20, QinQ S-tag 100 / C-tag 30 (priority 3) and one untagged. Each must be served by its own
VLAN's dnsmasq only (its lease file, the ACK's server), answer the gateway's ping through its VLAN
subinterface, and the capture on each VLAN's subinterface must hold no frame of another VLAN's
device. tshark on the trunk shows the tags as the wire carries them (TPIDs, ids, priorities).
"""

from __future__ import annotations

import ipaddress
import select
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.layers.l2 import ARP, Ether

from iot_emulator import lab as iotlab
from iot_emulator.lab import netns, vlans
from tests.conftest import LabFactory
from tests.lab import fingerprint_capture
from tests.lab.emulator import Emulator, Message, in_lab
from tests.lab.fingerprint_capture import FullCapture

pytestmark = pytest.mark.lab

V10, V20, Q30 = vlans.Vlan(10), vlans.Vlan(20), vlans.Vlan(30, outer=100)
DEVICES = {  # name: (MAC, the spec's VLAN fields, its lab VLAN or None)
    "cam10": ("02:10:00:00:00:01", "vlan: 10, vlanPriority: 5, ", V10),
    "cam20": ("02:20:00:00:00:01", "vlan: 20, ", V20),
    "cam30": ("02:30:00:00:00:01", "vlan: 30, outerVlan: 100, vlanPriority: 3, ", Q30),
    "plain": ("02:40:00:00:00:01", "", None),
}


def sources(capture: fingerprint_capture.FullCapture) -> set[str]:
    return {row[0] for row in fingerprint_capture.decode(capture.pcap, "eth", ["eth.src"])}


def arp_answer(lab: iotlab.Lab, iface: str, sender_ip: str, target_ip: str, timeout: float = 1.5) -> str | None:
    """Broadcast an ARP who-has for `target_ip` from the gateway's `iface`; the MAC that answers, or None."""
    sock = netns.socket_in(lab.gw_netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    try:
        sock.bind((iface, 0))
        own = ":".join(f"{b:02x}" for b in sock.getsockname()[4])
        sock.send(bytes(Ether(src=own, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=own, psrc=sender_ip, pdst=target_ip)))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and select.select([sock], [], [], left)[0]:
            frame = Ether(sock.recv(65535))
            if ARP in frame and frame[ARP].op == 2 and frame[ARP].psrc == target_ip:
                return str(frame[ARP].hwsrc)
        return None
    finally:
        sock.close()


def bound(name: str, address: str) -> Callable[[Message], bool]:
    """A stats message saying the device holds its address (the RFC 5227 check is done)."""
    return lambda m: m["type"] == "stats" and m["device_id"] == name and m["stats"]["current_ip"] == address


def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "vlans.yaml"
    path.write_text(
        "".join(
            f"---\napiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {{name: {name}}}\n"
            f"spec: {{profile: sonoff-mini, mac: '{mac}', {fields}protocols: [arp, dhcp, icmp]}}\n"
            for name, (mac, fields, _vlan) in DEVICES.items()
        )
    )
    return path


def test_each_vlan_is_served_by_its_own_server_and_hears_no_other(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(vlans=(V10, V20, Q30))
    trunk = FullCapture(lab, tmp_path / "trunk.pcap")
    per_vlan = {v: FullCapture(lab, tmp_path / f"{v.label}.pcap", iface=v.iface(lab.gw_iface)) for v in (V10, V20, Q30)}
    args = [
        "run",
        "-f",
        str(manifest(tmp_path)),
        *in_lab(lab, tmp_path / "state"),
        "--stats-interval",
        "1",
    ]
    try:
        with Emulator(args) as emu:
            acks = {m["device_id"]: m for m in emu.wait_count("dhcp_ack", len(DEVICES), 30)}
            for name, (mac, _fields, vlan) in DEVICES.items():
                subnet, server = (vlan.subnet, vlan.gateway) if vlan else (lab.subnet, lab.gateway_ip)
                ack = acks[name]
                assert ipaddress.IPv4Address(ack["assigned_ip"]) in subnet, ack
                assert ack["server_id"] == str(server) and ack["router"] == str(server), ack
                leases = lab.vlan_leases(vlan) if vlan else lab.leases()
                assert set(leases) == {mac}, (name, leases)  # its server's lease file: it alone
                assert leases[mac][0] == ack["assigned_ip"]
                emu.wait_for(bound(name, ack["assigned_ip"]), 10, f"{name} bound")
                ping = lab.run_in_gw("ping", "-c", "1", "-W", "3", ack["assigned_ip"])  # ARP and echo, in the VLAN
                assert ping.returncode == 0, (name, ping.stdout, ping.stderr)
            # A broadcast on VLAN 20 (or untagged) for cam10's address: cam10 is on VLAN 10 and never hears it.
            cam10_ip, cam10_mac = acks["cam10"]["assigned_ip"], DEVICES["cam10"][0]
            assert arp_answer(lab, V10.iface(lab.gw_iface), str(V10.gateway), cam10_ip) == cam10_mac  # it answers
            assert arp_answer(lab, V20.iface(lab.gw_iface), str(V20.gateway), cam10_ip) is None
            assert arp_answer(lab, lab.gw_iface, str(lab.gateway_ip), cam10_ip) is None
            assert emu.stop() == 0
    finally:
        for capture in (trunk, *per_vlan.values()):
            capture.stop()
    macs = {name: mac for name, (mac, _f, _v) in DEVICES.items()}
    for vlan, capture in per_vlan.items():
        own = next(macs[n] for n, (_m, _f, v) in DEVICES.items() if v == vlan)
        heard = sources(capture) & set(macs.values())
        assert heard == {own}, (vlan, heard)  # its device's frames, no other VLAN's
    fields = ["eth.src", "eth.type", "ieee8021ad.id", "ieee8021ad.priority", "vlan.id", "vlan.priority", "vlan.etype"]
    seen: dict[str, set[tuple[str, ...]]] = {}
    for src, *tags in fingerprint_capture.decode(trunk.pcap, "eth", fields):
        seen.setdefault(src, set()).add(tuple(tags[:5]))  # the TPID after the MACs, S-tag id and PCP, C-tag's
    assert seen[macs["cam10"]] == {("0x8100", "", "", "10", "5")}
    assert seen[macs["cam20"]] == {("0x8100", "", "", "20", "0")}
    assert seen[macs["cam30"]] == {("0x88a8", "100", "3", "30", "3")}  # S-tag outside, C-tag inside
    assert seen[macs["plain"]] <= {("0x0800", "", "", "", ""), ("0x0806", "", "", "", "")}
