"""DHCPv6 against real servers: Kea's kea-dhcp6 beside radvd (`lab up --ipv6 kea`: the M flag; the
device's IA_NA lease is renewed and released, as Kea's lease file records; `--ipv6 kea-stateless`: the O
flag, SLAAC plus an INFORMATION-REQUEST Kea answers), and the profiles' DHCPv6 fingerprints (DUID type,
ORO, vendor class) as tshark decodes them in SOLICITs to dnsmasq (`--ipv6 dhcpv6`)."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from pathlib import Path

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import ipv6 as lab_ipv6
from iot_emulator.lab import kea6
from iot_emulator.protocols.link import dhcp6, ipv6
from tests import poll
from tests.conftest import LabFactory

from .fingerprint_capture import FullCapture, decode
from .test_ipv6_lab import captured
from .test_probes import configs
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab

LIFETIME = 8
"""Seconds: Kea's valid lifetime, so T1 (4 s) comes within the test."""
FINGERPRINTED = ["samsung-tizen-tv", "cisco-cp-7841", "hp-laserjet-pro-m201dw"]
"""Three different DHCPv6 clients: ConnMan's DUID-LLT + 23,24,31; DUID-LL + vendor class; DUID-LLT + 23,24."""


def dual_stack(names: list[str]) -> list[manifests.DeviceConfig]:
    return [dataclasses.replace(c, protocols=("arp", "dhcp", "ipv6")) for c in configs(names)]


def prefix_address(emulator: EngineThread, index: int = 0) -> str | None:
    """The device's usable address in the lab prefix (SLAAC or DHCPv6), as text."""
    dev = emulator.engine.devices[index]
    assert dev.ipv6 is not None
    found = [a for a in dev.ipv6.slaac.usable() if ipaddress.IPv6Address(a) in lab_ipv6.PREFIX]
    return ipv6.text(found[0]) if found else None


def duid_text(config: manifests.DeviceConfig) -> str:
    """The DUID as Kea writes it in its lease file (hex pairs joined by ':')."""
    prof = config.profile
    assert prof.ipv6 is not None and prof.ipv6.dhcpv6 is not None
    raw = dhcp6.duid(prof.ipv6.dhcpv6, bytes.fromhex(config.mac.replace(":", "")))
    return ":".join(f"{b:02x}" for b in raw)


def lease_rows(lab: iotlab.Lab, address: str) -> list[kea6.Lease6]:
    try:
        text = (lab.directory / kea6.LEASE_FILE).read_text()
    except FileNotFoundError:
        return []
    return [row for row in kea6.history(text) if ipaddress.IPv6Address(row.address) == ipaddress.IPv6Address(address)]


def test_kea_leases_renews_and_releases_an_ia_na(lab_factory: LabFactory) -> None:
    lab = lab_factory(dhcp_server="kea", lease_time=LIFETIME, ipv6="kea")  # radvd with M, no A: only DHCPv6
    [config] = dual_stack(["samsung-tizen-tv"])
    emulator = EngineThread(lab, [config])
    try:
        address = emulator.wait(lambda: prefix_address(emulator), 30, "an IA_NA address leased by kea-dhcp6")
        first, *_ = lease_rows(lab, address)
        assert first.duid == duid_text(config) and first.valid_lifetime == LIFETIME, first
        assert ipaddress.IPv6Address(address) >= lab_ipv6.DHCPV6_RANGE[0]  # from Kea's pool, not SLAAC
        renewed = poll.until(
            lambda: next((r for r in lease_rows(lab, address) if r.expire > first.expire), None),
            3 * LIFETIME,
            "Kea to record the device's RENEW at T1 (a later expiry for the same address)",
        )
        assert renewed.duid == first.duid and renewed.iaid == first.iaid
        assert emulator.call(lambda: prefix_address(emulator)) == address  # kept across the renewal
        renew_logs = [m for m in emulator.messages if "DHCPv6 REPLY" in str(m.get("message")) and "renewed" in str(m)]
        assert renew_logs, [m.get("message") for m in emulator.messages if m["type"] == "log"]
        ping = lab.run_in_gw("ping", "-6", "-c", "1", "-W", "2", address, timeout=20)
        assert ping.returncode == 0, ping.stdout + ping.stderr
    finally:
        emulator.stop()
    released = poll.until(
        lambda: next((r for r in lease_rows(lab, address) if r.valid_lifetime == 0), None),
        10,
        "Kea to record the RELEASE the device sends on a clean stop (valid lifetime 0)",
    )
    assert released.duid == duid_text(config)
    assert address not in {
        ipv6.text(ipaddress.IPv6Address(a).packed) for a in kea6.live((lab.directory / kea6.LEASE_FILE).read_text())
    }


