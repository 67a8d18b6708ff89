"""UDP and TCP over IPv6 against real tools, radvd giving the device its SLAAC address: nmap -6 from the
gateway finds its listening ports open (SYN-ACK), closed TCP and UDP ports closed (RST, ICMPv6 port
unreachable), over the SLAAC and the link-local address, -sV names its HTTP and RTSP servers and -O its
Linux (nmap's IPv6 OS detection: its own probes and classifier); net-snmp
reads a printer's agent and nmap -sU finds it and a phone's SIP port open over IPv6;
avahi-daemon (use-ipv6=yes) browses and resolves it over IPv6, a legacy unicast query to its port 5353 gets
its AAAA records, a control point's M-SEARCH to [ff02::c]:1900 is answered; a temporary address from
radvd's prefix answers the gateway; tshark shows the frames."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import ipv6 as lab_ipv6
from iot_emulator.lab import netns
from iot_emulator.profiles import catalog
from iot_emulator.protocols import dns_wire
from iot_emulator.protocols.discovery import ssdp
from iot_emulator.protocols.link import ipv6
from tests import poll
from tests.conftest import LabFactory

from . import udp_servers
from .fingerprint_capture import FullCapture, decode
from .test_ipv6_lab import captured
from .test_probes import NMAP_EXPECTED, SNMP_EXPECTED, configs, nmap_services, scan, snmp
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
            os_scan = ET.fromstring(scan(lab, "-6", "-O", ports="80,23", targets=[address]))
            families = {c.attrib["osfamily"] for c in os_scan.iter("osclass")}
            assert families == {"Linux"}, families  # nmap's IPv6 OS classifier: the camera's Linux, as over IPv4
            scoped = f"{link_local}%{lab.gw_iface}"
            local = port_states(scan(lab, "-6", "-sS", ports="80,23", targets=[scoped]))
            assert local == {("tcp", 80): "open", ("tcp", 23): "closed"}, local
            services = nmap_services(lab, [address], [80, 554], "-6")  # whole sessions: nmap's probes, answers
            for port, (name, product, _) in NMAP_EXPECTED["hikvision-ds-2cd2042fwd"].items():
                if port in (80, 554):
                    assert services[(address, port)][:3] == ("open", name, product), services
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


def test_snmp_and_sip_answer_real_clients_over_ipv6(lab_factory: LabFactory) -> None:
    """net-snmp's snmpwalk/snmpget over udp6 (the global and the link-local address) read the printer's
    system group as over IPv4; nmap -6 -sU finds its 161 open (nmap's payload: an SNMP get with `public`),
    and -sV names the phone's SIP user agent on 5060 over IPv6, as over IPv4."""
    lab = lab_factory(ipv6="slaac")
    printer, phone = configs(["hp-laserjet-pro-m201dw", "yealink-sip-t46s"])
    descr = SNMP_EXPECTED["hp-laserjet-pro-m201dw"][0]
    with dual_stack(lab, dataclasses.replace(printer, protocols=("arp", "dhcp", "ipv6"))) as (_, address, local):
        for target in (f"udp6:[{address}]", f"udp6:[{local}%{lab.gw_iface}]"):
            system = snmp(lab, "snmpwalk", target, "1.3.6.1.2.1.1")
            assert system[0].startswith(f'.1.3.6.1.2.1.1.1.0 = STRING: "{descr}'), (target, system)
        [mac] = snmp(lab, "snmpget", f"udp6:[{address}]", "1.3.6.1.2.1.2.2.1.6.1")
        assert mac.split("STRING: ")[1].strip().lower().replace(" ", ":") == printer.mac, mac
        udp = port_states(scan(lab, "-6", "-sU", ports="161,162", targets=[address]))
        assert udp == {("udp", 161): "open", ("udp", 162): "closed"}, udp
    with dual_stack(lab, dataclasses.replace(phone, protocols=("arp", "dhcp", "ipv6"))) as (_, address, _local):
        services = nmap_services(lab, [address], [5060], "-6", "-sU")  # -sV: its SIPOptions probe
        assert services[(address, 5060)][:3] == ("open", "sip", "Yealink SIP-T46S VoIP phone sipd"), services


def m_search6(lab: iotlab.Lab, st: str, mx: int = 1) -> list[dict[str, str]]:
    """An M-SEARCH to [ff02::c]:1900 from a control point's IPv6 socket in the gateway; the 200 OKs of MX + 1 s."""
    index = int(lab.run_in_gw("cat", f"/sys/class/net/{lab.gw_iface}/ifindex").stdout)
    sock = netns.socket_in(lab.gw_netns, socket.AF_INET6, socket.SOCK_DGRAM)
    with sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 2)
        sock.bind(("::", 0, 0, 0))
        request = (
            f'M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nMAN: "ssdp:discover"\r\nMX: {mx}\r\n'
            f"ST: {st}\r\nUSER-AGENT: Lab/1.0 UPnP/1.1 test/1.0\r\n\r\n"
        ).encode()
        sock.sendto(request, ("ff02::c", 1900, 0, index))
        deadline, answers = time.monotonic() + mx + 1.0, []
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(4096)
            except TimeoutError:
                break
            line, headers = ssdp.parse_request(data)
            assert line == "HTTP/1.1 200 OK"
            answers.append(headers)
        return answers


