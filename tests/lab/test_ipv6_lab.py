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
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import ipv6
from tests import poll

from .fingerprint_capture import FullCapture, decode
from .servers import GwProcess
from .test_probes import configs, probe_lab  # noqa: F401  (fixture)
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab

PREFIX = ipaddress.IPv6Network("fd00:1ab:6::/64")
# AdvRASolicitedUnicast off: radvd 2.19 answers each RS with a unicast RA (RFC 7772), which makes the
# gateway resolve every device's link-local address; its IPv6 neighbour table (gc_thresh3 1024, shared by
# all namespaces) then overflows past ~1,000 devices and 2,000 take 40-57 s instead of 7 s to get SLAAC.
GW_ADDRESS = "fd00:1ab:6::1"
RADVD_CONF = """interface {iface} {{
    AdvSendAdvert on;
    AdvRASolicitedUnicast off;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 10;
    prefix {prefix} {{ AdvOnLink on; AdvAutonomous on; AdvValidLifetime 600; AdvPreferredLifetime 300; }};
}};
"""


def enable_ipv6(lab: iotlab.Lab, address: str) -> None:
    """IPv6 on the gateway's lab interface (the lab turns it off), with `address`/64 and its link-local."""
    iface = lab.gw_iface
    netns.sysctl_in(lab.gw_netns, {f"net.ipv6.conf.{iface}.accept_dad": "0",
                                   f"net.ipv6.conf.{iface}.disable_ipv6": "0",
                                   "net.ipv6.conf.all.forwarding": "1"})  # fmt: skip
    netns.ip(lab.gw_netns, "-6", "addr", "add", f"{address}/64", "dev", iface)
    poll.until(lambda: "fe80::" in lab.run_in_gw("ip", "-6", "addr", "show", "dev", iface).stdout, 10,
               "the gateway's link-local address")  # fmt: skip


def start_radvd(lab: iotlab.Lab, directory: Path) -> GwProcess:
    """radvd advertising PREFIX (SLAAC: A flag) on the gateway's lab interface."""
    iface = lab.gw_iface
    enable_ipv6(lab, GW_ADDRESS)
    conf = directory / "radvd.conf"
    conf.write_text(RADVD_CONF.format(iface=iface, prefix=PREFIX))
    radvd = GwProcess(lab, ["radvd", "-n", "-m", "stderr", "-d", "1", "-C", str(conf),
                            "-p", str(directory / "radvd.pid")], directory / "radvd.log")  # fmt: skip

    def started() -> bool:
        radvd.check_alive("radvd")
        return (directory / "radvd.pid").exists()

    poll.until(started, 10, "radvd started")
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
                everyone = probe_lab.run_in_gw("ping", "-6", "-c", "2", "-w", "3", f"ff02::1%{probe_lab.gw_iface}",
                                               timeout=20)  # fmt: skip
                assert f"from {link_local_text}" in everyone.stdout, everyone.stdout  # all-nodes echo answered
                poll.until(
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


MANAGED = ipaddress.IPv6Network("fd00:1ab:7::/64")
DHCP6_PROFILE = catalog.Dhcpv6(duid_type=catalog.DuidType.ll, option_request=[23, 24], enterprise_number=50416,
                               vendor_class="hikvision-ipc")  # fmt: skip


def start_dnsmasq_v6(lab: iotlab.Lab, directory: Path) -> GwProcess:
    """dnsmasq as an IPv6 router and DHCPv6 server: RAs with the M flag (no A flag), leases from MANAGED."""
    enable_ipv6(lab, str(MANAGED.network_address + 1))
    pid = directory / "dnsmasq6.pid"
    argv = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", f"--interface={lab.gw_iface}",
            "--enable-ra", f"--ra-param={lab.gw_iface},3", f"--dhcp-range={MANAGED.network_address + 0x100},"
            f"{MANAGED.network_address + 0x1FF},64,600", f"--dhcp-leasefile={directory / 'leases6'}",
            f"--pid-file={pid}", "--log-dhcp"]  # fmt: skip
    server = GwProcess(lab, argv, directory / "dnsmasq6.log")

    def started() -> bool:
        server.check_alive("dnsmasq (DHCPv6)")
        return "DHCPv6, IP range" in server.log.read_text()

    poll.until(started, 10, "dnsmasq serving DHCPv6")
    return server


