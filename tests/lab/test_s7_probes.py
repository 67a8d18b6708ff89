"""The S7-1500 profile's port 102 read by nmap's `s7-info` script from the gateway namespace: COTP connect,
S7 Setup communication and the SZL reads of module and component identification."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from iot_emulator import lab as iotlab

from .test_probes import devices, probe_lab  # noqa: F401  (fixture)

pytestmark = pytest.mark.lab
PLC = "siemens-s7-1500"
MAC6 = "5A0001"  # the lab device's MAC ends 5a:00:01


def test_nmap_s7_info_reads_module_firmware_and_station_names(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, [PLC]) as addresses:
        run = probe_lab.run_in_gw(
            "nmap",
            "-sV",
            "-Pn",
            "-n",
            "-T4",
            "-p",
            "102",
            "--script",
            "s7-info",
            "-oX",
            "-",
            addresses[PLC],
            timeout=120,
        )
    assert run.returncode == 0, run.stderr
    port = ET.fromstring(run.stdout).find(".//port")
    assert port is not None
    state, service, script = port.find("state"), port.find("service"), port.find("script[@id='s7-info']")
    assert state is not None and service is not None and script is not None, run.stdout
    assert state.attrib["state"] == "open"
    assert (service.attrib["name"], service.attrib.get("product"), service.attrib.get("devicetype")) == (
        "iso-tsap",
        "Siemens S7 PLC",
        "specialized",
    )
    found = {elem.attrib["key"]: elem.text or "" for elem in script.iter("elem")}
    assert found == {
        "Module": "6ES7 511-1AK02-0AB0 ",
        "Basic Hardware": "6ES7 511-1AK02-0AB0 ",
        "Version": "2.9.4",
        "System Name": "S71500/ET200MP station_1",
        "Module Type": "PLC_1",
        "Serial Number": f"S V-L9A{MAC6}2019",
        "Copyright": "Original Siemens Equipment",
    }, script.attrib["output"]
