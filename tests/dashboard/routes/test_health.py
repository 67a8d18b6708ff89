"""Health, readiness, metrics, the web tab at `/`."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from iot_dashboard import app as app_mod
from iot_dashboard.settings import Settings


async def test_health_readiness_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "backend": "local", "detail": None}
    assert (await client.get("/readyz")).status_code == 200
    metrics = (await client.get("/metrics")).text
    assert "iotemu_dashboard_ws_clients 0.0" in metrics
    assert 'iotemu_dashboard_devices{phase="bound"}' in metrics
    assert "iotemu_dashboard_emulator_processes" in metrics


async def test_placeholder_page_without_a_build(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "dashboard/web/dist" in page.text
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "IoT fleet emulator dashboard"


async def test_built_web_tab_is_served(settings: Settings, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>the tab</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    app: FastAPI = app_mod.create_app(settings.model_copy(update={"web_dir": dist}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dashboard") as http:
        assert (await http.get("/")).text == "<html>the tab</html>"
        assert (await http.get("/assets/app.js")).text == "console.log(1)"
        assert (await http.get("/healthz")).status_code == 200
