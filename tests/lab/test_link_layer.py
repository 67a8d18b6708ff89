"""What a phone sends at link-up, read by tshark on the gateway: LLDP-MED and CDP before its first DHCPDISCOVER.

The frames are written by tcpdump (`FullCapture`: `-U`, each frame written as the kernel hands it over):
tshark's capture, on a loaded machine, once held no DHCP frame at all although the phone had bound."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from iot_emulator import lab as iotlab
from tests import poll

from .fingerprint_capture import FullCapture, decode
from .test_probes import configs, probe_lab  # noqa: F401  (fixture)
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab


def captured(pcap: Path, display_filter: str) -> bool:
    """The capture file, as written so far, holds a frame matching `display_filter`."""
    try:
        return bool(decode(pcap, display_filter, ["frame.number"]))
    except subprocess.CalledProcessError:  # read while a frame is half-written
        return False


def test_phone_sends_lldp_med_and_cdp_before_dhcp(probe_lab: iotlab.Lab, tmp_path: Path) -> None:  # noqa: F811
    [config] = configs(["cisco-cp-7841"])
    config = dataclasses.replace(config, protocols=("arp", "dhcp", "lldp"))  # "lldp" also runs CDP
    pcap = tmp_path / "link.pcap"
    capture = FullCapture(probe_lab, pcap)
    try:
        emulator = EngineThread(probe_lab, [config])
        try:
            emulator.wait(lambda: emulator.engine.devices[0].ip is not None or None, 20, "the phone to bind")
            # bound: the ACK crossed the gateway's interface, and tcpdump writes each frame as it comes
            poll.until(lambda: captured(pcap, "dhcp.option.dhcp == 5"), 15, "the DHCPACK in the capture")
        finally:
            emulator.stop()
    finally:
        capture.stop()
    rows = decode(
        pcap,
        "lldp or dhcp",
        ["frame.number", "lldp.media.subtype.class", "dhcp.option.dhcp", "lldp.media.dscp", "lldp.media.subtype.caps"],
    )
    kinds = ["lldp" if row[1] else "dhcp" if row[2] else "?" for row in rows]
    cdp = decode(
        pcap, "cdp", ["frame.number", "cdp.deviceid", "cdp.platform", "cdp.checksum.status", "cdp.capabilities"]
    )
    assert kinds[0] == "lldp" and "dhcp" in kinds, rows  # the first LLDPDU precedes the DISCOVER
    first = rows[0]
    assert first[1] == "3" and first[3] == "46" and first[4] == "0x0023", first  # class III, voice DSCP 46, caps
    discover = int(next(row[0] for row in rows if row[2]))
    assert cdp and int(cdp[0][0]) < discover, (cdp, rows)
    assert cdp[0][1:] == [config.hostname, "Cisco IP Phone 7841", "1", "0x00000490"], cdp  # checksum status 1: good
