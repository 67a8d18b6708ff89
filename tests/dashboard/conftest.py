"""Fixtures of the dashboard suite: settings in a temporary directory, an app, an HTTP client, auth.

The local backend runs `fake_emulator.py` (the control contract without a network) unless a
test asks for the real emulator in a lab (`tests/dashboard/test_lab_e2e.py`). Profiles are a
tiny library of two vendors, so tests do not depend on the shipped profiles.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from pydantic import SecretStr

from iot_dashboard import app as app_mod
from iot_dashboard import events, frames, security
from iot_dashboard.settings import LocalSettings, Settings
from tests import poll

FAKE_EMULATOR = Path(__file__).with_name("fake_emulator.py")
TOKEN = "test-token-0123456789"

TINY_PLUG = """\
name: tiny-plug
vendor: Plugco
model: P-1
device_class: plug
os: lwIP
ouis: ["50:c7:bf"]
hostname_pattern: "plug-{mac6}"
dhcp:
  options: [53, 61, 50, 12, 55]
  parameter_request_list: [1, 3, 6, 28]
  broadcast_flag: true
  arp_probe: {count: 0}
sources: {dhcp.options: "test fixture"}
"""


@pytest.fixture
def profiles_dir(profiles_dir: Path) -> Path:
    """The suite-wide tiny-cam directory, plus a plug of another vendor."""
    (profiles_dir / "tiny-plug.yaml").write_text(TINY_PLUG)
    return profiles_dir


@pytest.fixture
def settings(tmp_path: Path, profiles_dir: Path) -> Settings:
    local = LocalSettings(
        interface="fake0",
        data_file=tmp_path / "data" / "devices.yaml",
        profiles_dir=profiles_dir,
        emulator_command=[sys.executable, str(FAKE_EMULATOR)],
        socket_dir=tmp_path,
        state_dir=tmp_path / "state",
        stats_interval=0.2,
        restart_initial=0.05,
        stop_timeout=2.0,
    )
    auth = {"token": SecretStr(TOKEN), "allowed_hosts": ["dashboard"]}
    return Settings(local=local, web_dir=tmp_path / "no-web", port=0, **auth)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The service with its lifespan entered (backend started, processes stopped at the end)."""
    application = app_mod.create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard", headers=headers) as http:
        yield http


@pytest.fixture
def hub(app: FastAPI) -> events.EventHub:
    hub_: events.EventHub = app.state.hub
    return hub_


def device_body(name: str, running: bool = False, **spec: Any) -> dict[str, Any]:
    return {"name": name, "spec": {"profile": "tiny-cam", "running": running, **spec}}


class Watcher:
    """Reads a hub subscription in order, keeping what a match left unread for the next call."""

    def __init__(self, sub: events.Subscription) -> None:
        self.sub = sub
        self.pending: deque[dict[str, Any]] = deque()
        self.seen: list[dict[str, Any]] = []

    async def next(self, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """The next message that matches, within the deadline (earlier ones are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            while self.pending:
                message = self.pending.popleft()
                self.seen.append(message)
                if match(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching message; last seen: {self.seen[-5:]}")
            try:
                self.pending.extend(await asyncio.wait_for(self.sub.next_batch(), left))
            except TimeoutError:
                raise TimeoutError(f"no matching message; last seen: {self.seen[-5:]}") from None


@pytest.fixture
def watch(hub: events.EventHub) -> Watcher:
    """Every message the hub publishes from now on, read in order."""
    return Watcher(hub.subscribe())


@pytest.fixture
async def server_url(app: FastAPI) -> AsyncIterator[str]:
    """The app served by uvicorn on 127.0.0.1 (a free port): `host:port`, for real WebSocket clients."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await poll.until_async(lambda: server.started or task.done())
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task


def ws_connect(server_url: str, query: str = "", token: str = TOKEN) -> Any:
    """A WebSocket client that sends the token as a browser does: a subprotocol next to `iotemu.v1`."""
    protocols = [security.WS_PROTOCOL, security.WS_TOKEN_PREFIX + token]
    return websockets.connect(f"ws://{server_url}/ws{query}", subprotocols=protocols)  # type: ignore[arg-type]


_UNREAD: weakref.WeakKeyDictionary[Any, deque[dict[str, Any]]] = weakref.WeakKeyDictionary()
"""Per connection, the frames a `batch` held that `ws_next` has not returned yet."""


def unbatched(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """A `batch` frame as the frames its messages stand for (`device:<type>`, `resource:changed`,
    and `dropped` first when it says messages were lost); any other frame as itself."""
    if frame["event"] != "batch":
        return [frame]
    data = frame["data"]
    lost = {"dropped": data["dropped"], "total": data["total"]}
    out = [{"event": "dropped", "data": lost}] if data["dropped"] else []
    return out + [{"event": events.event_name(m), "data": m} for m in data["messages"]]


async def ws_next(ws: Any, event: str | Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
    """The next WebSocket frame whose event is `event` (or that matches), within the deadline; each
    frame read on the way is validated against its `frames` model, and a `batch` is read as the
    frames of its messages (see `unbatched`)."""
    match = (lambda f: f["event"] == event) if isinstance(event, str) else event
    unread = _UNREAD.setdefault(ws, deque())
    deadline = time.monotonic() + timeout
    while True:
        while unread:
            frame = unread.popleft()
            if match(frame):
                return frame
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {event} frame")
        received: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), left))
        frames.parse_server_frame(received)  # every frame a test reads fits the contract (frames.ServerFrame)
        unread.extend(unbatched(received))
