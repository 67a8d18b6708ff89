"""From pods and their /stats to a resource's status: `aggregate_device` and `aggregate_fleet`, pure.

A pass of the operator collects an `Observation` (the resource's pods, each pod's /stats body or the
error reading it, what the plan still has to do) and these functions turn it into the status model
with its conditions. IoTFleet.status stays small for any fleet: totals, counts, and at most
`models.MAX_FAILING_DEVICES` failing devices, where a crashing pod counts as one entry for its
whole member range.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from iot_emulator.config import models
from iot_operator import conditions, observed, pods
from iot_operator import plan as plan_mod

Stats = dict[str, Any] | str
"""A pod's /stats body, or why it could not be read."""

T, F, U = models.ConditionStatus.true, models.ConditionStatus.false, models.ConditionStatus.unknown
_PHASES = {"pending": "Pending", "binding": "Binding", "bound": "Bound", "stopped": "Stopped"}


@dataclasses.dataclass(frozen=True)
class Observation:
    """What one pass saw of one resource."""

    running: bool
    generation: int | None
    desired_devices: int
    pods: Sequence[observed.PodView]
    stats: Mapping[str, Stats]
    plan: plan_mod.Plan
    now: dt.datetime
    bind_grace: float
    spec_error: str | None = None
    mac_clash: str | None = None
    """Why the resource is not run: an older resource of the namespace runs with one of its MACs."""
    replicas: int = 1
    """IoTFleet.spec.replicas: the width of its device ids."""

    @property
    def live(self) -> list[observed.PodView]:
        return [p for p in self.pods if not p.deleting]


def _traffic(rows: Sequence[Mapping[str, Any]]) -> models.Traffic:
    keys = ("packets_sent", "bytes_sent", "packets_received", "bytes_received")
    return models.Traffic(**{k: sum(int(r.get(k) or 0) for r in rows) for k in keys})


def _auth(totals: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The pods' devices per 802.1X state, summed (an older emulator's totals have none)."""
    summed: dict[str, int] = {}
    for t in totals:
        for state, count in (t.get("auth") or {}).items():
            summed[str(state)] = summed.get(str(state), 0) + int(count or 0)
    return summed


def _pod_trouble(obs: Observation) -> conditions.Verdict | None:
    """Degraded, when a pod cannot run: crashing, failed, or not schedulable."""
    troubled = [p for p in obs.live if p.trouble]
    if troubled:
        first = troubled[0]
        reason = "PodFailed" if first.failed else "EmulatorCrashing"
        return conditions.Verdict(
            "Degraded", T, reason, f"{len(troubled)} pod(s) failing; {first.name}: {first.trouble}"
        )
    unschedulable = [p for p in obs.live if p.unschedulable]
    if unschedulable:
        first = unschedulable[0]
        message = f"{len(unschedulable)} pod(s) cannot be scheduled; {first.name}: {first.unschedulable}"
        return conditions.Verdict("Degraded", T, "Unschedulable", message)
    return None


def _progress(obs: Observation) -> conditions.Verdict | None:
    """Progressing, while pods are created, rolled, or removed."""
    p = obs.plan
    if p.outdated or (p.waiting and obs.running):
        return conditions.Verdict("Progressing", T, "Rolling", f"replacing {len(p.outdated) + len(p.waiting)} pod(s)")
    if p.create or p.held:
        return conditions.Verdict("Progressing", T, "CreatingPods", f"creating {len(p.create) + len(p.held)} pod(s)")
    if p.delete or p.waiting:
        return conditions.Verdict("Progressing", T, "RemovingPods", f"removing {len(p.delete) + len(p.waiting)} pod(s)")
    return None


def _stopped_or_invalid(obs: Observation) -> list[conditions.Verdict] | None:
    if obs.spec_error is not None:
        return [
            conditions.Verdict("Ready", F, "InvalidSpec", obs.spec_error),
            conditions.Verdict("Progressing", F, "InvalidSpec", obs.spec_error),
            conditions.Verdict("Degraded", T, "InvalidSpec", obs.spec_error),
        ]
    if obs.mac_clash is not None:
        return [
            conditions.Verdict("Ready", F, "MacClash", obs.mac_clash),
            _progress(obs) or conditions.Verdict("Progressing", F, "MacClash", "no emulator pod runs"),
            conditions.Verdict("Degraded", T, "MacClash", obs.mac_clash),
        ]
    if not obs.running:
        progress = _progress(obs)
        return [
            conditions.Verdict("Ready", F, "Stopped", "spec.running is false"),
            progress or conditions.Verdict("Progressing", F, "Stopped", "no emulator pod runs"),
            conditions.Verdict("Degraded", F, "Stopped"),
        ]
    return None


def _merge(obs: Observation, verdicts: list[conditions.Verdict], old: Mapping[str, Any]) -> list[models.Condition]:
    return conditions.merge(old.get("conditions") or [], verdicts, obs.generation, obs.now)


def aggregate_device(obs: Observation, old: Mapping[str, Any]) -> models.IoTDeviceStatus:
    """IoTDevice.status from its pod and the pod's /stats row for the device."""
    pod = obs.live[0] if obs.live else None
    body = obs.stats.get(pod.name) if pod else None
    row = body["devices"][0] if isinstance(body, dict) and body.get("devices") else None
    status = models.IoTDeviceStatus(observed_generation=obs.generation, pod=pod.name if pod else None)
    if row is not None:
        status = _device_fields(status, row, obs.now)
    elif pod is not None and pod.trouble:
        status.phase = models.DevicePhase.failed
    elif pod is not None and pod.running and isinstance(body, str):
        status.phase = models.DevicePhase.unknown
    elif not obs.running:
        status.phase = models.DevicePhase.stopped
    verdicts = _stopped_or_invalid(obs) or _device_verdicts(obs, pod, body, row)
    status.conditions = _merge(obs, verdicts, old)
    return status


