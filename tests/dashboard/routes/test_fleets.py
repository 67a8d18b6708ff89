"""`/api/fleets`: a fleet runs in shards of `devicesPerPod` members, scales, stops."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from iot_emulator.devices import macs
from tests.dashboard.conftest import Watcher

FLEET = {"name": "cams", "spec": {"replicas": 3, "devicesPerPod": 2, "template": {"profile": "tiny-cam"}}}


async def test_fleet_runs_sharded_and_scales(app: FastAPI, client: httpx.AsyncClient, watch: Watcher) -> None:
    created = await client.post("/api/fleets", json=FLEET)
    assert created.status_code == 201
    bound = set()
    while len(bound) < 3:
        bound.add((await watch.next(lambda m: m["type"] == "dhcp_ack"))["device_id"])
    assert bound == {"cams-0000", "cams-0001", "cams-0002"}
    supervisor = app.state.backend.supervisor
    assert sorted(supervisor.shards) == ["fleet/cams/0", "fleet/cams/1"]  # no process for the (absent) devices
    fleet = (await client.get("/api/fleets/cams")).json()
    assert fleet["status"]["phases"] == {"bound": 3} and fleet["status"]["bound"] == 3
    assert (await client.get("/api/fleets/cams/scale")).json() == {"replicas": 3}
    scaled = await client.put("/api/fleets/cams/scale", json={"replicas": 1})
    assert scaled.json()["spec"]["replicas"] == 1
    assert {(await watch.next(lambda m: m["type"] == "stopped"))["device_id"] for _ in range(2)} == {
        "cams-0001",
        "cams-0002",
    }
    assert sorted(supervisor.shards) == ["fleet/cams/0"]
    stopped = (await client.post("/api/fleets/cams/stop")).json()
    assert stopped == {"action": "stop", "done": ["cams-0000"], "failed": []}
    await watch.next(lambda m: m["type"] == "stopped" and m["device_id"] == "cams-0000")
    assert (await client.patch("/api/fleets/cams", json={"spec": {"replicas": 5}})).json()["status"]["replicas"] == 5
    assert (await client.delete("/api/fleets/cams")).status_code == 204
    assert (await client.get("/api/fleets")).json() == []


async def test_fleet_member_clashing_with_a_device_is_refused(client: httpx.AsyncClient) -> None:
    await client.post("/api/devices", json={"name": "cams-0001", "spec": {"profile": "tiny-plug", "running": False}})
    refused = await client.post("/api/fleets", json=FLEET)
    assert refused.status_code == 422
    assert any("cams-0001: device id" in e for e in refused.json()["errors"])


async def test_fleet_list_is_paginated_and_reads_no_member(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stopped fleet of 100,000 members used to cost ~1 s per listing: every member was expanded."""
    for name, replicas in (("big", 100_000), ("cams", 3), ("plugs", 2)):
        body = {"name": name, "spec": {"replicas": replicas, "running": False, "template": {"profile": "tiny-cam"}}}
        assert (await client.post("/api/fleets", json=body)).status_code == 201

    def no_member(*args: object, **kwargs: object) -> None:
        raise AssertionError("a listing must not derive member MACs")

    monkeypatch.setattr(macs, "derive", no_member)
    page = await client.get("/api/fleets", params={"limit": 2})
    assert page.headers["X-Total-Count"] == "3"
    assert [(f["name"], f["status"]["phases"]) for f in page.json()] == [
        ("big", {"stopped": 100_000}),
        ("cams", {"stopped": 3}),
    ]
    rest = (await client.get("/api/fleets", params={"limit": 2, "offset": 2})).json()
    assert [f["name"] for f in rest] == ["plugs"]
    assert (await client.get("/api/fleets", params={"limit": 0})).status_code == 422


async def test_fleet_members_are_listed_a_page_at_a_time(client: httpx.AsyncClient, watch: Watcher) -> None:
    assert (await client.post("/api/fleets", json=FLEET)).status_code == 201
    acks = {}
    while len(acks) < 3:
        ack = await watch.next(lambda m: m["type"] == "dhcp_ack")
        acks[ack["device_id"]] = ack["assigned_ip"]
    page = (await client.get("/api/fleets/cams/members", params={"offset": 1, "limit": 5})).json()
    assert page["total"] == 3 and page["offset"] == 1 and page["limit"] == 5
    assert [m["index"] for m in page["items"]] == [1, 2]
    for member in page["items"]:
        assert member["deviceId"] == f"cams-{member['index']:04d}" and member["phase"] == "bound"
        assert member["ip"] == acks[member["deviceId"]]
        assert member["mac"] == macs.derive("44:19:b6", "fleet/cams", member["index"])  # no collision here
    assert (await client.get("/api/fleets/cams/members", params={"offset": 3})).json()["items"] == []
    assert (await client.get("/api/fleets/cams/members", params={"limit": 0})).status_code == 422
    assert (await client.get("/api/fleets/nobody/members")).status_code == 404
