"""`/api/import` and `/api/export`: formats, all-or-nothing, every bad entry named."""

from __future__ import annotations

import csv
import io
import json

import httpx
import yaml
from fastapi import FastAPI

from tests.dashboard.conftest import Watcher, device_body

BRIEF = {
    "devices": [
        {
            "id": "camera_01",
            "name": "Lobby camera",
            "vendor": "Tinycam",
            "type": "Camera",
            "mac": "44:19:b6:00:00:01",
            "dhcp_mode": "auto",
            "protocols": "arp,dhcp",
            "traffic_interval": 30,
            "gateway": "192.168.207.1",
        },
        {"id": "plug_01", "vendor": "Plugco", "dhcp_mode": "static", "static_ip": "10.77.0.50"},
    ]
}


async def test_brief_format_round_trip(client: httpx.AsyncClient) -> None:
    result = (await client.post("/api/import", content=json.dumps(BRIEF))).json()
    assert result == {"created": ["IoTDevice/camera-01", "IoTDevice/plug-01"], "updated": [], "deleted": []}
    cam = (await client.get("/api/devices/camera-01")).json()
    assert cam["spec"]["protocols"] == ["arp", "dhcp"] and cam["spec"]["running"] is False
    assert cam["annotations"]["iotemu.io/seed-id"] == "camera_01"
    exported = (await client.get("/api/export", params={"format": "iot_devices"})).json()
    first = exported["devices"][0]
    assert first["id"] == "camera_01" and first["name"] == "Lobby camera" and first["vendor"] == "Tinycam"
    assert exported["devices"][1]["static_ip"] == "10.77.0.50"
    again = (await client.post("/api/import", content=json.dumps(exported))).json()
    assert again["updated"] == ["IoTDevice/camera-01", "IoTDevice/plug-01"]


async def test_brief_entries_carry_their_vlan_both_ways(client: httpx.AsyncClient) -> None:
    brief = {"devices": [{"id": "cam_v10", "vendor": "Tinycam", "vlan": 30, "vlan_priority": 5, "outer_vlan": 100}]}
    assert (await client.post("/api/import", content=json.dumps(brief))).json()["created"] == ["IoTDevice/cam-v10"]
    spec = (await client.get("/api/devices/cam-v10")).json()["spec"]
    assert (spec["vlan"], spec["vlanPriority"], spec["outerVlan"]) == (30, 5, 100)
    exported = (await client.get("/api/export", params={"format": "iot_devices"})).json()["devices"][0]
    assert (exported["vlan"], exported["vlan_priority"], exported["outer_vlan"]) == (30, 5, 100)
    bad = {"devices": [{"id": "cam_bad", "vendor": "Tinycam", "vlan": 4095}]}
    response = await client.post("/api/import", content=json.dumps(bad))
    assert response.status_code == 422 and "vlan: Input should be less than or equal to 4094" in response.text


async def test_brief_entries_carry_dot1x_both_ways_and_name_it_when_wrong(client: httpx.AsyncClient) -> None:
    brief = {"devices": [{"id": "cam_mab", "vendor": "Tinycam", "vlan": 20, "dot1x": False}]}
    assert (await client.post("/api/import", content=json.dumps(brief))).json()["created"] == ["IoTDevice/cam-mab"]
    assert (await client.get("/api/devices/cam-mab")).json()["spec"]["dot1x"] is False
    exported = (await client.get("/api/export", params={"format": "iot_devices"})).json()["devices"][0]
    assert (exported["vlan"], exported["dot1x"]) == (20, False)
    bad = {"devices": [{"id": "cam_8021x", "vendor": "Tinycam", "dot1x": True}]}
    response = await client.post("/api/import", content=json.dumps(bad))
    assert response.status_code == 422, response.text
    assert "cam-8021x: spec.dot1x: profile 'tiny-cam' has no 802.1X supplicant" in response.text
    assert [d["name"] for d in (await client.get("/api/devices")).json()] == ["cam-mab"]  # all-or-nothing


async def test_manifests_yaml_and_json_round_trip(client: httpx.AsyncClient) -> None:
    await client.post("/api/devices", json=device_body("cam-1"))
    await client.post(
        "/api/fleets",
        json={"name": "f", "spec": {"replicas": 2, "running": False, "template": {"profile": "tiny-plug"}}},
    )
    text = (await client.get("/api/export")).text
    docs = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in docs] == ["IoTDevice", "IoTFleet"]
    listing = (await client.get("/api/export", params={"format": "json"})).json()
    assert listing["kind"] == "List" and len(listing["items"]) == 2
    replaced = await client.post(
        "/api/import",
        params={"mode": "replace"},
        content=yaml.safe_dump(docs[1]),
        headers={"content-type": "application/yaml"},
    )
    assert replaced.json() == {"created": [], "updated": ["IoTFleet/f"], "deleted": ["IoTDevice/cam-1"]}
    assert (await client.get("/api/devices")).json() == []
    assert (await client.post("/api/import", content=json.dumps(listing))).json()["created"] == ["IoTDevice/cam-1"]


