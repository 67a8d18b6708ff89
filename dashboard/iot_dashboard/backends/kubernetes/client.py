"""The dashboard's Kubernetes calls, on the official client (`kubernetes_asyncio`).

The connection is read by `iot_kube.connection` (explicit URL, in-cluster service account, or the
kubeconfig with exec plugins, tokenFile, client certificates, proxies). Objects stay plain dicts:
the backend builds and reads manifests, not generated models. A call refused with 401 (a rotated
service-account token, an expired exec credential) reconnects once and is tried again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import aiohttp
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi

from iot_dashboard.settings import KubeSettings
from iot_emulator.config import models
from iot_kube import client as kube_client
from iot_kube import connection

TIMEOUT = 30.0
WATCH_SECONDS = 290
"""How long one watch request lasts before the server ends it (a new one resumes from the last resourceVersion)."""
USER_AGENT = "iot-dashboard"


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message


class KubeClient:
    """Custom resources and pods of one namespace; errors as KubeError with the API server's message."""

    def __init__(self, settings: KubeSettings, conn: connection.Connection | None = None) -> None:
        self.settings = settings
        self.namespace = settings.namespace
        self._given = conn
        self._api: ApiClient | None = None

    async def _connect(self) -> ApiClient:
        if self._api is None:
            token = self.settings.token.get_secret_value() if self.settings.token else None
            try:
                conn = self._given or await connection.load(
                    api_url=self.settings.api_url,
                    token=token,
                    insecure=self.settings.insecure,
                    kubeconfig=self.settings.kubeconfig,
                )
            except connection.NoConnection as exc:
                raise KubeError(0, str(exc)) from exc
            self._api = kube_client.api_client(conn, user_agent=USER_AGENT)
        return self._api

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()
            self._api = None

    async def _call(self, make: Callable[[ApiClient], Awaitable[Any]]) -> Any:
        """Runs `make(api)` (a call made with RAW), reconnecting once on 401."""
        for attempt in (1, 2):
            api = await self._connect()
            try:
                return await kube_client.send(make(api))
            except kube_client.ApiException as exc:
                if exc.status == 401 and attempt == 1 and self._given is None:
                    await self.close()
                    continue
                raise KubeError(kube_client.status_of(exc), kube_client.message_of(exc)) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                where = api.configuration.host
                raise KubeError(0, f"cannot reach the Kubernetes API at {where}: {exc!r}") from exc
        raise AssertionError("unreachable")

    # -- IoTDevice / IoTFleet ---------------------------------------------------------------------

    def _objects(self, api: ApiClient) -> CustomObjectsApi:
        return CustomObjectsApi(api)

    def _args(self, kind: str) -> tuple[str, str, str, str]:
        return models.GROUP, models.VERSION, self.namespace, models.PLURALS[kind]

    async def list_objects(self, kind: str) -> list[dict[str, Any]]:
        body = await self._call(
            lambda api: self._objects(api).list_namespaced_custom_object(
                *self._args(kind), _request_timeout=TIMEOUT, **kube_client.RAW
            )
        )
        return [i for i in body.get("items") or [] if isinstance(i, dict)]

    async def create_object(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            await self._call(
                lambda api: self._objects(api).create_namespaced_custom_object(
                    *self._args(kind), body, field_manager=USER_AGENT, _request_timeout=TIMEOUT, **kube_client.RAW
                )
            ),
        )

    async def patch_object(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the resource (spec, labels, annotations)."""
        return cast(
            dict[str, Any],
            await self._call(
                lambda api: cast(Any, self._objects(api)).patch_namespaced_custom_object(
                    *self._args(kind),
                    name,
                    patch,
                    field_manager=USER_AGENT,
                    _request_timeout=TIMEOUT,
                    **kube_client.MERGE_PATCH,
                    **kube_client.RAW,
                )
            ),
        )

    async def delete_object(self, kind: str, name: str) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            await self._call(
                lambda api: self._objects(api).delete_namespaced_custom_object(
                    *self._args(kind), name, _request_timeout=TIMEOUT, **kube_client.RAW
                )
            ),
        )

    # -- pods -----------------------------------------------------------------------------------

    async def list_pods(self, selector: str) -> tuple[list[dict[str, Any]], str]:
        """The pods matching `selector` and the list's resourceVersion (where a watch resumes)."""
        body = await self._call(
            lambda api: CoreV1Api(api).list_namespaced_pod(
                self.namespace, label_selector=selector, _request_timeout=TIMEOUT, **kube_client.RAW
            )
        )
        items = [i for i in body.get("items") or [] if isinstance(i, dict)]
        return items, str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def watch_pods(self, selector: str, resource_version: str) -> AsyncIterator[dict[str, Any]]:
        """Watch events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) from `resource_version` on, until the
        server ends the request; an expired version arrives as an ERROR event with code 410."""
        async for event in self._watch(
            lambda api, **watch: CoreV1Api(api).list_namespaced_pod(self.namespace, label_selector=selector, **watch),
            resource_version,
        ):
            yield event

    async def list_objects_versioned(self, kind: str) -> tuple[list[dict[str, Any]], str]:
        """The custom objects of `kind` and the list's resourceVersion (where a watch resumes)."""
        body = await self._call(
            lambda api: self._objects(api).list_namespaced_custom_object(
                *self._args(kind), _request_timeout=TIMEOUT, **kube_client.RAW
            )
        )
        items = [i for i in body.get("items") or [] if isinstance(i, dict)]
        return items, str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def watch_objects(self, kind: str, resource_version: str) -> AsyncIterator[dict[str, Any]]:
        """Watch events of the custom objects of `kind`, as `watch_pods`."""
        async for event in self._watch(
            lambda api, **watch: self._objects(api).list_namespaced_custom_object(*self._args(kind), **watch),
            resource_version,
        ):
            yield event

    async def _watch(self, call: Callable[..., Awaitable[Any]], resource_version: str) -> AsyncIterator[dict[str, Any]]:
        api = await self._connect()
        try:
            response = await kube_client.checked(
                call(
                    api,
                    watch=cast(Any, "true"),  # as kubectl spells it (the client's True becomes "True")
                    resource_version=resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=WATCH_SECONDS,
                    _request_timeout=aiohttp.ClientTimeout(sock_connect=TIMEOUT, sock_read=WATCH_SECONDS + 30),
                    **kube_client.RAW,
                )
            )
        except kube_client.ApiException as exc:
            if exc.status == 401:
                await self.close()
            raise KubeError(kube_client.status_of(exc), kube_client.message_of(exc)) from exc
        try:
            async for line in response.content:
                if line.strip():
                    event = json.loads(line)
                    if isinstance(event, dict):
                        yield event
        finally:
            response.release()

    async def pod_proxy(
        self,
        pod: str,
        port: int | str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """A streaming GET of `path?query` on the pod's port through the API server's pod proxy.

        The generated `connect_get_namespaced_pod_proxy_with_path` takes no query string: the same
        call is made through the client's `call_api`, with the query and extra headers given."""
        api = await self._connect()
        try:
            return await kube_client.checked(
                api.call_api(
                    "/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}",
                    "GET",
                    {"name": f"{pod}:{port}", "namespace": self.namespace, "path": path},
                    list(query),
                    {"Accept": "*/*", **(headers or {})},
                    auth_settings=["BearerToken"],
                    response_types_map={},
                    _request_timeout=aiohttp.ClientTimeout(sock_connect=TIMEOUT),
                    **kube_client.RAW,
                )
            )
        except kube_client.ApiException as exc:
            raise KubeError(kube_client.status_of(exc), kube_client.message_of(exc)) from exc
