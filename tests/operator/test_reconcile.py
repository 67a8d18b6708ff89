"""One pass (`reconcile.reconcile`) with a recording API and canned /stats: what it writes, and how often."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from iot_emulator.profiles import catalog
from iot_operator import observed, pods, reconcile
from iot_operator import plan as plan_mod
from iot_operator import settings as settings_mod
from iot_operator import status as status_mod

OWNER = pods.Owner("IoTDevice", "cam1", "lab", "uid-1")
BODY = {
    "apiVersion": "iotemu.io/v1alpha1",
    "kind": "IoTDevice",
    "metadata": {"name": "cam1", "namespace": "lab", "uid": "uid-1", "generation": 1},
    "spec": {"profile": "tiny-cam"},
}


class RecordingApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def create_pod(self, pod: dict[str, Any]) -> bool:
        self.calls.append(("create", pod["metadata"]["name"]))
        return True

    async def delete_pod(self, namespace: str, name: str) -> bool:
        self.calls.append(("delete", name))
        return True

    async def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.calls.append(("status", status))


class CannedScraper:
    def __init__(self) -> None:
        self.sent = 10

    async def many(
        self, pods: Iterable[observed.PodView], query: Sequence[tuple[str, str]] = ()
    ) -> dict[str, status_mod.Stats]:
        row = {"device_id": "cam1", "state": "bound", "current_ip": "10.0.0.5", "packets_sent": self.sent}
        return {p.name: {"totals": {"bound": 1}, "devices": [row]} for p in pods if p.running}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tiny_library: catalog.Library) -> tuple[reconcile.Context, RecordingApi, CannedScraper, Clock]:
    api, scraper, clock = RecordingApi(), CannedScraper(), Clock()
    settings = settings_mod.OperatorSettings(status_min_interval=5)
    ctx = reconcile.Context(settings, api, scraper, tiny_library, clock, lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # type: ignore[arg-type]
    return ctx, api, scraper, clock


def running_pod(ctx: reconcile.Context, tiny_library: catalog.Library) -> observed.PodView:
    [pod] = pods.desired_pods(reconcile.parse(BODY), OWNER, ctx.settings, tiny_library)
    pod["status"] = {"phase": "Running", "podIP": "10.1.1.1", "conditions": [{"type": "Ready", "status": "True"}]}
    view = observed.PodView.from_body(pod)
    assert view is not None
    return view


async def test_first_pass_creates_the_pod_and_writes_status(setup: Any) -> None:
    ctx, api, _, _ = setup
    events: list[tuple[str, str, str]] = []
    state = reconcile.ResourceState(plan_mod.Backoff(10, 300))
    await reconcile.reconcile(ctx, OWNER, BODY, [], state, lambda *e: events.append(e))
    assert [c[0] for c in api.calls] == ["create", "status"]
    assert ("Normal", "PodsCreated", "created 1 pod(s): iotdev-cam1") in events


async def test_status_is_patched_when_changed_and_at_most_once_per_interval(
    setup: Any, tiny_library: catalog.Library
) -> None:
    ctx, api, scraper, clock = setup
    pod = running_pod(ctx, tiny_library)
    state = reconcile.ResourceState(plan_mod.Backoff(10, 300))
    post = lambda *e: None  # noqa: E731

    assert await reconcile.reconcile(ctx, OWNER, BODY, [pod], state, post) is None
    assert [c[0] for c in api.calls] == ["status"]
    assert api.calls[0][1]["phase"] == "Bound"

    clock.now += 1  # nothing changed: nothing written
    assert await reconcile.reconcile(ctx, OWNER, BODY, [pod], state, post) is None
    scraper.sent = 20  # changed, but too soon: the pass asks to come back when the interval is over
    assert await reconcile.reconcile(ctx, OWNER, BODY, [pod], state, post) == pytest.approx(4.0)
    assert len(api.calls) == 1
    clock.now += 4
    await reconcile.reconcile(ctx, OWNER, BODY, [pod], state, post)
    assert len(api.calls) == 2 and api.calls[1][1] == {"traffic": {"packetsSent": 20}}  # a merge patch of the change


async def test_a_resource_sharing_an_older_ones_mac_loses_its_pod(setup: Any, tiny_library: catalog.Library) -> None:
    """Its pod is deleted (no duplicate MAC on the LAN), its status says why; an older twin changes nothing."""
    ctx, api, _, clock = setup
    pod = running_pod(ctx, tiny_library)
    body = {**BODY, "metadata": {**BODY["metadata"], "creationTimestamp": "2026-12-01T12:05:00Z"}}  # type: ignore[dict-item]
    mine = ctx.claim(body)
    assert mine is not None
    older = dataclasses.replace(mine, name="cam0", created=dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC))
    newer = dataclasses.replace(mine, name="cam2", created=dt.datetime(2026, 12, 1, 12, 9, tzinfo=dt.UTC))
    events: list[tuple[str, str, str]] = []
    state = reconcile.ResourceState(plan_mod.Backoff(10, 300))
    await reconcile.reconcile(ctx, OWNER, body, [pod], state, lambda *e: events.append(e), [mine, newer])
    assert [c[0] for c in api.calls] == ["status"]  # the newer twin is the one to move

    api.calls.clear()
    clock.now += 10  # past the status interval
    await reconcile.reconcile(ctx, OWNER, body, [pod], state, lambda *e: events.append(e), [mine, older, newer])
    assert api.calls[0] == ("delete", pod.name)
    degraded = next(c for c in api.calls[-1][1]["conditions"] if c["type"] == "Degraded")
    mac = sorted(mine.macs)[0]
    assert (degraded["status"], degraded["reason"]) == ("True", "MacClash")
    assert degraded["message"].startswith(f"MAC {mac} is already used by IoTDevice/cam0;")
    assert ("Warning", "MacClash", degraded["message"]) in events
