"""plan: create what is missing, delete what is extra, replace what is outdated or failed, never both at once."""

from __future__ import annotations

import dataclasses

from iot_operator import observed, pods
from iot_operator import plan as plan_mod


def desired(name: str, spec_hash: str = "h1") -> dict[str, object]:
    return {"metadata": {"name": name, "annotations": {pods.HASH: spec_hash}}}


def view(name: str, spec_hash: str = "h1", **fields: object) -> observed.PodView:
    base = observed.PodView(name, "lab", "IoTFleet", "cams", 0, spec_hash, 250, 8080, phase="Running")
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_missing_pods_are_created_and_extra_ones_deleted() -> None:
    plan = plan_mod.plan([desired("a"), desired("b")], {"b": view("b"), "c": view("c")}, {}, 0.0)
    assert [p["metadata"]["name"] for p in plan.create] == ["a"]
    assert plan.delete == ("c",) and not plan.outdated and not plan.settled


def test_outdated_pods_are_deleted_first_and_created_on_a_later_pass() -> None:
    plan = plan_mod.plan([desired("a", "h2")], {"a": view("a", "h1")}, {}, 0.0)
    assert plan.delete == ("a",) and plan.outdated == ("a",) and plan.create == ()
    later = plan_mod.plan([desired("a", "h2")], {"a": view("a", "h1", deleting=True)}, {}, 1.0)
    assert later.waiting == ("a",) and later.create == () and later.delete == ()
    gone = plan_mod.plan([desired("a", "h2")], {}, {}, 2.0)
    assert [p["metadata"]["name"] for p in gone.create] == ["a"]


def test_failed_pods_are_replaced_after_their_backoff() -> None:
    backoff = plan_mod.Backoff(base=10, cap=25)
    plan = plan_mod.plan([desired("a")], {"a": view("a", phase="Failed")}, backoff.until, 0.0)
    assert plan.failed == ("a",) and plan.delete == ("a",)
    assert [backoff.failed("a", 0.0), backoff.failed("a", 0.0), backoff.failed("a", 0.0)] == [10, 20, 25]
    assert plan_mod.plan([desired("a")], {}, backoff.until, 10.0).held == ("a",)
    assert plan_mod.plan([desired("a")], {}, backoff.until, 25.0).create
    backoff.healthy("a")
    assert backoff.failed("a", 0.0) == 10


def test_matching_pods_mean_a_settled_plan() -> None:
    assert plan_mod.plan([desired("a")], {"a": view("a")}, {}, 0.0).settled
