"""The FastAPI application: routers, error bodies, limits, CORS, the web tab, and the backend's lifetime.

`create_app(settings)` builds everything from the one settings object; tests pass their own
backend. The backend starts in the lifespan (so a corrupt data file stops the service before it
listens) and is closed on the way out, which stops every emulator process it started.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from iot_dashboard import events, limits, metrics, models, origin, security
from iot_dashboard.api import socketio_endpoint
from iot_dashboard.api.main import api_router, public_router
from iot_dashboard.backends import base
from iot_dashboard.settings import Settings
from iot_emulator.profiles import catalog

log = logging.getLogger(__name__)

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>IoT Devices</title></head>
<body style="font-family: sans-serif; max-width: 48em; margin: 2em auto">
<h1>IoT Devices</h1>
<p>The web tab is not built here (<code>dashboard/web/dist</code> is missing). The service runs:</p>
<ul>
<li><a href="/docs">API documentation</a> (OpenAPI)</li>
<li><code>GET /api/devices</code>, <code>POST /api/devices/start-all</code>, <code>WS /ws</code></li>
<li><a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>, <a href="/metrics">/metrics</a></li>
</ul>
</body></html>
"""


def make_backend(settings: Settings, hub: events.EventHub) -> base.Backend:
    """The backend the settings name, with the profile library they point to."""
    library = catalog.library(settings.local.profiles_dir)
    if settings.backend == "kubernetes":
        from iot_dashboard.backends.kubernetes import backend as kube

        return kube.KubernetesBackend(settings.kube, hub, library)
    from iot_dashboard.backends.local import backend as local
    from iot_dashboard.backends.local import interface

    settings = resolve_lab(settings)
    interface.check(settings.local)
    return local.LocalBackend(settings, hub, library)


def resolve_lab(settings: Settings) -> Settings:
    """With `local.lab` set, the interface and namespace come from the lab's record."""
    if settings.local.lab is None:
        return settings
    from iot_emulator import lab

    state = {"state_dir": settings.local.lab_state_dir} if settings.local.lab_state_dir else {}
    handle = lab.attach(settings.local.lab, **state)
    local = settings.local.model_copy(update={"interface": handle.dev_iface, "netns": handle.dev_netns})
    return settings.model_copy(update={"local": local})


def make_hub(settings: Settings) -> events.EventHub:
    return events.EventHub(settings.ws_queue_size, settings.history_events, settings.history_stats, settings.log_buffer)


def create_app(
    settings: Settings | None = None, backend: base.Backend | None = None, hub: events.EventHub | None = None
) -> FastAPI:
    settings = settings or Settings()
    hub = hub or (backend.hub if backend is not None else make_hub(settings))
    backend = backend or make_backend(settings, hub)

    token = security.resolve_token(settings)
    bridge = socketio_endpoint.Bridge(hub, backend, token, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            await bridge.close()
            hub.close()
            await backend.close()

    app = FastAPI(
        title="IoT fleet emulator dashboard",
        version="0.1.0",
        description="Devices and fleets (IoTDevice/IoTFleet), start/stop, import/export, live events on `/ws` "
        "and `/socket.io` (the brief's Socket.io events).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.backend = backend
    app.state.hub = hub
    app.state.token = token
    app.state.socketio = bridge
    app.state.metrics = metrics.make_registry(hub, backend)
    app.add_exception_handler(base.BackendError, _backend_error)  # type: ignore[arg-type]
    app.add_middleware(
        limits.BodyLimit,
        default=settings.max_request_bytes,
        overrides={
            "/api/import": settings.max_import_bytes,
            f"/{socketio_endpoint.PATH}/": socketio_endpoint.MAX_MESSAGE_BYTES,
        },
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    # Outermost: a rebinding or cross-site request is refused before anything else reads it.
    app.add_middleware(
        origin.Guard, allowed_hosts=[settings.host, *settings.allowed_hosts], allowed_origins=settings.cors_origins
    )
    app.include_router(api_router)
    app.include_router(public_router)
    app.mount(f"/{socketio_endpoint.PATH}", bridge.app)  # the brief's Socket.io events, beside /ws
    _mount_web(app, settings.web_dir)
    return app


async def _backend_error(request: Request, exc: base.BackendError) -> JSONResponse:
    body = models.ErrorBody(detail=exc.detail, errors=exc.problems)
    return JSONResponse(body.model_dump(), status_code=exc.status)


def _mount_web(app: FastAPI, web_dir: Path) -> None:
    if (web_dir / "index.html").is_file():
        app.mount("/", StaticFiles(directory=web_dir, html=True), name="web")
        return

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def read_placeholder() -> str:
        """A page that says the web tab is not built, with links to the API."""
        return PLACEHOLDER
