"""aggregate_device / aggregate_fleet, PodView and conditions: the status a pass writes, without any API."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from iot_emulator.config import models
from iot_operator import conditions, observed, status
from iot_operator import plan as plan_mod

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def view(name: str = "iotdev-cam1", **fields: Any) -> observed.PodView:
    base = observed.PodView(name, "lab", "IoTDevice", "cam1", None, "h", 1, 8080, phase="Running", ready=True)
    return dataclasses.replace(base, **fields)


def row(device_id: str, state: str = "bound", uptime: float = 10.0) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "state": state,
        "dhcp_state": "bound" if state == "bound" else "selecting",
        "current_ip": "10.0.0.9" if state == "bound" else None,
        "mac": "44:19:b6:00:00:01",
        "hostname": device_id,
        "packets_sent": 7,
        "bytes_sent": 700,
        "packets_received": 3,
        "bytes_received": 300,
        "uptime_seconds": uptime,
        "protocols": {"dhcp": 4},
        "lease": {"expires_in": 300.4} if state == "bound" else None,
    }


def observation(pods: list[observed.PodView], stats: dict[str, status.Stats], **fields: Any) -> status.Observation:
    defaults: dict[str, Any] = dict(
        running=True, generation=3, desired_devices=1, plan=plan_mod.Plan(), now=NOW, bind_grace=60.0
    )
    return status.Observation(pods=pods, stats=stats, **{**defaults, **fields})


def by_type(conds: list[models.Condition]) -> dict[str, models.Condition]:
    return {c.type: c for c in conds}


def test_a_bound_device() -> None:
    body = {"totals": {"bound": 1}, "devices": [row("cam1")]}
    result = status.aggregate_device(observation([view()], {"iotdev-cam1": body}), {})
    assert result.phase is models.DevicePhase.bound and str(result.ip) == "10.0.0.9"
    assert result.lease_expiry == NOW + dt.timedelta(seconds=300)
    assert result.traffic.packets_sent == 7 and result.protocols == {"dhcp": 4}
    conds = by_type(result.conditions)
    assert conds["Ready"].status is models.ConditionStatus.true and conds["Ready"].observed_generation == 3
    assert conds["Degraded"].status is models.ConditionStatus.false
    assert result.observed_generation == 3
    assert result.ipv6 is None  # an IPv4-only device


def test_a_device_speaking_ipv6_lists_its_addresses_in_the_status() -> None:
    addresses = ["fe80::4619:b6ff:fe00:1", "2001:db8:1::4619:b6ff:fe00:1"]
    body = {"totals": {"bound": 1}, "devices": [{**row("cam1"), "ipv6_addresses": addresses}]}
    result = status.aggregate_device(observation([view()], {"iotdev-cam1": body}), {})
    assert [str(a) for a in result.ipv6 or []] == addresses
    assert result.model_dump(mode="json", by_alias=True, exclude_none=True)["ipv6"] == addresses


def test_the_802_1x_state_of_the_stats_is_in_the_status() -> None:
    body = {"totals": {"bound": 1}, "devices": [{**row("cam1"), "auth": "authorized"}]}
    assert status.aggregate_device(observation([view()], {"iotdev-cam1": body}), {}).auth == "authorized"
    plain = {"totals": {"bound": 1}, "devices": [{**row("cam1"), "auth": "mab"}]}
    assert status.aggregate_device(observation([view()], {"iotdev-cam1": plain}), {}).auth == "mab"


def test_a_device_without_a_lease_for_too_long_is_degraded() -> None:
    body = {"totals": {}, "devices": [row("cam1", "binding", uptime=90)]}
    conds = by_type(status.aggregate_device(observation([view()], {"iotdev-cam1": body}), {}).conditions)
    assert conds["Degraded"].reason == "NotBound" and conds["Progressing"].reason == "Binding"


def test_a_crashing_pod() -> None:
    crashing = view(ready=False, trouble="CrashLoopBackOff (last exit code 2: Error)")
    result = status.aggregate_device(observation([crashing], {}), {})
    assert result.phase is models.DevicePhase.failed
    assert by_type(result.conditions)["Degraded"].reason == "EmulatorCrashing"


def test_a_stopped_device() -> None:
    result = status.aggregate_device(observation([], {}, running=False, desired_devices=0), {})
    conds = by_type(result.conditions)
    assert result.phase is models.DevicePhase.stopped and conds["Ready"].reason == "Stopped"


def test_fleet_totals_and_bounded_failures() -> None:
    pods = [
        view("iotfleet-cams-0", owner_kind="IoTFleet", owner="cams", shard=0, devices=250, members=(0, 250)),
        view("iotfleet-cams-1", owner_kind="IoTFleet", owner="cams", shard=1, devices=250, members=(250, 500)),
        view(
            "iotfleet-cams-2",
            owner_kind="IoTFleet",
            owner="cams",
            shard=2,
            devices=100,
            members=(500, 600),
            trouble="CrashLoopBackOff",
        ),
    ]
    stats: dict[str, status.Stats] = {
        "iotfleet-cams-0": {
            "totals": {"bound": 250, "packets_sent": 1000, "auth": {"authorized": 240, "failed": 10}},
            "devices": [],
        },
        "iotfleet-cams-1": {
            "totals": {"bound": 220, "packets_sent": 900, "auth": {"authorized": 200, "authenticating": 50}},
            "devices": [row(f"cams-{i:04d}", "binding", uptime=120) for i in range(250, 280)],
        },
    }
    obs = observation(pods, stats, desired_devices=600, replicas=600)
    result = status.aggregate_fleet(obs, "iotemu.io/iotfleet=cams", "cams", {})
    assert result.bound_replicas == 470 and result.replicas == 500 and result.pods == 3
    assert result.traffic.packets_sent == 1900
    assert result.auth == {"authorized": 440, "failed": 10, "authenticating": 50}  # the crashing pod reports none
    assert result.failing_count == 130 and len(result.failing_devices) == models.MAX_FAILING_DEVICES
    assert result.failing_devices[0].device == "cams-0500..cams-0599"
    assert result.failing_devices[1].device == "cams-0250"
    conds = by_type(result.conditions)
    assert conds["Ready"].status is models.ConditionStatus.false and conds["Degraded"].reason == "EmulatorCrashing"


def test_a_fleet_is_ready_when_all_are_bound_and_the_pods_settled() -> None:
    pods = [view("iotfleet-cams-0", owner_kind="IoTFleet", owner="cams", shard=0, devices=2, members=(0, 2))]
    stats: dict[str, status.Stats] = {"iotfleet-cams-0": {"totals": {"bound": 2}, "devices": []}}
    result = status.aggregate_fleet(observation(pods, stats, desired_devices=2), "s", "cams", {})
    assert by_type(result.conditions)["Ready"].reason == "AllBound"
    rolling = observation(pods, stats, desired_devices=2, plan=plan_mod.Plan(outdated=("x",), delete=("x",)))
    conds = by_type(status.aggregate_fleet(rolling, "s", "cams", {}).conditions)
    assert conds["Ready"].status is models.ConditionStatus.false and conds["Progressing"].reason == "Rolling"


def test_transition_times_move_only_with_the_status() -> None:
    earlier = NOW - dt.timedelta(hours=1)
    old = [{"type": "Ready", "status": "True", "lastTransitionTime": earlier.isoformat()}]
    same = conditions.merge(old, [conditions.Verdict("Ready", models.ConditionStatus.true, "Bound")], 1, NOW)
    assert same[0].last_transition_time == earlier
    flipped = conditions.merge(old, [conditions.Verdict("Ready", models.ConditionStatus.false, "NotBound")], 1, NOW)
    assert flipped[0].last_transition_time == NOW
    assert [c.type for c in conditions.transitions(old, flipped)] == ["Ready"]
    assert conditions.transitions(old, same) == []


def test_pod_view_from_a_pod_body() -> None:
    body = {
        "metadata": {
            "name": "iotfleet-cams-1",
            "namespace": "lab",
            "labels": {
                "app.kubernetes.io/managed-by": "iot-operator",
                "iotemu.io/iotfleet": "cams",
                "iotemu.io/shard": "1",
            },
            "annotations": {
                "iotemu.io/spec-hash": "abc",
                "iotemu.io/devices": "250",
                "iotemu.io/http-port": "8080",
                "iotemu.io/members": "250-500",
            },
        },
        "status": {
            "phase": "Running",
            "podIP": "10.1.2.3",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                    "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}},
                }
            ],
        },
    }
    pod = observed.PodView.from_body(body)
    assert pod is not None and pod.key == ("lab", "IoTFleet", "cams") and pod.members == (250, 500)
    assert pod.trouble == "CrashLoopBackOff (last exit code 2: Error): back-off" and pod.restarts == 4
    assert not pod.running and not pod.failed
    assert observed.PodView.from_body({"metadata": {"labels": {}}}) is None


def test_significant_changes_ignore_the_last_read_time() -> None:
    assert status.significant({"a": 1, "lastSeen": "x"}) == status.significant({"a": 1, "lastSeen": "y"})
