"""Emulated devices probed by real scanners from a lab's gateway namespace: nmap -sV, net-snmp, curl.

One engine runs one device per covered profile (`udp_servers.EngineThread` in the device
namespace); the tools run where a NAC product's scanner would, in the gateway namespace. The
expected answers are written here as nmap 7.93, net-snmp 5.9 and curl 7.88 print them, so a
change to a profile's services that a scanner would notice fails a test. nmap runs are bounded:
given ports only, -T4, one retry, a host timeout.
"""

from __future__ import annotations

import contextlib
import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.profiles import catalog
from iot_emulator.protocols.discovery import ssdp

from ..conftest import LabFactory
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab

NMAP_EXPECTED: dict[str, dict[int, tuple[str, str, str]]] = {
    # profile -> port -> (nmap service name, product, version); "" = not checked
    "hikvision-ds-2cd2042fwd": {
        80: ("http", "Hikvision IP camera httpd", ""),
        554: ("rtsp", "Hikvision DVR rtspd", ""),
        49152: ("upnp", "Portable SDK for UPnP devices", "1.6.6"),
    },
    "dahua-ipc-hdw4431c-a": {
        80: ("http", "Dahua webcam httpd", ""),
        554: ("rtsp", "Dahua IP camera rtspd", ""),
        49152: ("upnp", "Portable SDK for UPnP devices", "1.6.18"),
    },
    "hp-laserjet-pro-m201dw": {
        80: ("http", "HP LaserJet Pro M201dw printer http config", ""),
        631: ("http", "HP LaserJet Pro M201dw printer http config", ""),
    },  # 505 to HTTP/1.0
    "brother-mfc-7820n": {80: ("http", "Debut embedded httpd", "0.07")},
    "philips-hue-bridge": {80: ("http", "Philips Hue wireless lighting bridge", "")},
    "google-nest-mini": {8008: ("http", "Google Chromecast httpd", "")},
    "yealink-sip-t46s": {80: ("http", "Yealink VoIP phone httpd", "")},
    "siemens-s7-1500": {502: ("modbus", "Modbus TCP", "")},
    "dahua-nvr4108hs-4ks2": {
        80: ("http", "Dahua webcam httpd", ""),
        554: ("rtsp", "Dahua IP camera rtspd", ""),
        49152: ("upnp", "Portable SDK for UPnP devices", "1.6.19"),
    },
    "zebra-zt410": {80: ("http", "Zebra ZT410-203dpi ZPL label printer http config", "")},
    "cisco-cp-7841": {80: ("http", "Cisco Unified IP Phone httpd", "")},
    "polycom-vvx-310": {80: ("http", "Polycom SoundPoint VoIP phone http config", "")},
    "grandstream-gxp1405": {80: ("http", "Grandstream httpd", "1.10")},
}
NMAP_PORTS = sorted({port for ports in NMAP_EXPECTED.values() for port in ports})


def configs(names: list[str]) -> list[manifests.DeviceConfig]:
    """One device per profile, speaking only ARP and DHCP (its listeners and agent run whatever it speaks)."""
    out = []
    for index, name in enumerate(names):
        prof = catalog.builtin().get(name)
        mac = f"{prof.ouis[0]}:5a:00:{index + 1:02x}"
        out.append(
            manifests.DeviceConfig(
                device_id=f"probe-{index}",
                mac=mac,
                hostname=prof.hostname_for(mac),
                profile=prof,
                protocols=("arp", "dhcp"),
                traffic_interval=600,
            )
        )
    return out


@contextlib.contextmanager
def devices(lab: iotlab.Lab, names: list[str]) -> Iterator[dict[str, str]]:
    """The devices of `names` running and bound; yields profile name -> the device's address."""
    emulator = EngineThread(lab, configs(names))
    try:
        emulator.wait(lambda: all(d.ip is not None for d in emulator.engine.devices) or None, 20, "the devices to bind")
        addresses = {}
        for dev in emulator.engine.devices:
            assert dev.ip is not None
            addresses[dev.config.profile.name] = str(ipaddress.IPv4Address(dev.ip))
        yield addresses
    finally:
        emulator.stop()


