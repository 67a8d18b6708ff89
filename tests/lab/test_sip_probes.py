"""The IP phones' SIP on 5060 as scanners read it from the gateway namespace: nmap -sU -sV with the
`sip-methods` script (the Allow list), sipsak's OPTIONS ping (the whole answer), and nmap -sV on TCP 5060
for the phones whose call server speaks TCP."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from iot_emulator import lab as iotlab

from .test_probes import devices, probe_lab, scan  # noqa: F401  (fixture)

pytestmark = pytest.mark.lab
PHONES = {  # profile -> (nmap -sV product, version, sip-methods' Allow list)
    "cisco-cp-7841": (
        "Cisco-CP7841/14.1.1",
        "",
        "ACK,BYE,CANCEL,INVITE,NOTIFY,OPTIONS,REFER,REGISTER,UPDATE,SUBSCRIBE,INFO",
    ),
    # nmap 7.93's PolycomVVX line belongs to the TCP SIPOptions probe: over UDP the softmatch names it
    "polycom-vvx-310": (
        "PolycomVVX-VVX_310-UA/5.9.5.0614",
        "",
        "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, MESSAGE, SUBSCRIBE, NOTIFY, PRACK, UPDATE, REFER",
    ),
    "yealink-sip-t46s": (
        "Yealink SIP-T46S VoIP phone sipd",
        "66.86.0.15",
        "INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE, REFER, PUBLISH, UPDATE, MESSAGE",
    ),
    "grandstream-gxp1405": (
        "Grandstream GXP1405 1.0.8.6",
        "",
        "INVITE, ACK, OPTIONS, CANCEL, BYE, SUBSCRIBE, NOTIFY, INFO, REFER, UPDATE, MESSAGE",
    ),
}


def test_nmap_names_each_phone_and_lists_its_sip_methods(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, list(PHONES)) as addresses:
        out = scan(probe_lab, "-sU", "-sV", "--script", "sip-methods", ports="5060", targets=addresses.values())
        sipsak = probe_lab.run_in_gw("sipsak", "-vv", "-s", f"sip:100@{addresses['yealink-sip-t46s']}", timeout=30)
    seen = {}
    for host in ET.fromstring(out).iter("host"):
        address, port = host.find("address"), host.find(".//port")
        assert address is not None and port is not None
        state, service, script = port.find("state"), port.find("service"), port.find("script[@id='sip-methods']")
        assert state is not None and service is not None and script is not None, out
        seen[address.attrib["addr"]] = (
            state.attrib["state"],
            service.attrib["name"],
            service.attrib.get("product", ""),
            service.attrib.get("version", ""),
            script.attrib["output"].strip(),
        )
    expected = {
        addresses[name]: ("open", "sip", product, version, allow) for name, (product, version, allow) in PHONES.items()
    }
    assert seen == expected
    assert sipsak.returncode == 0, sipsak.stdout + sipsak.stderr
    assert "SIP/2.0 200 OK" in sipsak.stdout and "User-Agent: Yealink SIP-T46S 66.86.0.15" in sipsak.stdout


TCP_PHONES = {  # profile -> nmap -sV on TCP 5060 (the TCP SIPOptions probe has Polycom's exact line)
    "cisco-cp-7841": ("sip", "Cisco-CP7841/14.1.1", ""),
    "polycom-vvx-310": ("sip", "Polycom VVX 310 SIP", "5.9.5.0614"),
}


def test_nmap_names_the_phones_listening_on_tcp(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, [*TCP_PHONES, "yealink-sip-t46s"]) as addresses:
        out = scan(probe_lab, "-sV", ports="5060", targets=addresses.values())
    seen = {}
    for host in ET.fromstring(out).iter("host"):
        address, port = host.find("address"), host.find(".//port")
        assert address is not None and port is not None
        state, service = port.find("state"), port.find("service")
        assert state is not None
        attrs = service.attrib if service is not None else {}
        seen[address.attrib["addr"]] = (
            state.attrib["state"],
            attrs.get("name", ""),
            attrs.get("product", ""),
            attrs.get("version", ""),
        )
    expected = {addresses[name]: ("open", *answer) for name, answer in TCP_PHONES.items()}
    expected[addresses["yealink-sip-t46s"]] = ("closed", "sip", "", "")  # UDP only: nmap names the port by its number
    assert seen == expected
