"""Two IoTDevices made by kubectl without `spec.mac` whose names derive one MAC, on a real API server:
only the older runs, the other is Degraded (MacClash) until a person moves it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster.conftest import Kube, OperatorRun, wait_for
from tests.cluster.test_operator import NOWHERE, operator, profiles_settings  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("chart")


def device(name: str, **spec: Any) -> dict[str, Any]:
    body = {"profile": "tiny-cam", "network": NOWHERE, **spec}
    return {"apiVersion": "iotemu.io/v1alpha1", "kind": "IoTDevice", "metadata": {"name": name}, "spec": body}


def pods(kube: Kube, namespace: str) -> set[str]:
    items = kube.get("pods", "-n", namespace, "-l", "app.kubernetes.io/managed-by=iot-operator")["items"]
    return {p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp")}


def clash(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    status = kube.get("iotdevice", name, "-n", namespace).get("status") or {}
    for condition in status.get("conditions") or []:
        if condition["type"] == "Degraded" and condition["reason"] == "MacClash":
            return dict(condition)
    return None


def test_the_newer_of_two_devices_deriving_one_mac_does_not_run(
    chart: Kube,
    namespace: str,
    operator: OperatorRun,  # noqa: F811
) -> None:
    chart.apply(device("cam-222"), "-n", namespace)
    wait_for("the older device's pod", lambda: pods(chart, namespace) == {"iotdev-cam-222"})
    chart.apply(device("cam-4245"), "-n", namespace)
    condition = wait_for("Degraded MacClash", lambda: clash(chart, namespace, "cam-4245"))
    assert condition["status"] == "True" and "is already used by IoTDevice/cam-222" in condition["message"]
    assert pods(chart, namespace) == {"iotdev-cam-222"}
    chart(
        "patch", "iotdevice", "cam-4245", "-n", namespace, "--type=merge", "-p", '{"spec":{"mac":"00:12:34:56:78:01"}}'
    )
    wait_for("both pods", lambda: pods(chart, namespace) == {"iotdev-cam-222", "iotdev-cam-4245"})
    wait_for("MacClash cleared", lambda: clash(chart, namespace, "cam-4245") is None)
