"""The operator on a real API server, as the chart's service account (tokenFile kubeconfig, exactly the
chart's RBAC): pods, status, events, scale, server-side apply, garbage collection, restarts, peering.

There is no node: pods stay Pending, which is what the operator reports (Degraded: Unschedulable).
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import Kube, OperatorRun, operator_settings, running_operator, wait_for

pytestmark = pytest.mark.usefixtures("chart")


NOWHERE = {"nodeSelector": {"iotemu.io/test": "no-such-node"}}
"""These pods must stay Pending even when the cluster has a node: the tests here are about the API."""


def fleet(name: str = "cams", replicas: int = 5, per_pod: int = 2) -> dict[str, Any]:
    spec = {"replicas": replicas, "devicesPerPod": per_pod, "template": {"profile": "tiny-cam"}, "network": NOWHERE}
    return {"apiVersion": "iotemu.io/v1alpha1", "kind": "IoTFleet", "metadata": {"name": name}, "spec": spec}


def pods_of(kube: Kube, namespace: str, name: str = "cams") -> dict[str, dict[str, Any]]:
    items = kube.get("pods", "-n", namespace, "-l", f"iotemu.io/iotfleet={name}")["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def pod_count(kube: Kube, namespace: str, count: int, name: str = "cams") -> dict[str, dict[str, Any]] | None:
    pods = pods_of(kube, namespace, name)
    return pods if len(pods) == count else None


def status_settled(kube: Kube, namespace: str, pods: int, name: str = "cams") -> dict[str, Any] | None:
    """The fleet's status once it describes the current generation with `pods` pods."""
    resource = kube.get("iotfleet", name, "-n", namespace)
    status = resource.get("status") or {}
    current = status.get("observedGeneration") == resource["metadata"]["generation"]
    return resource if current and status.get("pods") == pods else None


@pytest.fixture
def profiles_settings(operator_kubeconfig: Path, profiles_dir: Path, namespace: str) -> dict[str, Any]:
    """The operator of one test watches that test's namespace only (the chart's ClusterRole allows more)."""
    return {"kubeconfig": operator_kubeconfig, "profiles_dir": profiles_dir, "namespaces": [namespace]}


@pytest.fixture
def operator(profiles_settings: dict[str, Any]) -> Any:
    with running_operator(operator_settings(**profiles_settings)) as run:
        yield run


def test_a_fleet_becomes_owned_pods_with_status_conditions_and_events(
    chart: Kube, namespace: str, operator: OperatorRun
) -> None:
    chart.apply(fleet(replicas=5, per_pod=2), "-n", namespace)
    pods = wait_for("3 pods", lambda: pod_count(chart, namespace, 3))
    for pod in pods.values():
        [owner] = pod["metadata"]["ownerReferences"]
        assert owner["kind"] == "IoTFleet" and owner["name"] == "cams" and owner["controller"] is True
        assert pod["status"]["phase"] == "Pending"
    resource = wait_for("status", lambda: status_settled(chart, namespace, 3))
    conditions = {c["type"]: c for c in resource["status"]["conditions"]}
    assert {c["observedGeneration"] for c in conditions.values()} == {resource["metadata"]["generation"]}
    assert conditions["Ready"]["status"] == "False"
    degraded = wait_for(
        "Unschedulable", lambda: _condition(chart, namespace, "Degraded", reason="Unschedulable")
    )  # no node: the scheduler's verdict reaches the resource
    assert (
        "didn't match Pod's node affinity/selector" in degraded["message"]
        or "no nodes available" in degraded["message"]
    )
    reasons = {
        e["reason"] for e in chart.get("events", "-n", namespace)["items"] if e["involvedObject"]["kind"] == "IoTFleet"
    }
    assert "PodsCreated" in reasons


def _condition(kube: Kube, namespace: str, kind: str, **expected: str) -> dict[str, Any] | None:
    status = kube.get("iotfleet", "cams", "-n", namespace).get("status") or {}
    for condition in status.get("conditions") or []:
        if condition["type"] == kind and all(condition.get(k) == v for k, v in expected.items()):
            return dict(condition)
    return None


