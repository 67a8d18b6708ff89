"""The stand-in API server itself: each behaviour added to kmock, checked on its own over HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests import poll
from tests.operator import fakeapi, harness
from tests.operator.harness import GROUP_PATH, NS

PODS = f"/api/v1/namespaces/{NS}/pods"


def pod(name: str, labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}, **meta}, "spec": {}}


def fleet(name: str = "cams", replicas: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTFleet",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas, "template": {"profile": "tiny-cam"}},
    }


async def test_create_stamps_uid_resource_version_generation_and_time(cluster: harness.Cluster) -> None:
    a = await cluster.call("POST", PODS, pod("a"))
    b = await cluster.call("POST", PODS, pod("b"))
    assert a["metadata"]["uid"] != b["metadata"]["uid"]
    assert int(b["metadata"]["resourceVersion"]) > int(a["metadata"]["resourceVersion"])
    assert a["metadata"]["generation"] == 1 and a["metadata"]["creationTimestamp"].endswith("Z")
    await cluster.call("POST", PODS, pod("a"), ok=(409,))


async def test_generate_name_gives_distinct_names(cluster: harness.Cluster) -> None:
    body = {"metadata": {"generateName": "kopf-event-"}, "reason": "X"}
    names = {
        (await cluster.call("POST", f"/api/v1/namespaces/{NS}/events", body))["metadata"]["name"] for _ in range(3)
    }
    assert len(names) == 3 and all(n.startswith("kopf-event-") for n in names)


async def test_generation_moves_with_the_spec_only(cluster: harness.Cluster) -> None:
    created = await cluster.apply(fleet())
    labelled = await cluster.patch("iotfleets", "cams", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1
    assert int(labelled["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    scaled = await cluster.patch("iotfleets", "cams", {"spec": {"replicas": 5}})
    assert scaled["metadata"]["generation"] == 2
    assert scaled["metadata"]["uid"] == created["metadata"]["uid"]


async def test_status_subresource_is_kept_apart_from_the_resource(cluster: harness.Cluster) -> None:
    await cluster.apply(fleet())
    ignored = await cluster.patch("iotfleets", "cams", {"status": {"pods": 9}, "spec": {"replicas": 4}})
    assert "status" not in ignored and ignored["spec"]["replicas"] == 4
    path = f"{GROUP_PATH}/iotfleets/cams/status"
    written = await cluster.call("PATCH", path, {"status": {"pods": 2}, "spec": {"replicas": 99}})
    assert written["status"] == {"pods": 2} and written["spec"]["replicas"] == 4
    assert written["metadata"]["generation"] == 2  # a status write is no spec change


async def test_a_json_patch_whose_test_fails_is_refused_with_422(cluster: harness.Cluster) -> None:
    created = await cluster.apply(fleet())
    version = created["metadata"]["resourceVersion"]
    await cluster.patch("iotfleets", "cams", {"metadata": {"labels": {"newer": "write"}}})
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": version},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]},
    ]
    headers = {"Content-Type": "application/json-patch+json"}
    async with cluster.http.patch(f"{cluster.url}{GROUP_PATH}/iotfleets/cams", json=ops, headers=headers) as resp:
        assert resp.status == 422
    assert "finalizers" not in (await cluster.get("iotfleets", "cams") or {})["metadata"]


async def test_scale_subresource(cluster: harness.Cluster) -> None:
    await cluster.apply(fleet(replicas=3))
    await cluster.call("PATCH", f"{GROUP_PATH}/iotfleets/cams/status", {"status": {"replicas": 3, "selector": "x=y"}})
    scale = await cluster.call("GET", f"{GROUP_PATH}/iotfleets/cams/scale")
    assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 3}
    assert scale["status"] == {"replicas": 3, "selector": "x=y"}
    scaled = await cluster.scale("cams", 7)
    assert scaled["spec"]["replicas"] == 7
    obj = await cluster.get("iotfleets", "cams")
    assert obj is not None and obj["spec"]["replicas"] == 7 and obj["metadata"]["generation"] == 2


async def test_schema_validation_refuses_bad_resources(cluster: harness.Cluster) -> None:
    bad = fleet()
    bad["spec"]["template"]["dhcp"] = {"mode": "static"}
    refused = await cluster.call("POST", f"{GROUP_PATH}/iotfleets", bad, ok=(422,))
    assert "static mode needs an address" in refused["message"]
    await cluster.apply(fleet())
    refused = await cluster.call("PATCH", f"{GROUP_PATH}/iotfleets/cams", {"spec": {"replicas": -1}}, ok=(422,))
    assert "replicas" in refused["message"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=x", {"a", "b"}),
        ("app==x,tier!=db", {"a"}),
        ("tier in (db, web)", {"b", "c"}),
        ("tier notin (db)", {"a", "c"}),
        ("tier", {"b", "c"}),
        ("!tier", {"a"}),
    ],
)
def test_label_selector_syntax(selector: str, expected: set[str]) -> None:
    objects = {"a": {"app": "x"}, "b": {"app": "x", "tier": "db"}, "c": {"app": "y", "tier": "web"}}
    match = fakeapi.selector(selector)
    assert {name for name, labels in objects.items() if match(labels)} == expected


async def test_list_and_watch_honour_label_selectors(cluster: harness.Cluster) -> None:
    await cluster.call("POST", PODS, pod("mine", {"team": "iot"}))
    await cluster.call("POST", PODS, pod("other", {"team": "web"}))
    listing = await cluster.call("GET", f"{PODS}?labelSelector=team%3Diot")
    assert [p["metadata"]["name"] for p in listing["items"]] == ["mine"]
    version = listing["metadata"]["resourceVersion"]
    seen: list[tuple[str, str]] = []

    async def watch() -> None:
        url = f"{cluster.url}{PODS}?watch=true&labelSelector=team%3Diot&resourceVersion={version}"
        async with cluster.http.get(url) as resp:
            async for line in resp.content:
                if line.strip():
                    event = json.loads(line)
                    seen.append((event["type"], event["object"]["metadata"]["name"]))
                    if event["object"]["metadata"]["name"] == "mine2":
                        return

    watcher = asyncio.create_task(watch())
    await poll.until_async(lambda: _watching(cluster), what="the watch to start")
    await cluster.call("POST", PODS, pod("other2", {"team": "web"}))
    await cluster.call("POST", PODS, pod("mine2", {"team": "iot"}))
    async with asyncio.timeout(harness.DEADLINE):
        await watcher
    assert seen == [("ADDED", "mine2")]  # nothing replayed from before the list, nothing of other teams


async def _watching(cluster: harness.Cluster) -> bool:
    return any(r.params.get("watch") == "true" for r in cluster.api)


async def test_deleting_an_owner_collects_its_dependents(cluster: harness.Cluster) -> None:
    owner = await cluster.apply(fleet())
    ref = {"apiVersion": "iotemu.io/v1alpha1", "kind": "IoTFleet", "name": "cams", "uid": owner["metadata"]["uid"]}
    await cluster.call("POST", PODS, pod("p1", ownerReferences=[ref]))
    await cluster.call("POST", PODS, pod("p2", ownerReferences=[ref], finalizers=["x/hold"]))
    await cluster.call("POST", PODS, pod("stranger"))
    await cluster.delete("iotfleets", "cams")
    left = (await cluster.call("GET", PODS))["items"]
    assert {p["metadata"]["name"] for p in left} == {"p2", "stranger"}
    held = next(p for p in left if p["metadata"]["name"] == "p2")
    assert held["metadata"]["deletionTimestamp"]  # its finalizer holds it, marked for deletion
    await cluster.call("PATCH", f"{PODS}/p2", {"metadata": {"finalizers": None}})
    assert {p["metadata"]["name"] for p in (await cluster.call("GET", PODS))["items"]} == {"stranger"}


async def test_an_owner_with_a_finalizer_is_collected_when_released(cluster: harness.Cluster) -> None:
    owner = await cluster.apply(fleet())
    await cluster.patch("iotfleets", "cams", {"metadata": {"finalizers": ["iotemu.io/finalizer"]}})
    ref = {"apiVersion": "iotemu.io/v1alpha1", "kind": "IoTFleet", "name": "cams", "uid": owner["metadata"]["uid"]}
    await cluster.call("POST", PODS, pod("p1", ownerReferences=[ref]))
    await cluster.delete("iotfleets", "cams")
    marked = await cluster.get("iotfleets", "cams")
    assert marked is not None and marked["metadata"]["deletionTimestamp"]
    assert (await cluster.call("GET", PODS))["items"]  # still there while the owner exists
    await cluster.patch("iotfleets", "cams", {"metadata": {"finalizers": []}})
    assert await cluster.get("iotfleets", "cams") is None
    assert (await cluster.call("GET", PODS))["items"] == []
