"""Conditions as Kubernetes API conventions want them: `Ready`, `Progressing`, `Degraded`.

A condition's `lastTransitionTime` changes only when its `status` changes, so `merge` keeps the old
time for a condition whose status stayed; `transitions` lists what changed, for the events the
operator posts (devices bound, degraded, recovered).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from iot_emulator.config import models

T, F = models.ConditionStatus.true, models.ConditionStatus.false


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """A condition before it gets its times: what the aggregation decides."""

    type: str
    status: models.ConditionStatus
    reason: str
    message: str = ""


def merge(
    old: Sequence[Mapping[str, Any]], new: Sequence[Verdict], generation: int | None, now: dt.datetime
) -> list[models.Condition]:
    """The new conditions, keeping the transition time of those whose status did not change."""
    before = {c.get("type"): c for c in old}
    merged = []
    for verdict in new:
        previous = before.get(verdict.type)
        since = now
        if previous is not None and previous.get("status") == verdict.status.value:
            since = _parse_time(previous.get("lastTransitionTime")) or now
        merged.append(
            models.Condition(
                type=verdict.type,
                status=verdict.status,
                reason=verdict.reason,
                message=verdict.message[:1024],
                last_transition_time=since,
                observed_generation=generation,
            )
        )
    return merged


def transitions(old: Sequence[Mapping[str, Any]], new: Sequence[models.Condition]) -> list[models.Condition]:
    """Conditions whose status is not the one they had (a first status counts when it is True)."""
    before = {c.get("type"): c.get("status") for c in old}
    return [
        c
        for c in new
        if before.get(c.type) != c.status.value and (c.type in before or c.status is models.ConditionStatus.true)
    ]


def _parse_time(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
