"""From desired and existing pods to actions: `plan(...)`, pure; and the backoff of failed pods.

Replacement is delete-then-create, never the other way round: two pods emulating the same MACs on the
same LAN at once would fight over leases and ARP. Pod names are fixed per shard, so the new pod is
created on a later pass, once the old one is gone from the index. A pod that failed for good (phase
Failed: evicted, or killed by the node) is replaced the same way, after a delay that doubles per
failure; a pod that crash-loops is left to the kubelet, which already backs off its restarts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from iot_operator import observed, pods


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    create: tuple[dict[str, Any], ...] = ()
    delete: tuple[str, ...] = ()
    """Pods to delete: not desired any more, outdated, or failed."""
    outdated: tuple[str, ...] = ()
    """The deleted ones that come back with a new form (a roll)."""
    failed: tuple[str, ...] = ()
    """The deleted ones that come back after their backoff."""
    held: tuple[str, ...] = ()
    """Desired pods not created yet: their backoff is not over."""
    waiting: tuple[str, ...] = ()
    """Pods still terminating."""

    @property
    def settled(self) -> bool:
        """Nothing to do and nothing in flight: the pods are the desired ones."""
        return not (self.create or self.delete or self.held or self.waiting)


def plan(
    desired: Sequence[dict[str, Any]],
    existing: Mapping[str, observed.PodView],
    held_until: Mapping[str, float],
    now: float,
) -> Plan:
    create: list[dict[str, Any]] = []
    delete: list[str] = []
    outdated: list[str] = []
    failed: list[str] = []
    held: list[str] = []
    waiting: list[str] = []
    wanted = {pod["metadata"]["name"]: pod for pod in desired}
    for name, pod in wanted.items():
        current = existing.get(name)
        if current is None:
            if held_until.get(name, 0.0) > now:
                held.append(name)
            else:
                create.append(pod)
        elif current.deleting:
            waiting.append(name)
        elif current.failed:
            delete.append(name)
            failed.append(name)
        elif current.spec_hash != pod["metadata"]["annotations"][pods.HASH]:
            delete.append(name)
            outdated.append(name)
    for name, current in existing.items():
        if name not in wanted:
            (waiting if current.deleting else delete).append(name)
    return Plan(tuple(create), tuple(delete), tuple(outdated), tuple(failed), tuple(held), tuple(waiting))


@dataclasses.dataclass
class Backoff:
    """Per-pod delays before re-creating a pod that failed: base, 2*base, ... up to cap."""

    base: float
    cap: float
    failures: dict[str, int] = dataclasses.field(default_factory=dict)
    until: dict[str, float] = dataclasses.field(default_factory=dict)

    def failed(self, name: str, now: float) -> float:
        """Records a failure; returns the delay before the pod may be created again."""
        count = self.failures.get(name, 0) + 1
        self.failures[name] = count
        delay = min(self.cap, self.base * 2.0 ** (count - 1))
        self.until[name] = now + delay
        return delay

    def healthy(self, name: str) -> None:
        """The pod runs: its next failure starts from the base delay again."""
        self.failures.pop(name, None)
        self.until.pop(name, None)
