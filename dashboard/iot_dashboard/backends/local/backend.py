"""The local backend: the store says what should run, the supervisor makes it so.

Every change (create, edit, delete, start, stop, import, scale) is the same three steps, under
one lock: compute the new resource set (already checked whole by the base class), write it to
the file, then *reconcile*: expand the running resources into devices, compare with what the
emulator processes run, stop what is gone or changed and start what is new or changed. It is
the operator's loop, run on demand; so the file and the processes cannot drift apart, and a
device whose spec changed while it runs is restarted with the new spec.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iot_dashboard import capture, events, importing
from iot_dashboard import models as api
from iot_dashboard.backends import base
from iot_dashboard.backends.local import process, store, supervisor
from iot_dashboard.settings import Settings
from iot_emulator.config import manifests, models
from iot_emulator.profiles import catalog

log = logging.getLogger(__name__)


def unit_of(config: manifests.DeviceConfig, devices_per_pod: dict[str, int]) -> supervisor.Unit:
    """A resolved device as the IoTDevice manifest its emulator process is given (MAC explicit; the
    host name too unless the emulator derives the same one)."""
    dhcp: dict[str, Any] = {"mode": config.dhcp_mode.value}
    if config.static_address is not None:
        dhcp["address"] = str(config.static_address)
    spec: dict[str, Any] = {"profile": config.profile.name, "mac": config.mac}
    # A host name the emulator derives the same way is left to it: given explicitly, it would be
    # checked for duplicates within the request, and devices of one model share their default name
    # (a batch of them was refused, then sent one request per device: 10-16 s for 1,000).
    if config.hostname_given or config.hostname != config.profile.hostname_for(config.mac, 0, config.device_id):
        spec["hostname"] = config.hostname
    spec.update(protocols=list(config.protocols), trafficInterval=config.traffic_interval, dhcp=dhcp)
    if config.vlan is not None:
        spec.update(vlan=config.vlan.vid, vlanPriority=config.vlan.pcp)
        if config.vlan.outer_vid is not None:
            spec["outerVlan"] = config.vlan.outer_vid
    if config.profile.dot1x is not None:  # the emulator loads the profile as shipped: say what the spec chose
        spec["dot1x"] = config.profile.dot1x.enabled
    if config.scenario is not None:  # the member's own steps, already chosen from the fleet's
        spec["scenario"] = config.scenario.model_dump(mode="json", exclude_none=True)
    manifest = {"apiVersion": models.API_VERSION, "kind": "IoTDevice", "metadata": {"name": config.device_id}}
    manifest["spec"] = spec
    if config.fleet is None:
        group = supervisor.DEVICES_GROUP
    else:
        group = f"fleet/{config.fleet}/{config.index // devices_per_pod[config.fleet]}"
    return supervisor.Unit(config.device_id, group, manifest)


class LocalBackend(base.Backend):
    """See the module docstring."""

    name = "local"
    pins_macs = True

    def __init__(self, settings: Settings, hub: events.EventHub, library: catalog.Library) -> None:
        super().__init__(hub, library)
        self.settings = settings
        local = settings.local
        self.store = store.ManifestStore(local.data_file)
        self._resources: dict[base.Key, base.Resource] = {}
        self._lock = asyncio.Lock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        socket_dir = local.socket_dir
        if socket_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="iotdash-")
            socket_dir = Path(self._tmp.name)
        state_dir = local.state_dir or local.data_file.parent / "emulator-state"
        self.supervisor = supervisor.Supervisor(local, hub, socket_dir, state_dir)

    async def start(self) -> None:
        """Load the file (StoreError if unusable), seed it on first start, start what should run."""
        fresh = not self.store.exists()
        resources = self.store.load()
        seed = self.settings.local.seed_file
        if fresh and seed is not None:
            resources = importing.parse(seed.read_bytes(), self.library, source=str(seed))
            if not self.settings.local.seed_running:
                resources = [base.with_running(r, False) for r in resources]
            base.check(resources, self.library)
            self.store.save(resources)
            log.info("seeded %s with %d resources from %s", self.store.path, len(resources), seed)
        self._resources = {base.key_of(r): r for r in resources}
        await self.supervisor.open()
        async with self._lock:
            failed = {d: e for d, e in (await self._reconcile()).items() if e}
        self.supervisor.warm()
        for device_id, error in failed.items():
            self.hub.device_error(device_id, f"not started: {error}")

    async def close(self) -> None:
        await self.supervisor.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def list_resources(self) -> list[base.Resource]:
        return list(self._resources.values())

    async def _write(self, upserts: Sequence[base.Resource], deletes: Sequence[base.Key]) -> None:
        async with self._lock:
            new = dict(self._resources)
            for key in deletes:
                new.pop(key, None)
            for resource in upserts:
                new[base.key_of(resource)] = resource
            gone = self.device_ids(self._resources[k] for k in deletes if k in self._resources)
            self._save(list(new.values()))
            self._resources = new
            failed = {d: e for d, e in (await self._reconcile()).items() if e}
        for device_id in gone:
            self.hub.forget(device_id)
        for device_id, error in failed.items():
            self.hub.device_error(device_id, f"not started: {error}")

    def _save(self, resources: Sequence[base.Resource]) -> None:
        """Write the file before anything runs differently: a write that fails (a full disk) changes
        nothing and is a clear 507, not a 500."""
        try:
            self.store.save(resources)
        except store.StoreWriteError as exc:
            log.error("%s", exc)
            raise base.InsufficientStorage(f"the change was not saved: {exc}") from exc

    async def set_running(self, keys: Sequence[base.Key], running: bool) -> api.BulkResult:
        async with self._lock:
            missing = [k for k in keys if k not in self._resources]
            if missing:
                raise base.NotFound(", ".join(base.label(k) for k in missing) + " not found")
            new = dict(self._resources)
            for key in keys:
                new[key] = base.with_running(new[key], running)
            self._save(list(new.values()))
            self._resources = new
            results = await self._reconcile()
        result = api.BulkResult(action="start" if running else "stop")
        for device_id in self.device_ids(self._resources[k] for k in keys):
            error = results.get(device_id)
            if error:
                result.failed.append(api.Failure(id=device_id, reason=error))
                self.hub.device_error(device_id, f"not {'started' if running else 'stopped'}: {error}")
            else:
                result.done.append(device_id)
        return result

    async def _reconcile(self) -> dict[str, str | None]:
        """Make the processes run exactly the devices of the running resources (the caller holds the lock)."""
        running = [r for r in self._resources.values() if r.spec.running]
        per_pod = {r.metadata.name: r.spec.devices_per_pod for r in running if isinstance(r, models.IoTFleet)}
        try:
            configs = manifests.expand(running, self.library)
        except manifests.ManifestError as exc:  # the profile library changed under the file
            log.error("cannot expand the stored resources: %s", exc)
            configs = []
        desired = {c.device_id: unit_of(c, per_pod) for c in configs}
        current = self.supervisor.running_units()
        stop = [d for d, u in current.items() if desired.get(d) != u]
        start = [u for d, u in desired.items() if current.get(d) != u]
        if not stop and not start:
            return {}
        return await self.supervisor.apply(start, stop)

    async def open_capture(self, resource: base.Resource, seconds: float) -> list[capture.Source]:
        """The device's process, or every process of the fleet's shards, asked for the same capture."""
        name = resource.metadata.name
        if isinstance(resource, models.IoTDevice):
            shard = self.supervisor.shards.get(self.supervisor.placement.get(name, ""))
            shards, params = ([shard] if shard is not None else []), {"device": name}
        else:
            prefix = f"fleet/{name}/"  # a fleet's shard processes run its members only: `all` of each
            shards, params = [s for s in self.supervisor.shards.values() if s.group.startswith(prefix)], {"all": "true"}
        procs = [s.proc for s in shards if s.alive and s.proc is not None]
        if not procs:
            raise base.Conflict(f"{base.label(base.key_of(resource))} runs in no emulator process now")
        sources: list[capture.Source] = []
        try:
            for proc in procs:
                sources.append(await proc.open_capture(params, seconds))
        except process.ControlError as exc:
            for source in sources:
                await source.close()
            error = {404: base.Conflict, 422: base.Invalid, 429: base.TooMany}.get(exc.status, base.Unavailable)
            raise error(f"the emulator refused the capture: {exc}", exc.errors) from exc
        return sources

    def not_ready(self) -> str | None:
        """Ready once started and the warm processes (`warm_processes`, none by default) answer."""
        warming = self.supervisor.warming
        return f"starting {warming} warm emulator process(es)" if warming else None
