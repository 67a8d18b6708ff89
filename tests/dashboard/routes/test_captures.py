"""`/api/devices/{name}/capture`, `/api/fleets/{name}/capture`: the emulators' live pcaps, merged and streamed.

The local backend runs `fake_emulator.py`, which serves the real `GET /capture` around a link that
goes nowhere; each device "sends" a frame from its MAC at each stats tick (0.2 s here).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from iot_dashboard import capture
from iot_emulator.reporting import capture_format
from tests.dashboard.conftest import TOKEN, Watcher, device_body

FLEET = {"name": "cams", "spec": {"replicas": 3, "devicesPerPod": 2, "template": {"profile": "tiny-cam"}}}


def sources(pcap: bytes) -> list[str]:
    """The source MAC of every frame of a classic pcap (one global header, whole records)."""
    assert struct.unpack("<IHHiIII", pcap[:24]) == (0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    out, at = [], 24
    while at < len(pcap):
        incl = struct.unpack("<IIII", pcap[at : at + 16])[2]
        frame = pcap[at + 16 : at + 16 + incl]
        out.append(":".join(f"{b:02x}" for b in frame[6:12]))
        at += 16 + incl
    assert at == len(pcap)
    return out


async def test_a_device_capture_holds_its_frames_only(client: httpx.AsyncClient, watch: Watcher) -> None:
    for name in ("cam-1", "cam-2"):
        assert (await client.post("/api/devices", json=device_body(name, running=True))).status_code == 201
        await watch.next(lambda m: m["type"] == "dhcp_ack" and m["device_id"] == name)  # noqa: B023 (awaited here)
    mac = (await client.get("/api/devices/cam-1")).json()["status"]["mac"]
    resp = await client.get("/api/devices/cam-1/capture", params={"seconds": 0.7})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/vnd.tcpdump.pcap"
    assert resp.headers["content-disposition"].startswith('attachment; filename="device-cam-1-')
    frames = sources(resp.content)
    assert frames and set(frames) == {mac}  # ticks every 0.2 s; cam-2's frames are not there


async def test_a_fleet_capture_merges_its_shards(app: FastAPI, client: httpx.AsyncClient, watch: Watcher) -> None:
    assert (await client.post("/api/fleets", json=FLEET)).status_code == 201
    bound: set[str] = set()
    while len(bound) < 3:
        bound.add((await watch.next(lambda m: m["type"] == "dhcp_ack"))["device_id"])
    assert len(app.state.backend.supervisor.shards) == 2
    members = (await client.get("/api/fleets/cams/members")).json()["items"]
    resp = await client.get("/api/fleets/cams/capture", params={"seconds": 1})
    assert resp.status_code == 200
    assert 'filename="fleet-cams-' in resp.headers["content-disposition"]
    assert set(sources(resp.content)) == {m["mac"] for m in members}


async def test_the_token_is_required(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/devices", json=device_body("cam-1", running=True))).status_code == 201
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as anonymous:
        assert (await anonymous.get("/api/devices/cam-1/capture", params={"seconds": 1})).status_code == 401
        bad = {"Authorization": "Bearer nope"}
        assert (await anonymous.get("/api/devices/cam-1/capture?seconds=1", headers=bad)).status_code == 401
        url = f"/api/devices/cam-1/capture?seconds=1&token={TOKEN}"  # never in a URL
        assert (await anonymous.get(url)).status_code == 401


@pytest.mark.parametrize("seconds", ["0", "-1", "301", "nan", "inf", "soon"])
async def test_bounds_are_refused_naming_the_field(client: httpx.AsyncClient, seconds: str) -> None:
    assert (await client.post("/api/devices", json=device_body("cam-1", running=True))).status_code == 201
    resp = await client.get("/api/devices/cam-1/capture", params={"seconds": seconds})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["query", "seconds"]


async def test_unknown_and_stopped_are_refused(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/devices/nope/capture?seconds=1")).status_code == 404
    assert (await client.get("/api/fleets/nope/capture?seconds=1")).status_code == 404
    assert (await client.post("/api/devices", json=device_body("cam-1", running=False))).status_code == 201
    stopped = await client.get("/api/devices/cam-1/capture?seconds=1")
    assert stopped.status_code == 409
    assert "not running" in stopped.json()["detail"]


async def test_the_client_leaving_ends_the_capture_in_the_emulator(
    app: FastAPI, server_url: str, client: httpx.AsyncClient, watch: Watcher
) -> None:
    assert (await client.post("/api/devices", json=device_body("cam-1", running=True))).status_code == 201
    await watch.next(lambda m: m["type"] == "dhcp_ack")
    shard = next(iter(app.state.backend.supervisor.shards.values()))
    emulator = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(shard.proc.socket_path)))

    async def captures() -> int:
        return int((await emulator.get("http://emu/healthz")).json()["captures"])

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(base_url=f"http://{server_url}", headers=headers) as real,
        real.stream("GET", "/api/devices/cam-1/capture", params={"seconds": 300}) as resp,
    ):
        assert resp.status_code == 200
        first = await anext(resp.aiter_raw())
        assert first[:4] == struct.pack("<I", 0xA1B2C3D4)
        assert await captures() == 1
    for _ in range(500):  # no event to await across the process boundary: poll its /healthz
        if await captures() == 0:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the emulator still captures after the client left")
    await emulator.aclose()


async def test_merge_ends_cleanly_when_the_reader_leaves_with_a_full_queue() -> None:
    """A fast source fills the queue, the reader stops reading and closes: every source is closed, no task hangs."""
    closed: list[str] = []

    async def endless() -> AsyncIterator[bytes]:
        yield capture_format.header()
        while True:
            yield struct.pack("<IIII", 0, 0, 4, 4) + b"abcd"
            await asyncio.sleep(0)

    def source(name: str) -> capture.Source:
        async def close() -> None:
            closed.append(name)

        return capture.Source(name, endless(), close)

    merged = capture.merge([source("a"), source("b")])
    assert await anext(merged) == capture_format.header()
    for _ in range(3):
        await anext(merged)
    for _ in range(100):  # let both sources fill the queue up to its bound
        await asyncio.sleep(0)
    closing = asyncio.create_task(merged.aclose())  # type: ignore[attr-defined]
    done, _ = await asyncio.wait({closing}, timeout=5)  # not a cancellation: the close is shielded
    assert closing in done, "merge hung closing its sources"
    assert sorted(closed) == ["a", "b"]


async def test_merge_stops_at_its_byte_cap_on_a_record_boundary() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield capture_format.header()
        for i in range(10):  # 20 bytes each, two records per chunk
            record = struct.pack("<IIII", 0, 0, 4, 4) + bytes([i]) * 4
            yield record + record

    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    out = b"".join([c async for c in capture.merge([capture.Source("a", chunks(), close)], max_bytes=24 + 5 * 20 + 7)])
    assert len(out) == 24 + 5 * 20 and out[-4:] == bytes([2]) * 4
    assert closed == [True]
