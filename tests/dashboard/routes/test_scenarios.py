"""`/api/devices/{name}/scenario` and `/api/fleets/{name}/scenario`: set (and so run), stop, refuse, forward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import websockets

from tests.dashboard.conftest import TOKEN, Watcher, device_body, ws_next
from tests.dashboard.routes.test_socketio import NodeClient, node_client  # noqa: F401 (a fixture)

SCENARIO = {
    "name": "storm",
    "seed": 1,
    "steps": [{"at": 30, "behaviour": {"kind": "power_cycle", "down": 5}}],
}


async def test_setting_a_scenario_restarts_the_device_with_it(client: httpx.AsyncClient, watch: Watcher) -> None:
    await client.post("/api/devices", json=device_body("cam-1", running=True))
    await watch.next(lambda m: m["type"] == "dhcp_ack")
    answer = await client.put("/api/devices/cam-1/scenario", json=SCENARIO)
    assert answer.status_code == 200, answer.text
    assert answer.json()["spec"]["scenario"]["name"] == "storm"
    await watch.next(lambda m: m["type"] == "started" and m["device_id"] == "cam-1")  # restarted with it
    mark = await watch.next(lambda m: m["type"] == "scenario")
    assert (mark["scenario"], mark["step"], mark["behaviour"]) == ("storm", "1", "power_cycle")
    stopped = await client.delete("/api/devices/cam-1/scenario")
    assert stopped.status_code == 200 and stopped.json()["spec"].get("scenario") is None
    assert (await client.get("/api/devices/cam-1")).json()["spec"].get("scenario") is None


async def test_a_fleet_scenario_reaches_only_its_targets(client: httpx.AsyncClient, watch: Watcher) -> None:
    body = {"name": "cams", "spec": {"replicas": 4, "devicesPerPod": 2, "template": {"profile": "tiny-cam"}}}
    await client.post("/api/fleets", json=body)
    scenario = {"name": "two", "steps": [{"at": 9, "target": {"count": 2}, "behaviour": {"kind": "c2_beacon"}}]}
    assert (await client.put("/api/fleets/cams/scenario", json=scenario)).status_code == 200
    marked = {(await watch.next(lambda m: m["type"] == "scenario"))["device_id"] for _ in range(2)}
    assert len(marked) == 2 and marked <= {f"cams-000{i}" for i in range(4)}
    assert (await client.get("/api/fleets/cams")).json()["spec"]["scenario"]["name"] == "two"
    assert (await client.delete("/api/fleets/cams/scenario")).json()["spec"].get("scenario") is None


async def test_a_bad_scenario_is_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    await client.post("/api/devices", json=device_body("cam-1"))
    bad = {"name": "s", "steps": [{"at": 1, "behaviour": {"kind": "power_cycle", "down": -1}}]}
    refused = await client.put("/api/devices/cam-1/scenario", json=bad)
    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["loc"][:4] == ["body", "steps", 0, "behaviour"] and error["loc"][-1] == "down"
    unknown = await client.put(
        "/api/devices/cam-1/scenario",
        json={"name": "s", "steps": [{"at": 1, "behaviour": {"kind": "firmware_update", "profile": "nope"}}]},
    )
    assert unknown.status_code == 422 and "unknown profile 'nope'" in unknown.text
    assert (await client.put("/api/devices/nobody/scenario", json=SCENARIO)).status_code == 404


async def test_scenario_routes_need_the_token(client: httpx.AsyncClient) -> None:
    await client.post("/api/devices", json=device_body("cam-1"))
    for method, path in (("PUT", "/api/devices/cam-1/scenario"), ("DELETE", "/api/fleets/x/scenario")):
        answer = await client.request(method, path, json=SCENARIO, headers={"Authorization": "Bearer wrong"})
        assert answer.status_code == 401


async def test_scenario_events_reach_websocket_and_socketio_clients(
    client: httpx.AsyncClient,
    server_url: str,
    node_client: Callable[..., Any],  # noqa: F811
) -> None:
    await client.post("/api/devices", json=device_body("cam-1"))
    socket: NodeClient = await node_client()
    await socket.next("connect")
    async with websockets.connect(
        f"ws://{server_url}/ws", additional_headers={"Authorization": f"Bearer {TOKEN}"}
    ) as ws:
        await ws_next(ws, "snapshot")
        await client.put("/api/devices/cam-1/scenario", json=SCENARIO)
        await client.post("/api/devices/cam-1/start")
        frame = await ws_next(ws, "device:scenario")
        assert frame["data"]["behaviour"] == "power_cycle" and frame["data"]["state"] == "started"
    event = await socket.next("device:scenario")
    assert event["data"]["device_id"] == "cam-1" and event["data"]["scenario"] == "storm"
