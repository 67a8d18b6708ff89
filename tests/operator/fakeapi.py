"""kmock's KubernetesEmulator, taught what a real API server does and the operator relies on.

kmock 0.8 stores objects as plain dicts and merges patches into them. Each addition below is one
behaviour of a real API server, small, and tested on its own in test_fakeapi.py:

- metadata stamped on create: uid, resourceVersion, generation 1, creationTimestamp, a name from
  `generateName`; resourceVersion bumped on every write, `metadata.generation` only when something
  outside metadata and status changed;
- the status subresource kept apart: a write to the main resource cannot change `status`, a write
  to `/status` can change nothing else;
- `/scale` for resources that declare a scale subresource (`scale` in ResourceInfo.subresources,
  paths as in IoTFleet's CRD): GET and PATCH an autoscaling/v1 Scale;
- `labelSelector` on list and watch (=, ==, !=, in, notin, exists, !exists);
- `resourceVersion` on watch: objects not newer than it are not replayed as ADDED;
- ownerReference garbage collection: deleting an object deletes its dependents (background
  propagation), finalizers respected on both sides;
- JSON patches whose `test` fails (kopf's optimistic concurrency on resourceVersion) answered 422;
- optional schema validation of custom resources on create and update, with the CRD schemas
  (`validators`), answered with 422 like the API server.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
from kmock._internal import aiobus, dicts, enums, k8s, rendering

from iot_kube import merge_patch

Validator = Callable[[dict[str, Any]], list[str]]
SCALE_PATHS = ("spec", "replicas"), ("status", "replicas"), ("status", "selector")


@attrs.define(kw_only=True)
class FakeApiServer(kmock.KubernetesEmulator):
    validators: dict[str, Validator] = attrs.field(factory=dict)
    """plural -> function returning the problems of an object (empty: valid)."""
    _version: int = attrs.field(default=0, init=False)

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _info(self, resource: kmock.resource) -> kmock.ResourceInfo | None:
        if resource not in self.resources:  # ResourcesArray[...] would create the entry
            return None
        return self.resources[resource]

    def _has(self, resource: kmock.resource, subresource: str) -> bool:
        info = self._info(resource)
        return info is not None and subresource in info.subresources

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if request.resource is None:
            return await super()._handle(request)
        if request.subresource == "scale" and self._has(request.resource, "scale"):
            return await self._serve_scale(request)
        try:
            if request.action == enums.action.CREATE and isinstance(request.data, dict):
                request = self._rewritten(request, self._stamp_new(request))
            elif request.action == enums.action.UPDATE and request.name is not None:
                request = self._rewritten(request, self._stamp_update(request))
        except k8s.KubernetesError as exc:
            return await self._render_error(exc)
        key = (request.resource, request.namespace, request.name)
        before = self._objects[key].raw if key in self._objects and not self._objects[key].deleted else None
        if before is not None and request.action == enums.action.DELETE:  # a deletion is a write too
            self._objects[key].patch({"metadata": {"resourceVersion": self._next_version()}})
        response = await super()._handle(request)
        if before is not None and self._objects[key].deleted:
            await self._collect_dependents(before["metadata"].get("uid"))
        return response

    def _rewritten(self, request: rendering.Request, data: Any) -> rendering.Request:
        """The request with a new body, also in the request log (kmock's views match requests by identity)."""
        new = attrs.evolve(request, data=data)
        self._requests[self._requests.index(request)] = new
        return new

    # -- metadata, generation, status separation ------------------------------------------------

    def _stamp_new(self, request: rendering.Request) -> dict[str, Any]:
        obj = copy.deepcopy(request.data)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if request.namespace and not meta.get("namespace"):
            meta["namespace"] = request.namespace
        meta.update(
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_version(),
            generation=1,
            creationTimestamp=_now(),
        )
        assert request.resource is not None
        if self._has(request.resource, "status"):
            obj.pop("status", None)
        self._validate(request.resource, obj)
        return obj  # an existing name: kmock answers 409

    def _stamp_update(self, request: rendering.Request) -> Any:
        assert request.resource is not None
        key = (request.resource, request.namespace, request.name)
        if key not in self._objects or self._objects[key].deleted:
            return request.data  # kmock answers 404
        old = self._objects[key].raw
        try:
            new = copy.deepcopy(dict(dicts.patch_dict(copy.deepcopy(old), request.data)))
        except jsonpatch.JsonPatchException as exc:  # e.g. kopf's `test` of resourceVersion, lost to a newer write
            raise k8s.KubernetesError(status=422, reason="Invalid", message=f"the JSON patch failed: {exc}") from None
        if self._has(request.resource, "status"):
            if request.subresource == "status":
                new = {**copy.deepcopy(old), "status": new.get("status")}
                if new["status"] is None:
                    del new["status"]
            elif "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        meta = new.setdefault("metadata", {})
        for fixed in ("uid", "creationTimestamp", "name", "namespace"):
            if fixed in old.get("metadata", {}):
                meta[fixed] = old["metadata"][fixed]
        generation = int(old.get("metadata", {}).get("generation", 1))
        if _without(old, "metadata", "status") != _without(new, "metadata", "status"):
            generation += 1
        meta["generation"] = generation
        meta["resourceVersion"] = self._next_version()
        self._validate(request.resource, new)
        return merge_patch.diff(old, new)

    def _validate(self, resource: kmock.resource, obj: dict[str, Any]) -> None:
        validator = self.validators.get(resource.plural or "")
        problems = validator(obj) if validator else []
        if problems:
            raise k8s.KubernetesError(status=422, reason="Invalid", message="; ".join(problems))

    # -- /scale ------------------------------------------------------------------------------

    async def _serve_scale(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        assert request.resource is not None
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            if key not in self._objects or self._objects[key].deleted:
                return await self._render_error(k8s.KubernetesObjectNotFoundError())
            if request.method == enums.method.PATCH:
                replicas = (request.data or {}).get("spec", {}).get("replicas")
                if not isinstance(replicas, int):
                    return await self._render_error(k8s.KubernetesError(status=422, message="spec.replicas"))
                stamped = attrs.evolve(request, data={"spec": {"replicas": replicas}}, subresource=None)
                try:
                    self._objects[key].patch(self._stamp_update(stamped))
                except k8s.KubernetesError as exc:
                    return await self._render_error(exc)
                raw = self._objects[key].raw
                await self._buses[request.resource].put({"type": "MODIFIED", "object": raw})
            obj = self._objects[key].raw
        spec_path, status_path, selector_path = SCALE_PATHS
        scale = {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {k: obj["metadata"].get(k) for k in ("name", "namespace", "uid", "resourceVersion")},
            "spec": {"replicas": _get(obj, spec_path) or 0},
            "status": {"replicas": _get(obj, status_path) or 0, "selector": _get(obj, selector_path) or ""},
        }
        return aiohttp.web.json_response(scale)

    # -- list and watch: label selectors, resource versions ---------------------------------

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        listing = await super()._serve_list(request)
        assert isinstance(listing, dict)
        match = selector(request.params.get("labelSelector", ""))
        listing["items"] = [o for o in listing["items"] if match(o.get("metadata", {}).get("labels") or {})]
        listing["metadata"] = {"resourceVersion": str(self._version)}
        return listing

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        match = selector(request.params.get("labelSelector", ""))
        since = int(request.params.get("resourceVersion") or 0)
        yield b""
        assert request.resource is not None
        async with self._lock:
            events = [
                {"type": "ADDED", "object": obj.raw}
                for (resource, namespace, _), obj in self._objects.items()
                if resource == request.resource
                and not obj.deleted
                and (request.namespace is None or namespace == request.namespace)
                and int(obj.raw.get("metadata", {}).get("resourceVersion") or 0) > since
                and match(obj.raw.get("metadata", {}).get("labels") or {})
            ]
            bus: aiobus.Bus[Any] = self._buses[request.resource]
        for event in events:
            yield event
        async for event in bus:
            meta = event.get("object", {}).get("metadata", {})
            if request.namespace is not None and meta.get("namespace") != request.namespace:
                continue
            if match(meta.get("labels") or {}):
                yield event

    # -- garbage collection ------------------------------------------------------------------

    async def _collect_dependents(self, uid: str | None) -> None:
        """Deletes every object owned by `uid`, then theirs (background propagation)."""
        if uid is None:
            return
        async with self._lock:
            dependents = [(key, obj.raw) for key, obj in self._objects.items() if _owned_by(obj, uid)]
            removed = []
            for key, raw in dependents:
                resource = key[0]
                if raw["metadata"].get("finalizers"):
                    if not raw["metadata"].get("deletionTimestamp"):
                        self._objects[key].patch(
                            {"metadata": {"deletionTimestamp": _now(), "resourceVersion": self._next_version()}}
                        )
                        await self._buses[resource].put({"type": "MODIFIED", "object": self._objects[key].raw})
                    continue
                self._objects[key].delete()
                await self._buses[resource].put({"type": "DELETED", "object": raw})
                removed.append(raw["metadata"].get("uid"))
        for dependent in removed:
            await self._collect_dependents(dependent)


Requirement = tuple[str, str, frozenset[str]]
"""(key, operator, values) of one label selector term; operators: in, notin, exists, !exists."""


def parse_selector(text: str) -> list[Requirement]:
    """A label selector in the API server's syntax: k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k."""
    requirements: list[Requirement] = []
    for raw in re.findall(r"[^,(]+(?:\([^)]*\))?", text):
        term = raw.strip()
        if not term:
            continue
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term):
            values = frozenset(v.strip() for v in m.group(3).split(","))
            requirements.append((m.group(1), m.group(2), values))
        elif m := re.fullmatch(r"([\w./-]+)\s*(!=|==|=)\s*([\w./-]*)", term):
            requirements.append((m.group(1), "notin" if m.group(2) == "!=" else "in", frozenset({m.group(3)})))
        elif m := re.fullmatch(r"!\s*([\w./-]+)", term):
            requirements.append((m.group(1), "!exists", frozenset()))
        elif re.fullmatch(r"[\w./-]+", term):
            requirements.append((term, "exists", frozenset()))
        else:
            raise ValueError(f"unsupported label selector term {term!r}")
    return requirements


def matches(requirements: list[Requirement], labels: Mapping[str, str]) -> bool:
    for key, op, values in requirements:
        ok = {
            "in": labels.get(key) in values,
            "notin": labels.get(key) not in values,
            "exists": key in labels,
            "!exists": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    """The selector as a predicate on a labels mapping."""
    return functools.partial(matches, parse_selector(text))


def _owned_by(obj: kmock.Object, uid: str) -> bool:
    refs = [] if obj.deleted else obj.raw.get("metadata", {}).get("ownerReferences", [])
    return any(ref.get("uid") == uid for ref in refs)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without(obj: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


def _get(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)  # type: ignore[assignment]
    return obj
