"""`/api/profiles`: the device profile library, for the form's picker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from iot_dashboard import models as api
from iot_dashboard.api.deps import BackendDep

router = APIRouter(prefix="/profiles", tags=["profiles"])


@router.get("", response_model=list[api.ProfileSummary])
async def read_profiles(backend: BackendDep) -> list[api.ProfileSummary]:
    """Every profile known to the service (built-in and the profiles directory)."""
    return [
        api.ProfileSummary(
            name=p.name,
            vendor=p.vendor,
            model=p.model,
            device_class=p.device_class.value,
            os=p.os,
            ouis=p.ouis,
            protocols=p.protocols,
            dot1x=p.dot1x.method if p.dot1x else None,
            dot1x_enabled=bool(p.dot1x and p.dot1x.enabled),
        )
        for p in backend.library
    ]


@router.get("/{name}", response_model=dict[str, Any])
async def read_profile(name: str, backend: BackendDep) -> dict[str, Any]:
    """One profile, every fingerprint included."""
    if name not in backend.library:
        raise HTTPException(404, f"unknown profile {name!r}")
    return backend.library.get(name).model_dump(mode="json")
