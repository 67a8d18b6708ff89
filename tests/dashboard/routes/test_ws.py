"""`WS /ws` with a real client over uvicorn: snapshot, device events, subscriptions, request:stats."""

from __future__ import annotations

import json

import httpx

from tests.dashboard.conftest import device_body, ws_connect, ws_next


async def test_events_subscriptions_and_stats_requests(client: httpx.AsyncClient, server_url: str) -> None:
    await client.post("/api/devices", json=device_body("cam-1"))
    await client.post("/api/devices", json=device_body("cam-2"))
    async with (
        ws_connect(server_url) as ws,
        ws_connect(server_url, "?device=cam-2&type=dhcp_ack") as only_cam2_acks,
    ):
        snapshot = (await ws_next(ws, "snapshot"))["data"]
        assert [d["name"] for d in snapshot["devices"]] == ["cam-1", "cam-2"]
        await ws.send(json.dumps({"event": "subscribe", "data": {"devices": ["cam-1"], "types": ["device:dhcp*"]}}))
        assert (await ws_next(ws, "subscribed"))["data"] == {"devices": ["cam-1"], "types": ["dhcp*"]}
        await client.post("/api/devices/start-all")
        frames = [await ws_next(ws, lambda f: f["event"].startswith("device:")) for _ in range(3)]
        assert [f["event"] for f in frames] == ["device:dhcp_discover", "device:dhcp_offer", "device:dhcp_ack"]
        assert {f["data"]["device_id"] for f in frames} == {"cam-1"}
        ack = await ws_next(only_cam2_acks, lambda f: f["event"].startswith("device:"))
        assert ack["event"] == "device:dhcp_ack" and ack["data"]["device_id"] == "cam-2"
        await ws.send(json.dumps({"event": "request:stats", "data": "cam-2"}))
        response = (await ws_next(ws, "stats:response"))["data"]
        assert response["device_id"] == "cam-2" and response["stats"]["state"] == "bound"
        await ws.send("not json")
        assert "expected" in (await ws_next(ws, "error"))["data"]["error"]


async def test_resource_changes_reach_every_client(client: httpx.AsyncClient, server_url: str) -> None:
    """What one tab (or a program) creates, changes or deletes, every other open tab hears of."""
    async with ws_connect(server_url) as ws, ws_connect(server_url, "?device=someone-else") as narrowed:
        await ws_next(ws, "snapshot")
        await client.post("/api/devices", json=device_body("cam-1"))
        await client.patch("/api/devices/cam-1", json={"spec": {"trafficInterval": 30}})
        await client.delete("/api/devices/cam-1")
        changes = [(await ws_next(ws, "resource:changed"))["data"] for _ in range(3)]
        assert [(c["action"], c["kind"], c["name"]) for c in changes] == [
            ("created", "IoTDevice", "cam-1"),
            ("updated", "IoTDevice", "cam-1"),
            ("deleted", "IoTDevice", "cam-1"),
        ]
        # a client that follows other devices still hears of resources (its list must stay right)
        assert (await ws_next(narrowed, "resource:changed"))["data"]["name"] == "cam-1"
