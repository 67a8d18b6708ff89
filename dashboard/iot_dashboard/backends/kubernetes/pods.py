"""Live events in cluster mode: one Server-Sent Events stream per emulator pod, into the event hub.

The operator's pods serve the emulator's HTTP endpoint (`/events`: a `snapshot` event, then every
JSON-lines message). Every `poll_interval` the pods are listed (label `managed-by`, and the pod
carries the device or fleet label); a new running pod gets a stream task, a gone pod loses its
task. A stream that breaks is opened again after a backoff that doubles up to 30 s. The pod's
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

from iot_dashboard import events
from iot_dashboard.backends.kubernetes import client
from iot_dashboard.settings import KubeSettings
from iot_emulator import messages

log = logging.getLogger(__name__)
MAX_BACKOFF = 30.0


async def sse(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of a Server-Sent Events body; comments and unknown fields skipped."""
    event, data = "message", list[str]()
    async for raw in response.content:
        line = raw.decode(errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


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
                hub.publish(messages.make("stats", row["device_id"], now, stats=row, pod=pod))
    elif event == "dropped":
        hub.service_log("warning", f"pod {pod}: {body.get('dropped')} events dropped by its /events stream")
    elif isinstance(body.get("device_id"), str):
        hub.publish(body)


class PodStreams:
    """See the module docstring."""

    def __init__(self, kube: client.KubeClient, settings: KubeSettings, hub: events.EventHub) -> None:
        self.kube = kube
        self.settings = settings
        self.hub = hub
        self.streams: dict[str, asyncio.Task[None]] = {}
        self.error: str | None = None
        self._direct = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    def _selector(self) -> str:
        return f"{self.settings.managed_by_label}={self.settings.managed_by_value}"

    def _wanted(self, pod: dict[str, Any]) -> bool:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        s = self.settings
        ours = labels.get(s.managed_by_label) == s.managed_by_value
        emulates = s.device_label in labels or s.fleet_label in labels
        status = pod.get("status") or {}
        return ours and emulates and status.get("phase") == "Running" and bool(status.get("podIP"))

    def url_of(self, pod: dict[str, Any]) -> str:
        meta = pod["metadata"]
        port = (meta.get("annotations") or {}).get(self.settings.events_port_annotation) or self.settings.events_port
        if self.settings.events_via_proxy:
            namespace = meta.get("namespace") or self.settings.namespace
            return f"api/v1/namespaces/{namespace}/pods/{meta['name']}:{port}/proxy/events"
        return f"http://{pod['status']['podIP']}:{port}/events"

    async def refresh(self) -> None:
        """List the pods once; start and stop streams to match."""
        path = f"api/v1/namespaces/{self.settings.namespace}/pods?labelSelector={self._selector()}"
        try:
            pods = [p for p in await self.kube.list(path) if self._wanted(p)]
            self.error = None
        except client.KubeError as exc:
            self.error = str(exc)
            log.warning("listing emulator pods failed: %s", exc)
            return
        urls = {p["metadata"]["name"]: self.url_of(p) for p in pods}
        for name in list(self.streams):
            if name not in urls:
                self.streams.pop(name).cancel()
        for name, url in urls.items():
            if name not in self.streams or self.streams[name].done():
                self.streams[name] = asyncio.create_task(self._stream(name, url), name=f"events-{name}")

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.settings.poll_interval)

    async def _stream(self, pod: str, url: str) -> None:
        delay = 1.0
        session = self.kube.session if self.settings.events_via_proxy else self._direct
        extra: dict[str, Any] = {"ssl": self.kube.conn.ssl} if self.settings.events_via_proxy else {}
        while True:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=None), **extra) as resp:
                    if resp.status == 200:
                        delay = 1.0
                        async for event, data in sse(resp):
                            publish(self.hub, pod, event, data)
                    else:
                        log.warning("pod %s: /events answered %d", pod, resp.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.info("pod %s: /events stream broke: %r", pod, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def close(self) -> None:
        for task in self.streams.values():
            task.cancel()
        for task in self.streams.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.streams.clear()
        await self._direct.close()
