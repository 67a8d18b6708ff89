"""`/api/devices`: CRUD, validation errors with their field, start/stop of one and of all, stats, history."""

from __future__ import annotations

import httpx

from tests.dashboard.conftest import Watcher, device_body


async def test_crud_round_trip(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/devices", json=device_body("cam-1", mac="44:19:B6:00:00:01"))
    assert created.status_code == 201
    body = created.json()
    assert body["spec"]["mac"] == "44:19:b6:00:00:01"
    assert body["status"] == {
        "running": False,
        "phase": "stopped",
        "ip": None,
        "ipv6": None,
        "auth": None,
        "authLast": None,
        "mac": "44:19:b6:00:00:01",
        "hostname": "tinycam-000001",
        "profile": "tiny-cam",
        "vendor": "Tinycam",
        "deviceClass": "camera",
        "fleet": None,
        "lastError": None,
        "updated": None,
        "stats": None,
    }
    assert [d["name"] for d in (await client.get("/api/devices")).json()] == ["cam-1"]
    patched = await client.patch("/api/devices/cam-1", json={"spec": {"trafficInterval": 30}, "labels": {"a": "b"}})
    assert patched.status_code == 200
    assert patched.json()["spec"]["trafficInterval"] == 30
    assert patched.json()["spec"]["mac"] == "44:19:b6:00:00:01"
    assert patched.json()["labels"] == {"a": "b"}
    replaced = await client.put("/api/devices/cam-1", json={"spec": {"profile": "tiny-plug", "running": False}})
    assert replaced.json()["spec"]["mac"].startswith("50:c7:bf:")  # derived in the new profile's OUI, then kept
    assert replaced.json()["status"]["vendor"] == "Plugco"
    assert (await client.delete("/api/devices/cam-1")).status_code == 204
    assert (await client.get("/api/devices/cam-1")).status_code == 404
    assert (await client.get("/api/devices")).json() == []


async def test_errors_name_the_field(client: httpx.AsyncClient) -> None:
    bad_mac = await client.post("/api/devices", json=device_body("cam-1", mac="01:00:5e:00:00:01"))
    assert bad_mac.status_code == 422
    assert "mac" in str(bad_mac.json())
    unknown = await client.post("/api/devices", json={"name": "x", "spec": {"profile": "nope"}})
    assert unknown.status_code == 422
    assert (
        unknown.json()["errors"] == ["x: spec.profile: unknown profile 'nope'; known profiles: tiny-cam, tiny-plug"]
        or "spec.profile" in unknown.json()["errors"][0]
    )
    await client.post("/api/devices", json=device_body("cam-1", mac="44:19:b6:00:00:01"))
    dup = await client.post("/api/devices", json=device_body("cam-2", mac="44:19:b6:00:00:01"))
    assert dup.status_code == 422
    assert "spec.mac: 44:19:b6:00:00:01 is already used by cam-1" in dup.json()["errors"][0]
    again = await client.post("/api/devices", json=device_body("cam-1"))
    assert again.status_code == 409
    bad_patch = await client.patch("/api/devices/cam-1", json={"spec": {"dhcp": {"mode": "static"}}})
    assert bad_patch.status_code == 422
    assert "static mode needs an address" in str(bad_patch.json())
    assert (await client.post("/api/devices/nope/start")).status_code == 404


async def test_start_all_reports_started_and_failed(client: httpx.AsyncClient, watch: Watcher) -> None:
    for name in ("cam-1", "cam-2", "refuse-3"):
        await client.post("/api/devices", json=device_body(name))
    result = (await client.post("/api/devices/start-all")).json()
    assert sorted(result["done"]) == ["cam-1", "cam-2"]
    assert result["failed"] == [
        {"id": "refuse-3", "reason": "document 1 (IoTDevice/refuse-3): spec: refused by the fake emulator"}
    ]
    await watch.next(lambda m: m["type"] == "dhcp_ack" and m["device_id"] == "cam-2")
    error = await watch.next(lambda m: m["type"] == "error" and m["device_id"] == "refuse-3")
    assert "refused" in error["error"]
    stopped = (await client.post("/api/devices/stop-all")).json()
    assert sorted(stopped["done"]) == ["cam-1", "cam-2", "refuse-3"]
    await watch.next(lambda m: m["type"] == "stopped" and m["device_id"] == "cam-1")


async def test_stats_and_event_history(client: httpx.AsyncClient, watch: Watcher) -> None:
    assert (await client.get("/api/devices/cam-1/stats")).status_code == 404
    await client.post("/api/devices", json=device_body("cam-1", running=True))
    await watch.next(lambda m: m["type"] == "stats")
    stats = (await client.get("/api/devices/cam-1/stats")).json()
    assert stats["deviceId"] == "cam-1"
    assert stats["stats"]["state"] == "bound"
    dhcp = (await client.get("/api/devices/cam-1/events", params={"type": "dhcp*"})).json()
    assert [m["type"] for m in dhcp] == ["dhcp_discover", "dhcp_offer", "dhcp_ack"]
    later = await client.get("/api/devices/cam-1/events", params={"since": dhcp[-1]["timestamp"], "type": "dhcp*"})
    assert later.json() == []
    assert (await client.get("/api/devices/cam-1/events", params={"since": "yesterday"})).status_code == 422


async def test_running_device_is_restarted_with_its_new_spec(client: httpx.AsyncClient, watch: Watcher) -> None:
    await client.post("/api/devices", json=device_body("cam-1", running=True, mac="44:19:b6:00:00:01"))
    await watch.next(lambda m: m["type"] == "dhcp_ack")
    await client.patch("/api/devices/cam-1", json={"spec": {"mac": "44:19:b6:00:00:02"}})
    await watch.next(lambda m: m["type"] == "stopped")
    started = await watch.next(lambda m: m["type"] == "started")
    assert started["mac"] == "44:19:b6:00:00:02"
    await client.delete("/api/devices/cam-1")
    await watch.next(lambda m: m["type"] == "stopped")


async def test_bulk_actions_by_names_and_label_selector(client: httpx.AsyncClient) -> None:
    for name, site in (("cam-1", "lobby"), ("cam-2", "lobby"), ("cam-3", "dock")):
        assert (await client.post("/api/devices", json={**device_body(name), "labels": {"site": site}})).is_success
    started = (await client.post("/api/devices/bulk/start", json={"selector": "site=lobby"})).json()
    assert started["action"] == "start" and sorted(started["done"]) == ["cam-1", "cam-2"] and started["failed"] == []
    running = {d["name"]: d["spec"]["running"] for d in (await client.get("/api/devices")).json()}
    assert running == {"cam-1": True, "cam-2": True, "cam-3": False}
    stopped = (await client.post("/api/devices/bulk/stop", json={"names": ["cam-1", "nobody"]})).json()
    assert stopped["done"] == ["cam-1"] and stopped["failed"] == [{"id": "nobody", "reason": "no such device"}]
    both = {"names": ["cam-3"], "selector": "site=lobby"}
    deleted = (await client.post("/api/devices/bulk/delete", json=both)).json()
    assert sorted(deleted["done"]) == ["cam-1", "cam-2", "cam-3"]
    assert (await client.get("/api/devices")).json() == []


async def test_a_bad_selector_is_refused_by_name(client: httpx.AsyncClient) -> None:
    refused = await client.post("/api/devices/bulk/start", json={"selector": "site!=lobby"})
    assert refused.status_code == 422 and refused.json()["errors"] == ["selector: 'site!=lobby' is not key=value"]
    unknown = await client.post("/api/devices/bulk/reboot", json={"names": []})
    assert unknown.status_code == 422
