"""DNS, NTP, CoAP, mDNS, SSDP and LLDP of emulated devices against real peers in a lab's gateway namespace.

The devices run in-process (`udp_servers.EngineThread`: the engine on a raw socket in the device
namespace) so a test can read what a device computed (an NTP offset, a CoAP response) as well as
what the real peer saw: dnsmasq's query log, `chronyc clients`, libcoap's server log,
`avahi-browse`, an M-SEARCH sent from the gateway, `lldpcli show neighbors`, tshark's decoding.
The lab maps the profile's names to 10.77.0.3, an address added to the gateway's interface, so a
session that reaches a server there went to the address DNS gave.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import netns
from iot_emulator.profiles import catalog
from iot_emulator.protocols.clients import coap, ntp
from iot_emulator.protocols.discovery import ssdp
from tests import poll

from ..conftest import LabFactory
from . import udp_servers
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab

SERVICE_IP = "10.77.0.3"
NAMES = {"cloud.lab.example": SERVICE_IP, "time.lab.example": SERVICE_IP, "coap.lab.example": SERVICE_IP}
DEVICE_TYPE = "urn:schemas-upnp-org:device:Basic:1"
PROFILE: dict[str, Any] = {
    "name": "lab-hub",
    "vendor": "Acme",
    "model": "Hub 3",
    "device_class": "phone",
    "os": "Linux 4.9 (BusyBox udhcpc)",
    "ouis": ["44:19:b6"],
    "hostname_pattern": "acmehub-{mac6}",
    "dhcp": {
        "options": [53, 61, 57, 50, 54, 12, 55],
        "parameter_request_list": [1, 3, 6, 12, 15, 28, 42],
        "arp_probe": {"count": 0},
    },
    "dns_names": ["cloud.lab.example"],
    "ntp_servers": ["time.lab.example"],
    "coap": {"server": "coap.lab.example", "paths": ["/.well-known/core", "/time"]},
    "mdns": {
        "services": [
            {
                "type": "_hue._tcp",
                "instance": "Acme Hub - {MAC6}",
                "port": 443,
                "txt": {"bridgeid": "001788FFFE{MAC6}", "modelid": "HUB3"},
            }
        ],
        "announce_count": 2,
    },
    "ssdp": {"server": "Linux/3.14.0 UPnP/1.0 AcmeHub/1.0", "device_type": DEVICE_TYPE, "max_age": 100},
    "lldp": {
        "system_name": "{hostname}",
        "system_description": "Acme Hub 3, firmware 1.2.3",
        "capabilities": ["bridge", "telephone"],
        "interval": 30,
    },
    "schedule": {
        "dns": {"interval": 2, "jitter": 0},
        "ntp": {"interval": 2, "jitter": 0},
        "coap": {"interval": 2, "jitter": 0},
    },
}


def config(protocols: tuple[str, ...]) -> manifests.DeviceConfig:
    """One device of the lab profile running `protocols` (besides ARP and DHCP)."""
    prof = catalog.Profile.model_validate({**PROFILE, "protocols": ["arp", "dhcp", "icmp", *protocols]})
    mac = "44:19:b6:5a:00:01"
    return manifests.DeviceConfig(
        device_id="hub-0",
        mac=mac,
        hostname=prof.hostname_for(mac),
        profile=prof,
        protocols=("arp", "dhcp", *protocols),
        traffic_interval=60,
    )


@pytest.fixture
def udp_lab(lab_factory: LabFactory) -> iotlab.Lab:
    """A dnsmasq lab that logs DNS queries and maps the profile's names to SERVICE_IP, an address of the gateway."""
    handle = lab_factory(dns_names=NAMES, dnsmasq_extra=("--log-queries",))
    netns.ip(handle.gw_netns, "addr", "add", f"{SERVICE_IP}/{handle.subnet.prefixlen}", "dev", handle.gw_iface)
    return handle


@contextlib.contextmanager
def running(lab: iotlab.Lab, protocols: tuple[str, ...]) -> Iterator[EngineThread]:
    emulator = EngineThread(lab, [config(protocols)])
    try:
        emulator.wait(lambda: all(d.ip is not None for d in emulator.engine.devices) or None, 15, "the devices to bind")
        yield emulator
    finally:
        emulator.stop()


