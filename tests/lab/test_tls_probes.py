"""A device's HTTPS port seen by real TLS clients from the gateway namespace: openssl s_client, curl -k and
nmap -sV with the ssl-cert script read the vendor-named certificate and the HTTP answer inside."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from iot_emulator import lab as iotlab

from .test_probes import devices, probe_lab  # noqa: F401  (fixture)

pytestmark = pytest.mark.lab
HUE = "philips-hue-bridge"
BRIDGE_ID = "001788fffe5a0001"  # the lab device's MAC 00:17:88:5a:00:01 with fffe in the middle


def test_hue_bridge_https_shows_its_bridge_certificate(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, [HUE]) as addresses:
        address = addresses[HUE]
        s_client = probe_lab.run_in_gw("openssl", "s_client", "-connect", f"{address}:443", "-brief",
                                       input="", timeout=30)  # fmt: skip
        curl = probe_lab.run_in_gw("curl", "-sS", "-k", "-i", "--max-time", "10", f"https://{address}/api/config",
                                   timeout=30)  # fmt: skip
        nmap = probe_lab.run_in_gw("nmap", "-sV", "-Pn", "-n", "-T4", "-p", "443", "--script", "ssl-cert",
                                   "-oX", "-", address, timeout=120)  # fmt: skip
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
