"""The API router: every `/api` route behind the token check; WebSocket and health outside `/api`."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from iot_dashboard import security
from iot_dashboard.api.routes import (
    captures,
    devices,
    events,
    fleets,
    health,
    import_export,
    logs,
    profiles,
    scenarios,
)

api_router = APIRouter(prefix="/api", dependencies=[Depends(security.check_request)])
for module in (devices, fleets, captures, profiles, import_export, logs, scenarios):
    api_router.include_router(module.router)

public_router = APIRouter()
public_router.include_router(health.router)
public_router.include_router(events.router)
