"""Token checks on /api and /ws, token generation off loopback, CORS allow-list, body size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from fastapi import FastAPI
from pydantic import SecretStr

from iot_dashboard import app as app_mod
from iot_dashboard import security
from iot_dashboard.settings import Settings
from tests.dashboard.conftest import TOKEN, ws_next


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:  # the suite's app, with a token
    application = app_mod.create_app(settings.model_copy(update={"token": SecretStr(TOKEN)}))
    async with application.router.lifespan_context(application):
        yield application


async def test_api_needs_the_bearer_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/devices")).status_code == 401
    assert (await client.get("/api/devices", headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await client.get("/api/devices", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200
    assert (await client.get("/healthz")).status_code == 200  # probes need no token


async def test_websocket_needs_the_token(server_url: str) -> None:
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(f"ws://{server_url}/ws"):
            pass
    async with websockets.connect(f"ws://{server_url}/ws?token={TOKEN}") as ws:
        assert (await ws_next(ws, "snapshot"))["data"] == {"devices": [], "fleets": []}


def test_binding_beyond_loopback_generates_and_keeps_a_token(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    public = settings.model_copy(update={"host": "0.0.0.0"})
    token = security.resolve_token(public)
    assert token and len(token) > 30
    path = public.resolved_token_file()
    assert path.stat().st_mode & 0o777 == 0o600
    assert token in capsys.readouterr().err
    assert security.resolve_token(public) == token
    assert security.resolve_token(settings) is None
    with pytest.raises(security.InsecureBinding):
        security.resolve_token(public.model_copy(update={"require_token": False}))


async def test_cors_off_by_default_and_allow_list(settings: Settings) -> None:
    preflight = {"Origin": "http://lab.example", "Access-Control-Request-Method": "POST"}
    app = app_mod.create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as http:
        response = await http.get("/healthz", headers={"Origin": "http://lab.example"})
        assert "access-control-allow-origin" not in response.headers
    app = app_mod.create_app(settings.model_copy(update={"cors_origins": ["http://lab.example"]}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as http:
        ok = await http.options("/api/devices", headers=preflight)
        assert ok.headers["access-control-allow-origin"] == "http://lab.example"
        other = await http.options("/api/devices", headers={**preflight, "Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_request_size_limit(client: httpx.AsyncClient, settings: Settings) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    big = {"name": "x", "spec": {"profile": "tiny-cam"}, "labels": {"k": "v" * settings.max_request_bytes}}
    assert (await client.post("/api/devices", json=big, headers=headers)).status_code == 413