@pytest.fixture
def probe_lab(lab_factory: LabFactory) -> iotlab.Lab:
    return lab_factory()


QUICK = ("-Pn", "-n", "-T4", "--max-retries", "1")
"""Every scan here: no host discovery (the devices are known), no DNS, fast timing, one retry."""


def scan(
    lab: iotlab.Lab, *options: str, ports: str, targets: Iterable[str], timeout: float = 180, output: str = "-oX"
) -> str:
    """`nmap OPTIONS -Pn -n -T4 --max-retries 1 -p PORTS -oX - TARGETS` from the gateway: its output (XML, or
    grepable with `output="-oG"`); the test fails if nmap does."""
    run = lab.run_in_gw("nmap", *options, *QUICK, "-p", ports, output, "-", *targets, timeout=timeout)
    assert run.returncode == 0, run.stderr
    return run.stdout


def nmap_services(
    lab: iotlab.Lab, targets: list[str], ports: list[int] = NMAP_PORTS, *extra: str
) -> dict[tuple[str, int], tuple[str, str, str, str, str]]:
    """(address, port) -> (state, service name, product, version, fingerprint of an unmatched service)
    as `nmap -sV -oX -` reports them."""
    out = scan(lab, "-sV", "--host-timeout", "90s", *extra, ports=",".join(map(str, ports)), targets=targets)
    found = {}
    for host in ET.fromstring(out).iter("host"):
        address = host.find("address")
        assert address is not None
        for port in host.iter("port"):
            state, service = port.find("state"), port.find("service")
            assert state is not None
            attrs = service.attrib if service is not None else {}
            found[(address.attrib["addr"], int(port.attrib["portid"]))] = (
                state.attrib["state"],
                attrs.get("name", ""),
                attrs.get("product", ""),
                attrs.get("version", ""),
                attrs.get("servicefp", ""),
            )
    return found


def test_nmap_version_scan_names_each_profile_vendor_and_product(probe_lab: iotlab.Lab) -> None:
    with devices(probe_lab, list(NMAP_EXPECTED)) as addresses:
        found = nmap_services(probe_lab, list(addresses.values()))
    problems = []
    for name, ports in NMAP_EXPECTED.items():
        for port in NMAP_PORTS:
            state, service, product, version, _ = found[(addresses[name], port)]
            if port not in ports:
                if state != "closed":  # a RST with the profile's shape, not silence
                    problems.append(f"{name}:{port} is {state}, expected closed")
                continue
            want_service, want_product, want_version = ports[port]
            got = (state, service, product, version if want_version else "")
            if got != ("open", want_service, want_product, want_version):
                problems.append(f"{name}:{port}: nmap says {got}, expected {('open', *ports[port])}")
    assert not problems, "\n".join(problems)


OS_EXPECTED = {  # profile -> nmap 7.93's exact OS match (the profile's kernel is in brackets)
    "hikvision-ds-2cd2042fwd": "Linux 2.6.32 - 3.10",  # Linux 3.0.8 (HiSilicon SDK)
    "philips-hue-bridge": "Linux 3.2 - 4.9",  # OpenWrt, Linux 3.14
}


def test_nmap_os_detection_finds_the_profiles_linux(probe_lab: iotlab.Lab) -> None:
    """nmap -O reads the SYN-ACK (window, options), RSTs, IP IDs, ICMP errors and echo replies."""
    with devices(probe_lab, list(OS_EXPECTED)) as addresses:
        out = scan(probe_lab, "-O", "-sS", "-sU", ports="T:80,8080,U:162", targets=addresses.values(), timeout=120)
    found = {}
    for host in ET.fromstring(out).iter("host"):
        address = host.find("address")
        match = host.find("os/osmatch")
        assert address is not None
        found[address.attrib["addr"]] = (match.attrib["name"], match.attrib["accuracy"]) if match is not None else None
    assert {name: found[ip] for name, ip in addresses.items()} == {n: (os, "100") for n, os in OS_EXPECTED.items()}


