"""MACs of resources that run apart, as in a cluster: pin a new device's MAC, find the clashes.

In local mode one engine expands the whole resource set, and `manifests.expand` moves a derived MAC
that collides with another device's. In a cluster each IoTDevice and IoTFleet runs in pods of its
own, and each pod expands only its own manifest: nothing moves a collision there, and two resources
whose names hash alike in 24 bits would put two devices on the LAN with one MAC. So what a resource
runs with is what it derives alone (`Claims.macs`), and:

- the dashboard writes into a new device's spec a MAC that no other resource of the namespace runs
  with (`Claims.pin`), so what it creates never clashes, and never changes afterwards;
- the operator, for resources created some other way (kubectl without `spec.mac`, two fleets in
  one OUI), runs only the oldest of a clashing set and reports the others (`Claims.clash`).

Expanding a large fleet costs a hash per member, and both callers ask on every write or pass: the
MACs are cached per (kind, name, the spec fields a MAC depends on).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from iot_emulator.config import manifests, models
from iot_emulator.profiles import catalog

Resource = models.IoTDevice | models.IoTFleet
ADVICE = "set spec.mac (or spec.macOui for a fleet) to another address"


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """The MACs one resource runs with, and what decides who keeps a MAC they share."""

    kind: str
    name: str
    macs: frozenset[str]
    created: dt.datetime | None = None
    """metadata.creationTimestamp: the oldest resource keeps a clashing MAC (None: unknown, counts as oldest)."""

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"

    def _rank(self) -> tuple[dt.datetime, str, str]:
        oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
        return (self.created or oldest, self.kind, self.name)


def _mac_inputs(resource: Resource) -> tuple[object, ...]:
    """The spec fields a resource's MACs depend on (a change elsewhere keeps the cache)."""
    spec = resource.spec
    if isinstance(spec, models.FleetSpec):
        members = (spec.members.start, spec.members.end) if spec.members else None
        return (spec.template.profile, spec.mac_oui, spec.replicas, members)
    return (spec.profile, spec.mac)


class Claims:
    """MAC arithmetic over resources that run apart (see the module docstring); one per library."""

    def __init__(self, library: catalog.Library, cache_size: int = 4096) -> None:
        self.library = library
        self._cache: dict[tuple[object, ...], frozenset[str]] = {}
        self._cache_size = cache_size

    def macs(self, resource: Resource) -> frozenset[str]:
        """The MACs the resource runs with on its own (running or not); none if it cannot run (unknown profile)."""
        key = (resource.kind, resource.metadata.name, *_mac_inputs(resource))
        cached = self._cache.get(key)
        if cached is None:
            running = resource.model_copy(update={"spec": resource.spec.model_copy(update={"running": True})})
            try:
                cached = frozenset(d.mac.lower() for d in manifests.expand([running], self.library))
            except manifests.ManifestError:
                cached = frozenset()
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = cached
        return cached

    def claim(self, resource: Resource, created: dt.datetime | None = None) -> Claim:
        return Claim(resource.kind, resource.metadata.name, self.macs(resource), created)

    def pin(self, changed: Iterable[Resource], others: Iterable[Resource]) -> list[Resource]:
        """`changed` with `spec.mac` set in each IoTDevice that has none: its derived MAC, re-derived
        (salted, as `manifests.expand` does) until neither `others` nor the rest of `changed` runs with
        it. Settled in name order, so one set always gives the same MACs; given MACs and fleets stay."""
        out = list(changed)
        unpinned = sorted(
            (i for i, r in enumerate(out) if isinstance(r, models.IoTDevice) and r.spec.mac is None),
            key=lambda i: out[i].metadata.name,
        )
        moving = {(out[i].kind, out[i].metadata.name) for i in unpinned}
        taken = {m for r in [*others, *out] if (r.kind, r.metadata.name) not in moving for m in self.macs(r)}
        for i in unpinned:
            device = out[i]
            running = device.model_copy(update={"spec": device.spec.model_copy(update={"running": True})})
            try:
                [config] = manifests.expand([running], self.library, taken)
            except manifests.ManifestError:
                continue  # an unknown profile: the set's check reports it
            taken.add(config.mac.lower())
            out[i] = device.model_copy(update={"spec": device.spec.model_copy(update={"mac": config.mac})})
        return out

    def shared(self, changed: Iterable[Resource], others: Iterable[Resource]) -> list[str]:
        """A problem for each MAC that a resource of `changed` would run with while another resource
        (of `others` or `changed`) runs with it too; empty when the change adds no clash."""
        owner: dict[str, str] = {}
        for resource in others:
            for mac in self.macs(resource):
                owner.setdefault(mac, f"{resource.kind}/{resource.metadata.name}")
        problems = []
        for resource in changed:
            label = f"{resource.kind}/{resource.metadata.name}"
            clashes = [
                (mac, other) for mac in sorted(self.macs(resource)) if (other := owner.setdefault(mac, label)) != label
            ]
            if clashes:
                field = "spec.mac" if isinstance(resource, models.IoTDevice) else "spec.macOui"
                more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
                problems.append(f"{label}: {field}: MAC {clashes[0][0]} is already used by {clashes[0][1]}{more}")
        return problems


def clash(own: Claim, others: Iterable[Claim]) -> str | None:
    """Why `own` must not run: an older resource (earlier creationTimestamp, then kind and name) runs
    with one of its MACs. None when it may run; the message names the MAC and the other resource."""
    for other in sorted(others, key=Claim._rank):
        if (other.kind, other.name) == (own.kind, own.name) or other._rank() > own._rank():
            continue
        shared = own.macs & other.macs
        if shared:
            more = f" and {len(shared) - 1} more" if len(shared) > 1 else ""
            return f"MAC {min(shared)}{more} is already used by {other.label}; {ADVICE}"
    return None
