"""Every lifecycle behaviour of a scenario, on the wire of a real lab (dnsmasq), read by tshark on the gateway.

One emulator process (`iotemu run -f fleet.yaml --scenario file.yaml`) runs seven devices, each given
one behaviour by name; tshark captures everything crossing the gateway's interface. The capture is
decoded afterwards and each behaviour checked in it (INIT-REBOOT after a power cycle, new DHCP options
after a firmware update, a lease for a random local MAC, a device silent until it appears, a storm
of DISCOVERs in one instant, departures and returns), next to the `scenario` messages that label them.
Nothing leaves the lab: the gateway namespace has no interface but its end of the lab's veth pair, and
every IPv4 packet captured is addressed inside the lab's subnet (or to broadcast).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import config as labconfig
from iot_emulator.profiles import catalog
from iot_emulator.scenarios import driver, model
from tests import poll
from tests.conftest import LabFactory

from .emulator import Emulator, in_lab
from .fingerprint_capture import FullCapture, decode
from .udp_servers import Capture, EngineThread

pytestmark = pytest.mark.lab

PROFILE = "hikvision-ds-2cd2042fwd"
DEVICES = 7
FIRMWARE_VENDOR_CLASS = "hikvision-fw-5.7"
NEW_AGENT = "Roku/DVP-12.5 (scenario firmware)"
SINK = str(labconfig.SINK_ADDRESS)


def step(device: int, at: float, behaviour: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": behaviour["kind"],
        "at": at,
        "target": {"devices": [f"cams-{device:04d}"]},
        "behaviour": behaviour,
        **extra,
    }


STEPS: list[dict[str, Any]] = [
    step(0, 4, {"kind": "power_cycle", "down": 2}),
    step(
        1,
        4,
        {
            "kind": "firmware_update",
            "down": 1,
            "dhcp": {"vendor_class_id": FIRMWARE_VENDOR_CLASS, "parameter_request_list": [1, 3, 6, 15, 42]},
        },
    ),
    step(2, 4, {"kind": "mac_randomisation", "down": 1}),
    step(3, 5, {"kind": "new_device"}),
    step(4, 6, {"kind": "boot_storm", "down": 1, "fresh": True}),
    step(5, 6, {"kind": "boot_storm", "down": 1, "fresh": True}),
    step(6, 2, {"kind": "churn", "interval": 1.5, "down_min": 0.5, "down_max": 1, "release": True}, duration=6),
]
SCENARIO = {"name": "lab-day", "seed": 5, "steps": STEPS}


def test_each_lifecycle_behaviour_is_visible_on_the_wire(dnsmasq_lab: iotlab.Lab, tmp_path: Path) -> None:
    manifest = tmp_path / "fleet.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "iotemu.io/v1alpha1",
                "kind": "IoTFleet",
                "metadata": {"name": "cams"},
                "spec": {"replicas": DEVICES, "template": {"profile": PROFILE, "protocols": ["arp", "dhcp"]}},
            }
        )
    )
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    capture = FullCapture(dnsmasq_lab, tmp_path / "scenario.pcap")
    try:
        with Emulator(
            [
                "run",
                "-f",
                str(manifest),
                "--scenario",
                str(scenario),
                *in_lab(dnsmasq_lab, tmp_path / "state"),
                "--seed",
                "3",
            ]
        ) as emulator:
            ended: dict[str, dict[str, Any]] = {}
            while len(ended) < len(STEPS):
                mark = emulator.wait_for(lambda m: m["type"] == "scenario" and m["state"] == "ended", 60, "ends")
                ended[mark["device_id"]] = mark
            random_mac = next(m["detail"].split()[-1] for m in ended.values() if m["behaviour"] == "mac_randomisation")
            # dnsmasq binds the new identity
            poll.until(lambda: random_mac in dnsmasq_lab.leases(), 30, f"a lease for {random_mac}")
            assert emulator.stop(timeout=15) == 0, emulator.tail()
    finally:
        capture.stop()
    messages = emulator.messages
    started = {m["device_id"]: m["mac"] for m in messages if m["type"] == "started"}
    marks = [(m["device_id"], m["behaviour"], m["state"]) for m in messages if m["type"] == "scenario"]
    for number, spec in enumerate(STEPS):
        device = spec["target"]["devices"][0]
        kind = spec["behaviour"]["kind"]
        assert (device, kind, "started") in marks and (device, kind, "ended") in marks, (number, marks)
    logs = [m["message"] for m in messages if m["type"] == "log" and m["message"].startswith("[scenario lab-day] ")]
    assert any(line.startswith("[scenario lab-day] power_cycle: started (step power_cycle)") for line in logs), logs

    fields = [
        "frame.time_relative",
        "eth.src",
        "dhcp.option.dhcp",
        "dhcp.option.requested_ip_address",
        "dhcp.option.dhcp_server_id",
        "dhcp.ip.client",
        "dhcp.option.vendor_class_id",
    ]
    rows = decode(capture.pcap, "dhcp.option.dhcp in {1, 3, 7}", fields)  # what clients send
    frames = [(float(r[0]), r[1], int(r[2] or 0), r[3], r[4], r[5], r[6]) for r in rows]

    def sent_by(mac: str, *types: int) -> list[tuple[float, str, int, str, str, str, str]]:
        return [f for f in frames if f[1] == mac and (not types or f[2] in types)]

    # power_cycle: silent while down (no RELEASE), then a REQUEST in INIT-REBOOT (option 50, no 54, ciaddr 0)
    cycled = sent_by(started["cams-0000"], 1, 3, 7)
    reboot = [f for f in cycled if f[2] == 3 and f[3] and not f[4] and f[5] == "0.0.0.0"]
    assert reboot, cycled
    assert not any(f[2] == 7 for f in cycled if f[0] < reboot[0][0]), cycled  # (the RELEASE at SIGTERM comes later)
    first_request = next(f for f in cycled if f[2] == 3)
    assert reboot[0][0] - first_request[0] >= 2, cycled  # after the down time

    # firmware_update: the requests after the reboot carry the new firmware's option 60
    requests = sent_by(started["cams-0001"], 3)
    assert requests[0][6] != FIRMWARE_VENDOR_CLASS and requests[-1][6] == FIRMWARE_VENDOR_CLASS, requests

    # mac_randomisation: a DISCOVER from a locally administered unicast MAC, not asking for the old address
    [*_, discover] = sent_by(random_mac, 1)
    assert int(random_mac[:2], 16) & 0x03 == 0x02 and not discover[3], discover

    # new_device: nothing from it for its first seconds, then its DISCOVER
    newcomer = sent_by(started["cams-0003"])
    others_first = min(f[0] for f in frames)
    assert newcomer and newcomer[0][0] - others_first >= 4, (newcomer[:2], others_first)

    # boot_storm: both targets' fresh DISCOVERs go out in the same instant
    storm = [sent_by(started[f"cams-000{i}"], 1)[-1][0] for i in (4, 5)]
    assert min(storm) - others_first >= 6 and abs(storm[0] - storm[1]) < 0.05, (storm, others_first)

    # churn: at least one departure (RELEASE, as configured) and a return asking for the address again
    churned = sent_by(started["cams-0006"], 1, 3, 7)
    departures = [f for f in churned if f[2] == 7]
    assert departures and any(f[2] in (1, 3) and f[0] > departures[0][0] for f in churned), churned

    # nothing leaves the lab: only the veth end in the gateway namespace, every IPv4 packet inside the subnet
    links = dnsmasq_lab.run_in_gw("ip", "-o", "link", "show").stdout
    assert sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines()) == ["gw0", "lo"]
    destinations = {row[0] for row in decode(capture.pcap, "ip", ["ip.dst"])}
    subnet = ipaddress.ip_network(dnsmasq_lab.subnet)
    outside = {d for d in destinations if ipaddress.ip_address(d) not in subnet and d != "255.255.255.255"}
    assert not outside, outside


def test_firmware_update_changes_user_agent_and_ja3_on_the_wire(lab_factory: LabFactory) -> None:
    """A Roku talking to the lab internet's sink: after its firmware update, its HTTP requests carry the
    new User-Agent and its ClientHellos the new cipher suites (another JA3), read by tshark on the gateway."""
    lab = lab_factory(internet=True)
    prof = catalog.builtin().get("roku-express")
    mac = f"{prof.ouis[0]}:5c:00:01"
    config = manifests.DeviceConfig(
        device_id="roku",
        mac=mac,
        hostname=prof.hostname_for(mac),
        profile=prof,
        protocols=tuple(prof.protocols),
        traffic_interval=60,
    )
    capture = Capture(
        lab,
        f"host {SINK}",
        "http.request || tls.handshake.type == 1",
        ["ip.src", "http.user_agent", "tls.handshake.ja3"],
    )
    emulator = EngineThread(lab, [config])
    try:
        before = capture.wait_rows(lambda r: bool(r[1]), timeout=60)[0][1]
        old_ja3 = capture.wait_rows(lambda r: bool(r[2]), timeout=60)[0][2]
        scenario = model.Scenario.model_validate(
            {
                "name": "fw",
                "steps": [
                    {
                        "at": 0,
                        "behaviour": {
                            "kind": "firmware_update",
                            "down": 1,
                            "user_agent": NEW_AGENT,
                            "tls": {"cipher_suites": [4865, 4866, 4867, 49195, 49199]},
                        },
                    }
                ],
            }
        )
        drv = emulator.call(lambda: driver.Driver(emulator.engine, catalog.builtin()))
        emulator.call(lambda: drv.run("roku", scenario))
        capture.wait_rows(lambda r: r[1] == NEW_AGENT, timeout=60)
        new_ja3 = capture.wait_rows(lambda r: bool(r[2]) and r[2] != old_ja3, timeout=60)[0][2]
    finally:
        emulator.stop()
        capture.stop()
    assert prof.http is not None and before == prof.http.user_agent
    assert new_ja3 != old_ja3
    marks = [(m["behaviour"], m["state"]) for m in emulator.messages if m["type"] == "scenario"]
    assert marks == [("firmware_update", "started"), ("firmware_update", "ended")]
    sources = {r[0] for r in capture.rows()}
    subnet = ipaddress.ip_network(lab.subnet)
    assert all(ipaddress.ip_address(s) in subnet for s in sources), sources  # devices' traffic, to the lab's sink
