"""`/api/logs`: the devices' `log` and `error` messages and the service's own, kept in memory."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from iot_dashboard.api.deps import HubDep
from iot_dashboard.api.routes.devices import normalise_since

router = APIRouter(prefix="/logs", tags=["logs"])


@router.get("", response_model=list[dict[str, Any]])
async def read_logs(
    hub: HubDep,
    device: Annotated[str | None, Query(description="only this device (`dashboard`: the service)")] = None,
    level: Annotated[Literal["debug", "info", "warning", "error", "critical"] | None, Query()] = None,
    q: Annotated[str | None, Query(description="text the message contains (case-insensitive)")] = None,
    since: Annotated[str | None, Query(description="ISO 8601 time; only later records")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[dict[str, Any]]:
    """Log records at `level` or above, oldest first (the last `limit`)."""
    return hub.logs(device, level, q, normalise_since(since))[-limit:]
