"""`POST /devices` and `DELETE /devices/{id}` on the emulator's HTTP endpoint (see `control`)."""

from __future__ import annotations

from aiohttp import web

from iot_emulator import bounded, control, manifests

MAX_BODY = 16 * 1024 * 1024


class ControlRoutes:
    def __init__(self, ctl: control.Control) -> None:
        self._ctl = ctl

    async def add_devices(self, request: web.Request) -> web.Response:
        """Start the devices of `{"manifests": [...]}`: 200 added, 422 invalid, 409 already running."""
        try:
            body = bounded.load_json(await request.read(), bounded.Limits(max_bytes=MAX_BODY))
        except ValueError as exc:
            return web.json_response({"errors": [f"body: not JSON: {exc}"]}, status=422)
        documents = body.get("manifests") if isinstance(body, dict) else None
        if not isinstance(documents, list):
            return web.json_response(
                {"errors": ["manifests: expected a list of IoTDevice/IoTFleet objects"]}, status=422
            )
        try:
            added = self._ctl.add(documents)
        except manifests.ManifestError as exc:
            return web.json_response({"errors": exc.problems}, status=422)
        except control.Conflict as exc:
            return web.json_response({"errors": exc.problems}, status=409)
        return web.json_response({"added": added})

    async def remove_device(self, request: web.Request) -> web.Response:
        """Release the device's lease and stop it."""
        device_id = request.match_info["device_id"]
        if not self._ctl.remove(device_id):
            return web.json_response({"error": f"no device {device_id!r}", "status": 404}, status=404)
        return web.json_response({"removed": device_id})


def register(app: web.Application, ctl: control.Control) -> None:
    routes = ControlRoutes(ctl)
    app.router.add_post("/devices", routes.add_devices)
    app.router.add_delete("/devices/{device_id}", routes.remove_device)