def unicast_query6(lab: iotlab.Lab, address: str, name: str) -> list[str]:
    """A one-shot (legacy) mDNS query for `name`'s AAAA, from an ephemeral port of the gateway straight to the
    device's address port 5353 (RFC 6762 6.7), as `dig -p 5353 @address` sends it: the AAAA addresses answered."""
    sock = netns.socket_in(lab.gw_netns, socket.AF_INET6, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(5)
        sock.sendto(
            dns_wire.encode(dns_wire.Message(4242, 0, [dns_wire.Question(name, dns_wire.TYPE_AAAA)])), (address, 5353)
        )
        data, source = sock.recvfrom(4096)
    message = dns_wire.parse(data)
    assert message is not None and message.id == 4242 and source[0] == address, (message, source)
    return [ipv6.text(r.data) for r in message.answers if r.rtype == dns_wire.TYPE_AAAA and isinstance(r.data, bytes)]


def test_avahi_and_a_control_point_find_the_device_over_ipv6(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(ipv6="slaac")
    [config] = configs(["philips-hue-bridge"])
    prof = config.profile
    settings = (prof.ipv6 or catalog.Ipv6()).model_copy(update={"discovery": ["mdns", "ssdp"]})
    prof = prof.model_copy(update={"ipv6": settings})
    config = dataclasses.replace(config, profile=prof, protocols=("arp", "dhcp", "ipv6", "mdns", "ssdp"))
    mac, hostname = config.mac, config.hostname
    capture = FullCapture(lab, tmp_path / "v6discovery.pcap")
    try:
        with udp_servers.avahi(lab, ipv6=True) as env, dual_stack(lab, config) as (emulator, address, link_local):
            instance = f"Philips Hue - {mac.replace(':', '')[-6:].upper()}"
            resolved = udp_servers.avahi_browse(
                lab, env, "_hue._tcp", lambda fields: fields[2] == "IPv6" and fields[3] == instance, timeout=20
            )
            # found over IPv6; avahi resolves its address with either family's records (here the A, often)
            device_ip = str(ipaddress.IPv4Address(emulator.engine.devices[0].ip or b"\0\0\0\0"))
            assert resolved[6] == f"{hostname}.local" and resolved[7] in (address, link_local, device_ip), resolved
            argv = netns.exec_argv(lab.gw_netns, ["avahi-resolve", "-6", "-n", f"{hostname}.local"])
            resolve = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=20, check=False)
            assert resolve.stdout.split()[-1] in (address, link_local), resolve.stdout + resolve.stderr
            assert set(unicast_query6(lab, address, f"{hostname}.local")) == {address, link_local}
            answers = m_search6(lab, "upnp:rootdevice")
            assert answers and answers[0]["LOCATION"].startswith(f"http://[{address}]:"), answers
            assert answers[0]["ST"] == "upnp:rootdevice"
            poll.until(
                lambda: captured(capture.pcap, f"eth.src == {mac} && ipv6.dst == ff02::c && udp.dstport == 1900"),
                15,
                "tshark to write a NOTIFY to [ff02::c]:1900",
            )
    finally:
        capture.stop()
    announced = decode(
        capture.pcap,
        f"eth.src == {mac} && ipv6.dst == ff02::fb && dns.flags.response == 1 && dns.aaaa",
        ["ipv6.src", "ipv6.hlim", "dns.aaaa", "udp.checksum.status"],
    )
    assert announced, "no mDNS response with AAAA records to ff02::fb"
    src, hlim, aaaa, _ = announced[-1]
    assert src == link_local and hlim == "255" and address in aaaa.split(",") and link_local in aaaa.split(",")
    notify = decode(capture.pcap, f"eth.src == {mac} && ipv6.dst == ff02::c", ["ipv6.src", "http.request.method"])
    assert [link_local, "NOTIFY"] in notify, notify
    answers_on_wire = decode(
        capture.pcap, f"eth.src == {mac} && udp.srcport == 1900 && http.response.code == 200", ["ipv6.src"]
    )
    assert answers_on_wire, "the 200 OK over IPv6 is not on the wire"


def test_temporary_address_beside_the_slaac_one_answers_the_gateway(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(ipv6="slaac")
    [config] = configs(["hikvision-ds-2cd2042fwd"])
    prof = config.profile
    settings = (prof.ipv6 or catalog.Ipv6()).model_copy(update={"temporary_addresses": True})
    config = dataclasses.replace(config, profile=prof.model_copy(update={"ipv6": settings}), protocols=("arp", "ipv6"))
    mac = config.mac
    capture = FullCapture(lab, tmp_path / "v6temporary.pcap")
    try:
        emulator = EngineThread(lab, [config])
        try:

            def temporary() -> tuple[str, str] | None:
                dev = emulator.engine.devices[0]
                assert dev.ipv6 is not None
                found = {
                    e.kind: ipv6.text(a) for a, e in dev.ipv6.slaac.addresses.items() if a in dev.ipv6.slaac.usable()
                }
                return (found["temporary"], found["SLAAC"]) if "temporary" in found and "SLAAC" in found else None

            temp, public = emulator.wait(temporary, 30, "a temporary and a SLAAC address from radvd's prefix")
            assert ipaddress.IPv6Address(temp) in lab_ipv6.PREFIX and temp != public
            assert ipaddress.IPv6Address(temp).packed[8:] != ipv6.eui64(bytes.fromhex(mac.replace(":", "")))
            ping = lab.run_in_gw("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", temp, timeout=20)
            assert ping.returncode == 0, ping.stdout + ping.stderr
            neighbours = lab.run_in_gw("ip", "-6", "neigh", "show", "dev", lab.gw_iface).stdout
            assert any(line.split()[0] == temp and mac in line for line in neighbours.splitlines()), neighbours
            poll.until(
                lambda: captured(capture.pcap, f"icmpv6.type == 129 && ipv6.src == {temp}"),
                10,
                "tshark to write the echo reply from the temporary address",
            )
        finally:
            emulator.stop()
    finally:
        capture.stop()
    dad = decode(
        capture.pcap, f"eth.src == {mac} && icmpv6.type == 135 && ipv6.src == ::", ["icmpv6.nd.ns.target_address"]
    )
    assert [temp] in dad and [public] in dad, dad  # each ran its own DAD