async def test_bad_import_changes_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    await client.post("/api/devices", json=device_body("keep-me"))
    data_file = app.state.settings.local.data_file
    before = data_file.read_bytes()
    bad = {
        "devices": [
            {"id": "ok_1", "vendor": "Tinycam"},
            {"id": "bad_mac", "vendor": "Tinycam", "mac": "zz:zz"},
            {"id": "bad_vendor", "vendor": "Nobody"},
            {"vendor": "Tinycam", "colour": "red"},
            {"id": "bad_static", "vendor": "Tinycam", "dhcp_mode": "static"},
        ]
    }
    response = await client.post("/api/import", content=json.dumps(bad))
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors[0].startswith("entry 2 (bad_mac): mac: ")
    assert errors[1].startswith("entry 3 (bad_vendor): vendor: unknown vendor 'Nobody'")
    assert "entry 4: colour: unknown field" in errors
    assert "entry 4: id: required (a device id such as camera_01)" in errors
    assert errors[-1] == "entry 5 (bad_static): static_ip: static mode needs an address"
    yaml_error = await client.post("/api/import", content="a: [1,\nb: 2\n")
    assert yaml_error.status_code == 422 and yaml_error.json()["errors"][0].startswith("import:")
    dup_mac = [
        {"id": "a", "vendor": "Tinycam", "mac": "44:19:b6:00:00:09"},
        {"id": "b", "vendor": "Tinycam", "mac": "44:19:b6:00:00:09"},
    ]
    assert (await client.post("/api/import", content=json.dumps(dup_mac))).status_code == 422
    assert data_file.read_bytes() == before
    assert [d["name"] for d in (await client.get("/api/devices")).json()] == ["keep-me"]


async def test_import_size_limit(app: FastAPI, client: httpx.AsyncClient) -> None:
    limit = app.state.settings.max_import_bytes
    response = await client.post("/api/import", content=b" " * (limit + 1))
    assert response.status_code == 413


async def test_stats_csv(client: httpx.AsyncClient, watch: Watcher) -> None:
    await client.post("/api/devices", json=device_body("cam-1", running=True))
    await client.post("/api/devices", json=device_body("cam-2"))
    await watch.next(lambda m: m["type"] == "stats")
    response = await client.get("/api/export/stats.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["device_id"] for r in rows] == ["cam-1", "cam-2"]
    assert rows[0]["phase"] == "bound" and rows[0]["ip"].startswith("10.99.") and int(rows[0]["packets_sent"]) > 0
    assert rows[1]["phase"] == "stopped" and rows[1]["packets_sent"] == ""


async def test_2500_single_devices_of_one_profile_import(client: httpx.AsyncClient) -> None:
    """Their derived MACs used to collide (24 bits of hash: cam_0449 and cam_0966) and the import was a 422."""
    body = {"devices": [{"id": f"cam_{i:04d}", "vendor": "Tinycam"} for i in range(2500)]}
    response = await client.post("/api/import", json=body)
    assert response.status_code == 200, response.text[:500]
    devices = (await client.get("/api/devices")).json()
    assert len(devices) == 2500 and len({d["status"]["mac"] for d in devices}) == 2500


async def test_the_briefs_rest_calls_work_with_the_briefs_ids(client: httpx.AsyncClient) -> None:
    """After importing `iot_devices.json`, `/api/devices/camera_01/...` acts on `camera-01`."""
    await client.post("/api/import", content=json.dumps(BRIEF))
    assert (await client.get("/api/devices/camera_01")).json()["name"] == "camera-01"
    started = (await client.post("/api/devices/camera_01/start")).json()
    assert started["done"] == ["camera-01"] and started["failed"] == []
    assert (await client.get("/api/devices/camera-01")).json()["spec"]["running"] is True
    stopped = (await client.post("/api/devices/camera_01/stop")).json()
    assert stopped["done"] == ["camera-01"]
    assert (await client.get("/api/devices/camera_02")).status_code == 404
    assert (await client.delete("/api/devices/plug_01")).status_code == 204
    assert [d["name"] for d in (await client.get("/api/devices")).json()] == ["camera-01"]


async def test_a_dry_run_reports_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await client.post("/api/devices", json=device_body("camera-01"))
    preview = await client.post("/api/import", params={"dry_run": "true", "mode": "replace"}, content=json.dumps(BRIEF))
    assert preview.json() == {
        "created": ["IoTDevice/plug-01"],
        "updated": ["IoTDevice/camera-01"],
        "deleted": [],
    }
    assert [d["name"] for d in (await client.get("/api/devices")).json()] == ["camera-01"]
    assert "iotemu.io/seed-id" not in (await client.get("/api/devices/camera-01")).json()["annotations"]
    bad = {"devices": [*BRIEF["devices"], {"id": "x_1", "vendor": "Nobody"}]}
    refused = await client.post("/api/import", params={"dry_run": "true"}, content=json.dumps(bad))
    assert refused.status_code == 422, refused.text
    assert any("(x_1): vendor" in e for e in refused.json()["errors"]), refused.json()
    assert [d["name"] for d in (await client.get("/api/devices")).json()] == ["camera-01"]
