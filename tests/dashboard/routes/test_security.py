"""Who may drive the service: the token on /api and /ws, Host and Origin checks, private files, CORS, body size.

Browser-level attacks against a running service (a cross-origin page in Chromium, another local
user) are in `tests/dashboard/test_security_attacks.py`.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import httpx
import pytest
import websockets
from pydantic import SecretStr, ValidationError

from iot_dashboard import app as app_mod
from iot_dashboard import logs, origin, security, service
from iot_dashboard.backends.local import interface
from iot_dashboard.settings import LocalSettings, Settings
from tests.dashboard.conftest import TOKEN, device_body, ws_connect, ws_next


async def test_api_needs_the_bearer_token(client: httpx.AsyncClient) -> None:
    anonymous = {"Authorization": ""}
    assert (await client.get("/api/devices", headers=anonymous)).status_code == 401
    assert (await client.get("/api/devices", headers={"Authorization": "Bearer wrong"})).status_code == 401
    refused = await client.post("/api/devices", json=device_body("cam-1"), headers=anonymous)
    assert refused.status_code == 401
    assert (await client.get("/api/devices")).json() == []  # nothing was created
    assert (await client.get("/api/devices")).status_code == 200
    assert (await client.get("/healthz", headers=anonymous)).status_code == 200  # probes need no token


async def test_websocket_takes_the_token_as_a_header_or_subprotocol_never_in_the_url(server_url: str) -> None:
    for attempt in (
        websockets.connect(f"ws://{server_url}/ws"),
        websockets.connect(f"ws://{server_url}/ws?token={TOKEN}"),
        ws_connect(server_url, token="wrong-token-0123456789"),
    ):
        async with attempt as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    async with ws_connect(server_url) as ws:
        assert ws.subprotocol == security.WS_PROTOCOL  # the token's subprotocol is never echoed
        assert (await ws_next(ws, "snapshot"))["data"] == {"devices": [], "fleets": []}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with websockets.connect(f"ws://{server_url}/ws", additional_headers=headers) as ws:
        assert (await ws_next(ws, "snapshot"))["event"] == "snapshot"


async def test_binary_websocket_frame_closes_cleanly(server_url: str) -> None:
    async with ws_connect(server_url) as ws:
        await ws_next(ws, "snapshot")
        await ws.send(b"\x00\x01binary")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


async def test_unknown_host_is_refused_before_anything_else(client: httpx.AsyncClient) -> None:
    """DNS rebinding: the page's requests carry its own name as Host."""
    for host in ("evil.example", "evil.example:8080", "dashboard.evil.example"):
        response = await client.post("/api/devices", json=device_body("cam-1"), headers={"Host": host})
        assert response.status_code == 400, host
        assert (await client.get("/api/devices", headers={"Host": host})).status_code == 400
    for host in ("localhost:8080", "127.0.0.1:8080", "[::1]:8080", "10.1.2.3", "dashboard"):
        assert (await client.get("/api/devices", headers={"Host": host})).status_code == 200, host
    assert (await client.get("/api/devices")).json() == []


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({"Origin": "http://evil.example", "Content-Type": "text/plain"}, json.dumps(device_body("cam-1"))),
        ({"Origin": "http://127.0.0.1:9999", "Content-Type": "application/x-www-form-urlencoded"}, "name=cam-1"),
        ({"Origin": "null", "Content-Type": "application/json"}, json.dumps(device_body("cam-1"))),
        ({"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}, json.dumps(device_body("cam-1"))),
    ],
    ids=["text-plain", "form-other-port", "null-origin", "same-site"],
)
async def test_cross_origin_state_change_is_refused_even_with_the_token(
    client: httpx.AsyncClient, headers: dict[str, str], content: str
) -> None:
    response = await client.post("/api/devices", content=content, headers=headers)
    assert response.status_code == 403
    assert (await client.post("/api/devices/start-all", headers=headers)).status_code == 403
    assert (await client.get("/api/devices")).json() == []


