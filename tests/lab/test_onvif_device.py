"""The cameras' ONVIF device service, reached as ONVIF clients reach it: nmap's `broadcast-wsdd-discover`
finds each device's XAddrs and curl POSTs SOAP 1.2 GetSystemDateAndTime and GetDeviceInformation there;
libonvif's `onvif-util` (Debian onvif-tools) discovers the cameras by multicast and logs in to one, reading
its name, serial and clock as video management software does."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from iot_emulator import lab as iotlab

from .test_probes import devices, probe_lab  # noqa: F401  (fixture)

pytestmark = pytest.mark.lab
TDS = "{http://www.onvif.org/ver10/device/wsdl}"
TT = "{http://www.onvif.org/ver10/schema}"
IDENTITY = {  # profile -> (Manufacturer, Model, FirmwareVersion) as GetDeviceInformation gives them
    "hikvision-ds-2cd2042fwd": ("HIKVISION", "DS-2CD2042FWD-I", "V5.4.5 build 170124"),
    "dahua-ipc-hdw4431c-a": ("Dahua", "IPC-HDW4431C-A", "2.460.0000000.16.R, build: 2017-02-13"),
    "dahua-nvr4108hs-4ks2": ("Dahua", "NVR4108HS-4KS2", "4.000.0000000.1.R, Build Date 2018-08-03"),
    "axis-p3224-lv": ("AXIS", "P3224-LV", "9.80.3.8"),
}


def soap(operation: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        f'<s:Body><{operation} xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
    )


def test_onvif_clients_read_each_camera_identity_at_its_discovered_xaddrs(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, list(IDENTITY)) as addresses:
        discovery = probe_lab.run_in_gw(
            "nmap",
            "-n",
            "-e",
            probe_lab.gw_iface,
            "--script",
            "broadcast-wsdd-discover",
            "--script-args",
            "broadcast-wsdd-discover.timeout=3s",
            timeout=60,
        )
        xaddrs = re.findall(r"Address: (http://\S+/onvif/device_service)", discovery.stdout)
        answers = {}
        for xaddr in xaddrs:
            for operation in ("GetSystemDateAndTime", "GetDeviceInformation"):
                run = probe_lab.run_in_gw(
                    "curl",
                    "-sS",
                    "--max-time",
                    "10",
                    "-H",
                    "Content-Type: application/soap+xml; charset=utf-8",
                    "--data-binary",
                    soap(operation),
                    xaddr,
                    timeout=30,
                )
                assert run.returncode == 0, run.stderr
                answers[(xaddr, operation)] = ET.fromstring(run.stdout)
        # onvif-util multicasts its Probe without naming an interface: the gateway needs a multicast route
        probe_lab.run_in_gw("ip", "route", "replace", "224.0.0.0/4", "dev", probe_lab.gw_iface, check=True)
        util_list = probe_lab.run_in_gw("onvif-util", "-a", timeout=60)
        util_login = probe_lab.run_in_gw(
            "onvif-util", "-u", "admin", "-p", "admin", addresses["axis-p3224-lv"], input="get time\nquit\n", timeout=60
        )
    assert sorted(xaddrs) == sorted(f"http://{a}/onvif/device_service" for a in addresses.values()), discovery.stdout
    for name, (manufacturer, model, firmware) in IDENTITY.items():
        xaddr = f"http://{addresses[name]}/onvif/device_service"
        info = answers[(xaddr, "GetDeviceInformation")].find(f".//{TDS}GetDeviceInformationResponse")
        assert info is not None, name
        assert (
            info.findtext(f"{TDS}Manufacturer"),
            info.findtext(f"{TDS}Model"),
            info.findtext(f"{TDS}FirmwareVersion"),
        ) == (manufacturer, model, firmware)
        utc = answers[(xaddr, "GetSystemDateAndTime")].find(f".//{TT}UTCDateTime")
        assert utc is not None, name
        # no NTP runs here: the clock started at the epoch at boot, as an unsynchronised camera's does
        assert (utc.findtext(f"{TT}Date/{TT}Year"), utc.findtext(f"{TT}Date/{TT}Month")) == ("1970", "1"), name
        assert f"{addresses[name]} ({manufacturer} {model})" in util_list.stdout, util_list.stdout
    assert f"Found {len(IDENTITY)} cameras" in util_list.stdout, util_list.stdout
    assert util_login.returncode == 0, util_login.stderr
    assert "successfully connected to host\n    name:   AXIS P3224-LV\n    serial: ACCC8E5A0004\n" in (
        util_login.stdout
    ), util_login.stdout
    assert "Timezone:    GMT0\n" in util_login.stdout and "Time Set By: NTP\n" in util_login.stdout
