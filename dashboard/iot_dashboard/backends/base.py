"""The one interface both backends implement, and the logic they share.

A backend stores resources (IoTDevice, IoTFleet) and makes the running ones run. What differs is
where: a YAML file and local emulator processes, or the Kubernetes API and the operator's pods.
What does not differ lives here, once: validation of the whole resource set before any write
(schema, known profiles, device ids, MACs and host names unique across devices *and* fleet
members), merge patches, and the status a person sees, built from the resource and from what the
device last said (the event hub).

Subclasses implement `_write` (apply a validated change set, all or nothing as far as the store
allows), `set_running` (start/stop with a per-device report) and may add status.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from iot_dashboard import capture, events
from iot_dashboard import models as api
from iot_emulator.config import manifests, models
from iot_emulator.profiles import catalog

SEED_ID = "iotemu.io/seed-id"
"""Annotation of a device imported from the brief's `iot_devices.json`: its id there (`camera_01`),
which is not a Kubernetes name (`camera-01`); the brief's clients keep using it."""
Resource = models.IoTDevice | models.IoTFleet
Kind = Literal["IoTDevice", "IoTFleet"]
Key = tuple[str, str]
"""(kind, name) of a resource."""


class BackendError(Exception):
    status = 500

    def __init__(self, detail: str, problems: Sequence[str] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = list(problems)


class NotFound(BackendError):
    status = 404


class Conflict(BackendError):
    status = 409


class Invalid(BackendError):
    status = 422


class Unavailable(BackendError):
    status = 503


class TooMany(BackendError):
    status = 429


class InsufficientStorage(BackendError):
    """The change could not be saved (disk full, read-only file system): nothing was changed."""

    status = 507


def key_of(resource: Resource) -> Key:
    return resource.kind, resource.metadata.name


def label(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def with_running(resource: Resource, running: bool = True) -> Resource:
    spec = resource.spec.model_copy(update={"running": running})
    return resource.model_copy(update={"spec": spec})


def expand(resources: Iterable[Resource], library: catalog.Library) -> list[manifests.DeviceConfig]:
    """The devices of the running resources; raises Invalid (unknown profile, duplicates)."""
    try:
        return manifests.expand(resources, library)
    except manifests.ManifestError as exc:
        raise Invalid("invalid resources", exc.problems) from exc


def check(resources: Iterable[Resource], library: catalog.Library) -> None:
    """Would this set run if everything were started? Stopped devices count: starting them must not clash."""
    expand([with_running(r) for r in resources], library)


def pin_macs(changed: Sequence[Resource], others: Sequence[Resource], library: catalog.Library) -> list[Resource]:
    """IoTDevices given without a MAC get one written into their spec, so it never changes again.

    A derived MAC avoids every MAC the whole set holds (`manifests.expand`); but which one a
    collision moves depends on the set, so it is settled once, when the device is stored.
    """
    if not any(isinstance(r, models.IoTDevice) and r.spec.mac is None for r in changed):
        return list(changed)
    try:
        configs = manifests.expand([with_running(r) for r in [*others, *changed]], library)
    except manifests.ManifestError:
        return list(changed)  # `check` reports what is wrong
    derived = {c.device_id: c.mac for c in configs if c.fleet is None and c.mac_derived}
    out: list[Resource] = []
    for resource in changed:
        mac = derived.get(resource.metadata.name) if isinstance(resource, models.IoTDevice) else None
        if isinstance(resource, models.IoTDevice) and resource.spec.mac is None and mac is not None:
            resource = _with_mac(resource, mac)
        out.append(resource)
    return out


def _with_mac(device: models.IoTDevice, mac: str | None) -> models.IoTDevice:
    return device.model_copy(update={"spec": device.spec.model_copy(update={"mac": mac})})


def validate(document: dict[str, Any]) -> Resource:
    try:
        return manifests.validate_documents([document], "body")[0]
    except manifests.ManifestError as exc:
        raise Invalid("invalid resource", [p.replace("body: document 1 ", "", 1) for p in exc.problems]) from exc


def merge_patch(resource: Resource, patch: api.DevicePatch | api.FleetPatch) -> Resource:
    """The resource with the patch's given fields replaced, validated again."""
    data = models.to_manifest(resource)
    meta = data["metadata"]
    if patch.labels is not None:
        meta["labels"] = patch.labels
    if patch.annotations is not None:
        meta["annotations"] = patch.annotations
    if patch.spec is not None:
        data["spec"].update(patch.spec.model_dump(mode="json", by_alias=True, exclude_unset=True))
    return validate(data)


def new_device(name: str, body: api.DeviceBase) -> models.IoTDevice:
    meta = models.ObjectMeta(name=name, labels=body.labels, annotations=body.annotations)
    return models.IoTDevice(metadata=meta, spec=body.spec)


def new_fleet(name: str, body: api.FleetBase) -> models.IoTFleet:
    meta = models.ObjectMeta(name=name, labels=body.labels, annotations=body.annotations)
    return models.IoTFleet(metadata=meta, spec=body.spec)


class Backend(abc.ABC):
    """See the module docstring. Routes talk to this class only."""

    name: str = "?"
    pins_macs: bool = False
    """Write derived MACs into stored IoTDevices (`pin_macs`); the local backend does."""

    def __init__(self, hub: events.EventHub, library: catalog.Library) -> None:
        self.hub = hub
        self.library = library

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:  # noqa: B027 (optional hook)
        """Load state, start watching; raise if the backend cannot work at all."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Stop what was started; the service is exiting."""

    def not_ready(self) -> str | None:
        """Why the backend cannot serve now, or None."""
        return None

    # -- storage (subclasses) --------------------------------------------------------------------

    @abc.abstractmethod
    async def list_resources(self) -> list[Resource]: ...

    @abc.abstractmethod
    async def _write(self, upserts: Sequence[Resource], deletes: Sequence[Key]) -> None:
        """Apply a change set that `check` accepted, and make running resources run."""

    @abc.abstractmethod
    async def set_running(self, keys: Sequence[Key], running: bool) -> api.BulkResult:
        """Start or stop these resources; report every device that did and did not follow."""

    # -- shared operations -----------------------------------------------------------------------

    def _pin(self, changed: Sequence[Resource], others: Sequence[Resource]) -> list[Resource]:
        return pin_macs(changed, others, self.library) if self.pins_macs else list(changed)

    async def get(self, kind: Kind, name: str) -> Resource:
        for resource in await self.list_resources():
            if key_of(resource) == (kind, name):
                return resource
        raise NotFound(f"{kind}/{name} not found")

    async def find_device(self, name_or_id: str) -> models.IoTDevice:
        """An IoTDevice by its name, or by the brief's id it was imported with (`camera_01`)."""
        device = lookup_device([r for r in await self.list_resources() if isinstance(r, models.IoTDevice)], name_or_id)
        if device is None:
            raise NotFound(f"IoTDevice/{name_or_id} not found")
        return device

    async def seed_ids(self) -> dict[str, str]:
        """Device name -> the brief's id, for the devices imported from the brief's format."""
        return {
            r.metadata.name: r.metadata.annotations[SEED_ID]
            for r in await self.list_resources()
            if isinstance(r, models.IoTDevice) and SEED_ID in r.metadata.annotations
        }

    async def create(self, resource: Resource) -> Resource:
        existing = await self.list_resources()
        if any(key_of(r) == key_of(resource) for r in existing):
            raise Conflict(f"{label(key_of(resource))} already exists")
        resource = self._pin([resource], existing)[0]
        check([*existing, resource], self.library)
        await self._write([resource], [])
        self._announce("created", [key_of(resource)])
        return resource

    async def replace(self, resource: Resource) -> Resource:
        existing = await self.list_resources()
        key = key_of(resource)
        if not any(key_of(r) == key for r in existing):
            raise NotFound(f"{label(key)} not found")
        resource = self._pin([resource], [r for r in existing if key_of(r) != key])[0]
        check([resource if key_of(r) == key else r for r in existing], self.library)
        await self._write([resource], [])
        self._announce("updated", [key])
        return resource

    async def patch(self, kind: Kind, name: str, patch: api.DevicePatch | api.FleetPatch) -> Resource:
        return await self.replace(merge_patch(await self.get(kind, name), patch))

    async def delete(self, kind: Kind, name: str) -> None:
        await self.get(kind, name)
        await self._write([], [(kind, name)])
        self._announce("deleted", [(kind, name)])

    async def import_resources(
        self, resources: Sequence[Resource], replace_all: bool = False, dry_run: bool = False
    ) -> api.ImportResult:
        """All or nothing: the whole resulting set is checked before anything is written (nothing is, dry)."""
        existing = {key_of(r): r for r in await self.list_resources()}
        incoming = {key_of(r): r for r in resources}
        result = api.ImportResult(
            created=[label(k) for k in incoming if k not in existing],
            updated=[label(k) for k in incoming if k in existing],
            deleted=[label(k) for k in existing if k not in incoming] if replace_all else [],
        )
        kept = {} if replace_all else dict(existing)
        for key, resource in incoming.items() if self.pins_macs else ():  # imported again: keeps its MAC
            old = existing.get(key)
            if (
                isinstance(resource, models.IoTDevice)
                and resource.spec.mac is None
                and isinstance(old, models.IoTDevice)
            ):
                incoming[key] = _with_mac(resource, old.spec.mac)
        others = [r for k, r in kept.items() if k not in incoming]
        incoming = dict(zip(incoming, self._pin(list(incoming.values()), others), strict=True))
        check([*{**kept, **incoming}.values()], self.library)
        deletes = [k for k in existing if k not in incoming] if replace_all else []
        if dry_run:
            return result
        await self._write(list(incoming.values()), deletes)
        self._announce("created", [k for k in incoming if k not in existing])
        self._announce("updated", [k for k in incoming if k in existing])
        self._announce("deleted", deletes)
        return result

    def _announce(self, action: str, keys: Sequence[Key]) -> None:
        """`resource:changed` to every client, for changes made through this service (a watch on the
        custom resources would be needed to see `kubectl` edits too)."""
        for kind, name in keys:
            self.hub.resource_changed(action, kind, name)

    async def scale(self, name: str, replicas: int) -> Resource:
        fleet = await self.get("IoTFleet", name)
        return await self.replace(merge_patch(fleet, api.FleetPatch(spec={"replicas": replicas})))

    # -- captures --------------------------------------------------------------------------------

    async def capture_target(self, kind: Kind, name: str) -> Resource:
        """The running device (by name or brief id) or fleet to capture; NotFound, or Conflict when stopped."""
        resource = await self.find_device(name) if kind == "IoTDevice" else await self.get(kind, name)
        if not resource.spec.running:
            raise Conflict(f"{label(key_of(resource))} is not running: nothing to capture")
        return resource

    async def open_capture(self, resource: Resource, seconds: float) -> list[capture.Source]:
        """One live pcap source per process or pod running `resource`, opened (errors raised before any byte)."""
        raise Unavailable(f"the {self.name} backend serves no captures")

    # -- status ----------------------------------------------------------------------------------

    def _profile(self, name: str) -> catalog.Profile | None:
        return self.library.get(name) if name in self.library else None

    def device_public(self, device: models.IoTDevice) -> api.DevicePublic:
        spec = device.spec
        live = self.hub.live(device.metadata.name)
        prof = self._profile(spec.profile)
        config = expand([with_running(device)], self.library)[0] if prof else None
        extra = self._extra_status(device)
        status = api.DeviceStatus(
            running=spec.running,
            phase=_phase(spec.running, live, extra.get("phase")),
            ip=(live.ip if live else None) or extra.get("ip"),
            ipv6=(live.ipv6 if live else None) or extra.get("ipv6"),
            auth=(live.auth if live else None) or extra.get("auth"),
            auth_last=api.AuthOutcome.model_validate(live.auth_last) if live and live.auth_last else None,
            mac=config.mac if config else spec.mac,
            hostname=config.hostname if config else spec.hostname,
            profile=spec.profile,
            vendor=prof.vendor if prof else None,
            device_class=prof.device_class.value if prof else None,
            last_error=(live.last_error if live else None) or extra.get("last_error"),
            updated=live.updated if live else None,
            stats=live.stats if live else None,
        )
        meta = device.metadata
        return api.DevicePublic(
            name=meta.name, labels=meta.labels, annotations=meta.annotations, spec=spec, status=status
        )

    def fleet_public(self, fleet: models.IoTFleet) -> api.FleetPublic:
        spec = fleet.spec
        prof = self._profile(spec.template.profile)
        phases: dict[str, int] = {}
        auth: dict[str, int] = {}
        if prof is not None:  # members that never spoke are all in the same phase: counted, not visited
            heard = {i: s for i, s in self.hub.member_states(fleet.metadata.name).items() if i < spec.replicas}
            for live in heard.values():
                phase = _phase(spec.running, live, None)
                phases[phase] = phases.get(phase, 0) + 1
                if live.auth:
                    auth[live.auth] = auth.get(live.auth, 0) + 1
            if spec.replicas > len(heard):
                silent = _phase(spec.running, None, None)
                phases[silent] = phases.get(silent, 0) + spec.replicas - len(heard)
        status = api.FleetStatus(
            running=spec.running,
            replicas=spec.replicas,
            phases=phases,
            bound=phases.get("bound", 0),
            auth=auth,
            profile=spec.template.profile,
            vendor=prof.vendor if prof else None,
            device_class=prof.device_class.value if prof else None,
        )
        meta = fleet.metadata
        return api.FleetPublic(
            name=meta.name, labels=meta.labels, annotations=meta.annotations, spec=spec, status=status
        )

    async def fleet_members(self, fleet: models.IoTFleet, offset: int, limit: int) -> api.FleetMembers:
        """Members [offset, offset+limit) as the emulator derives them (MAC, host name), with what each said.
        Deriving a member's MAC derives those before it (a collision moves the later one): O(offset+limit),
        so it runs off the event loop."""
        spec = fleet.spec
        end = min(offset + limit, spec.replicas)
        items = []
        if offset < end:
            window = spec.model_copy(update={"running": True, "members": models.MemberRange(start=offset, end=end)})
            page = fleet.model_copy(update={"spec": window})
            for config in await asyncio.to_thread(manifests.expand, [page], self.library):
                live = self.hub.live(config.device_id)
                phase = _phase(spec.running, live, None)
                ip = live.ip if live else None
                member = api.FleetMember(
                    index=config.index,
                    device_id=config.device_id,
                    mac=config.mac,
                    hostname=config.hostname,
                    phase=phase,
                    ip=ip,
                )
                items.append(member)
        return api.FleetMembers(total=spec.replicas, offset=offset, limit=limit, items=items)

    def _extra_status(self, device: models.IoTDevice) -> dict[str, Any]:
        """Backend-specific status (a cluster resource's `.status`): phase, ip, ipv6, auth, last_error."""
        return {}

    def device_ids(self, resources: Iterable[Resource]) -> list[str]:
        """Every device id of these resources (fleet members included), running or not."""
        ids = []
        for resource in resources:
            if isinstance(resource, models.IoTDevice):
                ids.append(resource.metadata.name)
            elif self._profile(resource.spec.template.profile) is not None:
                ids.extend(c.device_id for c in expand([with_running(resource)], self.library))
        return ids


_PHASES: dict[str, api.Phase] = {p: p for p in ("pending", "binding", "bound", "error", "stopped")}


def lookup_device(devices: Sequence[models.IoTDevice], name_or_id: str) -> models.IoTDevice | None:
    """The device of that name, else the one imported with that brief id (`camera_01`)."""
    by_name = next((d for d in devices if d.metadata.name == name_or_id), None)
    return by_name or next((d for d in devices if d.metadata.annotations.get(SEED_ID) == name_or_id), None)


def _phase(running: bool, live: events.LiveState | None, reported: Any) -> api.Phase:
    """The table's phase: what the device last said, else what the backend reports, else the wish.

    A device asked to stop shows its last phase until its `stopped` arrives."""
    phase = _PHASES.get(str(live.phase if live is not None else reported))
    if phase is None:
        return "pending" if running else "stopped"
    if not running and phase != "error" and (phase == "pending" or live is None):
        return "stopped"
    return phase
