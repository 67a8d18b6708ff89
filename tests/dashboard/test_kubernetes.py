"""The Kubernetes backend against the operator suite's extended kmock API server, and a pod's /events stream.

kmock (extended in tests/operator/fakeapi.py: status subresource, CRD schema checks, merge
patches) stands in for the API server in these fast tests; tests/cluster/test_dashboard.py runs the
same backend against the real API server. The emulator
"pod" is the emulator's real HTTP endpoint (`http_api.start`) on 127.0.0.1, over a fake engine
view, announced to the API as a Running pod with the operator's labels.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI
from pydantic import SecretStr

from iot_dashboard import app as app_mod
from iot_dashboard import events
from iot_dashboard.backends.kubernetes import backend as kube_backend
from iot_dashboard.backends.kubernetes import client as kube_client
from iot_dashboard.settings import KubeSettings, Settings
from iot_emulator.devices import macs
from iot_emulator.endpoints import capture, http_api
from iot_emulator.profiles import catalog
from iot_emulator.reporting import capture_format, messages
from tests.dashboard.conftest import TOKEN, Watcher
from tests.operator import harness
from tests.unit.test_capture import FakeLink

NS = "lab"
DEVICES = f"/apis/iotemu.io/v1alpha1/namespaces/{NS}/iotdevices"


class FakeView:
    """What the emulator's HTTP endpoint reads from an engine."""

    def __init__(self) -> None:
        self.events = messages.Fanout()

    def device_stats(self) -> list[dict[str, Any]]:
        return [
            {
                "device_id": "cam-1",
                "state": "bound",
                "current_ip": "10.0.0.7",
                "packets_sent": 3,
                "bytes_sent": 900,
                "packet_rate": 0.1,
                "uptime_seconds": 30.0,
                "protocols": {"dhcp": 3},
            }
        ]

    def totals(self) -> dict[str, Any]:
        return {"devices": 1, "bound": 1}


@pytest.fixture
async def kube() -> AsyncIterator[harness.Cluster]:
    """The operator suite's extended kmock API server (status subresource apart, CRD schemas checked)."""
    async with harness.cluster() as cluster:
        yield cluster


