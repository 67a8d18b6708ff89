"""Multus on the real node: emulator pods attached to the lab through a NetworkAttachmentDefinition.

The node's CNI is Multus (thin plugin, built from its pinned Go module); the chart's NAD
(`networkAttachment.create=true`: the `bridge` CNI on `br-lab`, which enslaves the lab's `lab0`,
chained with `tuning` for a per-pod MAC) gives an emulator pod `net1` on the lab segment beside its
pod-network `eth0`. A single device's pod gets its device's MAC on `net1` and the device its lease from
the lab's dnsmasq; a fleet's pod carries several MACs through the one bridge port (what a macvlan
attachment could not do); a fleet on VLAN 20 tags its frames and gets its leases from that VLAN's server.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import node as node_mod
from iot_emulator.lab import handle
from iot_operator import pods as pods_mod
from tests.cluster.conftest import ROOT, Kube, wait_for
from tests.cluster.test_emulator_pods import BIND, images, leases, release
from tests.cluster.test_node import _task_pid, node
from tests.lab.fingerprint_capture import FullCapture, decode

__all__ = ["images", "node", "release"]  # fixtures shared with the other node tests
NAD = "lan-bridge"
EXAMPLE = ROOT / "examples" / "cluster" / "multus-device.yaml"
"""The user's example (`door-cam`), applied as it is."""
STATUS = "k8s.v1.cni.cncf.io/network-status"


@pytest.fixture
def release_values() -> list[str]:
    """The chart's own NAD in the watched namespace (the NAD CRD comes with the node, as with Multus)."""
    return ["networkAttachment.create=true"]


def fleet(name: str, replicas: int) -> dict[str, Any]:
    spec = {
        "replicas": replicas,
        "devicesPerPod": replicas,
        "network": {"mode": "multus", "attachment": NAD},
        "template": {"profile": "hikvision-ds-2cd2042fwd"},
    }
    return {"apiVersion": "iotemu.io/v1alpha1", "kind": "IoTFleet", "metadata": {"name": name}, "spec": spec}