def ip_of(emulator: EngineThread, index: int = 0) -> str:
    address = emulator.engine.devices[index].ip
    assert address is not None
    return str(ipaddress.IPv4Address(address))


def logged_in(path: Path, text: str) -> bool:
    return text in path.read_text()


def test_dnsmasq_answers_and_the_answer_is_where_ntp_goes(udp_lab: iotlab.Lab) -> None:
    with udp_servers.chrony(udp_lab), running(udp_lab, ("dns", "ntp")) as emulator:
        device_ip = ip_of(emulator)
        dnsmasq_log = udp_lab.directory / "dnsmasq.log"
        for name in ("cloud.lab.example", "time.lab.example"):
            logged = f"query[A] {name} from {device_ip}"
            poll.until(functools.partial(logged_in, dnsmasq_log, logged), 15, f"dnsmasq to log {logged!r}")
        names = emulator.service(0, "dns")
        emulator.wait(lambda: names.answers.get("cloud.lab.example"), 10, "the dns service's answer")
        assert names.answers["cloud.lab.example"] == ipaddress.IPv4Address(SERVICE_IP).packed

        client: ntp.NtpClient = emulator.service(0, "ntp")
        sample = emulator.wait(lambda: client.last, 15, "an NTP answer from chrony")
        assert sample.server == ipaddress.IPv4Address(SERVICE_IP).packed  # the address DNS gave
        assert sample.stratum == 8 and 0 <= sample.delay < 0.5  # chrony's `local stratum 8`
        assert abs(sample.offset - time.time()) < 60  # the device clock started at 1970 a few seconds ago
        device_clock = emulator.call(lambda: client.clock(emulator.loop.time()))
        assert abs(device_clock - ntp.UNIX_EPOCH - time.time()) < 1.0  # stepped to chrony's time
        poll.until(lambda: device_ip in udp_servers.chrony_clients(udp_lab), 10, "chronyc clients to list the device")
        rows = [line.split() for line in udp_servers.chrony_clients(udp_lab).splitlines()]
        assert any(row[0] == device_ip and int(row[1]) >= 1 for row in rows if row)  # NTP packets from the device


def test_coap_server_receives_the_gets_and_the_device_reads_the_answers(udp_lab: iotlab.Lab) -> None:
    with udp_servers.coap_server(udp_lab, SERVICE_IP) as server, running(udp_lab, ("coap",)) as emulator:
        client: coap.CoapClient = emulator.service(0, "coap")
        emulator.wait(lambda: len(client.responses) >= 2 or None, 15, "two CoAP responses")
        responses = emulator.call(lambda: list(client.responses))
        by_path = {path: (code, payload) for path, code, payload in responses}
        assert by_path["/.well-known/core"][0] == "2.05" and b"</time>" in by_path["/.well-known/core"][1]
        assert by_path["/time"][0] == "2.05"
        log = server.text()
        assert "Uri-Path:.well-known, Uri-Path:core" in log and "Uri-Path:time" in log and ip_of(emulator) in log


MDNS_FIELDS = ("ip.src", "dns.ptr.domain_name", "dns.srv.port", "dns.txt", "dns.a", "ip.ttl")


def test_avahi_lists_the_announced_services_and_tshark_decodes_them(udp_lab: iotlab.Lab) -> None:
    capture = udp_servers.Capture(udp_lab, "udp port 5353", "mdns && dns.flags.response == 1", MDNS_FIELDS)
    try:
        with udp_servers.avahi(udp_lab) as env, running(udp_lab, ("mdns",)) as emulator:
            device_ip, hostname = ip_of(emulator), emulator.engine.devices[0].config.hostname
            instance = f"Acme Hub - {hostname[-6:].upper()}"
            resolved = udp_servers.avahi_browse(udp_lab, env, "_hue._tcp", lambda fields: fields[3] == instance)
            _, iface, family, name, kind, domain, host, address, port, txt = resolved
            assert (iface, family, name, kind, domain) == (udp_lab.gw_iface, "IPv4", instance, "_hue._tcp", "local")
            assert (host, address, port) == (f"{hostname}.local", device_ip, "443")
            assert '"modelid=HUB3"' in txt and f'"bridgeid=001788FFFE{hostname[-6:].upper()}"' in txt

            [announced, *_] = capture.wait_rows(lambda r: r[0] == device_ip and f"{instance}._hue._tcp.local" in r[1])
            _, ptrs, srv_port, txts, a, ttl = announced
            assert srv_port == "443" and "modelid=HUB3" in txts and a == device_ip and ttl == "255"
            assert "_hue._tcp.local" in ptrs.split(",") and f"{hostname}.local" in ptrs.split(",")  # reverse PTR
    finally:
        capture.stop()


