"""VLAN, IPv6 and 802.1X through the REST API: bounded fields with errors naming them, the profile's
802.1X method for the form, and a device's authentication state and last outcome in its status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from iot_dashboard import events
from tests.dashboard.conftest import device_body

TINY_PHONE = """\
name: tiny-phone
vendor: Phoneco
model: PH-1
device_class: phone
os: Linux
ouis: ["00:04:f2"]
hostname_pattern: "phone-{mac6}"
dhcp:
  options: [53, 61, 50, 12, 55]
  parameter_request_list: [1, 3, 6, 15]
  arp_probe: {count: 0}
dot1x: {method: peap, identity: "{hostname}"}
sources: {dhcp.options: "test fixture", dot1x: "test fixture"}
"""


@pytest.fixture
def profiles_dir(profiles_dir: Path) -> Path:
    """The suite's profiles, plus a phone whose supplicant (PEAP) ships off, as real phones do."""
    (profiles_dir / "tiny-phone.yaml").write_text(TINY_PHONE)
    return profiles_dir


def errors_of(response: httpx.Response) -> str:
    """Our own errors (`errors`: "entry: field: message") or FastAPI's (`detail[].loc`), as one text."""
    assert response.status_code == 422, response.text
    body = response.json()
    if "errors" in body:
        return " ".join(body["errors"])
    return " ".join(".".join(map(str, d["loc"][1:])) + ": " + d["msg"] for d in body["detail"])


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"vlan": 0}, "spec.vlan", "greater than or equal to 1"),
        ({"vlan": 4095}, "spec.vlan", "less than or equal to 4094"),
        ({"vlan": 20, "vlanPriority": 8}, "spec.vlanPriority", "less than or equal to 7"),
        ({"vlan": 20, "vlanPriority": -1}, "spec.vlanPriority", "greater than or equal to 0"),
        ({"vlan": 20, "outerVlan": 4095}, "spec.outerVlan", "less than or equal to 4094"),
        ({"vlan": "twenty"}, "spec.vlan", "integer"),
        ({"outerVlan": 100}, "spec", "outerVlan (QinQ) needs vlan"),
        ({"vlanPriority": 5}, "spec", "vlanPriority needs vlan"),
        ({"dot1x": "yes please"}, "spec.dot1x", "boolean"),
        ({"dot1x": True}, "spec.dot1x", "has no 802.1X supplicant"),  # tiny-cam has no dot1x section
        ({"protocols": ["ipv7"]}, "spec.protocols", "ipv7"),
    ],
)
async def test_bad_vlan_and_dot1x_fields_are_refused_naming_the_field(
    client: httpx.AsyncClient, spec: dict[str, Any], field: str, words: str
) -> None:
    text = errors_of(await client.post("/api/devices", json=device_body("cam-1", **spec)))
    assert field in text and words in text
    assert (await client.get("/api/devices")).json() == []  # nothing written


