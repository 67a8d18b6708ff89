"""`/api/import` and `/api/export`: manifests (YAML, JSON) and the brief's `iot_devices.json`; stats as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from iot_dashboard import importing
from iot_dashboard import models as api
from iot_dashboard.api.deps import BackendDep, HubDep, SettingsDep

router = APIRouter(tags=["import/export"])

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "manifests (multi-document YAML, JSON object, list or `kind: List`) or the brief's "
        '`iot_devices.json` (`{"devices": [{"id": ..., "vendor": ...}]}`)',
        "content": {
            "application/json": {"schema": {}},
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}
STATS_COLUMNS = (
    "device_id",
    "fleet",
    "phase",
    "ip",
    "mac",
    "hostname",
    "profile",
    "packets_sent",
    "bytes_sent",
    "packets_received",
    "bytes_received",
    "packet_rate",
    "uptime_seconds",
    "dhcp_state",
    "updated",
)


@router.post(
    "/import",
    response_model=api.ImportResult,
    openapi_extra=_IMPORT_BODY,
    responses={422: {"model": api.ErrorBody, "description": "every bad entry, with its index and field"}},
)
async def import_resources(
    request: Request,
    backend: BackendDep,
    settings: SettingsDep,
    mode: Annotated[Literal["merge", "replace"], Query(description="replace: delete what the file lacks")] = "merge",
    dry_run: Annotated[bool, Query(description="check and report what would change; change nothing")] = False,
) -> api.ImportResult:
    """Import devices and fleets, all or nothing: the whole file is checked before anything changes.
    With `dry_run` the answer is the same (what would be created, updated, deleted; or 422 with every
    refused entry and why) and nothing is written."""
    body = await request.body()  # its size is capped before (limits.BodyLimit: 413)
    seconds = settings.import_seconds
    # Off the event loop: reading a large file must not stall /healthz or the WebSockets.
    resources = await asyncio.to_thread(importing.parse, body, backend.library, seconds=seconds)
    return await backend.import_resources(resources, replace_all=mode == "replace", dry_run=dry_run)


@router.get("/export", response_class=Response, responses={200: {"content": {"application/yaml": {}}}})
async def export_resources(
    backend: BackendDep,
    format: Annotated[Literal["yaml", "json", "iot_devices"], Query()] = "yaml",
) -> Response:
    """Every device and fleet: YAML manifests, a JSON `kind: List`, or the brief's `iot_devices.json`."""
    resources = await backend.list_resources()
    if format == "yaml":
        body, media, name = importing.to_yaml(resources), "application/yaml", "iot_devices.yaml"
    elif format == "json":
        body, media, name = json.dumps(importing.to_json_list(resources), indent=2), "application/json", "iotemu.json"
    else:
        body = json.dumps(importing.to_brief(resources, backend.library), indent=2)
        media, name = "application/json", "iot_devices.json"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/export/stats.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_stats(backend: BackendDep, hub: HubDep) -> Response:
    """One row per device (fleet members included): phase, address and counters from the last stats."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=STATS_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for resource in await backend.list_resources():
        fleet = resource.metadata.name if resource.kind == "IoTFleet" else ""
        for device_id in backend.device_ids([resource]):
            live = hub.live(device_id)
            stats = (live.stats if live else None) or {}
            row = {**stats, "device_id": device_id, "fleet": fleet}
            row.update(phase=live.phase if live else "stopped", ip=live.ip if live else "")
            row["updated"] = live.updated if live else ""
            writer.writerow(row)
    return Response(
        out.getvalue(), media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="stats.csv"'}
    )
