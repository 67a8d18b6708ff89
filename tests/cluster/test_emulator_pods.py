"""Emulator pods on the real node: the emulator image (built by Docker from a debootstrapped Debian,
imported into the node's containerd) runs as hostNetwork pods in the lab's namespace, and the devices
bind leases from the lab's dnsmasq.

The operator runs as its own process on the node's network (where the pods' HTTP endpoints are), as
the chart's service account.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import node as node_mod
from iot_emulator.lab import core as labcore
from tests.cluster.conftest import OPERATOR_SA, ROOT, Kube, wait_for
from tests.cluster.test_node import node

__all__ = ["node"]  # the node fixture, shared with test_node
PROFILE = "axis-p3224-lv"
BIND = 180.0
"""Seconds for pods to start (an image of ~200 MB unpacked, interpreters starting) and devices to bind."""


@pytest.fixture(scope="module")
def emulator_image(node: node_mod.Node) -> str:
    """The emulator image, built (or taken from the cache) and imported into the node."""
    archive = subprocess.run(
        ["bash", str(ROOT / "cluster" / "images.sh")], capture_output=True, text=True, check=True, timeout=1800
    ).stdout.split()[-1]
    node.import_image(Path(archive))
    return "iot-emulator:0.1.0"


@pytest.fixture
def operator_on_node(
    chart: Kube, namespace: str, node: node_mod.Node, emulator_image: str, tmp_path: Path
) -> Iterator[Path]:
    token = tmp_path / "token"
    token.write_text(chart.token(OPERATOR_SA))
    config = chart.kubeconfig_for(tmp_path / "operator.kubeconfig", token_file=token)
    env = {
        **os.environ,
        "IOT_OPERATOR_KUBECONFIG": str(config),
        "IOT_OPERATOR_NAMESPACES": json.dumps([namespace]),
        "IOT_OPERATOR_EMULATOR_IMAGE": emulator_image,
        "IOT_OPERATOR_IMAGE_PULL_POLICY": "Never",
        "IOT_OPERATOR_RESYNC_INTERVAL": "1",
        "IOT_OPERATOR_STATUS_MIN_INTERVAL": "1",
    }
    log = tmp_path / "operator.log"
    operator = [str(Path(sys.executable).parent / "iot-operator")]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{node.netns}", *operator], env=env, stdout=out, stderr=out
        )
    try:
        wait_for("the operator logged in", lambda: b"Initial authentication has finished" in log.read_bytes())
        yield log
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()[-3000:]


def fleet(replicas: int) -> dict[str, Any]:
    template = {"profile": PROFILE, "protocols": ["arp", "dhcp", "icmp"]}
    spec = {"replicas": replicas, "devicesPerPod": 10, "template": template, "network": {"interface": "lab0"}}
    return {"apiVersion": "iotemu.io/v1alpha1", "kind": "IoTFleet", "metadata": {"name": "cams"}, "spec": spec}


def leases() -> dict[str, str]:
    """MAC -> address, as the lab's dnsmasq holds them."""
    lab = labcore.attach(node_mod.LAB)
    lines = lab.lease_file.read_text().splitlines() if lab.lease_file.exists() else []
    return {parts[1]: parts[2] for parts in (line.split() for line in lines) if len(parts) >= 3}


def bound(kube: Kube, namespace: str, count: int) -> dict[str, Any] | None:
    status = kube.get("iotfleet", "cams", "-n", namespace).get("status") or {}
    return status if status.get("boundReplicas") == count and status.get("readyPods") == -(-count // 10) else None


def pods(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    items = kube.get("pods", "-n", namespace, "-l", "iotemu.io/iotfleet=cams")["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def test_a_fleet_binds_scales_survives_a_kill_and_releases(
    chart: Kube, namespace: str, node: node_mod.Node, operator_on_node: Path
) -> None:
    before = set(leases())
    chart.apply(fleet(20), "-n", namespace)
    wait_for("20 devices bound", lambda: bound(chart, namespace, 20), timeout=BIND)
    ours = {mac: ip for mac, ip in leases().items() if mac not in before}
    assert len(ours) == 20
    listed = chart("get", "iotfleets", "-n", namespace).stdout
    assert "cams" in listed and " 20 " in listed

    first = {name: p["metadata"]["uid"] for name, p in pods(chart, namespace).items()}
    chart("scale", "iotfleet", "cams", "-n", namespace, "--replicas=30")
    wait_for("30 devices bound", lambda: bound(chart, namespace, 30), timeout=BIND)
    assert {n: pods(chart, namespace)[n]["metadata"]["uid"] for n in first} == first, "scaling moved devices"

    victim = pods(chart, namespace)["iotfleet-cams-0"]["status"]["containerStatuses"][0]["containerID"].split("//")[1]
    subprocess.run(
        ["ctr", "-a", str(node.containerd_socket), "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", victim],
        check=True,
        capture_output=True,
    )
    wait_for(
        "the pod restarted",
        lambda: pods(chart, namespace)["iotfleet-cams-0"]["status"]["containerStatuses"][0]["restartCount"] >= 1,
    )
    wait_for("30 devices bound again", lambda: bound(chart, namespace, 30), timeout=BIND)
    again = leases()
    assert all(again[mac] == ip for mac, ip in ours.items()), "a restarted pod's devices rebind their addresses"

    chart("delete", "iotfleet", "cams", "-n", namespace, "--wait=true", "--timeout=120s")
    wait_for("the leases released", lambda: not (set(leases()) - before), timeout=60)
