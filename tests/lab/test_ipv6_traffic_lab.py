"""UDP and TCP over IPv6 against real tools: radvd gives the device its SLAAC address, then nmap -6 from the
gateway finds its listening port open (SYN-ACK), a closed TCP port closed (RST) and a closed UDP port closed
(ICMPv6 port unreachable), over the SLAAC and the link-local address; tshark shows the device's frames."""

from __future__ import annotations

import dataclasses
import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import ipv6 as lab_ipv6
from iot_emulator.protocols.link import ipv6
from tests import poll
from tests.conftest import LabFactory

from .fingerprint_capture import FullCapture, decode
from .test_ipv6_lab import captured
from .test_probes import configs, scan
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab


@contextmanager
def dual_stack(lab: iotlab.Lab, config: manifests.DeviceConfig) -> Iterator[tuple[EngineThread, str, str]]:
    """The device running, bound over DHCPv4 (its services run) and holding its SLAAC address:
    (the engine, the SLAAC address, the link-local address)."""
    emulator = EngineThread(lab, [config])
    try:

        def ready() -> tuple[str, str] | None:
            dev = emulator.engine.devices[0]
            assert dev.ipv6 is not None
            found = [a for a in dev.ipv6.slaac.usable() if ipaddress.IPv6Address(a) in lab_ipv6.PREFIX]
            local = dev.ipv6.slaac.link_local
            if dev.ip is None or not found or local is None:
                return None
            return ipv6.text(found[0]), ipv6.text(local)

        address, link_local = emulator.wait(ready, 30, "a DHCPv4 lease and a SLAAC address from radvd")
        yield emulator, address, link_local
    finally:
        emulator.stop()


def port_states(xml: str) -> dict[tuple[str, int], str]:
    """(protocol, port) -> state, from `nmap -oX`."""
    out = {}
    for port in ET.fromstring(xml).iter("port"):
        state = port.find("state")
        assert state is not None
        out[(port.attrib["protocol"], int(port.attrib["portid"]))] = state.attrib["state"]
    return out


def test_nmap_over_ipv6_sees_open_and_closed_ports(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(ipv6="slaac")
    [config] = configs(["hikvision-ds-2cd2042fwd"])  # listens on 80, 443, 554, 49152
    config = dataclasses.replace(config, protocols=("arp", "dhcp", "ipv6"))
    capture = FullCapture(lab, tmp_path / "v6scan.pcap")
    try:
        with dual_stack(lab, config) as (_, address, link_local):
            tcp = port_states(scan(lab, "-6", "-sS", ports="80,554,23", targets=[address]))
            assert tcp == {("tcp", 80): "open", ("tcp", 554): "open", ("tcp", 23): "closed"}, tcp
            udp = port_states(scan(lab, "-6", "-sU", ports="9,5000", targets=[address]))
            assert udp == {("udp", 9): "closed", ("udp", 5000): "closed"}, udp  # port unreachable each
            scoped = f"{link_local}%{lab.gw_iface}"
            local = port_states(scan(lab, "-6", "-sS", ports="80,23", targets=[scoped]))
            assert local == {("tcp", 80): "open", ("tcp", 23): "closed"}, local
            poll.until(
                lambda: captured(capture.pcap, f"tcp.flags.reset == 1 && ipv6.src == {link_local}"),
                10,
                "tshark to write the RST from the link-local address",
            )
    finally:
        capture.stop()
    mac = config.mac
    syn_acks = decode(
        capture.pcap,
        f"eth.src == {mac} && tcp.flags.syn == 1 && tcp.flags.ack == 1",
        ["ipv6.src", "tcp.srcport", "tcp.checksum.status"],
    )
    assert [address, "80", "2"] in syn_acks or [address, "80", "1"] in syn_acks, syn_acks
    errors = decode(
        capture.pcap,
        f"eth.src == {mac} && icmpv6.type == 1 && icmpv6.code == 4",
        ["ipv6.src", "udp.dstport", "icmpv6.checksum.status"],
    )
    quoted = [(row[0].split(","), row[1], row[2]) for row in errors]  # ipv6.src: the error's, then the quoted one's
    assert ([address, "fd00:1ab:6::1"], "9", "1") in quoted, errors  # checksum good, quoting the probe to port 9
