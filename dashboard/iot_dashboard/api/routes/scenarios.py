"""`/api/devices/{name}/scenario`, `/api/fleets/{name}/scenario`: attach, run and stop a behaviour scenario.

A scenario is part of the resource's spec (`spec.scenario`, the same in the YAML file and the CRD),
so setting one is a spec change: the backend restarts the device or the fleet's members with it,
and the scenario runs from their start (steps' `at` count from there). Removing it stops it the
same way. Every route here changes state, so it needs the token like every `/api` route.
"""

from __future__ import annotations

from fastapi import APIRouter

from iot_dashboard import models as api
from iot_dashboard.api import strict
from iot_dashboard.api.deps import BackendDep
from iot_dashboard.backends import base
from iot_emulator.config import models
from iot_emulator.scenarios import model as scenario_model

router = APIRouter(tags=["scenarios"], route_class=strict.StrictJsonRoute)


async def _with_scenario(
    backend: base.Backend, resource: models.IoTDevice | models.IoTFleet, scenario: scenario_model.Scenario | None
) -> models.IoTDevice | models.IoTFleet:
    spec = resource.spec.model_copy(update={"scenario": scenario})
    return await backend.replace(resource.model_copy(update={"spec": spec}))


@router.put("/devices/{name}/scenario", response_model=api.DevicePublic)
async def run_device_scenario(name: str, body: scenario_model.Scenario, backend: BackendDep) -> api.DevicePublic:
    """Set the device's scenario and run it: the device restarts and the steps count from its start."""
    device = await _with_scenario(backend, await backend.find_device(name), body)
    assert isinstance(device, models.IoTDevice)
    return backend.device_public(device)


@router.delete("/devices/{name}/scenario", response_model=api.DevicePublic)
async def stop_device_scenario(name: str, backend: BackendDep) -> api.DevicePublic:
    """Stop and remove the device's scenario (the device restarts without it)."""
    device = await _with_scenario(backend, await backend.find_device(name), None)
    assert isinstance(device, models.IoTDevice)
    return backend.device_public(device)


@router.put("/fleets/{name}/scenario", response_model=api.FleetPublic)
async def run_fleet_scenario(name: str, body: scenario_model.Scenario, backend: BackendDep) -> api.FleetPublic:
    """Set the fleet's scenario and run it; `target.share`/`count` pick members by the scenario's seed."""
    fleet = await _with_scenario(backend, await backend.get("IoTFleet", name), body)
    assert isinstance(fleet, models.IoTFleet)
    return backend.fleet_public(fleet)


@router.delete("/fleets/{name}/scenario", response_model=api.FleetPublic)
async def stop_fleet_scenario(name: str, backend: BackendDep) -> api.FleetPublic:
    """Stop and remove the fleet's scenario (its members restart without it)."""
    fleet = await _with_scenario(backend, await backend.get("IoTFleet", name), None)
    assert isinstance(fleet, models.IoTFleet)
    return backend.fleet_public(fleet)