async def test_bad_fields_in_a_patch_and_a_fleet_template_name_the_field(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/devices", json=device_body("cam-1", vlan=10))).status_code == 201
    text = errors_of(await client.patch("/api/devices/cam-1", json={"spec": {"vlan": 5000}}))
    assert "vlan" in text and "4094" in text
    assert (await client.get("/api/devices/cam-1")).json()["spec"]["vlan"] == 10
    fleet = {
        "name": "cams",
        "spec": {"replicas": 2, "running": False, "template": {"profile": "tiny-cam", "vlan": 4095}},
    }
    text = errors_of(await client.post("/api/fleets", json=fleet))
    assert "spec.template.vlan" in text and "4094" in text


async def test_vlan_ipv6_and_dot1x_round_trip(client: httpx.AsyncClient) -> None:
    spec = {"vlan": 20, "vlanPriority": 5, "outerVlan": 100, "dot1x": True, "protocols": ["arp", "dhcp", "ipv6"]}
    created = await client.post("/api/devices", json={"name": "desk-phone", "spec": {"profile": "tiny-phone", **spec}})
    assert created.status_code == 201, created.text
    body = (await client.get("/api/devices/desk-phone")).json()
    assert {k: body["spec"][k] for k in spec} == spec
    assert body["status"]["auth"] is None and body["status"]["authLast"] is None
    off = await client.patch("/api/devices/desk-phone", json={"spec": {"dot1x": False}})
    assert off.status_code == 200 and off.json()["spec"]["dot1x"] is False


async def test_profiles_say_their_8021x_method(client: httpx.AsyncClient) -> None:
    profiles = {p["name"]: p for p in (await client.get("/api/profiles")).json()}
    assert (profiles["tiny-phone"]["dot1x"], profiles["tiny-phone"]["dot1xEnabled"]) == ("peap", False)
    assert (profiles["tiny-cam"]["dot1x"], profiles["tiny-cam"]["dot1xEnabled"]) == (None, False)


async def test_status_carries_the_auth_state_ipv6_and_last_outcome(app: FastAPI, client: httpx.AsyncClient) -> None:
    await client.post("/api/devices", json={"name": "desk-phone", "spec": {"profile": "tiny-phone", "running": False}})
    hub: events.EventHub = app.state.hub
    ts = "2026-01-01T00:00:0{}.000Z".format
    stats = {"packets_sent": 3, "bytes_sent": 300, "packet_rate": 0.0, "current_ip": None, "uptime_seconds": 1}
    hub.publish({"type": "started", "device_id": "desk-phone", "timestamp": ts(0)})
    hub.publish(
        {
            "type": "stats",
            "device_id": "desk-phone",
            "timestamp": ts(1),
            "stats": {**stats, "auth": "authenticating", "ipv6_addresses": ["fe80::204:f2ff:fe00:1"]},
        }
    )
    failure = {"identity": "phone-000001", "method": "peap", "failures": 1, "retry_in": 60.0}
    hub.publish({"type": "dot1x_failure", "device_id": "desk-phone", "timestamp": ts(2), **failure})
    hub.publish({"type": "stats", "device_id": "desk-phone", "timestamp": ts(3), "stats": {**stats, "auth": "failed"}})
    status = (await client.get("/api/devices/desk-phone")).json()["status"]
    assert status["auth"] == "failed"
    assert status["authLast"] == {
        "result": "failure",
        "method": "peap",
        "identity": "phone-000001",
        "timestamp": ts(2),
        "retryIn": 60.0,
    }
    success = {"identity": "phone-000001", "method": "peap", "seconds": 0.2, "reauthentication": False}
    hub.publish({"type": "dot1x_success", "device_id": "desk-phone", "timestamp": ts(4), **success})
    hub.publish(
        {
            "type": "stats",
            "device_id": "desk-phone",
            "timestamp": ts(5),
            "stats": {**stats, "auth": "authorized", "ipv6_addresses": ["fe80::204:f2ff:fe00:1", "2001:db8:20::1"]},
        }
    )
    status = (await client.get("/api/devices/desk-phone")).json()["status"]
    assert (status["auth"], status["authLast"]["result"]) == ("authorized", "success")
    assert status["ipv6"] == ["fe80::204:f2ff:fe00:1", "2001:db8:20::1"]
    hub.publish({"type": "started", "device_id": "desk-phone", "timestamp": ts(6)})  # a restart forgets them
    status = (await client.get("/api/devices/desk-phone")).json()["status"]
    assert (status["auth"], status["authLast"], status["ipv6"]) == (None, None, None)


async def test_a_fleet_counts_its_members_per_8021x_state(app: FastAPI, client: httpx.AsyncClient) -> None:
    template = {"profile": "tiny-phone", "vlan": 20, "dot1x": True}
    fleet = {"name": "phones", "spec": {"replicas": 3, "running": False, "template": template}}
    assert (await client.post("/api/fleets", json=fleet)).status_code == 201
    hub: events.EventHub = app.state.hub
    stats = {"packets_sent": 1, "bytes_sent": 60, "packet_rate": 0.0, "current_ip": None, "uptime_seconds": 1}
    for member, state in (("phones-0000", "authorized"), ("phones-0001", "authorized"), ("phones-0002", "failed")):
        hub.publish({"type": "stats", "device_id": member, "timestamp": "2026-01-01T00:00:01.000Z",
                     "stats": {**stats, "auth": state}})  # fmt: skip
    body = (await client.get("/api/fleets/phones")).json()
    assert body["status"]["auth"] == {"authorized": 2, "failed": 1}
    assert (body["spec"]["template"]["vlan"], body["spec"]["template"]["dot1x"]) == (20, True)
