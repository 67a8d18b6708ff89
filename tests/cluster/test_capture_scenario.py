"""Live captures and behaviour scenarios on the real node, as the chart installs them.

The chart's capture token (a Secret) reaches the emulator pods (through the operator) and the dashboard;
the dashboard pod downloads a device's capture from its emulator pod and tshark reads it; requests
without a token are refused (403 by the pod, 401 by the dashboard). A fleet's `spec.scenario` is judged
by the CRD's CEL rules in the real API server and runs in its pods: its marks reach the dashboard's logs
and its power cycles show in the lab dnsmasq's log.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import node as node_mod
from iot_emulator.lab import handle
from tests.cluster.conftest import Kube, wait_for
from tests.cluster.test_emulator_pods import BIND, RELEASE, RELEASE_NS, dashboard_get, images, release
from tests.cluster.test_node import node

__all__ = ["images", "node", "release"]  # fixtures shared with test_emulator_pods
CAPTURE_SECONDS = 12
REBOOTS = {"at": 8, "repeat": 1000, "every": 6, "behaviour": {"kind": "power_cycle", "down": 1}}
"""A power cycle every 6 s: any capture of 12 s holds a reboot's DHCP exchange."""


def _in_node(node: node_mod.Node, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command in the node's namespace, where pod addresses live."""
    return subprocess.run(["ip", "netns", "exec", node.netns, *argv], capture_output=True, text=True, timeout=120)


def _curl(node: node_mod.Node, url: str, out: Path, *headers: str) -> int:
    """GET `url` from the node's namespace into `out`; the HTTP status."""
    args = [arg for header in headers for arg in ("-H", header)]
    result = _in_node(node, "curl", "-s", "-m", "60", "-o", str(out), "-w", "%{http_code}", *args, url)
    return int(result.stdout or 0)


def _dashboard_url(kube: Kube, path: str) -> str:
    selector = f"app.kubernetes.io/component=dashboard,app.kubernetes.io/instance={RELEASE}"
    [pod] = kube.get("pods", "-n", RELEASE_NS, "-l", selector)["items"]
    return f"http://{pod['status']['podIP']}:8080{path}"


def _tshark(pcap: Path, display_filter: str, fields: list[str]) -> list[list[str]]:
    argv = ["tshark", "-r", str(pcap), "-Y", display_filter, "-T", "fields"]
    out = subprocess.run([*argv, *(a for f in fields for a in ("-e", f))], capture_output=True, text=True, check=True)
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def _dnsmasq_log() -> list[str]:
    return (handle.attach(node_mod.LAB).directory / "dnsmasq.log").read_text(errors="replace").splitlines()


def test_the_dashboard_downloads_a_device_capture_from_its_pod(
    chart: Kube, namespace: str, node: node_mod.Node, release: str, tmp_path: Path
) -> None:
    secret = chart.get("secret", f"{RELEASE}-iot-emulator-capture-token", "-n", namespace)
    assert secret["data"]["token"], "the chart wrote the capture token to the watched namespace"
    mac = "44:19:b6:17:00:01"
    device = {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTDevice",
        "metadata": {"name": "cap-cam"},
        "spec": {
            "profile": "hikvision-ds-2cd2042fwd",
            "mac": mac,
            "network": {"interface": "lab0"},
            "scenario": {"name": "reboots", "steps": [REBOOTS]},
        },
    }
    chart.apply(device, "-n", namespace)
    bound: dict[str, Any] = wait_for(
        "cap-cam bound",
        lambda: (s := chart.get("iotdevice", "cap-cam", "-n", namespace).get("status") or {}).get("ip") and s,
        timeout=BIND,
    )
    [pod] = chart.get("pods", "-n", namespace, "-l", "iotemu.io/iotdevice=cap-cam")["items"]
    env = {e["name"]: e for e in pod["spec"]["containers"][0].get("env") or []}
    assert env["IOTEMU_CAPTURE_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-iot-emulator-capture-token"
    assert "value" not in env["IOTEMU_CAPTURE_TOKEN"]
    port = pod["metadata"]["annotations"]["iotemu.io/http-port"]
    direct = f"http://{pod['status']['podIP']}:{port}/capture?device=cap-cam&seconds=1"
    # the pod's own guard (403: X-Iotemu-Token is no HTTP authentication scheme), then the dashboard's (401)
    assert _curl(node, direct, tmp_path / "refused") == 403, "the pod serves no capture without the token"
    assert _curl(node, direct, tmp_path / "refused", "X-Iotemu-Token: not-the-token-at-all") == 403
    url = _dashboard_url(chart, f"/api/devices/cap-cam/capture?seconds={CAPTURE_SECONDS}")
    assert _curl(node, url, tmp_path / "refused") == 401, "the dashboard wants its bearer token"

    pcap = tmp_path / "cap-cam.pcap"
    started = time.monotonic()
    assert _curl(node, url, pcap, f"Authorization: Bearer {release}") == 200, pcap.read_text(errors="replace")
    took = time.monotonic() - started
    assert CAPTURE_SECONDS - 1 <= took <= CAPTURE_SECONDS + 15, took
    frames = _tshark(pcap, "frame", ["eth.src", "eth.dst"])
    assert frames and all(mac in (src, dst) or dst == "ff:ff:ff:ff:ff:ff" for src, dst in frames), frames[:20]
    gateway = str(handle.attach(node_mod.LAB).gateway_ip)
    acks = _tshark(pcap, "dhcp.option.dhcp == 5", ["ip.src", "dhcp.hw.mac_addr", "dhcp.ip.your"])
    assert acks and all(a == [gateway, mac, bound["ip"]] for a in acks), acks
    assert _tshark(pcap, "dhcp.option.dhcp == 3", ["eth.src"]), "the reboot's DHCPREQUEST"


def _scenario_fleet(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTFleet",
        "metadata": {"name": "storm"},
        "spec": {
            "replicas": 6,
            "devicesPerPod": 3,
            "network": {"interface": "lab0"},
            "template": {"profile": "hikvision-ds-2cd2042fwd"},
            "scenario": {"name": "cut", "seed": 7, "steps": steps},
        },
    }


def test_a_fleet_scenario_is_judged_by_the_api_server_and_runs_in_its_pods(
    chart: Kube, namespace: str, node: node_mod.Node, release: str, tmp_path: Path
) -> None:
    bad = _scenario_fleet([{"at": 5, "behaviour": {"kind": "power_cycle", "down": 3, "fresh": True}}])
    refused = chart.apply(bad, "-n", namespace, check=False)
    assert refused.returncode != 0 and "spec.scenario.steps[0].behaviour" in refused.stderr, refused.stderr
    assert "a behaviour field that its kind does not have" in refused.stderr

    step = {"name": "unplug", "at": 25, "target": {"count": 2}, "behaviour": {"kind": "power_cycle", "down": 3}}
    log_before = len(_dnsmasq_log())
    chart.apply(_scenario_fleet([step]), "-n", namespace)
    stored = chart.get("iotfleet", "storm", "-n", namespace)["spec"]["scenario"]
    assert stored["steps"][0]["behaviour"] == {"kind": "power_cycle", "down": 3}
    pods = chart.get("pods", "-n", namespace, "-l", "iotemu.io/iotfleet=storm")["items"]
    assert len(pods) == 2

    def marks(state: str) -> list[dict[str, Any]]:
        """The scenario's typed marks the dashboard keeps in its logs (searched as their log line reads)."""
        logs = dashboard_get(chart, node, release, "/api/logs?q=%5Bscenario%20cut%5D%20power_cycle&limit=1000")
        return [m for m in logs if (m["type"], m.get("state"), m.get("step")) == ("scenario", state, "unplug")]

    ended = wait_for("both power cycles ended", lambda: len(marks("ended")) == 2 and marks("ended"), timeout=BIND)
    targets = {m["device_id"] for m in ended}
    assert {m["device_id"] for m in marks("started")} == targets and len(targets) == 2
    members = dashboard_get(chart, node, release, "/api/fleets/storm/members")["items"]
    assert len(members) == 6
    log = _dnsmasq_log()[log_before:]
    for member in members:
        mine = [line for line in log if member["mac"].lower() in line.lower()]
        requests = [line for line in mine if "DHCPREQUEST" in line]
        discovers = [line for line in mine if "DHCPDISCOVER" in line]
        # the first bind (DISCOVER, REQUEST); a target's reboot: INIT-REBOOT, a REQUEST with no DISCOVER
        expected = 2 if member["deviceId"] in targets else 1
        assert len(discovers) == 1 and len(requests) == expected, (member, mine)

    # the fleet's capture: both pods asked, one file, only the members' frames (and group addresses)
    pcap = tmp_path / "storm.pcap"
    url = _dashboard_url(chart, f"/api/fleets/storm/capture?seconds={CAPTURE_SECONDS}")
    assert _curl(node, url, pcap, f"Authorization: Bearer {release}") == 200, pcap.read_text(errors="replace")
    ours = {m["mac"].lower() for m in members}
    frames = _tshark(pcap, "frame", ["eth.src", "eth.dst"])
    assert frames, "a fleet of 6 cameras said nothing in 12 s"
    assert all(src in ours or dst in ours or int(dst[:2], 16) & 1 for src, dst in frames), frames[:20]