def m_search(lab: iotlab.Lab, st: str, mx: int = 1) -> list[dict[str, str]]:
    """Send an M-SEARCH from the gateway (a control point's socket) and collect the 200 OKs for MX + 1 s."""
    sock = netns.socket_in(lab.gw_netns, socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(str(lab.gateway_ip)))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
        sock.bind((str(lab.gateway_ip), 0))
        request = (
            f'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: {mx}\r\n'
            f"ST: {st}\r\nUSER-AGENT: Lab/1.0 UPnP/1.1 test/1.0\r\n\r\n"
        ).encode()
        sock.sendto(request, ("239.255.255.250", 1900))
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


SSDP_FIELDS = ("ip.src", "http.request.method", "http.response.code", "ip.ttl", "http.location")


def test_m_search_from_the_gateway_is_answered_and_tshark_decodes_ssdp(udp_lab: iotlab.Lab) -> None:
    capture = udp_servers.Capture(udp_lab, "udp port 1900", "ssdp", SSDP_FIELDS)
    try:
        with running(udp_lab, ("ssdp",)) as emulator:
            device_ip = ip_of(emulator)
            location = f"http://{device_ip}:80/description.xml"
            usn = emulator.service(0, "ssdp").usn
            notifies = capture.wait_rows(lambda r: r[0] == device_ip and r[1] == "NOTIFY", count=3)
            assert {tuple(r[1:]) for r in notifies} == {("NOTIFY", "", "4", location)}  # UPnP/1.0: IP TTL 4

            answers = m_search(udp_lab, "ssdp:all")
            assert sorted(a["ST"] for a in answers) == sorted(["upnp:rootdevice", usn, DEVICE_TYPE])
            assert {a["LOCATION"] for a in answers} == {location}
            assert {a["SERVER"] for a in answers} == {PROFILE["ssdp"]["server"]}
            assert [a["ST"] for a in m_search(udp_lab, "urn:schemas-upnp-org:device:MediaServer:1")] == []
            capture.wait_rows(lambda r: r[0] == device_ip and r[2] == "200", count=3)
    finally:
        capture.stop()


def test_lldpd_shows_the_device_as_a_neighbour(udp_lab: iotlab.Lab) -> None:
    with udp_servers.lldpd(udp_lab) as lldpcli, running(udp_lab, ("lldp",)) as emulator:
        dev = emulator.engine.devices[0]
        # the first LLDPDU goes out at link-up, before the lease: the management address comes with a later one
        poll.until(lambda: ip_of(emulator) in lldpcli("show", "neighbors"), 10, "lldpd to list the device's address")
        shown = lldpcli("-f", "json", "show", "neighbors", "details")
        neighbour = json.loads(shown)["lldp"]["interface"][udp_lab.gw_iface]
        chassis = neighbour["chassis"][dev.config.hostname]  # keyed by the system name
        assert chassis["id"] == {"type": "mac", "value": dev.config.mac}
        assert chassis["descr"] == "Acme Hub 3, firmware 1.2.3" and chassis["mgmt-ip"] == ip_of(emulator)
        assert {(c["type"], c["enabled"]) for c in chassis["capability"]} == {("Bridge", True), ("Tel", True)}
        assert neighbour["port"]["ttl"] == "120" and neighbour["port"]["id"]["value"] == dev.config.mac
        med = neighbour["lldp-med"]
        assert med["device-type"] == "Communication Device Endpoint (Class III)"
        assert med["inventory"] == {"manufacturer": "Acme", "model": "Hub 3"} and med["policy"]["dscp"] == "46"