async def test_own_origin_and_programs_without_origin_may_change_state(client: httpx.AsyncClient) -> None:
    same = {"Origin": "http://dashboard", "Sec-Fetch-Site": "same-origin"}
    assert (await client.post("/api/devices", json=device_body("cam-1"), headers=same)).status_code == 201
    assert (await client.post("/api/devices", json=device_body("cam-2"))).status_code == 201


def test_host_names() -> None:
    guard = origin.Guard(lambda *a: None, ["lab.example", ".svc.cluster.local"], [])  # type: ignore[arg-type,return-value]
    assert origin.host_name("[::1]:8080") == "::1" and origin.host_name("Example.ORG:80") == "example.org"
    assert guard.host_allowed("lab.example:80") and guard.host_allowed("dash.ns.svc.cluster.local")
    assert not guard.host_allowed("lab.example.evil.example") and not guard.host_allowed("")


def test_each_start_writes_a_new_private_token(settings: Settings) -> None:
    generated = settings.model_copy(update={"token": None})
    first = security.resolve_token(generated)
    path = generated.resolved_token_file()
    assert path.read_text().strip() == first and len(first) > 30
    assert path.stat().st_mode & 0o777 == 0o600
    assert security.resolve_token(generated) != first  # per start
    assert path.read_text().strip() != first


def test_token_file_option_refuses_a_readable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOTEMU_DASHBOARD_TOKEN", raising=False)
    path = tmp_path / "token"
    path.write_text("a-token-of-sufficient-length\n")
    path.chmod(0o644)
    args = argparse.Namespace(token_file=path)
    with pytest.raises(security.InsecureTokenFile, match="chmod 600"):
        service.settings_from(args)
    path.chmod(0o600)
    token = service.settings_from(args).token
    assert token is not None and token.get_secret_value() == "a-token-of-sufficient-length"


def test_token_option_is_gone_and_odd_tokens_are_refused() -> None:
    parser = argparse.ArgumentParser()
    service.register(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--token", "visible-in-proc-cmdline"])
    with pytest.raises(ValidationError, match="token"):
        Settings(token=SecretStr("has spaces, and is short"))


def test_interface_is_required_and_the_default_route_one_needs_confirmation(tmp_path: Path) -> None:
    routes = tmp_path / "route"
    routes.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\n"
        "eth1\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"
    )
    assert interface.default_route_interfaces(routes, tmp_path / "none") == {"eth0"}
    with pytest.raises(interface.InterfaceRefused, match="--interface: required"):
        interface.check(LocalSettings())
    host_default = next(iter(interface.default_route_interfaces()), None)
    if host_default is not None:  # this machine has a default route: its interface is refused
        with pytest.raises(interface.InterfaceRefused, match="--allow-default-route"):
            interface.check(LocalSettings(interface=host_default))
        assert interface.check(LocalSettings(interface=host_default, allow_default_route=True)) == host_default
        assert interface.check(LocalSettings(interface=host_default, netns="lab-dev")) == host_default


def test_log_file_is_private_and_access_log_masks_secrets(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "dashboard.log"
    logs.configure(file=path)
    try:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/ws?token=s3cret-value&x=1", "1.1", 101
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = path.read_text()
        assert "/ws?token=***&x=1" in text and "s3cret-value" not in text
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        logs.configure()


async def test_cors_off_by_default_and_allow_list(settings: Settings) -> None:
    preflight = {"Origin": "http://lab.example", "Access-Control-Request-Method": "POST"}
    app = app_mod.create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dashboard") as http:
        response = await http.get("/healthz", headers={"Origin": "http://lab.example"})
        assert "access-control-allow-origin" not in response.headers
    app = app_mod.create_app(settings.model_copy(update={"cors_origins": ["http://lab.example"]}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dashboard") as http:
        ok = await http.options("/api/devices", headers=preflight)
        assert ok.headers["access-control-allow-origin"] == "http://lab.example"
        other = await http.options("/api/devices", headers={**preflight, "Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_request_size_limit(client: httpx.AsyncClient, settings: Settings) -> None:
    big = {"name": "x", "spec": {"profile": "tiny-cam"}, "labels": {"k": "v" * settings.max_request_bytes}}
    assert (await client.post("/api/devices", json=big)).status_code == 413
