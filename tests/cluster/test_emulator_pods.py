"""The product on the real node, as a user installs it: the images built by Docker from a debootstrapped
Debian (`cluster/images.sh`) and imported into the node's containerd; `helm install` brings the operator
and the dashboard to Ready; a fleet's emulator pods run as hostNetwork pods in the lab's namespace and
the devices bind leases from the lab's dnsmasq; the dashboard (its Kubernetes backend, in the cluster)
lists them; `kubectl scale` adds a pod without moving devices; a killed container comes back and its
devices rebind their addresses; deleting the fleet releases every lease.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import node as node_mod
from iot_emulator.lab import handle
from tests.cluster.conftest import CHART, ROOT, Kube, built_images, wait_for
from tests.cluster.test_node import node

__all__ = ["node"]  # the node fixture, shared with test_node
RELEASE, RELEASE_NS = "iotnode", "iotnode-system"
EXAMPLE = ROOT / "examples" / "cluster" / "fleet.yaml"
"""The user's example, applied as it is."""
BIND = 180.0
"""Seconds for pods to start (images of ~500 MB unpacked, interpreters starting) and devices to bind."""


@pytest.fixture(scope="module")
def images(node: node_mod.Node) -> list[Path]:
    """The emulator and app images, built (or taken from the cache) and imported into the node."""
    archives = list(built_images().values())
    for archive in archives:
        node.import_image(archive)
    return archives


@pytest.fixture
def release(chart: Kube, namespace: str, images: list[Path], release_values: list[str]) -> Iterator[str]:
    """The chart installed for `namespace` from the local images; yields the dashboard's token (its Secret)."""
    # a namespace left terminating by an earlier session takes nothing new: wait until it is gone
    chart("delete", "namespace", RELEASE_NS, "--ignore-not-found", "--wait=true", "--timeout=120s")
    chart.helm(
        "install",
        RELEASE,
        str(CHART),
        "-n",
        RELEASE_NS,
        "--create-namespace",
        "--set",
        f"operator.watchNamespaces={{{namespace}}}",
        "--set",
        "app.image.pullPolicy=Never",
        "--set",
        "emulator.image.pullPolicy=Never",
        "--set",
        "operator.resyncInterval=2",
        "--set",
        "operator.statusMinInterval=1",
        "--set",
        "admissionPolicy.enabled=false",
        *(arg for value in release_values for arg in ("--set", value)),
        "--wait",
        "--timeout=180s",
    )
    secret = chart.get("secret", f"{RELEASE}-iot-emulator-dashboard-token", "-n", RELEASE_NS)
    try:
        yield base64.b64decode(secret["data"]["token"]).decode()
    finally:
        chart.helm("uninstall", RELEASE, "-n", RELEASE_NS, "--wait", check=False)
        # gone before the next module's release is installed (a terminating namespace takes nothing new)
        chart("delete", "namespace", RELEASE_NS, "--wait=true", "--timeout=120s", check=False)


def example() -> dict[str, Any]:
    fleet: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    assert fleet["metadata"]["name"] == "cams" and fleet["spec"]["replicas"] == 20
    return fleet


def leases() -> dict[str, str]:
    """MAC -> address, as the lab's dnsmasq holds them."""
    lab = handle.attach(node_mod.LAB)
    lines = lab.lease_file.read_text().splitlines() if lab.lease_file.exists() else []
    return {parts[1]: parts[2] for parts in (line.split() for line in lines) if len(parts) >= 3}


def bound(kube: Kube, namespace: str, count: int) -> dict[str, Any] | None:
    status = kube.get("iotfleet", "cams", "-n", namespace).get("status") or {}
    return status if status.get("boundReplicas") == count and status.get("readyPods") == -(-count // 10) else None


def pods(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    items = kube.get("pods", "-n", namespace, "-l", "iotemu.io/iotfleet=cams")["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def dashboard_get(kube: Kube, node: node_mod.Node, token: str, path: str) -> Any:
    """GET `path` on the dashboard pod, from inside the node's namespace (where pod addresses live)."""
    selector = f"app.kubernetes.io/component=dashboard,app.kubernetes.io/instance={RELEASE}"
    [pod] = kube.get("pods", "-n", RELEASE_NS, "-l", selector)["items"]
    url = f"http://{pod['status']['podIP']}:8080{path}"
    out = subprocess.run(
        ["ip", "netns", "exec", node.netns, "curl", "-sf", "-m", "10", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_installed_by_helm_a_fleet_binds_scales_survives_a_kill_and_releases(
    chart: Kube, namespace: str, node: node_mod.Node, release: str
) -> None:
    for deployment in chart.get("deployments", "-n", RELEASE_NS)["items"]:
        assert deployment["status"].get("readyReplicas") == 1, deployment["metadata"]["name"]
    before = set(leases())
    chart("apply", "-n", namespace, "-f", str(EXAMPLE))
    fleet_status = wait_for("20 devices bound", lambda: bound(chart, namespace, 20), timeout=BIND)
    assert fleet_status["auth"] == {"mab": 20}, fleet_status  # no 802.1X in the example: a NAC sees MAB for all
    ours = {mac: ip for mac, ip in leases().items() if mac not in before}
    assert len(ours) == 20
    listed = chart("get", "iotfleets", "-n", namespace).stdout.split("\n")[1].split()
    assert listed[:4] == ["cams", example()["spec"]["template"]["profile"], "20", "20"], listed
    shown = wait_for(  # the dashboard reads the pods' live events: every member reported bound
        "the dashboard's fleet",
        lambda: (f := dashboard_get(chart, node, release, "/api/fleets/cams"))["status"]["bound"] == 20 and f,
    )
    assert shown["status"]["replicas"] == 20 and shown["status"]["phases"].get("bound") == 20

    first = {name: p["metadata"]["uid"] for name, p in pods(chart, namespace).items()}
    chart("scale", "iotfleet", "cams", "-n", namespace, "--replicas=30")
    wait_for("30 devices bound", lambda: bound(chart, namespace, 30), timeout=BIND)
    assert {n: pods(chart, namespace)[n]["metadata"]["uid"] for n in first} == first, "scaling moved devices"

    status = pods(chart, namespace)["iotfleet-cams-0"]["status"]["containerStatuses"][0]
    container = status["containerID"].split("//")[1]
    ctr = ["ctr", "-a", str(node.containerd_socket), "-n", "k8s.io"]
    subprocess.run([*ctr, "tasks", "kill", "-s", "SIGKILL", container], check=True, capture_output=True)
    wait_for(
        "the pod restarted",
        lambda: pods(chart, namespace)["iotfleet-cams-0"]["status"]["containerStatuses"][0]["restartCount"] >= 1,
    )
    wait_for("30 devices bound again", lambda: bound(chart, namespace, 30), timeout=BIND)
    again = leases()
    assert all(again[mac] == ip for mac, ip in ours.items()), "a restarted pod's devices rebind their addresses"

    chart("delete", "iotfleet", "cams", "-n", namespace, "--wait=true", "--timeout=120s")
    wait_for("the leases released", lambda: not (set(leases()) - before), timeout=60)
