"""Live events in cluster mode: one Server-Sent Events stream per emulator pod, into the event hub.

The operator's pods serve the emulator's HTTP endpoint (`/events`: a `snapshot` event, then every
JSON-lines message). The pods (label `managed-by`, and the pod carries the device or fleet label)
are listed, then watched (`watching.follow`). A running pod gets a stream task, a gone pod loses
its task. A stream that breaks is opened again after a backoff that doubles up to 30 s. The pod's
`snapshot` becomes one `stats` message per device, so the table fills at once.

Pods are reached by IP (the dashboard runs in the cluster) or through the API server's pod
proxy (`events_via_proxy`, for a dashboard outside the cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import httpx_sse

from iot_dashboard import capture, events
from iot_dashboard.backends.kubernetes import client, watching
from iot_dashboard.settings import KubeSettings
from iot_emulator.reporting import capture_format, messages

log = logging.getLogger(__name__)
MAX_BACKOFF = watching.MAX_BACKOFF


class _Body(httpx.AsyncByteStream):
    """An aiohttp body as an httpx stream, so that httpx-sse reads it (the pod proxy is aiohttp's)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk


async def sse(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of a Server-Sent Events body, parsed by httpx-sse (SSEError: not an event stream)."""
    content_type = {"Content-Type": response.headers.get("Content-Type", "")}  # the body aiohttp already decoded
    body = httpx.Response(response.status, headers=content_type, stream=_Body(response.content.iter_any()))
    async for event in httpx_sse.EventSource(body).aiter_sse():
        yield event.event, event.data


def publish(hub: events.EventHub, pod: str, event: str, data: str) -> None:
    try:
        body: Any = json.loads(data)
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    if event == "snapshot":
        now = time.time()
        for row in body.get("devices") or []:
            if isinstance(row, dict) and isinstance(row.get("device_id"), str):
                stats = {k: v for k, v in row.items() if k != "device_id"}
                message = messages.make("stats", row["device_id"], now, stats=stats, pod=pod)
                if events.accepted(message, f"pod {pod}"):
                    hub.publish(message)
    elif event == "dropped":
        hub.service_log("warning", f"pod {pod}: {body.get('dropped')} events dropped by its /events stream")
    elif isinstance(body.get("device_id"), str) and events.accepted(body, f"pod {pod}"):
        hub.publish(body, data)  # the event's data is the message's JSON: not encoded again


class PodStreams:
    """See the module docstring."""

    def __init__(self, kube: client.KubeClient, settings: KubeSettings, hub: events.EventHub) -> None:
        self.kube = kube
        self.settings = settings
        self.hub = hub
        self.streams: dict[str, tuple[str, asyncio.Task[None]]] = {}
        """Pod name -> (the URL its stream reads, the task)."""
        self.error: str | None = None
        self.pods: dict[str, dict[str, Any]] = {}
        """The emulator pods last listed or watched, by name."""
        self._direct = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    def _selector(self) -> str:
        return f"{self.settings.managed_by_label}={self.settings.managed_by_value}"

    def _wanted(self, pod: dict[str, Any]) -> bool:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        s = self.settings
        emulates = s.device_label in labels or s.fleet_label in labels
        status = pod.get("status") or {}
        return emulates and status.get("phase") == "Running" and bool(status.get("podIP"))

    def url_of(self, pod: dict[str, Any]) -> str:
        """Where the pod's /events is: `proxy:<port>` through the API server, or its own address."""
        meta = pod["metadata"]
        port = (meta.get("annotations") or {}).get(self.settings.events_port_annotation) or self.settings.events_port
        if self.settings.events_via_proxy:
            return f"proxy:{port}"
        return f"http://{pod['status']['podIP']}:{port}/events"

    def sync(self, pods: dict[str, dict[str, Any]]) -> None:
        """Streams for exactly the running emulator pods among `pods` (by name)."""
        urls = {name: self.url_of(p) for name, p in pods.items() if self._wanted(p)}
        for name in list(self.streams):
            if self.streams[name][0] != urls.get(name):
                self.streams.pop(name)[1].cancel()
        for name, url in urls.items():
            if name not in self.streams:
                self.streams[name] = (url, asyncio.create_task(self._stream(name, url), name=f"events-{name}"))

    def running(self, label: str, value: str) -> list[dict[str, Any]]:
        """The running emulator pods whose `label` is `value`."""
        return [
            p for p in self.pods.values() if self._wanted(p) and (p["metadata"].get("labels") or {}).get(label) == value
        ]

    async def open_capture(
        self, pod: dict[str, Any], query: dict[str, str], seconds: float, token: str
    ) -> capture.Source:
        """`GET /capture` on the pod (by IP or through the pod proxy, as its /events), its status checked."""
        name = pod["metadata"]["name"]
        url = self.url_of(pod)
        params = {**query, "seconds": str(seconds)}
        headers = {capture_format.TOKEN_HEADER: token}
        if url.startswith("proxy:"):
            response = await self.kube.pod_proxy(
                name, url.removeprefix("proxy:"), "capture", list(params.items()), headers
            )
        else:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=seconds + capture.GRACE_SECONDS)
            url = url.removesuffix("/events") + "/capture"
            try:
                response = await self._direct.get(url, params=params, headers=headers, timeout=timeout)
            except aiohttp.ClientError as exc:
                raise client.KubeError(0, f"pod {name}: {exc!r}") from exc
            if response.status != 200:
                text = (await response.text())[:500]
                response.release()
                raise client.KubeError(response.status, f"pod {name}: {text}")

        async def close() -> None:
            response.close()

        return capture.Source(name, response.content.iter_any(), close)

    async def run(self) -> None:
        """List, then watch the emulator pods (`watching.follow`), keeping one stream per running pod."""
        pods = self.pods

        def listed(items: list[dict[str, Any]]) -> None:
            pods.clear()
            pods.update({p["metadata"]["name"]: p for p in items})
            self.sync(pods)

        def changed(kind: str, pod: dict[str, Any]) -> None:
            name = pod["metadata"]["name"]
            if kind == "DELETED":
                pods.pop(name, None)
            else:
                pods[name] = pod
            self.sync(pods)

        def failed(error: str | None) -> None:
            self.error = error

        selector = self._selector()
        await watching.follow(
            "emulator pods",
            lambda: self.kube.list_pods(selector),
            lambda version: self.kube.watch_pods(selector, version),
            listed,
            changed,
            failed,
        )

    async def _open(self, pod: str, url: str) -> aiohttp.ClientResponse:
        if url.startswith("proxy:"):
            return await self.kube.pod_proxy(pod, url.removeprefix("proxy:"), "events")
        return await self._direct.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    async def _stream(self, pod: str, url: str) -> None:
        delay = 1.0
        while True:
            try:
                response = await self._open(pod, url)
                try:
                    if response.status == 200:
                        delay = 1.0
                        async for event, data in sse(response):
                            publish(self.hub, pod, event, data)
                    else:
                        log.warning("pod %s: /events answered %d", pod, response.status)
                finally:
                    response.release()
            except (client.KubeError, aiohttp.ClientError, httpx_sse.SSEError, TimeoutError) as exc:
                log.info("pod %s: /events stream broke: %r", pod, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def close(self) -> None:
        tasks = [task for _, task in self.streams.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.streams.clear()
        await self._direct.close()
