"""A `kubernetes_asyncio` ApiClient made from a `Connection`, and the few helpers every caller needs."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, cast

import aiohttp
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException

from iot_kube.connection import Connection

MERGE_PATCH: dict[str, Any] = {"_content_type": "application/merge-patch+json"}
"""Keyword arguments of a patch call that make it a JSON merge patch (custom resources take no strategic merge)."""
__all__ = ["MERGE_PATCH", "RAW", "ApiException", "api_client", "message_of", "send", "status_of"]


def api_client(conn: Connection, user_agent: str) -> ApiClient:
    """An ApiClient for `conn`; its TLS context is built here, from files that exist only meanwhile."""
    config = Configuration(host=conn.server)
    config.verify_ssl = not conn.insecure
    config.tls_server_name = conn.tls_server_name
    config.proxy = conn.proxy
    if conn.token:
        config.api_key = {"BearerToken": f"Bearer {conn.token}"}
    with tempfile.TemporaryDirectory(prefix="iotemu-kube-") as private:
        config.ssl_ca_cert = _file(private, "ca.crt", conn.ca_data)
        config.cert_file = _file(private, "client.crt", conn.cert_data)
        config.key_file = _file(private, "client.key", conn.key_data)
        client = ApiClient(config)  # reads the files now (ssl.SSLContext), not later
    client.user_agent = user_agent
    return client


def _file(directory: str, name: str, data: bytes | None) -> str | None:
    if data is None:
        return None
    path = Path(directory) / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return str(path)


RAW: dict[str, Any] = {"_preload_content": False}
"""Keyword arguments that skip the client's models: we read dicts, and a model rejects what a valid
object may lack (e.g. a container status without `image` from a stand-in kubelet)."""


async def send(call: Awaitable[Any]) -> Any:
    """Awaits a call made with `RAW`; returns the response body as parsed JSON, or raises ApiException."""
    response = await checked(call)
    try:
        return await response.json(content_type=None)
    finally:
        response.release()


async def checked(call: Awaitable[Any]) -> aiohttp.ClientResponse:
    """Awaits a call made with `RAW` (the client then raises nothing itself): an error status becomes
    an ApiException with the server's body; a success returns the response, unread (a stream)."""
    response = cast(aiohttp.ClientResponse, await call)
    if not 200 <= response.status <= 299:
        try:
            body = await response.read()
        finally:
            response.release()
        error = ApiException(status=response.status, reason=response.reason)
        error.body = body
        raise error
    return response


def status_of(exc: BaseException) -> int:
    """The HTTP status of an API error (0 when the server was not reached)."""
    return int(exc.status or 0) if isinstance(exc, ApiException) else 0


def message_of(exc: ApiException) -> str:
    """The API server's own message (it names the field), not the whole response."""
    with contextlib.suppress(ValueError, TypeError):
        body: Any = json.loads(exc.body or "")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    return str(exc.reason or exc.status)
