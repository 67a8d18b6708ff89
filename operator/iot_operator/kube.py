"""The API calls the operator makes itself: create and delete pods, patch a resource's status.

kopf watches, patches its annotations and posts events through its own client; these writes go
through the official client (`kubernetes_asyncio`) on the same `Connection` the login handler gave
kopf, under the field manager `iot-operator`. When kopf logs in again (a 401, an expiring exec
credential), the next call builds a new client from the new connection.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi

from iot_emulator.config import models
from iot_kube import client as kube_client
from iot_kube.connection import Connection

log = logging.getLogger(__name__)
FIELD_MANAGER = "iot-operator"


class ApiError(RuntimeError):
    """The API server refused a call (or was not reached: status 0); the message is the server's."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}" if status else message)


class Credentials:
    """The connection the login handler chose; the client follows it when kopf logs in again."""

    def __init__(self) -> None:
        self.connection: Connection | None = None


class Api:
    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._client: ApiClient | None = None
        self._connection: Connection | None = None
        self._retired: list[ApiClient] = []
        """Clients of earlier connections: calls in flight may still use them; closed in close()."""

    def _current(self) -> ApiClient:
        conn = self._credentials.connection
        if conn is None:
            raise ApiError(0, "not logged in yet")
        if self._client is None or conn is not self._connection:
            if self._client is not None:
                self._retired.append(self._client)
            self._client = kube_client.api_client(conn, user_agent=FIELD_MANAGER)
            self._connection = conn
        return self._client

    async def create_pod(self, pod: dict[str, Any]) -> bool:
        """Creates the pod; False when one of that name already exists."""
        try:
            await kube_client.send(
                CoreV1Api(self._current()).create_namespaced_pod(
                    pod["metadata"]["namespace"], cast(Any, pod), field_manager=FIELD_MANAGER, **kube_client.RAW
                )
            )
        except kube_client.ApiException as exc:
            if exc.status == 409:
                return False
            raise _error(exc) from exc
        return True

    async def delete_pod(self, namespace: str, name: str) -> bool:
        """Deletes the pod (gracefully: the emulator releases its leases); False when it was gone already."""
        try:
            await kube_client.send(CoreV1Api(self._current()).delete_namespaced_pod(name, namespace, **kube_client.RAW))
        except kube_client.ApiException as exc:
            if exc.status == 404:
                return False
            raise _error(exc) from exc
        return True

    async def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merges `status` into the resource's status subresource (nulls remove keys)."""
        try:
            call = CustomObjectsApi(self._current()).patch_namespaced_custom_object_status(
                models.GROUP,
                models.VERSION,
                namespace,
                models.PLURALS[kind],
                name,
                {"status": status},
                field_manager=FIELD_MANAGER,
                **kube_client.MERGE_PATCH,
                **kube_client.RAW,
            )
            await kube_client.send(call)
        except kube_client.ApiException as exc:
            raise _error(exc) from exc

    async def close(self) -> None:
        for client in [*self._retired, *([self._client] if self._client else [])]:
            await client.close()
        self._client, self._retired = None, []


def _error(exc: kube_client.ApiException) -> ApiError:
    return ApiError(kube_client.status_of(exc), kube_client.message_of(exc))
