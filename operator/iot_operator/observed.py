"""What the operator knows of an existing emulator pod: `PodView.from_body(pod)`, a pure summary.

The kopf index keeps one PodView per pod, built from the watch stream, so each pass over a resource
reads its pods from memory instead of listing them from the API server. The summary holds only what
the decisions need: the hash to compare, where to read /stats, and whether (and why) the pod is in
trouble.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from iot_operator import pods

CRASH_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerError",
        "CreateContainerConfigError",
        "RunContainerError",
        "OOMKilled",
        "Error",
    }
)
"""Container waiting/terminated reasons that mean the emulator is not running and will not by itself."""


@dataclasses.dataclass(frozen=True, slots=True)
class PodView:
    name: str
    namespace: str
    owner_kind: str
    owner: str
    shard: int | None
    spec_hash: str
    devices: int
    port: int
    members: tuple[int, int] | None = None
    """A fleet pod's member indices [start, end)."""
    phase: str = "Pending"
    pod_ip: str | None = None
    ready: bool = False
    deleting: bool = False
    restarts: int = 0
    trouble: str | None = None
    """Why the emulator is not running, when it is for a reason that waiting will not fix."""
    unschedulable: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """The owner's index key, as `pods.Owner.key`."""
        return (self.namespace, self.owner_kind, self.owner)

    @property
    def failed(self) -> bool:
        """Terminal: the pod will not run again (evicted, or a restartPolicy other than Always)."""
        return self.phase in ("Failed", "Succeeded")

    @property
    def running(self) -> bool:
        return self.phase == "Running" and not self.deleting and self.trouble is None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> PodView | None:
        """None for a pod that is not an emulator pod of ours."""
        meta = body.get("metadata", {})
        labels = meta.get("labels", {})
        annotations = meta.get("annotations", {})
        kind = next((k for k, label in pods.KIND_LABEL.items() if label in labels), None)
        if kind is None or labels.get(pods.MANAGED_BY) != pods.MANAGER:
            return None
        status = body.get("status", {})
        shard = labels.get(pods.SHARD_LABEL)
        statuses = status.get("containerStatuses") or []
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            owner_kind=kind,
            owner=labels[pods.KIND_LABEL[kind]],
            shard=int(shard) if shard is not None and shard.isdigit() else None,
            spec_hash=annotations.get(pods.HASH, ""),
            devices=_int(annotations.get(pods.DEVICES), 0),
            port=_int(annotations.get(pods.PORT), 0),
            members=_range(annotations.get(pods.MEMBERS)),
            phase=status.get("phase", "Pending"),
            pod_ip=status.get("podIP"),
            ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])),
            deleting=bool(meta.get("deletionTimestamp")),
            restarts=sum(int(c.get("restartCount", 0)) for c in statuses),
            trouble=_trouble(status),
            unschedulable=_unschedulable(status),
        )


def _int(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default


def _range(text: str | None) -> tuple[int, int] | None:
    start, _, end = (text or "").partition("-")
    return (int(start), int(end)) if start.isdigit() and end.isdigit() else None


def _trouble(status: Mapping[str, Any]) -> str | None:
    if status.get("phase") == "Failed":
        return f"pod failed: {status.get('reason') or 'Failed'}: {status.get('message') or 'no message'}".strip()
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in CRASH_REASONS:
            last = (container.get("lastState") or {}).get("terminated") or {}
            detail = f" (last exit code {last['exitCode']}: {last.get('reason', '')})" if "exitCode" in last else ""
            return f"{waiting['reason']}{detail}: {waiting.get('message', '')}".rstrip(": ")
        terminated = state.get("terminated") or {}
        if terminated.get("exitCode") not in (None, 0):
            return f"exited with code {terminated['exitCode']}: {terminated.get('reason', 'Error')}"
    return None


def _unschedulable(status: Mapping[str, Any]) -> str | None:
    for condition in status.get("conditions", []):
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return str(condition.get("message") or "no node fits")
    return None
