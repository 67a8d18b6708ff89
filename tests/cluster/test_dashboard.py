"""The dashboard's Kubernetes backend on the real API server, as the chart's dashboard service account:
it lists, creates, starts, stops and deletes devices, and follows emulator pods with a watch (resumed
after the API server restarts) to read their /events.

Without a node no pod runs, so the test plays the kubelet for one pod: the admin sets its status to
Running at 127.0.0.1, where the emulator's real HTTP endpoint serves a fake engine's events.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from iot_dashboard import app as app_mod
from iot_dashboard import events
from iot_dashboard.backends.kubernetes import backend as kube_backend
from iot_dashboard.settings import KubeSettings, Settings
from iot_emulator.endpoints import http_api
from iot_emulator.profiles import catalog
from iot_emulator.reporting import messages
from tests.cluster.conftest import DASHBOARD_SA, Kube, until, wait_for
from tests.dashboard.conftest import TOKEN, Watcher, client
from tests.dashboard.test_kubernetes import FakeView

__all__ = ["client"]  # the dashboard suite's HTTP client fixture, on the app below


@pytest.fixture
async def app(chart: Kube, namespace: str, profiles_dir: Path, tmp_path: Path) -> AsyncIterator[FastAPI]:
    token = tmp_path / "dashboard.token"
    token.write_text(chart.token(DASHBOARD_SA))
    kubeconfig = chart.kubeconfig_for(tmp_path / "dashboard.kubeconfig", token_file=token)
    settings = KubeSettings(kubeconfig=kubeconfig, namespace=namespace)
    backend = kube_backend.KubernetesBackend(settings, events.EventHub(), catalog.library(profiles_dir))
    auth = {"token": SecretStr(TOKEN), "allowed_hosts": ["dashboard"]}  # what the suite's `client` sends
    application = app_mod.create_app(Settings(backend="kubernetes", web_dir=tmp_path / "none", **auth), backend=backend)
    async with application.router.lifespan_context(application):
        yield application


async def test_devices_are_created_started_stopped_and_deleted_in_the_cluster(
    client: httpx.AsyncClient, chart: Kube, namespace: str
) -> None:
    body = {"name": "cam-1", "spec": {"profile": "tiny-cam", "running": False, "mac": "44:19:b6:00:00:01"}}
    assert (await client.post("/api/devices", json=body)).status_code == 201, "create"
    stored = chart.get("iotdevice", "cam-1", "-n", namespace, "--show-managed-fields")
    assert stored["spec"]["mac"] == "44:19:b6:00:00:01" and stored["spec"]["running"] is False
    assert "iot-dashboard" in {m["manager"] for m in stored["metadata"]["managedFields"]}
    assert [d["name"] for d in (await client.get("/api/devices")).json()] == ["cam-1"]
    assert (await client.post("/api/devices/cam-1/start")).json()["done"] == ["cam-1"]
    assert chart.get("iotdevice", "cam-1", "-n", namespace)["spec"]["running"] is True
    assert (await client.post("/api/devices/cam-1/stop")).json()["done"] == ["cam-1"]
    assert chart.get("iotdevice", "cam-1", "-n", namespace)["spec"]["running"] is False
    refused = await client.post(
        "/api/devices", json={"name": "cam-2", "spec": {"profile": "tiny-cam", "mac": "01:00:00:00:00:01"}}
    )
    assert refused.status_code == 422
    assert (await client.delete("/api/devices/cam-1")).status_code == 204
    wait_for("cam-1 gone", lambda: chart.get("iotdevices", "-n", namespace)["items"] == [])


def _running_pod(kube: Kube, namespace: str, name: str, port: int) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "iot-operator", "iotemu.io/iotfleet": "cams"},
            "annotations": {"iotemu.io/http-port": str(port)},
        },
        "spec": {  # no kubelet may run it: the test plays the kubelet
            "nodeSelector": {"iotemu.io/test": "no-such-node"},
            "containers": [{"name": "emulator", "image": "iot-emulator:test"}],
        },
    }
    kube.apply(pod, "-n", namespace)
    status = '{"status": {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}}'
    kube("patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", status)


async def test_pod_events_follow_a_watch_that_survives_an_api_server_restart(
    app: FastAPI, chart: Kube, namespace: str
) -> None:
    view = FakeView()
    server = await http_api.start(view, "127.0.0.1", 0)
    watch = Watcher(app.state.hub.subscribe())
    streams: dict[str, Any] = app.state.backend.pods.streams
    try:
        _running_pod(chart, namespace, "emu-cams-0", server.port)
        snapshot = await watch.next(lambda m: m["type"] == "stats" and m["device_id"] == "cam-1")
        assert snapshot["pod"] == "emu-cams-0" and snapshot["stats"]["current_ip"] == "10.0.0.7"
        view.events(
            messages.make(
                "dhcp_ack", "cam-1", time.time(), assigned_ip="10.0.0.8", server_id="10.0.0.1", lease_time=3600
            )
        )
        assert (await watch.next(lambda m: m["type"] == "dhcp_ack"))["assigned_ip"] == "10.0.0.8"

        chart.plane.restart("kube-apiserver")  # the watch breaks; the backend lists and watches again
        _running_pod(chart, namespace, "emu-cams-1", server.port)
        second = await watch.next(lambda m: m["type"] == "stats" and m.get("pod") == "emu-cams-1", timeout=60)
        assert second["device_id"] == "cam-1"
        chart("delete", "pod", "emu-cams-0", "-n", namespace, "--grace-period=0", "--force")
        await until("the deleted pod's stream gone", lambda: set(streams) == {"emu-cams-1"})
    finally:
        await server.close()


async def test_kubectl_changes_reach_the_clients_as_resource_events(
    app: FastAPI, client: httpx.AsyncClient, chart: Kube, namespace: str
) -> None:
    """A device applied, edited, scaled or deleted with kubectl (not through the dashboard) is told to every
    client, once per change; the operator's status writes are not changes."""
    watch = Watcher(app.state.hub.subscribe())

    def change(action: str, kind: str, name: str) -> Any:
        return watch.next(
            lambda m: m["type"] == "resource" and (m["action"], m["kind"], m["name"]) == (action, kind, name),
            timeout=30,
        )

    device = {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTDevice",
        "metadata": {"name": "cam-9"},
        "spec": {"profile": "tiny-cam", "running": False, "mac": "44:19:b6:00:00:09"},
    }
    chart.apply(device, "-n", namespace)
    await change("created", "IoTDevice", "cam-9")
    chart("label", "iotdevice", "cam-9", "-n", namespace, "site=lobby")
    await change("updated", "IoTDevice", "cam-9")
    status = '{"status": {"phase": "Pending"}}'
    chart("patch", "iotdevice", "cam-9", "-n", namespace, "--subresource=status", "--type=merge", "-p", status)
    # through the dashboard too (announced once, by the watch): a spec change
    assert (await client.patch("/api/devices/cam-9", json={"spec": {"trafficInterval": 30}})).status_code == 200
    await change("updated", "IoTDevice", "cam-9")
    chart("delete", "iotdevice", "cam-9", "-n", namespace)
    await change("deleted", "IoTDevice", "cam-9")
    resource_events = [m for m in watch.seen if m["type"] == "resource"]
    assert [(m["action"], m["name"]) for m in resource_events] == [
        ("created", "cam-9"),
        ("updated", "cam-9"),
        ("updated", "cam-9"),
        ("deleted", "cam-9"),
    ], resource_events  # the status write made no event
