"""ONVIF WS-Discovery seen by nmap from the gateway namespace: `broadcast-wsdd-discover` multicasts a Probe
to 239.255.255.250:3702 and lists each camera's ProbeMatch; `wsdd-discover` asks one device by unicast."""

from __future__ import annotations

import pytest

from iot_emulator import lab as iotlab

from .test_probes import devices, probe_lab  # noqa: F401  (fixture)

pytestmark = pytest.mark.lab
CAMERAS = ["hikvision-ds-2cd2042fwd", "dahua-ipc-hdw4431c-a", "dahua-nvr4108hs-4ks2", "axis-p3224-lv"]


def test_nmap_finds_every_onvif_device_by_multicast_and_unicast(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, CAMERAS) as addresses:
        broadcast = probe_lab.run_in_gw(
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
        unicast = probe_lab.run_in_gw(
            "nmap",
            "-sU",
            "-Pn",
            "-n",
            "-p",
            "3702",
            "--script",
            "wsdd-discover",
            addresses["hikvision-ds-2cd2042fwd"],
            timeout=60,
        )
    assert broadcast.returncode == 0, broadcast.stderr
    for address in addresses.values():
        assert f"Address: http://{address}/onvif/device_service" in broadcast.stdout, broadcast.stdout
    # nmap's decoder strips the leading characters in [wsdp:] from Types, so "dn:" prints as "n:"
    assert broadcast.stdout.count("Type: n:NetworkVideoTransmitter tds:Device") == len(CAMERAS), broadcast.stdout
    hik = addresses["hikvision-ds-2cd2042fwd"]
    assert "3702/udp open" in unicast.stdout and f"Address: http://{hik}/onvif/device_service" in unicast.stdout, (
        unicast.stdout
    )
