"""`POST /devices` and `DELETE /devices/{id}` on the emulator's HTTP endpoint (see `control`)."""

from __future__ import annotations

from aiohttp import web

from iot_emulator.config import bounded, manifests
from iot_emulator.endpoints import control
from iot_emulator.scenarios import model as scenario_model

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

    async def run_scenario(self, request: web.Request) -> web.Response:
        """Run `{"scenario": {...}, "devices": [ids] | null}` now: 200 started, 422 invalid, 404 unknown device."""
        try:
            body = bounded.load_json(await request.read(), bounded.Limits(max_bytes=MAX_BODY))
        except ValueError as exc:
            return web.json_response({"errors": [f"body: not JSON: {exc}"]}, status=422)
        if not isinstance(body, dict) or not isinstance(body.get("devices", []), list | None):
            return web.json_response({"errors": ["body: expected {scenario, devices}"]}, status=422)
        try:
            started = self._ctl.run_scenario(body.get("scenario"), body.get("devices"))
        except scenario_model.ScenarioError as exc:
            return web.json_response({"errors": exc.problems}, status=422)
        except control.NotFound as exc:
            return web.json_response({"errors": exc.problems}, status=404)
        return web.json_response({"started": started})

    async def stop_scenario(self, request: web.Request) -> web.Response:
        """Stop the scenario of `{"devices": [ids] | null}` (all when null)."""
        try:
            body = bounded.load_json(await request.read() or b"{}", bounded.Limits(max_bytes=MAX_BODY))
        except ValueError as exc:
            return web.json_response({"errors": [f"body: not JSON: {exc}"]}, status=422)
        devices = body.get("devices") if isinstance(body, dict) else None
        if devices is not None and not (isinstance(devices, list) and all(isinstance(d, str) for d in devices)):
            return web.json_response({"errors": ["devices: expected a list of device ids"]}, status=422)
        return web.json_response({"stopped": self._ctl.stop_scenario(devices)})


def register(app: web.Application, ctl: control.Control) -> None:
    routes = ControlRoutes(ctl)
    app.router.add_post("/devices", routes.add_devices)
    app.router.add_delete("/devices/{device_id}", routes.remove_device)
    app.router.add_post("/scenarios", routes.run_scenario)
    app.router.add_post("/scenarios/stop", routes.stop_scenario)
