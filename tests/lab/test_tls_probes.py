"""A device's HTTPS port seen by real TLS clients from the gateway namespace: openssl s_client, curl -k and
nmap -sV with the ssl-cert script read the vendor-named certificate and the HTTP answer inside."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.profiles import catalog

from .test_probes import devices, probe_lab  # noqa: F401  (fixture)

pytestmark = pytest.mark.lab
HUE = "philips-hue-bridge"
BRIDGE_ID = "001788fffe5a0001"  # the lab device's MAC 00:17:88:5a:00:01 with fffe in the middle


def test_hue_bridge_https_shows_its_bridge_certificate(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, [HUE]) as addresses:
        address = addresses[HUE]
        s_client = probe_lab.run_in_gw(
            "openssl", "s_client", "-connect", f"{address}:443", "-brief", input="", timeout=30
        )
        curl = probe_lab.run_in_gw(
            "curl", "-sS", "-k", "-i", "--max-time", "10", f"https://{address}/api/config", timeout=30
        )
        nmap = probe_lab.run_in_gw(
            "nmap", "-sV", "-Pn", "-n", "-T4", "-p", "443", "--script", "ssl-cert", "-oX", "-", address, timeout=120
        )
    log = s_client.stdout + s_client.stderr
    assert f"Peer certificate: C = NL, O = Philips Hue, CN = {BRIDGE_ID}" in log, log
    assert "Protocol version: TLSv1.2" in log and "Signature type: ECDSA" in log, log
    assert curl.returncode == 0, curl.stderr
    assert curl.stdout.startswith("HTTP/1.1 200 OK\n") and '"modelid":"BSB002"' in curl.stdout
    port = ET.fromstring(nmap.stdout).find(".//port")
    assert port is not None
    service, script = port.find("service"), port.find("script[@id='ssl-cert']")
    assert service is not None and script is not None, nmap.stdout
    assert service.attrib.get("tunnel") == "ssl" and service.attrib["name"] == "http", service.attrib
    assert service.attrib.get("product") == "Philips Hue wireless lighting bridge", service.attrib
    assert script.attrib["output"].startswith(
        f"Subject: commonName={BRIDGE_ID}/organizationName=Philips Hue/countryName=NL\n"
        "Issuer: commonName=root-bridge/organizationName=Philips Hue/countryName=NL\nPublic Key type: ec\n"
    ), script.attrib["output"]


HTTPS_CERTIFICATES = {  # profile -> the ssl-cert script's Subject and Issuer lines (per-device values at the end)
    "hikvision-ds-2cd2042fwd": (
        "Subject: commonName=hikvision.com/organizationName=HIKVISION/stateOrProvinceName=ZJ/countryName=CN",
        "Issuer: commonName=hikvision.com/organizationName=HIKVISION/stateOrProvinceName=ZJ/countryName=CN",
    ),
    "dahua-ipc-hdw4431c-a": (
        "Subject: commonName={MAC12}/organizationName=DAHUA/stateOrProvinceName=ZheJiang/countryName=CN",
        "Issuer: commonName=Product Root CA/organizationName=DAHUA/stateOrProvinceName=ZheJiang/countryName=CN",
    ),
    "dahua-nvr4108hs-4ks2": (
        "Subject: commonName={MAC12}/organizationName=DAHUA/stateOrProvinceName=ZheJiang/countryName=CN",
        "Issuer: commonName=Product Root CA/organizationName=DAHUA/stateOrProvinceName=ZheJiang/countryName=CN",
    ),
    "axis-p3224-lv": (
        "Subject: commonName=axis-{mac12}/organizationName=Axis Communications AB/countryName=SE",
        "Issuer: commonName=axis-{mac12}/organizationName=Axis Communications AB/countryName=SE",
    ),
    "yealink-sip-t46s": (
        "Subject: commonName=yealink.com/organizationName=Yealink Network Technology Co., Ltd./"
        "stateOrProvinceName=FuJian/countryName=CN",
        "Issuer: commonName=Yealink Equipment Issuing CA/organizationName=Yealink Network Technology Co., Ltd./"
        "countryName=CN",
    ),
    "polycom-vvx-310": (
        "Subject: commonName={mac12}/organizationName=Polycom Inc.",
        "Issuer: commonName=Polycom Equipment Policy CA/organizationName=Polycom Inc.",
    ),
}
HTTPS_ANSWERS = {  # profile -> the status line of `curl -k https://<ip>/`, nmap's service name and product on 443
    "hikvision-ds-2cd2042fwd": ("HTTP/1.0 200 OK", "http", "Hikvision IP camera httpd"),
    "dahua-ipc-hdw4431c-a": ("HTTP/1.1 200 OK", "http", "Dahua webcam httpd"),
    "dahua-nvr4108hs-4ks2": ("HTTP/1.1 200 OK", "http", "Dahua webcam httpd"),
    "axis-p3224-lv": ("HTTP/1.1 302 Found", "https", ""),  # nmap 7.93 has no line for AXIS OS' web server
    "yealink-sip-t46s": ("HTTP/1.0 200 OK", "http", "Yealink VoIP phone httpd"),
    "polycom-vvx-310": ("HTTP/1.1 302 Found", "http", "Polycom SoundPoint VoIP phone http config"),
}


def test_cameras_and_phones_serve_their_web_ui_over_https_with_the_vendor_certificate(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, list(HTTPS_CERTIFICATES)) as addresses:
        curls = {
            name: probe_lab.run_in_gw("curl", "-sS", "-k", "-i", "--max-time", "10", f"https://{address}/", timeout=30)
            for name, address in addresses.items()
        }
        nmap = probe_lab.run_in_gw(
            "nmap",
            "-sV",
            "-Pn",
            "-n",
            "-T4",
            "-p",
            "443",
            "--script",
            "ssl-cert",
            "-oX",
            "-",
            *addresses.values(),
            timeout=180,
        )
    hosts = {}
    for host in ET.fromstring(nmap.stdout).iter("host"):
        address = host.find("address")
        port = host.find(".//port")
        assert address is not None and port is not None
        hosts[address.attrib["addr"]] = port
    seen, expected = {}, {}
    for index, (name, (subject, issuer)) in enumerate(HTTPS_CERTIFICATES.items()):
        status, service_name, product = HTTPS_ANSWERS[name]
        assert curls[name].returncode == 0, curls[name].stderr
        port = hosts[addresses[name]]
        service, script = port.find("service"), port.find("script[@id='ssl-cert']")
        assert service is not None and script is not None, nmap.stdout
        lines = script.attrib["output"].split("\n")
        mac12 = (profile_prefix(name) + f"5a00{index + 1:02x}").lower()
        values = {"mac12": mac12, "MAC12": mac12.upper()}
        seen[name] = (
            curls[name].stdout.split("\n")[0],
            service.attrib.get("tunnel"),
            service.attrib["name"],
            service.attrib.get("product", ""),
            lines[0],
            lines[1],
        )
        expected[name] = (status, "ssl", service_name, product, subject.format(**values), issuer.format(**values))
    assert seen == expected


def profile_prefix(name: str) -> str:
    """The lab device's MAC prefix (its profile's first OUI), without colons, as `test_probes.configs` uses it."""
    return catalog.builtin().get(name).ouis[0].replace(":", "")
