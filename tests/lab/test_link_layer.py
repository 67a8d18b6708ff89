"""What a phone sends at link-up, read by tshark on the gateway: LLDP-MED and CDP before its first DHCPDISCOVER."""

from __future__ import annotations

import contextlib
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


def test_phone_sends_lldp_med_and_cdp_before_dhcp(probe_lab: iotlab.Lab, tmp_path: Path) -> None:  # noqa: F811
    [config] = configs(["cisco-cp-7841"])
    config = dataclasses.replace(config, protocols=("arp", "dhcp", "lldp"))  # "lldp" also runs CDP
    capture = FullCapture(probe_lab, tmp_path / "link.pcap")
    try:
        emulator = EngineThread(probe_lab, [config])
        try:
            # bound: the ACK has crossed the gateway's interface. tshark may not have written it yet, and
            # loses what it has not written when stopped: give it time to, without failing here (CI once
            # saw no ACK in the file for 60 s while tshark ran); the assertions read the closed file.
            emulator.wait(lambda: emulator.engine.devices[0].ip is not None or None, 20, "the phone to bind")
            with contextlib.suppress(AssertionError, subprocess.CalledProcessError):  # a half-written frame
                poll.until(
                    lambda: decode(capture.pcap, "dhcp.option.dhcp == 5", ["frame.number"]),
                    15,
                    "the DHCPACK in the capture",
                )
        finally:
            emulator.stop()
    finally:
        capture.stop()
    rows = decode(
        capture.pcap,
        "lldp or dhcp",
        ["frame.number", "lldp.media.subtype.class", "dhcp.option.dhcp", "lldp.media.dscp", "lldp.media.subtype.caps"],
    )
    kinds = ["lldp" if row[1] else "dhcp" if row[2] else "?" for row in rows]
    cdp = decode(
        capture.pcap, "cdp", ["frame.number", "cdp.deviceid", "cdp.platform", "cdp.checksum.status", "cdp.capabilities"]
    )
    assert kinds[0] == "lldp" and "dhcp" in kinds, rows  # the first LLDPDU precedes the DISCOVER
    first = rows[0]
    assert first[1] == "3" and first[3] == "46" and first[4] == "0x0023", first  # class III, voice DSCP 46, caps
    discover = int(next(row[0] for row in rows if row[2]))
    assert cdp and int(cdp[0][0]) < discover, (cdp, rows)
    assert cdp[0][1:] == [config.hostname, "Cisco IP Phone 7841", "1", "0x00000490"], cdp  # checksum status 1: good
