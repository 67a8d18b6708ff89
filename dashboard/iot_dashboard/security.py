"""Who may call the API: a bearer token, required as soon as the service is reachable from elsewhere.

The service can put traffic on a LAN, so binding beyond loopback without a token is refused:
if none is configured, one is generated at first start, kept in a file only root can read, and
printed once. Every `/api` request carries `Authorization: Bearer <token>`; the WebSocket, which
browsers cannot give headers, may pass `?token=` instead. Comparison is constant-time.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys

from fastapi import HTTPException, Request, WebSocket, status

from iot_dashboard.settings import Settings

log = logging.getLogger(__name__)


class InsecureBinding(ValueError):
    """Token checks were turned off for a non-loopback address."""


def resolve_token(settings: Settings) -> str | None:
    """The token to check, or None when checks are off (loopback only)."""
    if settings.token is not None:
        return settings.token.get_secret_value()
    if settings.require_token is False:
        if not settings.loopback:
            raise InsecureBinding(f"binding to {settings.host} requires a token (require_token=false is loopback only)")
        return None
    if settings.loopback and not settings.require_token:
        return None
    path = settings.resolved_token_file()
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    print(f"iotemu dashboard: API token (saved in {path}): {token}", file=sys.stderr, flush=True)
    log.info("generated an API token, saved in %s", path)
    return token


def _matches(expected: str, given: str | None) -> bool:
    return given is not None and secrets.compare_digest(expected.encode(), given.encode())


def _bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def check_request(request: Request) -> None:
    """Dependency of every /api route: 401 without the right bearer token."""
    expected: str | None = request.app.state.token
    if expected is None:
        return
    if not _matches(expected, _bearer(request.headers.get("authorization"))):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


def websocket_allowed(websocket: WebSocket) -> bool:
    expected: str | None = websocket.app.state.token
    if expected is None:
        return True
    given = _bearer(websocket.headers.get("authorization")) or websocket.query_params.get("token")
    return _matches(expected, given)
