"""The test cluster's real node: a kubelet on containerd and runc, in a lab's device namespace.

Pods run for real (the locally built pause image serves as their container here): on the pod
network (CNI bridge) and on the host network, which is the lab's namespace, never the host's; a
container killed underneath the kubelet is restarted by it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import controlplane
import node as node_mod
from iot_emulator.lab import handle, record
from tests.cluster.conftest import Kube, wait_for


@pytest.fixture(scope="session")
def node(plane: controlplane.ControlPlane) -> Iterator[node_mod.Node]:
    """The node `make cluster` left, or one made for the session (and removed after it, with its lab)."""
    started = node_mod.LAB not in record.running()
    made = node_mod.up_in_lab(plane)
    yield made
    if started:
        node_mod.down_in_lab(plane)
        mounts = Path("/proc/self/mounts").read_text()
        assert str(made.dir) not in mounts, "a mount of the node outlived it"
        assert node_mod.LAB not in record.running() and not Path(f"/run/netns/{made.netns}").exists()
        assert all(made.pid(c) is None for c in node_mod.COMPONENTS)


def pod(name: str, host_network: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "hostNetwork": host_network,
        "containers": [{"name": "main", "image": node_mod.PAUSE_IMAGE, "imagePullPolicy": "Never"}],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def running(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    found = kube.get("pod", name, "-n", namespace)
    statuses = found["status"].get("containerStatuses") or []
    return found if statuses and statuses[0].get("ready") else None


def _netns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def _task_pid(node: node_mod.Node, container_id: str) -> int:
    out = subprocess.run(
        ["ctr", "-a", str(node.containerd_socket), "-n", "k8s.io", "tasks", "ls"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines()[1:]:
        task, pid, _ = line.split()
        if task == container_id:
            return int(pid)
    raise AssertionError(f"no task {container_id}")


def test_the_node_registers_ready_with_its_runtime(kube: Kube, node: node_mod.Node) -> None:
    found = kube.get("node", node_mod.NODE_NAME)
    info = found["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.34.4" and info["containerRuntimeVersion"].startswith("containerd://")
    assert {"type": "InternalIP", "address": node_mod.NODE_IP} in found["status"]["addresses"]


def test_pods_run_on_the_pod_network_and_in_the_labs_namespace(kube: Kube, node: node_mod.Node, namespace: str) -> None:
    kube.apply([pod("on-pods"), pod("on-host", host_network=True)], "-n", namespace)
    on_pods = wait_for("on-pods running", lambda: running(kube, namespace, "on-pods"))
    on_host = wait_for("on-host running", lambda: running(kube, namespace, "on-host"))
    assert on_pods["status"]["podIP"].startswith("10.244.0.")
    assert on_host["status"]["podIP"] == node_mod.NODE_IP
    lab = handle.attach(node_mod.LAB)
    lab_ns = os.stat(f"/run/netns/{lab.dev_netns}").st_ino
    host_pid = _task_pid(node, on_host["status"]["containerStatuses"][0]["containerID"].split("//")[1])
    pods_pid = _task_pid(node, on_pods["status"]["containerStatuses"][0]["containerID"].split("//")[1])
    assert _netns_inode(host_pid) == lab_ns, "a hostNetwork pod must live in the lab's namespace"
    assert _netns_inode(pods_pid) not in {lab_ns, _netns_inode(os.getpid())}
    assert _netns_inode(host_pid) != _netns_inode(os.getpid()), "never the host's namespace"

    reserved = node.dir / "cni-ipam" / "iotemu-pods" / on_pods["status"]["podIP"]
    assert reserved.exists(), "host-local's reservation, through Multus"
    kube("delete", "pod", "on-pods", "on-host", "-n", namespace, "--wait=true", "--timeout=60s")
    assert not reserved.exists(), "the sandbox's network torn down (CNI DEL through Multus) and its address freed"


def test_a_killed_container_is_restarted_by_the_kubelet(kube: Kube, node: node_mod.Node, namespace: str) -> None:
    kube.apply(pod("victim", host_network=True), "-n", namespace)
    before = wait_for("victim running", lambda: running(kube, namespace, "victim"))
    container = before["status"]["containerStatuses"][0]["containerID"].split("//")[1]
    subprocess.run(
        ["ctr", "-a", str(node.containerd_socket), "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", container],
        check=True,
        capture_output=True,
    )
    after = wait_for(
        "victim restarted",
        lambda: (
            (p := running(kube, namespace, "victim")) and p["status"]["containerStatuses"][0]["restartCount"] >= 1 and p
        ),
    )
    assert json.dumps(after["status"]["containerStatuses"][0]["lastState"]).count("terminated") == 1
