"""Who may call the API: a per-start bearer token, required on every `/api` request and on `/ws`.

The service runs as root and starts emulators that send on a LAN, so loopback is no protection:
any local user (and any web page, through the user's browser) can reach 127.0.0.1. Each start
makes a new token (unless one is configured), writes it to a file only its owner can read, and
checks it in constant time. It never travels in a URL the server sees: HTTP requests carry
`Authorization: Bearer <token>`; browsers cannot put headers on a WebSocket, so `/ws` also takes
it as a subprotocol (`iotemu.token.<token>` next to `iotemu.v1`), which no access log records.
The served page gets it from the `#token=` fragment of the address it was opened with
(fragments are never sent to the server) and keeps it in per-origin session storage: a cookie
would also be sent to every other port of 127.0.0.1, whoever listens there.
"""

from __future__ import annotations

import logging
import secrets
import stat
from pathlib import Path

from fastapi import HTTPException, Request, WebSocket, status

from iot_dashboard.settings import Settings
from iot_emulator.config import bounded

log = logging.getLogger(__name__)

WS_PROTOCOL = "iotemu.v1"
"""The subprotocol `/ws` speaks; a browser that offers subprotocols needs one chosen."""
WS_TOKEN_PREFIX = "iotemu.token."
"""A subprotocol carrying the token: `iotemu.token.<token>`."""


class InsecureTokenFile(ValueError):
    """A token file that other users can read, or that cannot be read."""


def resolve_token(settings: Settings) -> str:
    """The token to check: the configured one, or a new one written to `token_file` (0600)."""
    if settings.token is not None:
        return settings.token.get_secret_value()
    token = secrets.token_urlsafe(32)
    write_token_file(settings.resolved_token_file(), token)
    log.info("API token for this start saved in %s", settings.resolved_token_file())
    return token


def write_token_file(path: Path, token: str) -> None:
    """Replace `path` with the token, readable by its owner only (never a moment with wider modes)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    bounded.write_atomic(path, token + "\n")  # 0600 from the start


def read_token_file(path: Path) -> str:
    """The token kept in `path`, refused when group or others may read it (as ssh does with keys)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InsecureTokenFile(f"{path}: cannot read the token: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InsecureTokenFile(f"{path}: other users may read it (mode {stat.S_IMODE(mode):o}; chmod 600)")
    if not text:
        raise InsecureTokenFile(f"{path}: empty token file")
    return text


def token_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison; no token given never matches."""
    return given is not None and secrets.compare_digest(expected.encode(), given.encode())


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def check_request(request: Request) -> None:
    """Dependency of every /api route: 401 without the right bearer token."""
    if not token_matches(request.app.state.token, bearer(request.headers.get("authorization"))):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


def offered_protocols(websocket: WebSocket) -> list[str]:
    header = websocket.headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


def websocket_allowed(websocket: WebSocket) -> bool:
    """The token came as a bearer header (programs) or as a subprotocol (browsers)."""
    expected: str = websocket.app.state.token
    given = bearer(websocket.headers.get("authorization"))
    if given is None:
        tokens = [p[len(WS_TOKEN_PREFIX) :] for p in offered_protocols(websocket) if p.startswith(WS_TOKEN_PREFIX)]
        given = tokens[0] if tokens else None
    return token_matches(expected, given)


def chosen_protocol(websocket: WebSocket) -> str | None:
    """`iotemu.v1` when the client offered it (never echo the token's subprotocol back)."""
    return WS_PROTOCOL if WS_PROTOCOL in offered_protocols(websocket) else None
