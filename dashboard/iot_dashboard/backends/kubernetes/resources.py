"""Resource changes in cluster mode: IoTDevices and IoTFleets watched, each change told to every client.

With several people on one cluster, a device may be created by `kubectl apply`, a fleet scaled by
the operator's user or deleted by another dashboard. Each IoTDevice and IoTFleet is listed, then
watched (`watching.follow`), and a creation, a deletion or a change of spec, labels or
annotations becomes `resource:changed` on every `/ws` and Socket.io client, so open tabs list
again. Status writes (the operator's, every few seconds) are not changes a list needs: they are
told apart by `metadata.generation` (bumped by spec changes only, the CRDs having a status
subresource) and the labels and annotations.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from iot_dashboard import events
from iot_dashboard.backends.kubernetes import client, watching

KINDS = ("IoTDevice", "IoTFleet")


def _shape(obj: dict[str, Any]) -> tuple[Any, ...]:
    """What a list shows of a resource, outside its status."""
    meta = obj.get("metadata") or {}
    return meta.get("generation"), meta.get("labels") or {}, meta.get("annotations") or {}


class ResourceWatch:
    """One list-and-watch per kind; see the module docstring."""

    def __init__(self, kube: client.KubeClient, hub: events.EventHub) -> None:
        self.kube = kube
        self.hub = hub
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow(kind), name=f"watch-{kind}") for kind in KINDS]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, kind: str) -> None:
        seen: dict[str, tuple[Any, ...]] = {}

        def listed(items: list[dict[str, Any]]) -> None:
            now = {o["metadata"]["name"]: _shape(o) for o in items}
            if seen:  # listed again (a failure, an expired version): what changed meanwhile
                for name in seen.keys() - now.keys():
                    self.hub.resource_changed("deleted", kind, name)
                for name, shape in now.items():
                    if name not in seen:
                        self.hub.resource_changed("created", kind, name)
                    elif seen[name] != shape:
                        self.hub.resource_changed("updated", kind, name)
            seen.clear()
            seen.update(now)

        def changed(event: str, obj: dict[str, Any]) -> None:
            name = obj["metadata"]["name"]
            if event == "DELETED":
                seen.pop(name, None)
                self.hub.resource_changed("deleted", kind, name)
                return
            shape, before = _shape(obj), seen.get(name)
            seen[name] = shape
            if before is None:
                self.hub.resource_changed("created", kind, name)
            elif before != shape:
                self.hub.resource_changed("updated", kind, name)

        await watching.follow(
            f"{kind} resources",
            lambda: self.kube.list_objects_versioned(kind),
            lambda version: self.kube.watch_objects(kind, version),
            listed,
            changed,
        )
