"""The few API calls the operator makes itself: create and delete pods, patch a resource's status.

kopf watches and posts events through its own client; for writes, this module uses the same
credentials (the `ConnectionInfo` the login handler returned to kopf, via its public
`as_ssl_context()` and `as_http_headers()`) on one aiohttp session. Four calls do not justify a
full Kubernetes client library, and the official ones would need their own credential loading.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import kopf

from iot_emulator import models

log = logging.getLogger(__name__)
PLURALS = {"IoTDevice": "iotdevices", "IoTFleet": "iotfleets"}


class ApiError(RuntimeError):
    """The API server refused a call; `status` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}")


class Credentials:
    """The connection the login handler chose; the session follows it when kopf logs in again."""

    def __init__(self) -> None:
        self.info: kopf.ConnectionInfo | None = None


class Api:
    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._session: aiohttp.ClientSession | None = None
        self._info: kopf.ConnectionInfo | None = None
        self._retired: list[aiohttp.ClientSession] = []
        """Sessions of earlier credentials: calls in flight may still use them; closed in close()."""

    def _current(self) -> tuple[aiohttp.ClientSession, str]:
        info = self._credentials.info
        if info is None:
            raise ApiError(0, "not logged in yet")
        if self._session is None or info is not self._info:
            if self._session is not None:
                self._retired.append(self._session)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=info.as_ssl_context()),
                headers={**info.as_http_headers(), "User-Agent": "iot-operator"},
            )
            self._info = info
        return self._session, info.server.rstrip("/")

    async def _call(self, method: str, path: str, body: Any = None, content_type: str | None = None) -> Any:
        session, server = self._current()
        headers = {"Content-Type": content_type} if content_type else {}
        async with session.request(method, server + path, json=body, headers=headers) as resp:
            try:
                payload = await resp.json(content_type=None)
            except ValueError:
                payload = await resp.text()
            if resp.status >= 400:
                message = payload.get("message", "") if isinstance(payload, dict) else str(payload)
                raise ApiError(resp.status, message)
            return payload

    async def create_pod(self, pod: dict[str, Any]) -> bool:
        """Creates the pod; False when one of that name already exists."""
        try:
            await self._call("POST", f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods", pod)
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def delete_pod(self, namespace: str, name: str) -> bool:
        """Deletes the pod (gracefully: the emulator releases its leases); False when it was gone already."""
        try:
            await self._call("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}")
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Replaces the resource's status through the status subresource (a merge patch with nulls for gone keys)."""
        path = f"/apis/{models.GROUP}/{models.VERSION}/namespaces/{namespace}/{PLURALS[kind]}/{name}/status"
        await self._call("PATCH", path, {"status": status}, "application/merge-patch+json")

    async def close(self) -> None:
        for session in [*self._retired, *([self._session] if self._session else [])]:
            await session.close()
        self._session, self._retired = None, []