def _device_fields(status: models.IoTDeviceStatus, row: Mapping[str, Any], now: dt.datetime) -> models.IoTDeviceStatus:
    lease = row.get("lease") or {}
    expiry = None
    if lease.get("expires_in") is not None:
        expiry = (now + dt.timedelta(seconds=float(lease["expires_in"]))).replace(microsecond=0)
    return status.model_copy(
        update={
            "phase": models.DevicePhase(_PHASES.get(str(row.get("state")), "Unknown")),
            "ip": row.get("current_ip"),
            "ipv6": row.get("ipv6_addresses"),
            "auth": row.get("auth"),
            "mac": row.get("mac"),
            "hostname": row.get("hostname"),
            "lease_expiry": expiry,
            "traffic": _traffic([row]),
            "protocols": {str(k): int(v) for k, v in (row.get("protocols") or {}).items()},
            "last_seen": now.replace(microsecond=0),
        }
    )


def _device_verdicts(
    obs: Observation, pod: observed.PodView | None, body: Stats | None, row: Mapping[str, Any] | None
) -> list[conditions.Verdict]:
    degraded = _pod_trouble(obs)
    progress = _progress(obs)
    if row is not None and row.get("state") == "bound":
        ready = conditions.Verdict("Ready", T, "Bound", f"leased {row.get('current_ip')}")
    elif row is not None:
        ready = conditions.Verdict("Ready", F, "NotBound", f"DHCP state {row.get('dhcp_state', row.get('state'))}")
        if degraded is None and float(row.get("uptime_seconds") or 0) > obs.bind_grace:
            degraded = conditions.Verdict("Degraded", T, "NotBound", f"no lease after {obs.bind_grace:.0f} s")
        progress = progress or conditions.Verdict("Progressing", T, "Binding", ready.message)
    elif pod is not None and pod.running and pod.ready and isinstance(body, str):
        ready = conditions.Verdict("Ready", U, "StatsUnavailable", body)
    elif pod is not None and pod.trouble:
        ready = conditions.Verdict("Ready", F, "EmulatorNotRunning", pod.trouble)
    else:
        ready = conditions.Verdict("Ready", F, "PodNotRunning", f"pod is {pod.phase}" if pod else "no pod yet")
        if pod is not None and degraded is None:
            progress = progress or conditions.Verdict("Progressing", T, "PodStarting", f"pod is {pod.phase}")
    return [
        ready,
        progress or conditions.Verdict("Progressing", F, "Complete", "the pod is the desired one"),
        degraded or conditions.Verdict("Degraded", F, "AsExpected"),
    ]


