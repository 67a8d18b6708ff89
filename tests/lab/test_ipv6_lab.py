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
from iot_emulator.lab import ipv6 as lab_ipv6
from iot_emulator.lab import netns
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import ipv6
from tests import poll
from tests.conftest import LabFactory

from .fingerprint_capture import FullCapture, decode
from .test_probes import configs, probe_lab  # noqa: F401  (fixture)
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab


def enable_ipv6(lab: iotlab.Lab) -> None:
    """IPv6 on the gateway's lab interface, as `lab up --ipv6` does, without a router."""
    lab_ipv6.enable(lab.gw_netns, lab.gw_iface)
    poll.until(
        lambda: "fe80::" in lab.run_in_gw("ip", "-6", "addr", "show", "dev", lab.gw_iface).stdout,
        10,
        "the gateway's link-local address",
    )


def captured(pcap: Path, display_filter: str) -> bool:
    """The capture file, as written so far, holds a frame matching `display_filter`."""
    try:
        return bool(decode(pcap, display_filter, ["frame.number"]))
    except subprocess.CalledProcessError:  # read in the middle of a write
        return False


def test_device_gets_slaac_address_from_radvd_and_answers_the_gateway(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(ipv6="slaac")  # `iotemu lab up --ipv6`: radvd on the gateway
    [config] = configs(["hikvision-ds-2cd2042fwd"])
    config = dataclasses.replace(config, protocols=("arp", "dhcp", "ipv6"))
    mac = config.mac
    capture = FullCapture(lab, tmp_path / "ipv6.pcap")
    try:
        emulator = EngineThread(lab, [config])
        try:

            def global_address() -> str | None:
                dev = emulator.engine.devices[0]
                assert dev.ipv6 is not None
                found = [a for a in dev.ipv6.slaac.usable() if ipaddress.IPv6Address(a) in lab_ipv6.PREFIX]
                return ipv6.text(found[0]) if found else None

            address = emulator.wait(global_address, 30, "a SLAAC address from radvd's prefix")
            iid = ipaddress.IPv6Address(address).packed[8:]
            assert iid == ipv6.eui64(bytes.fromhex(mac.replace(":", "")))  # the profile says EUI-64
            ping = lab.run_in_gw("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", address, timeout=20)
            assert ping.returncode == 0 and " 0% packet loss" in ping.stdout, ping.stdout + ping.stderr
            neighbours = lab.run_in_gw("ip", "-6", "neigh", "show", "dev", lab.gw_iface).stdout
            assert any(line.split()[0] == address and mac in line for line in neighbours.splitlines()), neighbours
            dev = emulator.engine.devices[0]
            link_local = emulator.call(lambda: dev.ipv6.slaac.link_local if dev.ipv6 else None)
            assert link_local is not None
            link_local_text = ipv6.text(link_local)
            scoped = f"{link_local_text}%{lab.gw_iface}"
            ping_ll = lab.run_in_gw("ping", "-6", "-c", "1", "-W", "2", scoped, timeout=20)
            assert ping_ll.returncode == 0, ping_ll.stdout + ping_ll.stderr
            everyone = lab.run_in_gw("ping", "-6", "-c", "2", "-w", "3", f"ff02::1%{lab.gw_iface}", timeout=20)
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
    dad = decode(
        capture.pcap,
        f"eth.src == {mac} && icmpv6.type == 135 && ipv6.src == ::",
        ["ipv6.dst", "ipv6.hlim", "icmpv6.nd.ns.target_address", "icmpv6.checksum.status"],
    )
    targets = {row[2] for row in dad}
    assert targets == {link_local_text, address}, dad
    for row in dad:
        assert row[0] == ipv6.text(ipv6.solicited_node(ipaddress.IPv6Address(row[2]).packed)) and row[1] == "255"
        assert row[3] == "1", row  # tshark: checksum status 1, good
    solicitations = decode(capture.pcap, f"eth.src == {mac} && icmpv6.type == 133", ["ipv6.src", "icmpv6.opt.linkaddr"])
    assert solicitations and solicitations[0] == [link_local_text, mac], solicitations
    reports = decode(
        capture.pcap,
        f"eth.src == {mac} && icmpv6.type == 143",
        ["ipv6.dst", "icmpv6.mldr.mar.record_type", "icmpv6.mldr.mar.multicast_address"],
    )
    assert reports and reports[0][0] == "ff02::16" and reports[0][1] == "4", reports
    replies = decode(capture.pcap, f"eth.src == {mac} && icmpv6.type == 129", ["ipv6.src", "icmpv6.checksum.status"])
    assert [row for row in replies if row[0] == address] == [[address, "1"]] * 3, replies


DHCP6_PROFILE = catalog.Dhcpv6(
    duid_type=catalog.DuidType.ll, option_request=[23, 24], enterprise_number=50416, vendor_class="hikvision-ipc"
)


def test_device_leases_an_address_from_dnsmasq_dhcpv6(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(ipv6="dhcpv6")  # `iotemu lab up --ipv6 dhcpv6`: dnsmasq, RAs with the M flag
    [config] = configs(["hikvision-ds-2cd2042fwd"])
    prof = config.profile
    assert prof.ipv6 is not None
    prof = prof.model_copy(update={"ipv6": prof.ipv6.model_copy(update={"dhcpv6": DHCP6_PROFILE})})
    config = dataclasses.replace(config, profile=prof, protocols=("arp", "dhcp", "ipv6"))
    mac = config.mac
    capture = FullCapture(lab, tmp_path / "dhcp6.pcap")
    try:
        emulator = EngineThread(lab, [config])
        try:

            def leased() -> str | None:
                dev = emulator.engine.devices[0]
                assert dev.ipv6 is not None
                found = [a for a in dev.ipv6.slaac.usable() if ipaddress.IPv6Address(a) in lab_ipv6.PREFIX]
                return ipv6.text(found[0]) if found else None

            address = emulator.wait(leased, 30, "an address leased by dnsmasq's DHCPv6")
            ping = lab.run_in_gw("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", address, timeout=20)
            assert ping.returncode == 0, ping.stdout + ping.stderr
            duid = "00:03:00:01:" + mac  # DUID-LL, Ethernet
            leases = (lab.directory / "leases6").read_text().splitlines()
            assert any(address in line.split() and line.split()[-1] == duid for line in leases), leases
            poll.until(
                lambda: captured(capture.pcap, f"icmpv6.type == 129 && ipv6.src == {address}"),
                10,
                "tshark to write the echo reply",
            )
        finally:
            emulator.stop()
    finally:
        capture.stop()
    log_file = lab.directory / "dnsmasq6.log"  # the device's clean stop released its lease
    poll.until(lambda: "DHCPRELEASE(" in log_file.read_text(), 10, "dnsmasq to get the device's DHCPv6 RELEASE")
    assert not any(address in line.split() for line in (lab.directory / "leases6").read_text().splitlines())  # released
    log = (lab.directory / "dnsmasq6.log").read_text()
    assert f"DHCPREPLY({lab.gw_iface}) {address}" in log, log[-2000:]
    assert f"DHCPRELEASE({lab.gw_iface}) {duid}" in log, log[-2000:]
    solicits = decode(
        capture.pcap,
        f"eth.src == {mac} && dhcpv6.msgtype == 1",
        [
            "ipv6.dst",
            "udp.dstport",
            "dhcpv6.duid.type",
            "dhcpv6.requested_option_code",
            "dhcpv6.vendorclass.enterprise",
        ],
    )
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
    enable_ipv6(probe_lab)
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