SNMP_EXPECTED = {
    "hp-laserjet-pro-m201dw": ("HP ETHERNET MULTI-ENVIRONMENT", "iso.3.6.1.4.1.11.2.3.9.1"),
    "brother-mfc-7820n": ("Brother NC-6400h", "iso.3.6.1.4.1.2435.2.3.9.1"),
    "siemens-s7-1500": ("Siemens, SIMATIC S7, CPU 1511-1 PN", "iso.3.6.1.4.1.4329.6.1.2513.1"),
    "zebra-zt410": ("ZEBRA TECHNOLOGIES ZT410", "iso.3.6.1.4.1.10642.1.1"),
}


def snmp(lab: iotlab.Lab, tool: str, *args: str) -> list[str]:
    run = lab.run_in_gw(tool, "-v2c", "-c", "public", "-t", "2", "-r", "1", "-On", *args, timeout=30)
    assert run.returncode == 0, f"{tool} {' '.join(args)}: {run.stderr}"
    return run.stdout.splitlines()


def test_snmpwalk_reads_sysdescr_sysobjectid_and_the_mac(probe_lab: iotlab.Lab) -> None:
    macs = {c.profile.name: c.mac for c in configs(list(SNMP_EXPECTED))}
    with devices(probe_lab, list(SNMP_EXPECTED)) as addresses:
        for name, (descr, object_id) in SNMP_EXPECTED.items():
            ip = addresses[name]
            system = snmp(probe_lab, "snmpwalk", ip, "1.3.6.1.2.1.1")
            assert system[0].startswith(f'.1.3.6.1.2.1.1.1.0 = STRING: "{descr}'), system
            assert system[1] == f".1.3.6.1.2.1.1.2.0 = OID: .{object_id.replace('iso', '1')}", system
            assert system[2].startswith(".1.3.6.1.2.1.1.3.0 = Timeticks: ("), system
            [mac] = snmp(probe_lab, "snmpget", ip, "1.3.6.1.2.1.2.2.1.6.1")
            assert mac.split("STRING: ")[1].strip().lower().replace(" ", ":") == macs[name], mac
            bulk = snmp(probe_lab, "snmpbulkwalk", ip, "1.3.6.1.2.1")
            steady = [line for line in system if "Timeticks" not in line]
            assert [line for line in bulk if "Timeticks" not in line][: len(steady)] == steady and len(bulk) >= 16
        printer = snmp(probe_lab, "snmpwalk", addresses["hp-laserjet-pro-m201dw"], "1.3.6.1.2.1.43")
        assert '.1.3.6.1.2.1.43.11.1.1.6.1.1 = STRING: "Black Cartridge HP CF283A"' in printer
        wrong = probe_lab.run_in_gw(
            "snmpget",
            "-v2c",
            "-c",
            "private",
            "-t",
            "1",
            "-r",
            "0",
            addresses["hp-laserjet-pro-m201dw"],
            "1.3.6.1.2.1.1.1.0",
            timeout=30,
        )
        assert wrong.returncode != 0 and "Timeout" in wrong.stderr + wrong.stdout
        grepable = scan(
            probe_lab,
            "-sU",
            "-sV",
            ports="161,162",
            targets=[addresses["hp-laserjet-pro-m201dw"]],
            timeout=120,
            output="-oG",
        )
        assert "161/open/udp//snmp//SNMPv1 server (public)/, 162/closed/udp//snmptrap///" in grepable, grepable


