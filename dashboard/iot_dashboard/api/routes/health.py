"""`/healthz` (the process answers), `/readyz` (the backend can serve), `/metrics` (Prometheus). No token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import exposition

from iot_dashboard import models as api
from iot_dashboard.api.deps import BackendDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=api.Health)
async def read_health(backend: BackendDep) -> api.Health:
    """Liveness: the service answers."""
    return api.Health(status="ok", backend=backend.name)


@router.get("/readyz", response_model=api.Health, responses={503: {"model": api.Health}})
async def read_readiness(backend: BackendDep) -> Response:
    """Readiness: the backend has started and can serve."""
    problem = backend.not_ready()
    body = api.Health(status="unavailable" if problem else "ok", backend=backend.name, detail=problem)
    return JSONResponse(body.model_dump(by_alias=True), status_code=503 if problem else 200)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def read_metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    payload = exposition.generate_latest(request.app.state.metrics)
    return Response(payload, headers={"Content-Type": exposition.CONTENT_TYPE_LATEST})