@pytest.fixture
async def app(kube: harness.Cluster, profiles_dir: Path, tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = KubeSettings(api_url=kube.url, namespace=NS)
    hub = events.EventHub()
    library = catalog.library(profiles_dir)
    backend = kube_backend.KubernetesBackend(settings, hub, library)
    auth = {"token": SecretStr(TOKEN), "allowed_hosts": ["dashboard"]}
    service = Settings(backend="kubernetes", web_dir=tmp_path / "none", **auth)
    application = app_mod.create_app(service, backend=backend)
    async with application.router.lifespan_context(application):
        yield application


async def api(kube: harness.Cluster, method: str, path: str, body: Any = None) -> Any:
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
    async with httpx.AsyncClient(base_url=kube.url) as http:
        response = await http.request(method, path, json=body, headers=headers)
        return response.json()


async def running_pod(kube: harness.Cluster, name: str, labels: dict[str, str], port: int) -> None:
    """An emulator pod as the operator makes it (its labels, its HTTP port), Running at 127.0.0.1."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"app.kubernetes.io/managed-by": "iot-operator", **labels},
            "annotations": {"iotemu.io/http-port": str(port)},
        },
        "status": {"phase": "Running", "podIP": "127.0.0.1"},
    }
    await api(kube, "POST", f"/api/v1/namespaces/{NS}/pods", pod)
    await api(kube, "PATCH", f"/api/v1/namespaces/{NS}/pods/{name}/status", {"status": pod["status"]})


async def test_crud_start_stop_and_status(client: httpx.AsyncClient, kube: harness.Cluster) -> None:
    body = {
        "name": "cam-1",
        "labels": {"site": "a"},
        "spec": {"profile": "tiny-cam", "running": False, "mac": "44:19:b6:00:00:01"},
    }
    assert (await client.post("/api/devices", json=body)).status_code == 201
    stored = await api(kube, "GET", f"{DEVICES}/cam-1")
    assert stored["spec"]["mac"] == "44:19:b6:00:00:01" and stored["metadata"]["namespace"] == NS
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.post("/api/devices/cam-1/start")).json() == {
        "action": "start",
        "done": ["cam-1"],
        "failed": [],
    }
    assert (await api(kube, "GET", f"{DEVICES}/cam-1"))["spec"]["running"] is True
    operator_status = {"phase": "Bound", "ip": "10.0.0.9", "ipv6": ["fe80::1"], "auth": "mab"}
    await api(kube, "PATCH", f"{DEVICES}/cam-1/status", {"status": operator_status})  # as the operator writes it
    status = (await client.get("/api/devices/cam-1")).json()["status"]
    assert (status["phase"], status["ip"], status["running"]) == ("bound", "10.0.0.9", True)
    assert (status["ipv6"], status["auth"]) == (["fe80::1"], "mab")
    replaced = await client.put("/api/devices/cam-1", json={"spec": {"profile": "tiny-cam", "trafficInterval": 5}})
    assert replaced.status_code == 200
    stored = await api(kube, "GET", f"{DEVICES}/cam-1")
    assert stored["spec"]["mac"] == macs.derive("44:19:b6", "device/cam-1", 0)  # derived, then pinned
    assert stored["spec"]["trafficInterval"] == 5
    assert stored["metadata"]["labels"] == {"site": "a"}  # labels are only added, never removed
    assert (await client.post("/api/devices", json=body)).status_code == 409
    assert (await client.delete("/api/devices/cam-1")).status_code == 204
    assert (await api(kube, "GET", DEVICES))["items"] == []


async def test_a_scenario_goes_into_the_custom_resource_and_out(
    client: httpx.AsyncClient, kube: harness.Cluster
) -> None:
    await kubectl_device(kube, "cam-1")
    scenario = {
        "name": "unplug",
        "seed": 4,
        "steps": [
            {"at": 30, "target": {"share": 0.5}, "behaviour": {"kind": "mac_randomisation", "down": 5}},
            {"at": 60, "duration": 20, "behaviour": {"kind": "c2_beacon", "target": "c2.lab.test", "period": 5}},
        ],
    }
    assert (await client.put("/api/devices/cam-1/scenario", json=scenario)).status_code == 200
    stored = (await api(kube, "GET", f"{DEVICES}/cam-1"))["spec"]["scenario"]  # the CRD's schema accepted it
    assert {"kind": "c2_beacon", "target": "c2.lab.test", "period": 5}.items() <= stored["steps"][1][
        "behaviour"
    ].items()
    assert stored["steps"][0]["target"] == {"share": 0.5}
    assert (await client.delete("/api/devices/cam-1/scenario")).status_code == 200
    assert "scenario" not in (await api(kube, "GET", f"{DEVICES}/cam-1"))["spec"]


CLASH = macs.derive("44:19:b6", "device/cam-222", 0)
"""cam-222 and cam-4245 derive this same MAC (24 bits of hash), each on its own as a pod would."""


async def kubectl_device(kube: harness.Cluster, name: str, **spec: Any) -> None:
    """An IoTDevice created around the dashboard, with no MAC unless given."""
    body = {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTDevice",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"profile": "tiny-cam", "running": False, **spec},
    }
    assert (await api(kube, "POST", DEVICES, body))["metadata"]["name"] == name


async def test_a_device_without_mac_gets_one_no_other_resource_runs_with(
    client: httpx.AsyncClient, kube: harness.Cluster
) -> None:
    assert macs.derive("44:19:b6", "device/cam-4245", 0) == CLASH
    await kubectl_device(kube, "cam-222")  # runs with CLASH in its own pod: the dashboard must avoid it
    created = await client.post("/api/devices", json={"name": "cam-4245", "spec": {"profile": "tiny-cam"}})
    assert created.status_code == 201
    pinned = (await api(kube, "GET", f"{DEVICES}/cam-4245"))["spec"]["mac"]
    assert pinned == created.json()["status"]["mac"] and pinned != CLASH and pinned.startswith("44:19:b6:")
    assert (await api(kube, "GET", f"{DEVICES}/cam-222"))["spec"].get("mac") is None  # others are left alone


async def test_an_import_pins_every_device_apart(client: httpx.AsyncClient, kube: harness.Cluster) -> None:
    await kubectl_device(kube, "cam-0", mac=CLASH)
    brief = {"devices": [{"id": "cam-222", "vendor": "Tinycam"}, {"id": "cam-4245", "vendor": "Tinycam"}]}
    assert (await client.post("/api/import", json=brief)).status_code == 200
    stored = {d["metadata"]["name"]: d["spec"].get("mac") for d in (await api(kube, "GET", DEVICES))["items"]}
    assert len(set(stored.values())) == 3 and None not in stored.values() and stored["cam-0"] == CLASH


async def test_a_given_mac_another_resource_runs_with_is_refused(
    client: httpx.AsyncClient, kube: harness.Cluster
) -> None:
    await kubectl_device(kube, "cam-222")
    body = {"name": "cam-9", "spec": {"profile": "tiny-cam", "mac": CLASH}}
    refused = await client.post("/api/devices", json=body)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [f"IoTDevice/cam-9: spec.mac: MAC {CLASH} is already used by IoTDevice/cam-222"]
    assert [d["metadata"]["name"] for d in (await api(kube, "GET", DEVICES))["items"]] == ["cam-222"]


async def test_failed_import_undoes_what_it_wrote(
    app: FastAPI, client: httpx.AsyncClient, kube: harness.Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = app.state.backend
    real_create = backend.kube.create_object
    calls = 0

    async def flaky_create(kind: str, body: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise kube_client.KubeError(500, "etcd is unhappy")
        return await real_create(kind, body)

    monkeypatch.setattr(backend.kube, "create_object", flaky_create)
    brief = {"devices": [{"id": "a", "vendor": "Tinycam"}, {"id": "b", "vendor": "Tinycam"}]}
    response = await client.post("/api/import", json=brief)
    assert response.status_code == 503 and "earlier writes undone" in response.json()["detail"]
    assert (await api(kube, "GET", DEVICES))["items"] == []


async def test_live_events_from_the_pods(client: httpx.AsyncClient, kube: harness.Cluster, app: FastAPI) -> None:
    view = FakeView()
    server = await http_api.start(view, "127.0.0.1", 0)
    watch = Watcher(app.state.hub.subscribe())
    try:
        await running_pod(kube, "emu-cams-0", {"iotemu.io/iotfleet": "cams"}, server.port)
        snapshot_stats = await watch.next(lambda m: m["type"] == "stats" and m["device_id"] == "cam-1")
        assert snapshot_stats["stats"]["current_ip"] == "10.0.0.7" and snapshot_stats["pod"] == "emu-cams-0"
        ack_fields = {"assigned_ip": "10.0.0.8", "server_id": "10.0.0.1", "lease_time": 600}
        view.events(messages.make("dhcp_release", "cam-1", time.time(), released_ip="10.0.0.7"))  # drifted: refused
        view.events(messages.make("dhcp_ack", "cam-1", time.time(), **ack_fields))
        ack = await watch.next(lambda m: m["type"] in ("dhcp_ack", "dhcp_release"))
        assert ack["type"] == "dhcp_ack" and ack["assigned_ip"] == "10.0.0.8"
        assert app.state.hub.live("cam-1").ip == "10.0.0.8"
    finally:
        await server.close()


async def test_a_device_capture_from_its_pod(client: httpx.AsyncClient, kube: harness.Cluster, app: FastAPI) -> None:
    """The pod found by its device label, reached at its address with the capture token in its header."""
    token = "c" * 32
    tap = capture.CaptureTap(FakeLink())
    cam = macs.parse("44:19:b6:00:00:01")
    server = await http_api.start(
        FakeView(), "127.0.0.1", 0, tap=tap, roster=lambda: [("cam-1", None, cam)], capture_token=token
    )
    watch = Watcher(app.state.hub.subscribe())
    try:
        body = {"name": "cam-1", "spec": {"profile": "tiny-cam", "mac": "44:19:b6:00:00:01"}}
        assert (await client.post("/api/devices", json=body)).status_code == 201
        await running_pod(kube, "emu-cam-1", {"iotemu.io/iotdevice": "cam-1"}, server.port)
        await watch.next(lambda m: m["type"] == "stats" and m["device_id"] == "cam-1")  # the pod is known
        no_token = await client.get("/api/devices/cam-1/capture", params={"seconds": 1})
        assert no_token.status_code == 503 and "capture_token" in no_token.json()["detail"]
        backend = app.state.backend
        backend.settings = backend.settings.model_copy(update={"capture_token": SecretStr(token)})
        download = asyncio.create_task(client.get("/api/devices/cam-1/capture", params={"seconds": 0.5}))
        async with asyncio.timeout(10):
            while not tap.captures:  # the pod's capture has started: no event crosses to here
                await asyncio.sleep(0.01)
        tap.send(b"\xff" * 6 + cam + b"\x08\x06" + bytes(28))
        tap.send(b"\xff" * 6 + macs.parse("44:19:b6:00:00:02") + b"\x08\x06" + bytes(28))
        resp = await download
        assert resp.status_code == 200 and resp.headers["content-type"] == "application/vnd.tcpdump.pcap"
        assert len(resp.content) == 24 + 16 + 42 and resp.content[24 + 16 + 6 : 24 + 16 + 12] == cam
    finally:
        await server.close()


async def test_the_pod_proxy_carries_the_capture_query_and_token() -> None:
    """Through the API server's pod proxy: the query string and the token header reach the pod's path
    (the generated client takes no query there; `pod_proxy` builds the call itself)."""
    seen: list[web.Request] = []

    async def proxy(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        return web.Response(body=capture_format.header(), content_type="application/vnd.tcpdump.pcap")

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/lab/pods/{pod}/proxy/{path:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    kube = kube_client.KubeClient(KubeSettings(api_url=f"http://127.0.0.1:{port}", namespace=NS, token=SecretStr("kt")))
    try:
        query = [("device", "cam-1"), ("seconds", "3")]
        response = await kube.pod_proxy("emu-cam-1", 8080, "capture", query, {"X-Iotemu-Token": "c" * 32})
        try:
            assert await response.read() == capture_format.header()
        finally:
            response.release()
        (request,) = seen
        assert request.match_info["pod"] == "emu-cam-1:8080" and request.match_info["path"] == "capture"
        assert request.query_string == "device=cam-1&seconds=3"
        assert request.headers["X-Iotemu-Token"] == "c" * 32
        assert request.headers["Authorization"] == "Bearer kt"
    finally:
        await kube.close()
        await runner.cleanup()
