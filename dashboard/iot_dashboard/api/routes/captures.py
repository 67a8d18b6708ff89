"""`/api/devices/{name}/capture` and `/api/fleets/{name}/capture`: a live pcap, time-bounded, streamed.

A capture carries every payload of the devices, so it sits behind the token like every `/api`
route (a GET, but never without it: the tab downloads it with `fetch` and its Authorization
header, never through a URL holding the token). The emulators are asked first, so a refusal is a
plain JSON error; then the pcap streams as frames pass. The browser leaving closes the stream,
which ends the captures in the emulators.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from iot_dashboard import capture
from iot_dashboard import models as api
from iot_dashboard.api import strict
from iot_dashboard.api.deps import BackendDep
from iot_dashboard.backends import base

router = APIRouter(tags=["captures"], route_class=strict.StrictJsonRoute)

Seconds = Annotated[
    float, Query(gt=0, le=capture.MAX_SECONDS, allow_inf_nan=False, description="how long to capture (at most 300)")
]
RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {capture.MEDIA_TYPE: {}}, "description": "a classic pcap, streamed while the capture runs"},
    404: {"model": api.ErrorBody, "description": "no such device or fleet"},
    409: {"model": api.ErrorBody, "description": "it is not running"},
    429: {"model": api.ErrorBody, "description": "too many captures run in its emulator"},
}


async def _stream(backend: base.Backend, kind: base.Kind, name: str, seconds: float) -> StreamingResponse:
    resource = await backend.capture_target(kind, name)
    sources = await backend.open_capture(resource, seconds)
    label = "device" if kind == "IoTDevice" else "fleet"
    disposition = f'attachment; filename="{capture.filename(label, resource.metadata.name)}"'
    return StreamingResponse(
        capture.merge(sources),
        media_type=capture.MEDIA_TYPE,
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


@router.get("/devices/{name}/capture", response_class=StreamingResponse, responses=RESPONSES)
async def capture_device(
    name: str, backend: BackendDep, seconds: Seconds = capture.DEFAULT_SECONDS
) -> StreamingResponse:
    """A pcap of the frames from and to one running device, for `seconds`."""
    return await _stream(backend, "IoTDevice", name, seconds)


@router.get("/fleets/{name}/capture", response_class=StreamingResponse, responses=RESPONSES)
async def capture_fleet(
    name: str, backend: BackendDep, seconds: Seconds = capture.DEFAULT_SECONDS
) -> StreamingResponse:
    """A pcap of the frames from and to the members of a running fleet (those running when it starts)."""
    return await _stream(backend, "IoTFleet", name, seconds)