def test_kubectl_scale_goes_through_the_scale_subresource(chart: Kube, namespace: str, operator: OperatorRun) -> None:
    chart.apply(fleet(replicas=4, per_pod=2), "-n", namespace)
    before = wait_for("2 pods", lambda: pod_count(chart, namespace, 2))
    chart("scale", "iotfleet", "cams", "-n", namespace, "--replicas=8")
    after = wait_for("4 pods", lambda: pod_count(chart, namespace, 4))
    kept = {n: p["metadata"]["uid"] for n, p in before.items()}
    assert {n: after[n]["metadata"]["uid"] for n in kept} == kept, "scaling up moved existing pods"
    assert wait_for("status of 8", lambda: status_settled(chart, namespace, 4))["spec"]["replicas"] == 8
    scale = json.loads(
        chart("get", "--raw", f"/apis/iotemu.io/v1alpha1/namespaces/{namespace}/iotfleets/cams/scale").stdout
    )
    assert scale["spec"]["replicas"] == 8 and scale["status"]["selector"] == "iotemu.io/iotfleet=cams"
    chart("scale", "iotfleet", "cams", "-n", namespace, "--replicas=1")
    wait_for("1 pod", lambda: pod_count(chart, namespace, 1))


def test_server_side_apply_twice_changes_nothing_and_fields_keep_their_managers(
    chart: Kube, namespace: str, operator: OperatorRun
) -> None:
    gitops = ("--server-side", "--field-manager=gitops")
    chart.apply(fleet(replicas=4), "-n", namespace, *gitops)
    chart("label", "iotfleet", "cams", "-n", namespace, "team=blue")  # another manager's field
    pods = wait_for("2 pods", lambda: pod_count(chart, namespace, 2))
    settled = wait_for("status", lambda: status_settled(chart, namespace, 2))
    chart.apply(fleet(replicas=4), "-n", namespace, *gitops)
    again = chart.get("iotfleet", "cams", "-n", namespace, "--show-managed-fields")
    assert again["metadata"]["generation"] == settled["metadata"]["generation"]
    assert again["metadata"]["labels"]["team"] == "blue"
    managers = {(m["manager"], m.get("subresource", "")) for m in again["metadata"]["managedFields"]}
    assert {("gitops", ""), ("iot-operator", "status")} <= managers
    gitops_fields = next(m for m in again["metadata"]["managedFields"] if m["manager"] == "gitops")["fieldsV1"]
    assert "f:replicas" in gitops_fields["f:spec"]
    assert {n: p["metadata"]["uid"] for n, p in pods_of(chart, namespace).items()} == {
        n: p["metadata"]["uid"] for n, p in pods.items()
    }
    conflict = chart.apply(fleet(replicas=4), "-n", namespace, "--server-side", "--field-manager=someone", check=False)
    assert conflict.returncode == 0  # same values: no conflict; a different value would need --force-conflicts
    taken = chart.apply(fleet(replicas=6), "-n", namespace, "--server-side", "--field-manager=someone", check=False)
    assert taken.returncode != 0 and "conflict" in taken.stderr.lower() and "gitops" in taken.stderr


def test_deleting_a_fleet_removes_its_pods_through_the_garbage_collector(
    chart: Kube, namespace: str, operator: OperatorRun
) -> None:
    chart.apply(fleet(replicas=6), "-n", namespace)
    wait_for("3 pods", lambda: pod_count(chart, namespace, 3))
    resource = chart.get("iotfleet", "cams", "-n", namespace)
    assert "iotemu.io/finalizer" in resource["metadata"]["finalizers"]
    chart("delete", "iotfleet", "cams", "-n", namespace, "--wait=true", "--timeout=60s")
    wait_for("no pods", lambda: pod_count(chart, namespace, 0) is not None)
    deletes = _audit(chart, verb="delete", resource="pods", namespace=namespace)
    assert {e["user"]["username"] for e in deletes} == {"system:serviceaccount:kube-system:generic-garbage-collector"}


