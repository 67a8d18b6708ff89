"""What a phone sends at link-up, read by tshark on the gateway: LLDP-MED before its first DHCPDISCOVER."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from iot_emulator import lab as iotlab

from .fingerprint_capture import FullCapture, decode
from .test_probes import configs, probe_lab  # noqa: F401  (fixture)
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab


def test_phone_sends_lldp_med_before_dhcp(probe_lab: iotlab.Lab, tmp_path: Path) -> None:  # noqa: F811
    [config] = configs(["cisco-cp-7841"])
    config = dataclasses.replace(config, protocols=("arp", "dhcp", "lldp"))
    capture = FullCapture(probe_lab, tmp_path / "link.pcap")
    try:
        emulator = EngineThread(probe_lab, [config])
        try:
            emulator.wait(lambda: emulator.engine.devices[0].ip is not None or None, 20, "the phone to bind")
        finally:
            emulator.stop()
    finally:
        capture.stop()
    rows = decode(capture.pcap, "lldp or dhcp", ["frame.number", "lldp.media.subtype.class", "dhcp.option.dhcp",
                                                 "lldp.media.dscp", "lldp.media.subtype.caps"])  # fmt: skip
    kinds = ["lldp" if row[1] else "dhcp" if row[2] else "?" for row in rows]
    assert kinds[0] == "lldp" and "dhcp" in kinds, rows  # the first LLDPDU precedes the DISCOVER
    first = rows[0]
    assert first[1] == "3" and first[3] == "46" and first[4] == "0x0023", first  # class III, voice DSCP 46, caps
