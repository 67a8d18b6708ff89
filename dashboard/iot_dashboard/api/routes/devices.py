"""`/api/devices`: IoTDevice CRUD, start/stop of one and of all, live stats and event history."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from iot_dashboard import events
from iot_dashboard import models as api
from iot_dashboard.api import strict
from iot_dashboard.api.deps import BackendDep, HubDep
from iot_dashboard.backends import base
from iot_emulator.config import models
from iot_emulator.reporting import messages

router = APIRouter(prefix="/devices", tags=["devices"], route_class=strict.StrictJsonRoute)


async def _name(backend: base.Backend, name: str) -> str:
    """The device's name, also when the path gives the brief's id (`camera_01` for `camera-01`)."""
    return (await backend.find_device(name)).metadata.name


async def _live_id(backend: base.Backend, hub: events.EventHub, device_id: str) -> str:
    """The id the hub knows a device by: its name, also when the path gives the brief's id."""
    if hub.live(device_id) is None:
        for name, seed_id in (await backend.seed_ids()).items():
            if seed_id == device_id:
                return name
    return device_id


def normalise_since(value: str | None) -> str | None:
    """Any ISO 8601 time -> the emulator's timestamp format, so that string order is time order."""
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"since: {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return messages.timestamp(when.timestamp())


@router.get("", response_model=list[api.DevicePublic])
async def read_devices(backend: BackendDep) -> list[api.DevicePublic]:
    """Every IoTDevice with its status."""
    resources = await backend.list_resources()
    return [backend.device_public(r) for r in resources if isinstance(r, models.IoTDevice)]


@router.post("", response_model=api.DevicePublic, status_code=status.HTTP_201_CREATED)
async def create_device(body: api.DeviceCreate, backend: BackendDep) -> api.DevicePublic:
    """Create an IoTDevice (it starts at once unless `spec.running` is false)."""
    device = await backend.create(base.new_device(body.name, body))
    assert isinstance(device, models.IoTDevice)
    return backend.device_public(device)


@router.post("/start-all", response_model=api.BulkResult)
async def start_all_devices(backend: BackendDep) -> api.BulkResult:
    """Start every device and fleet; the response lists what started and what failed, and why."""
    return await backend.set_running([base.key_of(r) for r in await backend.list_resources()], True)


@router.post("/stop-all", response_model=api.BulkResult)
async def stop_all_devices(backend: BackendDep) -> api.BulkResult:
    """Stop every device and fleet (DHCPRELEASE, final stats)."""
    return await backend.set_running([base.key_of(r) for r in await backend.list_resources()], False)


@router.post(
    "/bulk/{action}",
    response_model=api.BulkResult,
    responses={422: {"model": api.ErrorBody, "description": "a selector that is not `key=value[,key=value]`"}},
)
async def bulk_action(
    action: Literal["start", "stop", "delete"], body: api.BulkRequest, backend: BackendDep
) -> api.BulkResult:
    """Start, stop or delete the devices named (names or the brief's ids) and those the selector matches."""
    wanted = _selector(body.selector)
    devices = [r for r in await backend.list_resources() if isinstance(r, models.IoTDevice)]
    chosen: dict[str, None] = {}
    missing = []
    for asked in body.names:
        found = base.lookup_device(devices, asked)
        if found is None:
            missing.append(api.Failure(id=asked, reason="no such device"))
        else:
            chosen[found.metadata.name] = None
    if wanted:
        for d in devices:
            if all(d.metadata.labels.get(k) == v for k, v in wanted.items()):
                chosen[d.metadata.name] = None
    if action == "delete":
        result = api.BulkResult(action="delete")
        for name in chosen:
            try:
                await backend.delete("IoTDevice", name)
                result.done.append(name)
            except base.BackendError as exc:
                result.failed.append(api.Failure(id=name, reason=exc.detail))
    else:
        result = await backend.set_running([("IoTDevice", n) for n in chosen], action == "start")
    result.failed.extend(missing)
    return result


def _selector(text: str | None) -> dict[str, str]:
    """`site=lobby,class=camera` -> {"site": "lobby", "class": "camera"} (equality only, like `-l k=v`)."""
    wanted: dict[str, str] = {}
    for term in (text or "").split(","):
        if not term.strip():
            continue
        key, sep, value = term.partition("=")
        if not sep or not key.strip() or "!" in key:
            raise base.Invalid("invalid selector", [f"selector: {term.strip()!r} is not key=value"])
        wanted[key.strip()] = value.strip()
    return wanted


@router.get("/{name}", response_model=api.DevicePublic)
async def read_device(name: str, backend: BackendDep) -> api.DevicePublic:
    """One IoTDevice with its status."""
    return backend.device_public(await backend.find_device(name))


@router.put("/{name}", response_model=api.DevicePublic)
async def replace_device(name: str, body: api.DeviceUpdate, backend: BackendDep) -> api.DevicePublic:
    """Replace a device's spec and labels (a running device restarts with the new spec)."""
    device = await backend.replace(base.new_device(await _name(backend, name), body))
    assert isinstance(device, models.IoTDevice)
    return backend.device_public(device)


@router.patch("/{name}", response_model=api.DevicePublic)
async def update_device(name: str, body: api.DevicePatch, backend: BackendDep) -> api.DevicePublic:
    """Change some fields of a device (merge patch)."""
    device = await backend.patch("IoTDevice", await _name(backend, name), body)
    assert isinstance(device, models.IoTDevice)
    return backend.device_public(device)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_device(name: str, backend: BackendDep) -> None:
    """Delete a device (stopped first if it runs)."""
    await backend.delete("IoTDevice", await _name(backend, name))


@router.post("/{name}/start", response_model=api.BulkResult)
async def start_device(name: str, backend: BackendDep) -> api.BulkResult:
    """Start one device."""
    return await backend.set_running([("IoTDevice", await _name(backend, name))], True)


@router.post("/{name}/stop", response_model=api.BulkResult)
async def stop_device(name: str, backend: BackendDep) -> api.BulkResult:
    """Stop one device."""
    return await backend.set_running([("IoTDevice", await _name(backend, name))], False)


@router.get("/{device_id}/stats", response_model=api.DeviceStats)
async def read_device_stats(device_id: str, hub: HubDep, backend: BackendDep) -> api.DeviceStats:
    """The last stats of a device (fleet members included)."""
    live = hub.live(await _live_id(backend, hub, device_id))
    if live is None:
        raise HTTPException(404, f"no message from device {device_id} yet")
    return api.DeviceStats(device_id=device_id, timestamp=live.updated, stats=live.stats)


@router.get("/{device_id}/events", response_model=list[dict[str, Any]])
async def read_device_events(
    device_id: str,
    hub: HubDep,
    backend: BackendDep,
    type: Annotated[list[str], Query(description="shell patterns: dhcp*, stats, error")] = [],  # noqa: B006
    since: Annotated[str | None, Query(description="ISO 8601 time; only later messages")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[dict[str, Any]]:
    """The device's recent messages (bounded history kept in memory), oldest first."""
    patterns = [p for value in type for p in value.split(",") if p.strip()]
    return hub.history(await _live_id(backend, hub, device_id), patterns, normalise_since(since))[-limit:]
