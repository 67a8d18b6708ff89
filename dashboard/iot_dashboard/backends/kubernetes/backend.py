"""The Kubernetes backend: devices and fleets are IoTDevice/IoTFleet resources in one namespace.

Create, edit and delete go through the API; start and stop are merge patches of `spec.running`
(the operator does the rest); the table's status combines the resource's `.status` (written by
the operator) with what the pods' /events streams said last (see `pods`).

An edit replaces the spec (keys the new spec lacks are removed with `null` in the merge patch)
but only adds or changes labels and annotations, never removes them: the operator and other
tools keep their own there. A change set (an import) is applied resource by resource; if one
write fails, the ones already made are undone in reverse order, so an import is all or nothing
unless the cluster itself fails during the undo (the error says so).

Every resource runs in pods of its own, each deriving its MACs alone, so nothing there moves a MAC
two resources derive alike: a device stored without a MAC gets one written into its spec that no
other resource of the namespace runs with, and a write that would make two resources share a MAC is
refused (`mac_claims`). Clashes made around the dashboard (kubectl) are the operator's to report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from iot_dashboard import capture, events
from iot_dashboard import models as api
from iot_dashboard.backends import base
from iot_dashboard.backends.kubernetes import client, pods, resources
from iot_dashboard.settings import KubeSettings
from iot_emulator.config import manifests, models
from iot_emulator.devices import mac_claims
from iot_emulator.profiles import catalog
from iot_kube import merge_patch
from iot_kube.connection import Connection

log = logging.getLogger(__name__)
PHASES = {"Pending": "pending", "Binding": "binding", "Bound": "bound", "Stopped": "stopped", "Failed": "error"}


class KubernetesBackend(base.Backend):
    """See the module docstring."""

    name = "kubernetes"
    pins_macs = True

    def __init__(
        self,
        settings: KubeSettings,
        hub: events.EventHub,
        library: catalog.Library,
        connection: Connection | None = None,
    ) -> None:
        super().__init__(hub, library)
        self.settings = settings
        self._connection = connection
        self.kube: client.KubeClient | None = None
        self.pods: pods.PodStreams | None = None
        self._pods_task: asyncio.Task[None] | None = None
        self.resources: resources.ResourceWatch | None = None
        self._raw: dict[base.Key, dict[str, Any]] = {}
        self._error: str | None = "not started"
        self.claims = mac_claims.Claims(library)

    async def start(self) -> None:
        self.kube = client.KubeClient(self.settings, self._connection)
        self.pods = pods.PodStreams(self.kube, self.settings, self.hub)
        self._pods_task = asyncio.create_task(self.pods.run(), name="pod-events")
        self.resources = resources.ResourceWatch(self.kube, self.hub)
        self.resources.start()
        with contextlib.suppress(base.Unavailable):  # reported by /readyz until the API answers
            await self.list_resources()

    async def close(self) -> None:
        if self.resources is not None:
            await self.resources.close()
        if self._pods_task is not None:
            self._pods_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pods_task
        if self.pods is not None:
            await self.pods.close()
        if self.kube is not None:
            await self.kube.close()

    def not_ready(self) -> str | None:
        return self._error

    def _announce(self, action: str, keys: Sequence[base.Key]) -> None:
        """Nothing: the resource watch tells every change, this service's and `kubectl`'s alike, once."""

    def _client(self) -> client.KubeClient:
        if self.kube is None:
            raise base.Unavailable("the Kubernetes backend is not started")
        return self.kube

    # -- reading ---------------------------------------------------------------------------------

    async def list_resources(self) -> list[base.Resource]:
        kube = self._client()
        raw: dict[base.Key, dict[str, Any]] = {}
        try:
            for kind in models.PLURALS:
                for item in await kube.list_objects(kind):
                    name = (item.get("metadata") or {}).get("name")
                    if isinstance(name, str):
                        raw[(kind, name)] = item
        except client.KubeError as exc:
            self._error = str(exc)
            raise base.Unavailable(f"the Kubernetes API failed: {exc}") from exc
        self._error = None
        self._raw = raw
        resources: list[base.Resource] = []
        for key, item in raw.items():
            doc = {k: item[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in item}
            doc["metadata"] = {
                k: v for k, v in doc.get("metadata", {}).items() if k in ("name", "labels", "annotations")
            }
            try:
                resources.extend(manifests.validate_documents([doc], "cluster"))
            except manifests.ManifestError as exc:
                log.warning("%s skipped: %s", base.label(key), exc)
        return resources

    def _extra_status(self, device: models.IoTDevice) -> dict[str, Any]:
        status = self._raw.get(("IoTDevice", device.metadata.name), {}).get("status") or {}
        failing = [c.get("message") for c in status.get("conditions") or [] if c.get("type") == "Degraded"]
        return {
            "phase": PHASES.get(str(status.get("phase"))),
            "ip": status.get("ip"),
            "ipv6": status.get("ipv6"),
            "auth": status.get("auth"),
            "last_error": next((m for m in failing if m), None),
        }

    # -- writing ---------------------------------------------------------------------------------

    def _pin(self, changed: Sequence[base.Resource], others: Sequence[base.Resource]) -> list[base.Resource]:
        """MACs pinned apart from every other resource's (see the module docstring); 422 on a clash."""
        pinned = self.claims.pin(changed, others)
        problems = self.claims.shared(pinned, others)
        if problems:
            raise base.Invalid("MACs already used by other resources of the namespace", problems)
        return pinned

    def _patch_of(self, old: dict[str, Any], resource: base.Resource) -> dict[str, Any]:
        new = models.to_manifest(resource)
        meta_old, meta_new = old.get("metadata") or {}, new["metadata"]
        patch: dict[str, Any] = {"spec": merge_patch.diff(old.get("spec") or {}, new["spec"])}
        for field in ("labels", "annotations"):
            before = meta_old.get(field) or {}
            changed = {k: v for k, v in (meta_new.get(field) or {}).items() if before.get(k) != v}
            if changed:
                patch.setdefault("metadata", {})[field] = changed
        return patch

    async def _write(self, upserts: Sequence[base.Resource], deletes: Sequence[base.Key]) -> None:
        kube = self._client()
        await self.list_resources()
        undo: list[tuple[str, base.Key, dict[str, Any] | None]] = []
        try:
            for resource in upserts:
                kind, name = base.key_of(resource)
                old = self._raw.get((kind, name))
                if old is None:
                    body = models.to_manifest(resource)
                    body["metadata"]["namespace"] = self.settings.namespace
                    await kube.create_object(kind, body)
                    undo.append(("delete", (kind, name), None))
                else:
                    patch = self._patch_of(old, resource)
                    await kube.patch_object(kind, name, patch)
                    back = {"spec": merge_patch.diff(models.to_manifest(resource)["spec"], old.get("spec") or {})}
                    undo.append(("patch", (kind, name), back))
            for kind, name in deletes:
                await kube.delete_object(kind, name)
        except client.KubeError as exc:
            problems = await self._undo(undo)
            error = base.Conflict if exc.status == 409 else base.Unavailable
            raise error(f"the Kubernetes API refused a write: {exc}; earlier writes undone", problems) from exc

    async def _undo(self, undo: list[tuple[str, base.Key, dict[str, Any] | None]]) -> list[str]:
        problems = []
        kube = self._client()
        for verb, (kind, name), body in reversed(undo):
            try:
                if verb == "delete":
                    await kube.delete_object(kind, name)
                else:
                    await kube.patch_object(kind, name, body or {})
            except client.KubeError as exc:
                problems.append(f"undo {verb} {base.label((kind, name))} failed: {exc}")
        return problems

    async def open_capture(self, resource: base.Resource, seconds: float) -> list[capture.Source]:
        """The pods of the device, or of the fleet's shards, asked for the capture with the capture token."""
        if self.pods is None:
            raise base.Unavailable("the Kubernetes backend is not started")
        if self.settings.capture_token is None:
            raise base.Unavailable("captures need kube.capture_token (the emulator pods' IOTEMU_CAPTURE_TOKEN)")
        token = self.settings.capture_token.get_secret_value()
        name = resource.metadata.name
        if isinstance(resource, models.IoTDevice):
            label, query = self.settings.device_label, {"device": name}
        else:
            label, query = self.settings.fleet_label, {"all": "true"}  # a fleet's pods run its members only
        running = self.pods.running(label, name)
        if not running:
            raise base.Conflict(f"{base.label(base.key_of(resource))} runs in no running pod now")
        sources: list[capture.Source] = []
        try:
            for pod in running:
                sources.append(await self.pods.open_capture(pod, query, seconds, token))
        except client.KubeError as exc:
            for source in sources:
                await source.close()
            error = {404: base.Conflict, 422: base.Invalid, 429: base.TooMany}.get(exc.status, base.Unavailable)
            raise error(f"an emulator pod refused the capture: {exc}") from exc
        return sources

    async def set_running(self, keys: Sequence[base.Key], running: bool) -> api.BulkResult:
        kube = self._client()
        resources = {base.key_of(r): r for r in await self.list_resources()}
        missing = [k for k in keys if k not in resources]
        if missing:
            raise base.NotFound(", ".join(base.label(k) for k in missing) + " not found")
        result = api.BulkResult(action="start" if running else "stop")

        async def one(key: base.Key) -> None:
            ids = self.device_ids([resources[key]])
            try:
                await kube.patch_object(*key, {"spec": {"running": running}})
                result.done.extend(ids)
            except client.KubeError as exc:
                result.failed.extend(api.Failure(id=i, reason=str(exc)) for i in ids)

        await asyncio.gather(*(one(k) for k in keys))
        return result