def test_an_operator_restarted_mid_reconcile_converges(
    chart: Kube, namespace: str, profiles_settings: dict[str, Any]
) -> None:
    chart.apply(fleet(replicas=40, per_pod=1), "-n", namespace)
    with running_operator(operator_settings(**profiles_settings, worker_limit=1)):
        wait_for("the first pods", lambda: len(pods_of(chart, namespace)) > 0)
    partial = len(pods_of(chart, namespace))
    with running_operator(operator_settings(**profiles_settings)):
        pods = wait_for("40 pods", lambda: pod_count(chart, namespace, 40))
        wait_for("status of 40", lambda: status_settled(chart, namespace, 40))
    assert sorted(pods) == sorted(f"iotfleet-cams-{i}" for i in range(40))
    created = collections.Counter(
        e["objectRef"].get("name")
        for e in _audit(chart, verb="create", resource="pods", namespace=namespace)
        if e["responseStatus"]["code"] == 201
    )
    assert created and set(created) <= set(pods) and max(created.values()) == 1, (
        f"{partial} before the restart: {created}"
    )


def test_the_api_server_restarted_under_the_operator(chart: Kube, namespace: str, operator: OperatorRun) -> None:
    chart.apply(fleet(replicas=2), "-n", namespace)
    wait_for("1 pod", lambda: pod_count(chart, namespace, 1))
    chart.plane.restart("kube-apiserver")  # every watch breaks; resuming from old resourceVersions gets 410 Gone
    chart("scale", "iotfleet", "cams", "-n", namespace, "--replicas=6")
    wait_for("3 pods after the restart", lambda: pod_count(chart, namespace, 3))
    wait_for("status after the restart", lambda: status_settled(chart, namespace, 3))


def test_status_writes_are_rate_limited(chart: Kube, namespace: str, profiles_settings: dict[str, Any]) -> None:
    chart.apply(fleet(replicas=10, per_pod=1), "-n", namespace)
    settings = operator_settings(**profiles_settings, resync_interval=0.2, status_min_interval=2.0)
    with running_operator(settings):
        wait_for("10 pods", lambda: pod_count(chart, namespace, 10), timeout=30)
        replicas, until = 10, time.monotonic() + 7
        while time.monotonic() < until:  # a status change every few tenths of a second
            replicas = 21 - replicas
            chart("scale", "iotfleet", "cams", "-n", namespace, f"--replicas={replicas}")
        wait_for("the last status", lambda: status_settled(chart, namespace, replicas))
    patches = [
        _seconds(e["requestReceivedTimestamp"])
        for e in _audit(chart, verb="patch", resource="iotfleets", namespace=namespace)
        if e["objectRef"].get("subresource") == "status"
    ]
    gaps = [b - a for a, b in itertools.pairwise(patches)]
    assert len(patches) >= 3 and min(gaps) >= 1.9, gaps


def test_two_replicas_with_peering_never_both_act(
    chart: Kube, namespace: str, profiles_settings: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kopf._core.engines.peering")
    clusterwide = {**profiles_settings, "namespaces": []}  # the chart's peering object is cluster-wide
    high = operator_settings(**clusterwide, peering="iot-operator", priority=200, emulator_image="high:1")
    low = operator_settings(**clusterwide, peering="iot-operator", priority=100, emulator_image="low:1")
    with running_operator(low):
        # kopf starts a replica paused and logs only changes: wait until the low one acts before the
        # high one joins, or it stays paused from the start without a word
        wait_for("the low replica acting", lambda: "Resuming operations after the pause" in caplog.text)
        high_run = OperatorRun(high).start()
        try:
            wait_for("the low replica paused", lambda: "Pausing operations in favour of" in caplog.text)
            chart.apply(fleet(replicas=6), "-n", namespace)
            pods = wait_for("3 pods", lambda: pod_count(chart, namespace, 3))
            wait_for("status", lambda: status_settled(chart, namespace, 3))
            assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"high:1"}
        finally:
            high_run.stop()
        # the survivor takes over: it rolls the pods to its own image
        wait_for("low's pods", lambda: _images(chart, namespace) == {"low:1"})


def _images(kube: Kube, namespace: str) -> set[str]:
    pods = pods_of(kube, namespace)
    return {p["spec"]["containers"][0]["image"] for p in pods.values()} if len(pods) == 3 else set()


def _audit(kube: Kube, *, verb: str, resource: str, namespace: str) -> list[dict[str, Any]]:
    events = []
    with open(kube.plane.audit_log) as log:
        for line in log:
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            if event["verb"] == verb and ref.get("resource") == resource and ref.get("namespace") == namespace:
                events.append(event)
    return events


def _seconds(timestamp: str) -> float:
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