def test_curl_gets_admin_pages_upnp_description_and_rtsp_describe(probe_lab: iotlab.Lab) -> None:
    names = ["hikvision-ds-2cd2042fwd", "dahua-ipc-hdw4431c-a", "philips-hue-bridge", "hp-laserjet-pro-m201dw"]
    with devices(probe_lab, names) as addresses:
        hik, dahua, hue = addresses["hikvision-ds-2cd2042fwd"], addresses["dahua-ipc-hdw4431c-a"], addresses[names[2]]

        def curl(*args: str) -> str:
            run = probe_lab.run_in_gw("curl", "-sS", "-i", "--max-time", "10", *args, timeout=30)
            assert run.returncode == 0, run.stderr
            return run.stdout  # text mode: CRLF reads as "\n"

        page = curl(f"http://{hik}/")
        assert page.startswith("HTTP/1.0 200 OK\nDate: ") and "\nServer: App-webs/\n" in page
        assert "/doc/page/login.asp" in page
        denied = curl(f"http://{hik}/ISAPI/System/deviceInfo")
        assert denied.startswith("HTTP/1.0 401 Unauthorized") and 'realm="IP Camera(' in denied

        moved = curl(f"http://{addresses['hp-laserjet-pro-m201dw']}/")
        assert moved.startswith("HTTP/1.1 302 Found") and "/info_deviceStatus.html" in moved

        uuid = ssdp.device_uuid(configs(names)[2])
        description = curl(f"http://{hue}/description.xml")
        assert "<modelNumber>BSB002</modelNumber>" in description and f"<UDN>uuid:{uuid}</UDN>" in description
        assert f"<friendlyName>Philips hue ({hue})</friendlyName>" in description
        assert '"unauthorized user"' in curl(f"http://{hue}/api/lights")
        upnp = curl(f"http://{hik}:49152/upnpdevicedesc.xml")
        assert "SERVER: Linux/3.0.8, UPnP/1.0, Portable SDK for UPnP devices/1.6.6" in upnp
        assert f"<UDN>uuid:{ssdp.device_uuid(configs(names)[0])}</UDN>" in upnp

        describe = curl("-X", "DESCRIBE", f"rtsp://{dahua}/cam/realmonitor?channel=1&subtype=0")
        assert describe.startswith("RTSP/1.0 401 Unauthorized\nCSeq: ") and "Server: Dahua Rtsp Server" in describe
        options = curl(f"rtsp://{hik}/Streaming/Channels/101")
        assert options.startswith("RTSP/1.0 200 OK\nCSeq: 1\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY")


def test_every_ssdp_location_serves_the_description_of_the_announced_device(probe_lab: iotlab.Lab) -> None:
    """A control point fetches the LOCATION of the NOTIFY/200 OK: every announcing profile serves it, same UUID."""
    names = sorted(p.name for p in catalog.builtin() if p.ssdp is not None)
    with devices(probe_lab, names) as addresses:
        for config in configs(names):
            ssdp_data = config.profile.ssdp
            assert ssdp_data is not None
            url = f"http://{addresses[config.profile.name]}:{ssdp_data.location_port}{ssdp_data.location_path}"
            run = probe_lab.run_in_gw("curl", "-sS", "--max-time", "10", "-w", "%{http_code}", url, timeout=30)
            assert run.returncode == 0 and run.stdout.endswith("200"), f"{url}: {run.stdout[-200:]} {run.stderr}"
            assert f"<UDN>uuid:{ssdp.device_uuid(config)}</UDN>" in run.stdout, f"{url}: {run.stdout[:300]}"
        roku = addresses["roku-express"]
        info = probe_lab.run_in_gw("curl", "-sS", "--max-time", "10", f"http://{roku}:8060/query/device-info").stdout
        assert "<model-number>3930X</model-number>" in info and "<vendor-name>Roku</vendor-name>" in info
        tv = addresses["samsung-tizen-tv"]
        api = probe_lab.run_in_gw("curl", "-sS", "--max-time", "10", f"http://{tv}:8001/api/v2/").stdout
        assert '"type":"Samsung SmartTV"' in api and f'"uri":"http://{tv}:8001/api/v2/"' in api, api
