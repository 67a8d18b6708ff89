"""One pass over one resource: make its pods the desired ones, read their stats, write its status.

The pass is level-based: it looks at what exists now (the pod index), not at what changed, so the
same function serves a creation, a spec change, a scale, a pod that crashed or vanished, and an
operator restart. All decisions are the pure functions' (`pods`, `plan`, `status`); this module only
performs their results through the API and posts the events a person wants to see.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from iot_emulator.config import models
from iot_emulator.devices import mac_claims
from iot_emulator.profiles import catalog
from iot_emulator.scenarios import model as scenario_model
from iot_kube import merge_patch
from iot_operator import conditions, kube, observed, pods, scrape
from iot_operator import plan as plan_mod
from iot_operator import settings as settings_mod
from iot_operator import status as status_mod

Post = Callable[[str, str, str], None]
"""Posts a Kubernetes event about the resource: (type Normal|Warning, reason, message)."""

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ResourceState:
    """What the operator remembers of one resource between passes (lost on restart, harmlessly)."""

    backoff: plan_mod.Backoff
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    """Set to run the next pass now instead of after settings.resync_interval."""
    last_patch: float = -math.inf
    patched: dict[str, Any] | None = None
    """The status last written, the baseline for the next comparison (the watch may not have shown it yet)."""


@dataclasses.dataclass
class Context:
    settings: settings_mod.OperatorSettings
    api: kube.Api
    scraper: scrape.Scraper
    library: catalog.Library
    clock: Callable[[], float] = time.monotonic
    """Monotonic seconds, for intervals and backoff."""
    wall: Callable[[], dt.datetime] = dataclasses.field(default=lambda: dt.datetime.now(dt.UTC))
    """Wall-clock time, for the timestamps written into status."""
    claims: mac_claims.Claims = dataclasses.field(init=False)
    """The MACs each resource runs with (cached), to find two resources that would share one."""

    def __post_init__(self) -> None:
        self.claims = mac_claims.Claims(self.library)

    def claim(self, body: Mapping[str, Any]) -> mac_claims.Claim | None:
        """The resource's MACs and age, for the namespace's index; None when it does not validate."""
        try:
            resource = parse(body)
        except ValidationError:
            return None
        return self.claims.claim(resource, _created(body))


def parse(body: Mapping[str, Any]) -> models.IoTDevice | models.IoTFleet:
    model = models.IoTDevice if body.get("kind") == "IoTDevice" else models.IoTFleet
    return model.model_validate(dict(body))


def _created(body: Mapping[str, Any]) -> dt.datetime | None:
    stamp = (body.get("metadata") or {}).get("creationTimestamp")
    try:
        return dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


async def reconcile(
    ctx: Context,
    owner: pods.Owner,
    body: Mapping[str, Any],
    existing_pods: Iterable[observed.PodView],
    state: ResourceState,
    post: Post,
    neighbours: Iterable[mac_claims.Claim] = (),
) -> float | None:
    """Runs the pass; returns in how many seconds it wants the next one, when sooner than a resync.

    `neighbours`: the MAC claims of the namespace's resources (this one's included or not). A resource
    that would run with a MAC an older one runs with gets no pods: two devices with one MAC on a LAN
    break both, and which one a person meant to move is theirs to say (Degraded, reason MacClash)."""
    now = ctx.clock()
    existing = {p.name: p for p in existing_pods}
    desired, spec_error, resource = _desired(ctx, owner, body)
    own = ctx.claim(body) if resource is not None and resource.spec.running else None
    mac_clash = mac_claims.clash(own, neighbours) if own is not None else None
    if mac_clash is not None:
        desired = []
    for view in existing.values():
        if view.running and view.ready:
            state.backoff.healthy(view.name)
    plan = plan_mod.Plan() if desired is None else plan_mod.plan(desired, existing, state.backoff.until, now)
    await _apply(ctx, owner, plan, state, now, post)

    is_fleet = owner.kind == "IoTFleet"
    stats = await ctx.scraper.many(
        (p for p in existing.values() if p.name not in plan.delete), scrape.NOT_BOUND if is_fleet else ()
    )
    obs = status_mod.Observation(
        running=resource.spec.running if resource is not None else True,
        generation=(body.get("metadata") or {}).get("generation"),
        desired_devices=sum(int(p["metadata"]["annotations"][pods.DEVICES]) for p in desired or []),
        pods=[p for p in existing.values() if p.name not in plan.delete],
        stats=stats,
        plan=plan,
        now=ctx.wall(),
        bind_grace=ctx.settings.bind_grace,
        spec_error=spec_error,
        mac_clash=mac_clash,
        replicas=resource.spec.replicas if isinstance(resource, models.IoTFleet) else 1,
    )
    baseline = state.patched if state.patched is not None else dict(body.get("status") or {})
    if is_fleet:
        new = status_mod.to_wire(status_mod.aggregate_fleet(obs, owner.selector, owner.name, baseline))
    else:
        new = status_mod.to_wire(status_mod.aggregate_device(obs, baseline))
    if status_mod.significant(new) == status_mod.significant(baseline):
        return None
    wait = state.last_patch + ctx.settings.status_min_interval - now
    if wait > 0:  # at most one status patch per interval: come back when it is over
        return wait
    await ctx.api.patch_status(owner.kind, owner.namespace, owner.name, merge_patch.diff(baseline, new))
    state.last_patch, state.patched = ctx.clock(), new  # when it was written, not when the pass began
    old_conditions = baseline.get("conditions") or []
    for condition in conditions.transitions(
        old_conditions, [models.Condition.model_validate(c) for c in new["conditions"]]
    ):
        _announce(condition, post)
    return None


def _desired(
    ctx: Context, owner: pods.Owner, body: Mapping[str, Any]
) -> tuple[list[dict[str, Any]] | None, str | None, models.IoTDevice | models.IoTFleet | None]:
    """The desired pods, or (None, why) when the resource cannot be run; its pods are then left alone."""
    try:
        resource = parse(body)
        return pods.desired_pods(resource, owner, ctx.settings, ctx.library), None, resource
    except ValidationError as exc:
        where = (".".join(map(str, scenario_model.clean_loc(e["loc"]))) for e in exc.errors())
        return None, "; ".join(f"{loc}: {e['msg']}" for loc, e in zip(where, exc.errors(), strict=True)), None
    except pods.SpecError as exc:
        return None, str(exc), parse(body)


async def _apply(
    ctx: Context, owner: pods.Owner, plan: plan_mod.Plan, state: ResourceState, now: float, post: Post
) -> None:
    for name in plan.failed:
        delay = state.backoff.failed(name, now)
        post("Warning", "PodFailed", f"pod {name} failed; a new one in {delay:.0f} s")
    for name in plan.delete:
        await ctx.api.delete_pod(owner.namespace, name)
    gone = [n for n in plan.delete if n not in plan.outdated and n not in plan.failed]
    if gone:
        post("Normal", "PodsDeleted", _names("deleted", gone))
    if plan.outdated:
        post("Normal", "RollingPods", _names("replacing", list(plan.outdated)))
    created = [pod["metadata"]["name"] for pod in plan.create if await ctx.api.create_pod(pod)]
    if created:
        post("Normal", "PodsCreated", _names("created", created))


def _names(verb: str, names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{verb} {len(names)} pod(s): {', '.join(names[:shown])}{more}"


def _announce(condition: models.Condition, post: Post) -> None:
    """Events for the transitions a person cares about."""
    true = condition.status is models.ConditionStatus.true
    if condition.type == "Ready" and true:
        post("Normal", "Ready", condition.message)
    elif condition.type == "Degraded" and true:
        post("Warning", condition.reason, condition.message)
    elif condition.type == "Degraded" and condition.status is models.ConditionStatus.false:
        post("Normal", "Recovered", condition.message or condition.reason)
