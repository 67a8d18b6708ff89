"""`/api/fleets`: IoTFleet CRUD, the scale subresource, start/stop of a whole fleet."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from iot_dashboard import models as api
from iot_dashboard.api import strict
from iot_dashboard.api.deps import BackendDep
from iot_dashboard.backends import base
from iot_emulator.config import models

router = APIRouter(prefix="/fleets", tags=["fleets"], route_class=strict.StrictJsonRoute)


async def _fleet(backend: base.Backend, name: str) -> models.IoTFleet:
    resource = await backend.get("IoTFleet", name)
    assert isinstance(resource, models.IoTFleet)
    return resource


@router.get("", response_model=list[api.FleetPublic])
async def read_fleets(
    backend: BackendDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000, description="fleets per page")] = 100,
    offset: Annotated[int, Query(ge=0, description="fleets skipped (in name order)")] = 0,
) -> list[api.FleetPublic]:
    """IoTFleets by name, a page at a time (`X-Total-Count` says how many), with their members' phases."""
    fleets = sorted(
        (r for r in await backend.list_resources() if isinstance(r, models.IoTFleet)), key=lambda f: f.metadata.name
    )
    response.headers["X-Total-Count"] = str(len(fleets))
    return [backend.fleet_public(f) for f in fleets[offset : offset + limit]]


@router.post("", response_model=api.FleetPublic, status_code=status.HTTP_201_CREATED)
async def create_fleet(body: api.FleetCreate, backend: BackendDep) -> api.FleetPublic:
    """Create an IoTFleet (its members start at once unless `spec.running` is false)."""
    fleet = await backend.create(base.new_fleet(body.name, body))
    assert isinstance(fleet, models.IoTFleet)
    return backend.fleet_public(fleet)


@router.get("/{name}", response_model=api.FleetPublic)
async def read_fleet(name: str, backend: BackendDep) -> api.FleetPublic:
    """One IoTFleet with its members' phases."""
    return backend.fleet_public(await _fleet(backend, name))


@router.put("/{name}", response_model=api.FleetPublic)
async def replace_fleet(name: str, body: api.FleetUpdate, backend: BackendDep) -> api.FleetPublic:
    """Replace a fleet's spec and labels."""
    await _fleet(backend, name)
    fleet = await backend.replace(base.new_fleet(name, body))
    assert isinstance(fleet, models.IoTFleet)
    return backend.fleet_public(fleet)


@router.patch("/{name}", response_model=api.FleetPublic)
async def update_fleet(name: str, body: api.FleetPatch, backend: BackendDep) -> api.FleetPublic:
    """Change some fields of a fleet (merge patch)."""
    await _fleet(backend, name)
    fleet = await backend.patch("IoTFleet", name, body)
    assert isinstance(fleet, models.IoTFleet)
    return backend.fleet_public(fleet)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_fleet(name: str, backend: BackendDep) -> None:
    """Delete a fleet and stop its members."""
    await backend.delete("IoTFleet", name)


@router.get("/{name}/members", response_model=api.FleetMembers)
async def read_fleet_members(
    name: str,
    backend: BackendDep,
    offset: Annotated[int, Query(ge=0, le=100000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> api.FleetMembers:
    """A page of the fleet's members: index, device id, MAC and host name as derived, phase and address."""
    return await backend.fleet_members(await _fleet(backend, name), offset, limit)


@router.get("/{name}/scale", response_model=api.FleetScale)
async def read_fleet_scale(name: str, backend: BackendDep) -> api.FleetScale:
    """The fleet's replica count."""
    return api.FleetScale(replicas=(await _fleet(backend, name)).spec.replicas)


@router.put("/{name}/scale", response_model=api.FleetPublic)
async def scale_fleet(name: str, body: api.FleetScale, backend: BackendDep) -> api.FleetPublic:
    """Set the number of members (new ones start if the fleet runs)."""
    await _fleet(backend, name)
    fleet = await backend.scale(name, body.replicas)
    assert isinstance(fleet, models.IoTFleet)
    return backend.fleet_public(fleet)


@router.post("/{name}/start", response_model=api.BulkResult)
async def start_fleet(name: str, backend: BackendDep) -> api.BulkResult:
    """Start every member of a fleet."""
    await _fleet(backend, name)
    return await backend.set_running([("IoTFleet", name)], True)


@router.post("/{name}/stop", response_model=api.BulkResult)
async def stop_fleet(name: str, backend: BackendDep) -> api.BulkResult:
    """Stop every member of a fleet."""
    await _fleet(backend, name)
    return await backend.set_running([("IoTFleet", name)], False)
