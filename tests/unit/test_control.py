"""Adding and removing devices at run time through `POST /devices` / `DELETE /devices/{id}`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from iot_emulator.endpoints import control, http_api
from iot_emulator.engine import engine
from iot_emulator.profiles import catalog
from tests.unit.fakes import RecordingLink


def device(name: str, mac: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"profile": "tiny-cam"}
    if mac:
        spec["mac"] = mac
    return {"apiVersion": "iotemu.io/v1alpha1", "kind": "IoTDevice", "metadata": {"name": name}, "spec": spec}


class Client:
    def __init__(self, session: aiohttp.ClientSession, eng: engine.Engine, messages: list[dict[str, Any]]) -> None:
        self.session = session
        self.engine = eng
        self.messages = messages

    async def post(self, documents: Any) -> tuple[int, dict[str, Any]]:
        async with self.session.post("http://emulator/devices", json={"manifests": documents}) as resp:
            return resp.status, await resp.json()

    async def delete(self, device_id: str) -> tuple[int, dict[str, Any]]:
        async with self.session.delete(f"http://emulator/devices/{device_id}") as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def client(tiny_library: catalog.Library, tmp_path: Path) -> AsyncIterator[Client]:
    link = RecordingLink()
    eng = engine.Engine(link, [], stats_interval=60, seed=3)
    messages: list[dict[str, Any]] = []
    eng.events.add(messages.append)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    sock = tmp_path / "ctl.sock"
    server = await http_api.start(eng, "127.0.0.1", None, ctl=control.Control(eng, tiny_library), unix_path=str(sock))
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(sock))) as session:
        yield Client(session, eng, messages)
    await server.close()
    stop.set()
    await task


async def test_added_devices_start_at_once(client: Client) -> None:
    status, body = await client.post([device("cam-a"), device("cam-b", "00:12:34:56:78:0b")])
    assert (status, body) == (200, {"added": ["cam-a", "cam-b"]})
    assert [d.device_id for d in client.engine.devices] == ["cam-a", "cam-b"]
    kinds = [(m["type"], m["device_id"]) for m in client.messages]
    assert ("started", "cam-b") in kinds and ("dhcp_discover", "cam-b") in kinds


async def test_running_id_or_mac_is_a_conflict_and_nothing_starts(client: Client) -> None:
    await client.post([device("cam-a", "00:12:34:56:78:0a")])
    status, body = await client.post([device("cam-z"), device("cam-y", "00:12:34:56:78:0a")])
    assert status == 409
    assert body["errors"] == ["cam-y: spec.mac: 00:12:34:56:78:0a is already used by cam-a"]
    assert [d.device_id for d in client.engine.devices] == ["cam-a"]  # cam-z did not start either


async def test_invalid_manifest_is_422_with_the_field(client: Client) -> None:
    status, body = await client.post([device("cam-a", "not-a-mac")])
    assert status == 422
    assert any("spec.mac" in e for e in body["errors"])
    assert client.engine.devices == []


async def test_remove_releases_and_reports_stopped(client: Client) -> None:
    await client.post([device("cam-a")])
    status, body = await client.delete("cam-a")
    assert (status, body) == (200, {"removed": "cam-a"})
    assert client.engine.devices == []
    assert client.messages[-1]["type"] == "stopped" and client.messages[-1]["device_id"] == "cam-a"
    status, _ = await client.delete("cam-a")
    assert status == 404


async def test_control_is_refused_over_tcp_even_on_loopback(tiny_library: catalog.Library, tmp_path: Path) -> None:
    """`--http-host` may be 0.0.0.0; every local user reaches 127.0.0.1: only the 0600 unix socket controls."""
    eng = engine.Engine(RecordingLink(), [], stats_interval=60, seed=3)
    sock = tmp_path / "ctl.sock"
    ctl = control.Control(eng, tiny_library)
    server = await http_api.start(eng, "127.0.0.1", 0, ctl=ctl, unix_path=str(sock))
    try:
        assert sock.stat().st_mode & 0o777 == 0o600
        port = server._runner.addresses[0][1]
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/devices", json={"manifests": [device("cam-a")]}) as resp:
                assert resp.status == 403
            async with http.delete(f"http://127.0.0.1:{port}/devices/cam-a") as resp:
                assert resp.status == 403
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
        assert eng.devices == []
    finally:
        await server.close()


async def scenario_request(client: Client, body: Any, path: str = "/scenarios") -> tuple[int, dict[str, Any]]:
    async with client.session.post(f"http://emulator{path}", json=body) as resp:
        return resp.status, await resp.json()


STORM = {"name": "s", "steps": [{"at": 0.05, "target": {"count": 1}, "behaviour": {"kind": "power_cycle", "down": 60}}]}


async def test_a_scenario_runs_on_running_devices_and_stops(client: Client) -> None:
    await client.post([device("cam-a"), device("cam-b")])
    status, body = await scenario_request(client, {"scenario": STORM, "devices": ["cam-a", "cam-b"]})
    assert status == 200 and len(body["started"]) == 1  # count: 1 of the two
    [target] = body["started"]

    arrived = asyncio.Event()
    client.engine.events.add(lambda m: arrived.set())

    async def marked(state: str) -> None:
        while not any(m["type"] == "scenario" and m["state"] == state for m in client.messages):
            arrived.clear()
            await arrived.wait()

    await asyncio.wait_for(marked("started"), 5)
    assert client.engine.find(target).phase.value == "stopped"  # type: ignore[union-attr]  # down for 60 s
    status, body = await scenario_request(client, {}, "/scenarios/stop")
    assert (status, body) == (200, {"stopped": [target]})
    await asyncio.wait_for(marked("ended"), 5)
    assert client.engine.find(target).phase.value != "stopped"  # type: ignore[union-attr]  # back on at the stop


async def test_a_bad_scenario_or_an_unknown_device_is_refused(client: Client) -> None:
    await client.post([device("cam-a")])
    bad = {"name": "s", "steps": [{"at": 1, "behaviour": {"kind": "power_cycle", "down": "x"}}]}
    status, body = await scenario_request(client, {"scenario": bad})
    assert status == 422 and body["errors"][0].startswith("scenario.steps.0.behaviour.down:")
    status, body = await scenario_request(client, {"scenario": STORM, "devices": ["nobody"]})
    assert (status, body) == (404, {"errors": ["devices: no device 'nobody' in this process"]})


async def test_a_device_added_with_a_new_device_scenario_stays_silent_until_it_appears(client: Client) -> None:
    doc = device("late")
    doc["spec"]["scenario"] = {"name": "g", "steps": [{"at": 60, "behaviour": {"kind": "new_device"}}]}
    link = client.engine.link
    assert isinstance(link, RecordingLink)
    assert (await client.post([doc]))[0] == 200
    assert link.sent == []  # held back before its first frame


@pytest.mark.parametrize("path", ["/devices", "/scenarios", "/scenarios/stop"])
async def test_a_body_that_is_not_json_is_422_saying_so(client: Client, path: str) -> None:
    async with client.session.post(f"http://emulator{path}", data=b"{not json") as resp:
        assert resp.status == 422 and resp.content_type == "application/json"
        errors = (await resp.json())["errors"]
    assert len(errors) == 1 and errors[0].startswith("body: not JSON:")
