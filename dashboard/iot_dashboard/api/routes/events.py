"""`WS /ws`: a snapshot on connect, then the devices' messages as `device:<type>` events.

The token comes as a bearer header or a subprotocol (see `security`); a wrong one ends the
connection with 1008, a binary frame with 1003.

Frames are JSON objects `{"event": name, "data": ...}`. Server to client: `snapshot` (devices and
fleets with their status), then `batch` frames, at most one per tick (`ws_tick`, see `batching`):
`{"v": 1, "messages": [...], "dropped": n, "total": m}`, where each message is what the brief's
`device:<type>` event carries (the emulator's message, `type` in it) or a resource change
(`type: "resource"`, `{action: created|updated|deleted, kind, name}`: a change made through this
service, so every open tab lists the same resources; every client gets them); a device's `stats`
waiting in one frame are coalesced to the latest, and `dropped` counts what this client lost
because it was too slow (its queue is bounded: list again). Answers: `stats:response`,
`subscribed`, `error`. Client to server:
`{"event": "subscribe", "data": {"devices": [...], "types": ["dhcp*", "stats"]}}` (empty lists
mean everything) and `{"event": "request:stats", "data": "<device id>"}` (as in the brief; also
`{"device_id": ...}` or `{"devices": [...]}`).

The sender drains this client's bounded queue (see `events.Subscription`) at the client's
pace; the receiver handles requests; whichever ends first ends the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from iot_dashboard import batching, events, security
from iot_dashboard.backends import base
from iot_emulator.config import models

router = APIRouter(tags=["events"])
log = logging.getLogger(__name__)


def _frame(event: str, data: Any) -> str:
    return json.dumps({"event": event, "data": data}, separators=(",", ":"), default=str)


async def snapshot(backend: base.Backend) -> dict[str, Any]:
    resources = await backend.list_resources()
    devices = [backend.device_public(r) for r in resources if isinstance(r, models.IoTDevice)]
    fleets = [backend.fleet_public(r) for r in resources if isinstance(r, models.IoTFleet)]
    return {
        "devices": [d.model_dump(mode="json", by_alias=True) for d in devices],
        "fleets": [f.model_dump(mode="json", by_alias=True) for f in fleets],
    }


@router.websocket("/ws")
async def stream_events(websocket: WebSocket) -> None:
    """Live device events (see the module docstring for the protocol)."""
    await websocket.accept(subprotocol=security.chosen_protocol(websocket))
    if not security.websocket_allowed(websocket):  # accepted first, so the browser sees why (1008)
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="missing or wrong token")
        return
    backend: base.Backend = websocket.app.state.backend
    hub: events.EventHub = websocket.app.state.hub
    devices = websocket.query_params.getlist("device")
    types = [t for v in websocket.query_params.getlist("type") for t in v.split(",") if t.strip()]
    sub = hub.subscribe(devices, types, coalesce_stats=True)  # before the snapshot: nothing falls between
    try:
        await websocket.send_text(_frame("snapshot", await snapshot(backend)))
        sender = asyncio.create_task(_send(websocket, sub, websocket.app.state.settings.ws_tick))
        receiver = asyncio.create_task(_receive(websocket, sub, hub))
        done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, WebSocketDisconnect | RuntimeError | OSError):
                log.error("WebSocket client failed: %r", exc)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        hub.unsubscribe(sub)


async def _send(websocket: WebSocket, sub: events.Subscription, tick: float) -> None:
    async for text in batching.frames(sub, tick):
        await websocket.send_text(text)


async def _receive(websocket: WebSocket, sub: events.Subscription, hub: events.EventHub) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:  # a binary frame: not our protocol
            await websocket.close(code=status.WS_1003_UNSUPPORTED_DATA, reason="text frames only")
            return
        try:
            request = json.loads(text)
            event, data = request.get("event"), request.get("data")
        except (ValueError, AttributeError):
            await websocket.send_text(_frame("error", {"error": 'expected {"event": ..., "data": ...}'}))
            continue
        if event == "subscribe":
            data = data if isinstance(data, dict) else {}
            sub.set_filter(string_list(data.get("devices")), string_list(data.get("types")))
            await websocket.send_text(_frame("subscribed", {"devices": sorted(sub.devices), "types": list(sub.types)}))
        elif event == "request:stats":
            for device_id in requested_devices(data):
                payload = {"device_id": device_id, "stats": hub.latest_stats(device_id)}
                await websocket.send_text(_frame("stats:response", payload))
        else:
            await websocket.send_text(_frame("error", {"error": f"unknown event {event!r}"}))


MAX_IDS = 1000
"""Ids one request may name (a subscription, a stats request): more are ignored."""


def string_list(value: Any) -> list[str]:
    """A client's list of ids as strings, at most `MAX_IDS`; anything else is an empty list."""
    return [str(v) for v in value[:MAX_IDS]] if isinstance(value, list) else []


def requested_devices(data: Any) -> list[str]:
    """The device ids of a `request:stats`: a string (the brief's form), `{device_id}`, `{devices: [...]}`, a list."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        if isinstance(data.get("device_id"), str):
            return [data["device_id"]]
        return string_list(data.get("devices"))
    return string_list(data)