def in_pod(node: node_mod.Node, pod: dict[str, Any], *argv: str) -> Any:
    """`ip -j ...` in the network namespace of the pod's container."""
    container = pod["status"]["containerStatuses"][0]["containerID"].split("//")[1]
    pid = _task_pid(node, container)
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", *argv], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def bridge_ports(node: node_mod.Node) -> set[int]:
    """Interface indexes of `br-lab`'s ports in the node's namespace."""
    out = subprocess.run(
        ["ip", "-n", node.netns, "-j", "link", "show", "master", node_mod.LAB_BRIDGE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {link["ifindex"] for link in json.loads(out)}


def test_multus_attaches_emulator_pods_to_the_lab_bridge_with_their_macs_and_leases(
    chart: Kube, namespace: str, node: node_mod.Node, release: str
) -> None:
    config = json.loads(chart.get("network-attachment-definitions", NAD, "-n", namespace)["spec"]["config"])
    assert [p["type"] for p in config["plugins"]] == ["bridge", "tuning"]
    assert config["plugins"][0]["bridge"] == node_mod.LAB_BRIDGE
    before = set(leases())

    chart("apply", "-n", namespace, "-f", str(EXAMPLE))
    status = wait_for(
        "the Multus device bound",
        lambda: (
            (s := chart.get("iotdevice", "door-cam", "-n", namespace).get("status") or {}).get("phase") == "Bound" and s
        ),
        timeout=BIND,
    )
    mac = status["mac"]
    pod = chart.get("pod", "iotdev-door-cam", "-n", namespace)
    annotations = pod["metadata"]["annotations"]
    assert json.loads(annotations[pods_mod.NETWORKS]) == [{"name": NAD, "interface": "net1", "mac": mac}]
    attached = {a["interface"]: a for a in json.loads(annotations[STATUS])}  # what Multus reports back
    assert attached["eth0"]["default"] is True and attached["eth0"]["ips"] == [pod["status"]["podIP"]]
    assert attached["net1"]["name"] == f"{namespace}/{NAD}" and attached["net1"]["mac"] == mac
    assert "ips" not in attached["net1"], "no IPAM on the lab: the emulator's DHCP client owns the address"
    [net1] = in_pod(node, pod, "ip", "-j", "link", "show", "net1")
    assert net1["address"] == mac, "the tuning plugin's per-pod MAC"
    assert net1["link_index"] in bridge_ports(node), "net1's veth peer is a port of br-lab"
    assert mac not in before and leases()[mac] == status["ip"], "the lease is the lab dnsmasq's"

    chart.apply(fleet("hall", 3), "-n", namespace)
    wait_for(
        "3 fleet devices bound through one net1",
        lambda: (chart.get("iotfleet", "hall", "-n", namespace).get("status") or {}).get("boundReplicas") == 3,
        timeout=BIND,
    )
    [shard] = chart.get("pods", "-n", namespace, "-l", "iotemu.io/iotfleet=hall")["items"]
    [shard_net1] = in_pod(node, shard, "ip", "-j", "link", "show", "net1")
    fleet_macs = set(leases()) - before - {mac}
    assert len(fleet_macs) == 3 and shard_net1["address"] not in fleet_macs, "three MACs behind one bridge port"

    chart("delete", "iotdevice", "door-cam", "-n", namespace, "--wait=true", "--timeout=120s")
    chart("delete", "iotfleet", "hall", "-n", namespace, "--wait=true", "--timeout=120s")
    wait_for("the leases released", lambda: not (set(leases()) - before), timeout=60)
    wait_for("the pods' ports gone from br-lab", lambda: bridge_ports(node) == {_lab0_index(node)})


def _lab0_index(node: node_mod.Node) -> int:
    out = subprocess.run(
        ["ip", "-n", node.netns, "-j", "link", "show", "lab0"], capture_output=True, text=True, check=True
    )
    return int(json.loads(out.stdout)[0]["ifindex"])


def test_a_fleet_that_tags_vlan_20_is_served_by_that_vlans_server_through_the_bridge(
    chart: Kube, namespace: str, node: node_mod.Node, release: str, tmp_path: Path
) -> None:
    """docs/vlan.md's "the emulator tags" on a real node: the fleet's pod sends frames tagged 20, priority 5,
    through the same `bridge` NAD; br-lab passes them as a trunk port does, the capture on the gateway's
    trunk shows the tags, and the lab's VLAN 20 dnsmasq, not the untagged one, leases the devices
    addresses of its subnet."""
    lab = handle.attach(node_mod.LAB)
    vlan = node_mod.LAB_VLAN
    before, before_vlan = set(leases()), set(lab.vlan_leases(vlan))
    resource = fleet("vlan-hall", 2)
    resource["spec"]["template"].update({"vlan": vlan.vid, "vlanPriority": 5})
    capture = FullCapture(lab, tmp_path / "trunk.pcap", capture_filter="vlan")
    try:
        chart.apply(resource, "-n", namespace)
        wait_for(
            "2 devices of the VLAN 20 fleet bound",
            lambda: (chart.get("iotfleet", "vlan-hall", "-n", namespace).get("status") or {}).get("boundReplicas") == 2,
            timeout=BIND,
        )
    finally:
        capture.stop()
    served = {mac: ip for mac, (ip, _name) in lab.vlan_leases(vlan).items() if mac not in before_vlan}
    assert len(served) == 2, served
    assert all(ipaddress.IPv4Address(ip) in vlan.subnet for ip in served.values()), served
    assert not set(served) & set(leases()) and set(leases()) == before, "the untagged server never saw them"
    tags = {tuple(row) for row in decode(capture.pcap, "dhcp && vlan", ["eth.src", "vlan.id", "vlan.priority"])}
    assert {(mac, "20", "5") for mac in served} <= tags, tags

    chart("delete", "iotfleet", "vlan-hall", "-n", namespace, "--wait=true", "--timeout=120s")
    wait_for("the VLAN leases released", lambda: not (set(lab.vlan_leases(vlan)) - before_vlan), timeout=60)
