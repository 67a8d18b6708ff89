"""`/socket.io` with the npm `socket.io-client` from Node, as the brief's orchestrator connects.

A real uvicorn server (`server_url`) and the dashboard with a fake emulator; the client is the
library the brief names, in Node (a script that prints every event it gets as a JSON line and
emits what the test writes to its stdin).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboard.conftest import TOKEN, device_body

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).resolve().parents[1] / "node" / "socketio_client.mjs"
CLIENT_FROM = ROOT / "dashboard" / "web" / "package.json"  # resolves socket.io-client in its node_modules
TIMEOUT = 15.0

NODE = shutil.which("node") or "node"  # the web tab's build needs it: `make test` has it


class NodeClient:
    """The Node script as a subprocess: `events` in order, `emit` to send."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[dict[str, Any]] = []

    async def next(self, match: str | Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        test = (lambda e: e["event"] == match) if isinstance(match, str) else match
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT)
            if not line:
                raise AssertionError(f"the client exited; saw {self.seen[-5:]}")
            event: dict[str, Any] = json.loads(line)
            self.seen.append(event)
            if test(event):
                return event

    async def emit(self, event: str, data: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"emit": event, "data": data}).encode() + b"\n")
        await self.proc.stdin.drain()


@pytest.fixture
async def node_client(server_url: str) -> AsyncIterator[Callable[..., Any]]:
    procs: list[asyncio.subprocess.Process] = []

    async def start(token: str = TOKEN, how: str = "auth") -> NodeClient:
        proc = await asyncio.create_subprocess_exec(
            NODE,
            str(SCRIPT),
            f"http://{server_url}",
            token,
            how,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "SOCKETIO_CLIENT_FROM": str(CLIENT_FROM)},
        )
        procs.append(proc)
        return NodeClient(proc)

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_brief_events_and_stats_requests(client: httpx.AsyncClient, node_client: Callable[..., Any]) -> None:
    await client.post("/api/devices", json=device_body("cam-1"))
    socket = await node_client()
    await socket.next("connect")
    await client.post("/api/devices/start-all")
    started = await socket.next("device:started")
    assert started["data"]["device_id"] == "cam-1"
    ack = await socket.next("device:dhcp_ack")
    assert ack["data"]["device_id"] == "cam-1"
    stats = await socket.next("device:stats")
    assert stats["data"]["device_id"] == "cam-1" and "stats" in stats["data"]
    assert stats["transport"] == "websocket"  # long-polling first, then upgraded, as Socket.io does
    await socket.emit("request:stats", "cam-1")  # the brief's form: the id alone
    response = (await socket.next("stats:response"))["data"]
    assert response["device_id"] == "cam-1" and response["stats"]["state"] == "bound"
    await socket.emit("request:stats", "nobody")
    assert (await socket.next("stats:response"))["data"] == {"device_id": "nobody", "stats": None}


async def test_subscribe_narrows_the_events(client: httpx.AsyncClient, node_client: Callable[..., Any]) -> None:
    await client.post("/api/devices", json=device_body("cam-1"))
    await client.post("/api/devices", json=device_body("cam-2"))
    socket = await node_client(how="header")  # a program's way: Authorization: Bearer
    await socket.next("connect")
    await socket.emit("subscribe", {"devices": ["cam-2"], "types": ["dhcp_ack"]})
    assert (await socket.next("subscribe:ack"))["data"] == {"devices": ["cam-2"], "types": ["dhcp_ack"]}
    await client.post("/api/devices/start-all")
    event = await socket.next(lambda e: e["event"].startswith("device:"))
    assert event["event"] == "device:dhcp_ack" and event["data"]["device_id"] == "cam-2"


@pytest.mark.parametrize("token", ["-", "wrong-token"])
async def test_no_token_no_connection(node_client: Callable[..., Any], token: str) -> None:
    socket = await node_client(token=token)
    error = await socket.next(lambda e: e["event"] in ("connect", "connect_error"))
    assert error["event"] == "connect_error" and error["data"] == {"message": "missing or wrong token"}


async def test_cross_site_and_rebinding_requests_are_refused(server_url: str) -> None:
    """A page on another site, or a DNS-rebound name, cannot open a Socket.io session (the token aside)."""
    url = f"http://{server_url}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient() as http:
        assert '"sid"' in (await http.get(url)).text  # a program (no Origin): Engine.IO's handshake
        for refused in ({"Origin": "http://evil.example"}, {"Host": "evil.example"}):
            answer = await http.get(url, headers=refused)
            assert answer.status_code in (400, 403) and '"sid"' not in answer.text, (refused, answer.text)


async def test_messages_are_bounded(server_url: str) -> None:
    async with httpx.AsyncClient() as http:
        handshake = (await http.get(f"http://{server_url}/socket.io/?EIO=4&transport=polling")).text
        sid = json.loads(handshake[1:])["sid"]
        big = "4" + json.dumps(["request:stats", "x" * 200_000])
        answer = await http.post(f"http://{server_url}/socket.io/?EIO=4&transport=polling&sid={sid}", content=big)
        assert answer.status_code == 413, answer.status_code


async def test_devices_imported_from_the_brief_keep_their_ids(
    client: httpx.AsyncClient, node_client: Callable[..., Any]
) -> None:
    brief = {"devices": [{"id": "camera_01", "vendor": "Tinycam", "mac": "44:19:b6:00:00:01"}]}
    await client.post("/api/import", content=json.dumps(brief))
    socket = await node_client()
    await socket.next("connect")
    await client.post("/api/devices/camera_01/start")
    started = (await socket.next("device:started"))["data"]
    assert started["device_id"] == "camera_01" and started["name"] == "camera-01"
    await socket.next("device:dhcp_ack")
    await socket.emit("request:stats", "camera_01")
    response = (await socket.next("stats:response"))["data"]
    assert response["device_id"] == "camera_01" and response["stats"]["state"] == "bound"
