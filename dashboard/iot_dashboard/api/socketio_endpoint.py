"""`/socket.io`: the brief's Socket.io interface, beside `WS /ws`, for clients written to the brief.

The seed brief's orchestrator and tab speak Socket.io: they connect with `socket.io-client`,
listen to `device:started`, `device:stopped`, `device:stats`, `device:log`, `device:error` and
`device:dhcp_*` (the emulator's message as the payload, `device_id` in it), and emit
`request:stats` with a device id to get `stats:response` (`{device_id, stats}`). This endpoint
serves exactly that (python-socketio, Engine.IO 4), fed by the same hub as `/ws`, so both see the
same events in the same order. Devices imported from the brief's `iot_devices.json` keep their
brief id here: events carry `device_id: "camera_01"` (and `name: "camera-01"`, the resource's
name), and `request:stats` and `subscribe` accept it.

Security as for `/ws`: the token is required at connect, as Socket.io's `auth` payload
(`io(url, {auth: {token}})`, what browsers can send) or an `Authorization: Bearer` header
(programs, `extraHeaders`); a client without it is refused (`connect_error`). The app's
Host/Origin guard sees every request first; Socket.io's own origin check allows the same origins
as the API (same-origin unless `cors_origins` lists others). Messages are bounded
(`MAX_MESSAGE_BYTES`), each client has its own bounded queue (`events.Subscription`; a slow
client gets a `dropped` event, like on `/ws`), and a client may `subscribe` to devices and types.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import socketio

from iot_dashboard import events, security
from iot_dashboard.api.routes.events import requested_devices, string_list
from iot_dashboard.backends import base
from iot_dashboard.settings import Settings

log = logging.getLogger(__name__)
PATH = "socket.io"
MAX_MESSAGE_BYTES = 64 * 1024
"""The largest message (or HTTP long-polling body) a client may send: requests are a few ids."""
IDS_TTL = 1.0
"""Seconds the name -> brief id map is reused before it is read again from the backend."""


class Bridge:
    """One Socket.io server: per connected client a hub subscription and the task that forwards it."""

    def __init__(self, hub: events.EventHub, backend: base.Backend, token: str, settings: Settings) -> None:
        self.hub = hub
        self.backend = backend
        self._seed_ids: dict[str, str] = {}
        self._seed_ids_at = -IDS_TTL
        self.token = token
        self.server = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=list(settings.cors_origins) or None,  # None: same origin only
            # the app's BodyLimit refuses larger polling bodies first (413): python-engineio 4.15 hangs in
            # disconnect() when it refuses one itself; this bound is for WebSocket messages
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            logger=False,
            engineio_logger=False,
        )
        self.app = socketio.ASGIApp(self.server, socketio_path=PATH)
        self._clients: dict[str, tuple[events.Subscription, asyncio.Task[None]]] = {}
        self.server.on("connect", self._connect)
        self.server.on("disconnect", self._disconnect)
        self.server.on("request:stats", self._request_stats)
        self.server.on("subscribe", self._subscribe)

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        given = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(given, str):
            given = security.bearer(environ.get("HTTP_AUTHORIZATION"))
        if not security.token_matches(self.token, given):
            raise socketio.exceptions.ConnectionRefusedError("missing or wrong token")
        sub = self.hub.subscribe()
        self._clients[sid] = (sub, asyncio.create_task(self._forward(sid, sub)))

    async def _disconnect(self, sid: str, *_: Any) -> None:
        client = self._clients.pop(sid, None)
        if client is None:
            return
        sub, task = client
        self.hub.unsubscribe(sub)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _forward(self, sid: str, sub: events.Subscription) -> None:
        async for event, data in sub.frames():
            name = data.get("device_id")
            if isinstance(name, str) and name in (seed_ids := await self._ids()):
                data = {**data, "device_id": seed_ids[name], "name": name}
            await self.server.emit(event, data, to=sid)

    async def _request_stats(self, sid: str, data: Any) -> None:
        """The brief's `request:stats` (a device id; also `{device_id}` or `{devices: [...]}`)."""
        names = await self._names()
        for device_id in requested_devices(data):
            stats = self.hub.latest_stats(names.get(device_id, device_id))
            await self.server.emit("stats:response", {"device_id": device_id, "stats": stats}, to=sid)

    async def _subscribe(self, sid: str, data: Any) -> dict[str, Any]:
        """Narrow this client's events: `{devices: [...], types: ["dhcp*", "stats"]}` (empty: all); acked."""
        client = self._clients.get(sid)
        if client is None:
            return {"error": "not connected"}
        sub = client[0]
        data = data if isinstance(data, dict) else {}
        names = await self._names()
        sub.set_filter([names.get(d, d) for d in string_list(data.get("devices"))], string_list(data.get("types")))
        return {"devices": sorted(sub.devices), "types": list(sub.types)}

    async def _ids(self) -> dict[str, str]:
        """Device name -> brief id (read again at most every `IDS_TTL` s)."""
        if time.monotonic() - self._seed_ids_at > IDS_TTL:
            self._seed_ids = await self.backend.seed_ids()
            self._seed_ids_at = time.monotonic()
        return self._seed_ids

    async def _names(self) -> dict[str, str]:
        """Brief id -> device name."""
        return {seed_id: name for name, seed_id in (await self._ids()).items()}

    async def close(self) -> None:
        for sid in list(self._clients):
            await self._disconnect(sid)
