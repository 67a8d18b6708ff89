"""Compromise behaviours run by a scenario file through the real CLI (`iotemu run --scenario`), end to end:
the runner builds them with `compromise.build_service` at their step, they reach the lab internet's
servers (nginx for the beacon, telnetd for the brute force), and stop at the step's end, each labelled
by `scenario` marks and by log lines naming the scenario."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from iot_emulator.scenarios import beacon, credentials
from tests.conftest import LabFactory

from .emulator import Emulator, in_lab

pytestmark = pytest.mark.lab

MAC = "44:19:b6:5c:01:01"
STEPS = [
    {"name": "beacon", "at": 1, "duration": 4, "behaviour": {"kind": "c2_beacon", "protocol": "http", "period": 1}},
    {
        "name": "telnet",
        "at": 1,
        "behaviour": {"kind": "brute_force", "service": "telnet", "attempts": 3, "interval": 0.5},
    },
    {"name": "scan", "at": 1, "duration": 3, "behaviour": {"kind": "port_scan", "ports": [23, 80], "max_hosts": 2}},
]


def test_a_scenario_runs_compromise_behaviours_against_the_lab_internet(
    lab_factory: LabFactory, tmp_path: Path
) -> None:
    lab = lab_factory(internet=True)
    manifest = tmp_path / "cam.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "iotemu.io/v1alpha1",
                "kind": "IoTDevice",
                "metadata": {"name": "cam"},
                "spec": {"profile": "hikvision-ds-2cd2042fwd", "mac": MAC, "protocols": ["arp", "dhcp"]},
            }
        )
    )
    scenario = tmp_path / "breach.yaml"
    scenario.write_text(yaml.safe_dump({"name": "breach", "steps": STEPS}))
    argv = [
        "run",
        "-f",
        str(manifest),
        "--scenario",
        str(scenario),
        *in_lab(lab, tmp_path / "state"),
    ]
    with Emulator(argv) as emulator:
        for _ in STEPS:
            emulator.wait_for(lambda m: m["type"] == "scenario" and m["state"] == "ended", 60, "every step's end")
        assert emulator.stop(timeout=15) == 0, emulator.tail()
    messages = emulator.messages
    ip = next(m["assigned_ip"] for m in messages if m["type"] == "dhcp_ack")
    marks = [(m["behaviour"], m["state"]) for m in messages if m["type"] == "scenario"]
    for spec in STEPS:
        kind = spec["behaviour"]["kind"]  # type: ignore[index]
        assert marks.count((kind, "started")) == 1 and marks.count((kind, "ended")) == 1, marks
    lines = [m["message"] for m in messages if m["type"] == "log" and m["message"].startswith("[scenario breach")]
    assert any(" c2_beacon:" in line for line in lines) and any(" port_scan:" in line for line in lines), lines

    internet = lab.directory / "internet"
    bot = beacon.bot_id(MAC)
    gets = (internet / "http-access.log").read_text().count(f'{ip} "GET /gate.php?id={bot} HTTP/1.1"')
    assert 3 <= gets <= 5, gets  # every second for the step's 4 s, then no more
    failed = re.findall(rf"FAILED LOGIN from {re.escape(ip)} FOR (\S+)", (internet / "telnet-logins.log").read_text())
    assert failed == [user for user, _ in credentials.MIRAI[:3]]
