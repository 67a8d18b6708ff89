"""What `iotemu demo` runs: the dashboard in a lab, seeded with the default device library, Play All."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from iot_dashboard import app as app_mod
from iot_dashboard import service
from iot_emulator import lab as iotlab
from tests.dashboard.conftest import Watcher

DEFAULT_FLEET = Path(__file__).resolve().parents[2] / "examples" / "default-fleet.yaml"

pytestmark = pytest.mark.lab


@pytest.fixture
async def demo_client(dnsmasq_lab: iotlab.Lab) -> AsyncIterator[tuple[httpx.AsyncClient, Watcher]]:
    settings = service.lab_settings(dnsmasq_lab, seed_file=DEFAULT_FLEET, port=0)
    app = app_mod.create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {app.state.token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", headers=headers) as http:
            yield http, Watcher(app.state.hub.subscribe())


async def test_default_library_loads_stopped_and_plays_all(demo_client: tuple[httpx.AsyncClient, Watcher]) -> None:
    client, watch = demo_client
    devices = (await client.get("/api/devices")).json()
    assert len(devices) >= 10
    assert {d["status"]["phase"] for d in devices} == {"stopped"}
    result = (await client.post("/api/devices/start-all")).json()
    assert result["failed"] == []
    bound: set[str] = set()
    while len(bound) < len(result["done"]):
        bound.add((await watch.next(lambda m: m["type"] == "dhcp_ack", timeout=60))["device_id"])
    assert {d["status"]["phase"] for d in (await client.get("/api/devices")).json()} == {"bound"}