def test_kea_answers_the_stateless_information_request(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(ipv6="kea-stateless")  # radvd with O and A: SLAAC, then INFORMATION-REQUEST
    [config] = dual_stack(["samsung-tizen-tv"])  # ConnMan asks for options on O alone
    capture = FullCapture(lab, tmp_path / "inforeq.pcap")
    try:
        emulator = EngineThread(lab, [config])
        try:
            address = emulator.wait(lambda: prefix_address(emulator), 30, "a SLAAC address from radvd's prefix")
            iid = ipaddress.IPv6Address(address).packed[8:]
            assert iid == ipv6.eui64(bytes.fromhex(config.mac.replace(":", "")))  # SLAAC, not a lease
            dns = f"DHCPv6 information REPLY: DNS {lab_ipv6.GATEWAY}"
            emulator.wait(
                lambda: any(m.get("message") == dns for m in emulator.messages), 30, "Kea's REPLY with the DNS server"
            )
            poll.until(lambda: captured(capture.pcap, "dhcpv6.msgtype == 7"), 10, "tshark to write Kea's REPLY")
        finally:
            emulator.stop()
    finally:
        capture.stop()
    requests = decode(
        capture.pcap,
        f"eth.src == {config.mac} && dhcpv6.msgtype == 11",
        ["ipv6.dst", "dhcpv6.duid.type", "dhcpv6.requested_option_code"],
    )
    assert requests and requests[0] == ["ff02::1:2", "1", "23,24,31"], requests
    assert not decode(capture.pcap, f"eth.src == {config.mac} && dhcpv6.msgtype == 1", ["frame.number"])  # no SOLICIT
    replies = decode(capture.pcap, "dhcpv6.msgtype == 7", ["dhcpv6.dns_server"])
    assert replies and replies[0] == [str(lab_ipv6.GATEWAY)], replies
    assert not kea6.live((lab.directory / kea6.LEASE_FILE).read_text())  # stateless: Kea leased nothing


def test_profiles_dhcpv6_fingerprints_on_the_wire(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(ipv6="dhcpv6")  # dnsmasq: RAs with the M flag, DHCPv6 leases
    devices = dual_stack(FINGERPRINTED)
    capture = FullCapture(lab, tmp_path / "fingerprints.pcap")
    try:
        emulator = EngineThread(lab, devices)
        try:
            for index, config in enumerate(devices):
                emulator.wait(functools.partial(prefix_address, emulator, index), 30, f"{config.profile.name}'s lease")
            last = devices[-1].mac
            poll.until(lambda: captured(capture.pcap, f"eth.src == {last} && dhcpv6.msgtype == 3"), 10, "tshark")
        finally:
            emulator.stop()
    finally:
        capture.stop()
    fields = [
        "dhcpv6.duid.type",
        "dhcpv6.requested_option_code",
        "dhcpv6.vendorclass.enterprise",
        "dhcpv6.vendorclass.data",
    ]
    for config in devices:
        prof = config.profile
        assert prof.ipv6 is not None and prof.ipv6.dhcpv6 is not None
        d = prof.ipv6.dhcpv6
        [solicit, *_] = decode(capture.pcap, f"eth.src == {config.mac} && dhcpv6.msgtype == 1", fields)
        duid_type = {"llt": "1", "en": "2", "ll": "3"}[d.duid_type.value]
        oro = ",".join(map(str, d.option_request))
        vendor = [str(d.enterprise_number), d.vendor_class] if d.vendor_class else ["", ""]
        assert solicit[:2] == [duid_type, oro], (prof.name, solicit)
        assert solicit[2] == vendor[0], (prof.name, solicit)
        assert solicit[3] == vendor[1], (prof.name, solicit)  # the vendor class text, as tshark shows it