def aggregate_fleet(
    obs: Observation, selector: str, fleet: str, old: Mapping[str, Any], limit: int = models.MAX_FAILING_DEVICES
) -> models.IoTFleetStatus:
    """IoTFleet.status from its pods' /stats totals and their not-yet-bound devices."""
    live = obs.live
    bodies = {name: b for name, b in obs.stats.items() if isinstance(b, dict)}
    totals = [b.get("totals") or {} for b in bodies.values()]
    failing = _failing(obs, fleet, bodies)
    status = models.IoTFleetStatus(
        observed_generation=obs.generation,
        replicas=sum(p.devices for p in live if p.running),
        bound_replicas=sum(int(t.get("bound") or 0) for t in totals),
        auth=_auth(totals),
        pods=len(live),
        ready_pods=sum(1 for p in live if p.ready),
        selector=selector,
        traffic=_traffic(totals),
        failing_count=sum(n for n, _ in failing),
        failing_devices=[entry for _, entry in failing[:limit]],
        last_seen=obs.now.replace(microsecond=0) if bodies else None,
    )
    verdicts = _stopped_or_invalid(obs) or _fleet_verdicts(obs, status, failing)
    status.conditions = _merge(obs, verdicts, old)
    return status


def _failing(
    obs: Observation, fleet: str, bodies: Mapping[str, Mapping[str, Any]]
) -> list[tuple[int, models.FailingDevice]]:
    """(devices it stands for, entry), ordered: crashing pods' member ranges, then devices without a lease."""
    out: list[tuple[int, models.FailingDevice]] = []
    for pod in sorted(obs.live, key=lambda p: p.shard or 0):
        if pod.trouble and pod.members:
            start, end = pod.members
            ids = f"{pods.device_id(fleet, start, obs.replicas)}..{pods.device_id(fleet, end - 1, obs.replicas)}"
            out.append((end - start, models.FailingDevice(device=ids, reason=f"pod {pod.name}: {pod.trouble}")))
    rows = sorted(
        (row for body in bodies.values() for row in body.get("devices") or []),
        key=lambda r: str(r.get("device_id")),
    )
    for row in rows:
        if row.get("state") != "bound" and float(row.get("uptime_seconds") or 0) > obs.bind_grace:
            reason = f"no lease after {float(row['uptime_seconds']):.0f} s (DHCP state {row.get('dhcp_state', '?')})"
            out.append((1, models.FailingDevice(device=str(row.get("device_id")), reason=reason)))
    return out


def _fleet_verdicts(
    obs: Observation, status: models.IoTFleetStatus, failing: list[tuple[int, models.FailingDevice]]
) -> list[conditions.Verdict]:
    wanted = obs.desired_devices
    bound = f"{status.bound_replicas} of {wanted} devices bound"
    if status.bound_replicas >= wanted and obs.plan.settled:
        ready = conditions.Verdict("Ready", T, "AllBound", bound)
    else:
        ready = conditions.Verdict("Ready", F, "NotAllBound", bound)
    degraded = _pod_trouble(obs)
    if degraded is None and failing:
        first = failing[0][1]
        message = f"{status.failing_count} device(s) failing; {first.device}: {first.reason}"
        degraded = conditions.Verdict("Degraded", T, "DevicesNotBound", message)
    progress = _progress(obs)
    if progress is None and ready.status is not T:
        progress = conditions.Verdict("Progressing", T, "Binding", bound)
    return [
        ready,
        progress or conditions.Verdict("Progressing", F, "Complete", f"{status.pods} pod(s), {bound}"),
        degraded or conditions.Verdict("Degraded", F, "AsExpected"),
    ]


def significant(status: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a status whose change is worth a patch: all but the time of the last /stats read."""
    return {k: v for k, v in status.items() if k != "lastSeen"}


def to_wire(status: models.IoTDeviceStatus | models.IoTFleetStatus) -> dict[str, Any]:
    """The status as the API server stores it (camelCase, no nulls)."""
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)