def test_device_leases_an_address_from_dnsmasq_dhcpv6(probe_lab: iotlab.Lab, tmp_path: Path) -> None:  # noqa: F811
    [config] = configs(["hikvision-ds-2cd2042fwd"])
    prof = config.profile
    assert prof.ipv6 is not None
    prof = prof.model_copy(update={"ipv6": prof.ipv6.model_copy(update={"dhcpv6": DHCP6_PROFILE})})
    config = dataclasses.replace(config, profile=prof, protocols=("arp", "dhcp", "ipv6"))
    mac = config.mac
    server = start_dnsmasq_v6(probe_lab, tmp_path)
    try:
        capture = FullCapture(probe_lab, tmp_path / "dhcp6.pcap")
        try:
            emulator = EngineThread(probe_lab, [config])
            try:

                def leased() -> str | None:
                    dev = emulator.engine.devices[0]
                    assert dev.ipv6 is not None
                    found = [a for a in dev.ipv6.slaac.usable() if ipaddress.IPv6Address(a) in MANAGED]
                    return ipv6.text(found[0]) if found else None

                address = emulator.wait(leased, 30, "an address leased by dnsmasq's DHCPv6")
                ping = probe_lab.run_in_gw("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", address, timeout=20)
                assert ping.returncode == 0, ping.stdout + ping.stderr
                duid = "00:03:00:01:" + mac  # DUID-LL, Ethernet
                leases = (tmp_path / "leases6").read_text().splitlines()
                assert any(address in line.split() and line.split()[-1] == duid for line in leases), leases
                poll.until(lambda: captured(capture.pcap, f"icmpv6.type == 129 && ipv6.src == {address}"), 10,
                           "tshark to write the echo reply")  # fmt: skip
            finally:
                emulator.stop()
        finally:
            capture.stop()
        log_file = tmp_path / "dnsmasq6.log"  # the device's clean stop released its lease
        poll.until(lambda: "DHCPRELEASE(" in log_file.read_text(), 10, "dnsmasq to get the device's DHCPv6 RELEASE")
    finally:
        server.stop()
    assert not any(address in line.split() for line in (tmp_path / "leases6").read_text().splitlines())  # released
    log = (tmp_path / "dnsmasq6.log").read_text()
    assert f"DHCPREPLY({probe_lab.gw_iface}) {address}" in log, log[-2000:]
    assert f"DHCPRELEASE({probe_lab.gw_iface}) {duid}" in log, log[-2000:]
    solicits = decode(capture.pcap, f"eth.src == {mac} && dhcpv6.msgtype == 1",
                      ["ipv6.dst", "udp.dstport", "dhcpv6.duid.type", "dhcpv6.requested_option_code",
                       "dhcpv6.vendorclass.enterprise"])  # fmt: skip
    assert solicits and solicits[0] == ["ff02::1:2", "547", "3", "23,24", "50416"], solicits
    kinds = decode(capture.pcap, "dhcpv6", ["dhcpv6.msgtype"])
    assert [row[0] for row in kinds][:4] == ["1", "2", "3", "7"], kinds  # SOLICIT ADVERTISE REQUEST REPLY


def test_dad_conflict_with_the_gateways_kernel_leaves_the_device_without_that_address(
    probe_lab: iotlab.Lab,  # noqa: F811
) -> None:
    """The gateway's kernel holds the device's EUI-64 link-local address and defends it (an NA to ff02::1 in
    answer to the device's DAD probe): the device logs the conflict and uses no link-local address."""
    [config] = configs(["hikvision-ds-2cd2042fwd"])
    config = dataclasses.replace(config, protocols=("arp", "dhcp", "ipv6"))
    taken = ipv6.text(ipv6.LINK_LOCAL_PREFIX + ipv6.eui64(bytes.fromhex(config.mac.replace(":", ""))))
    enable_ipv6(probe_lab, GW_ADDRESS)
    netns.ip(probe_lab.gw_netns, "-6", "addr", "add", f"{taken}/64", "dev", probe_lab.gw_iface)
    emulator = EngineThread(probe_lab, [config])
    try:
        failed = emulator.wait(
            lambda: next((m for m in emulator.messages if "IPv6 DAD failed" in str(m.get("message"))), None),
            15,
            "the device to report its DAD conflict",
        )
        dev = emulator.engine.devices[0]
        assert emulator.call(lambda: dev.ipv6.slaac.usable() if dev.ipv6 else None) == []
    finally:
        emulator.stop()
    assert failed["level"] == "error"
    warnings = [m["message"] for m in emulator.messages if m["type"] == "log" and m["level"] == "warning"]
    assert f"IPv6 DAD: {taken} (link-local) is in use by another host" in warnings
