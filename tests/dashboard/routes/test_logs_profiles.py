"""`/api/logs` and `/api/profiles`."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from iot_dashboard import events


async def test_logs_filter_by_device_level_text_and_time(app: FastAPI, client: httpx.AsyncClient) -> None:
    hub: events.EventHub = app.state.hub
    hub.publish(
        {
            "type": "log",
            "device_id": "a",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "level": "info",
            "message": "Sending DHCP DISCOVER",
        }
    )
    hub.publish(
        {
            "type": "log",
            "device_id": "b",
            "timestamp": "2026-01-01T00:00:01.000Z",
            "level": "warning",
            "message": "slow server",
        }
    )
    hub.publish(
        {
            "type": "error",
            "device_id": "a",
            "timestamp": "2026-01-01T00:00:02.000Z",
            "severity": "error",
            "error": "DHCP timeout",
        }
    )
    hub.publish({"type": "stats", "device_id": "a", "timestamp": "2026-01-01T00:00:03.000Z", "stats": {}})

    async def messages(**params: str) -> list[str]:
        rows = (await client.get("/api/logs", params=params)).json()
        return [r.get("message") or r.get("error") for r in rows]

    assert await messages() == ["Sending DHCP DISCOVER", "slow server", "DHCP timeout"]
    assert await messages(device="a") == ["Sending DHCP DISCOVER", "DHCP timeout"]
    assert await messages(level="warning") == ["slow server", "DHCP timeout"]
    assert await messages(q="dhcp") == ["Sending DHCP DISCOVER", "DHCP timeout"]
    assert await messages(since="2026-01-01T00:00:01+00:00") == ["DHCP timeout"]
    assert (await client.get("/api/logs", params={"level": "loud"})).status_code == 422


async def test_profiles(client: httpx.AsyncClient) -> None:
    names = [p["name"] for p in (await client.get("/api/profiles")).json()]
    assert "tiny-cam" in names and "tiny-plug" in names
    cam = (await client.get("/api/profiles/tiny-cam")).json()
    assert cam["dhcp"]["vendor_class_id"] == "udhcp 1.19.4"
    assert (await client.get("/api/profiles/nope")).status_code == 404
