"""IPv6 against a real router: radvd in the gateway namespace advertises a prefix; the device takes its
link-local and SLAAC addresses, the gateway's kernel resolves it with Neighbor Discovery and pings it,
and tshark on the gateway sees the device's DAD probes, MLDv2 joins and Router Solicitations."""

from __future__ import annotations

import dataclasses
import ipaddress
import subprocess
from pathlib import Path

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.lab import netns
from iot_emulator.protocols.link import ipv6

from .fingerprint_capture import FullCapture, decode
from .servers import GwProcess, wait_until
from .test_probes import configs, probe_lab  # noqa: F401  (fixture)
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab

PREFIX = ipaddress.IPv6Network("fd00:1ab:6::/64")
GW_ADDRESS = "fd00:1ab:6::1"
RADVD_CONF = """interface {iface} {{
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 10;
    prefix {prefix} {{ AdvOnLink on; AdvAutonomous on; AdvValidLifetime 600; AdvPreferredLifetime 300; }};
}};
"""


def start_radvd(lab: iotlab.Lab, directory: Path) -> GwProcess:
    """IPv6 on the gateway's lab interface (the lab turns it off), an address in the prefix, then radvd."""
    iface = lab.gw_iface
    netns.sysctl_in(lab.gw_netns, {f"net.ipv6.conf.{iface}.accept_dad": "0",
                                   f"net.ipv6.conf.{iface}.disable_ipv6": "0",
                                   "net.ipv6.conf.all.forwarding": "1"})  # fmt: skip
    netns.ip(lab.gw_netns, "-6", "addr", "add", f"{GW_ADDRESS}/64", "dev", iface)
    wait_until(lambda: "fe80::" in lab.run_in_gw("ip", "-6", "addr", "show", "dev", iface).stdout, 10,
               "the gateway's link-local address")  # fmt: skip
    conf = directory / "radvd.conf"
    conf.write_text(RADVD_CONF.format(iface=iface, prefix=PREFIX))
    radvd = GwProcess(lab, ["radvd", "-n", "-m", "stderr", "-d", "1", "-C", str(conf),
                            "-p", str(directory / "radvd.pid")], directory / "radvd.log")  # fmt: skip

    def started() -> bool:
        radvd.check_alive("radvd")
        return (directory / "radvd.pid").exists()

    wait_until(started, 10, "radvd started")
    return radvd


def captured(pcap: Path, display_filter: str) -> bool:
    """The capture file, as written so far, holds a frame matching `display_filter`."""
    try:
        return bool(decode(pcap, display_filter, ["frame.number"]))
    except subprocess.CalledProcessError:  # read in the middle of a write
        return False


def test_device_gets_slaac_address_from_radvd_and_answers_the_gateway(probe_lab: iotlab.Lab, tmp_path: Path) -> None:  # noqa: F811
    [config] = configs(["hikvision-ds-2cd2042fwd"])
    config = dataclasses.replace(config, protocols=("arp", "dhcp", "ipv6"))
    mac = config.mac
    radvd = start_radvd(probe_lab, tmp_path)
    try:
        capture = FullCapture(probe_lab, tmp_path / "ipv6.pcap")
        try:
            emulator = EngineThread(probe_lab, [config])
            try:

                def global_address() -> str | None:
                    dev = emulator.engine.devices[0]
                    assert dev.ipv6 is not None
                    found = [a for a in dev.ipv6.slaac.usable() if ipaddress.IPv6Address(a) in PREFIX]
                    return ipv6.text(found[0]) if found else None

                address = emulator.wait(global_address, 30, "a SLAAC address from radvd's prefix")
                iid = ipaddress.IPv6Address(address).packed[8:]
                assert iid == ipv6.eui64(bytes.fromhex(mac.replace(":", "")))  # the profile says EUI-64
                ping = probe_lab.run_in_gw("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", address, timeout=20)
                assert ping.returncode == 0 and " 0% packet loss" in ping.stdout, ping.stdout + ping.stderr
                neighbours = probe_lab.run_in_gw("ip", "-6", "neigh", "show", "dev", probe_lab.gw_iface).stdout
                assert any(line.split()[0] == address and mac in line for line in neighbours.splitlines()), neighbours
                dev = emulator.engine.devices[0]
                link_local = emulator.call(lambda: dev.ipv6.slaac.link_local if dev.ipv6 else None)
                assert link_local is not None
                link_local_text = ipv6.text(link_local)
                scoped = f"{link_local_text}%{probe_lab.gw_iface}"
                ping_ll = probe_lab.run_in_gw("ping", "-6", "-c", "1", "-W", "2", scoped, timeout=20)
                assert ping_ll.returncode == 0, ping_ll.stdout + ping_ll.stderr
                wait_until(
                    lambda: captured(capture.pcap, f"icmpv6.type == 129 && ipv6.src == {link_local_text}"),
                    10,
                    "tshark to write the last echo reply",
                )  # it loses what it has not written when stopped
            finally:
                emulator.stop()
        finally:
            capture.stop()
    finally:
        radvd.stop()
    dad = decode(capture.pcap, f"eth.src == {mac} && icmpv6.type == 135 && ipv6.src == ::",
                 ["ipv6.dst", "ipv6.hlim", "icmpv6.nd.ns.target_address", "icmpv6.checksum.status"])  # fmt: skip
    targets = {row[2] for row in dad}
    assert targets == {link_local_text, address}, dad
    for row in dad:
        assert row[0] == ipv6.text(ipv6.solicited_node(ipaddress.IPv6Address(row[2]).packed)) and row[1] == "255"
        assert row[3] == "1", row  # tshark: checksum status 1, good
    solicitations = decode(capture.pcap, f"eth.src == {mac} && icmpv6.type == 133", ["ipv6.src", "icmpv6.opt.linkaddr"])
    assert solicitations and solicitations[0] == [link_local_text, mac], solicitations
    reports = decode(capture.pcap, f"eth.src == {mac} && icmpv6.type == 143",
                     ["ipv6.dst", "icmpv6.mldr.mar.record_type", "icmpv6.mldr.mar.multicast_address"])  # fmt: skip
    assert reports and reports[0][0] == "ff02::16" and reports[0][1] == "4", reports
    replies = decode(capture.pcap, f"eth.src == {mac} && icmpv6.type == 129", ["ipv6.src", "icmpv6.checksum.status"])
    assert [row for row in replies if row[0] == address] == [[address, "1"]] * 3, replies
