"""Reading the emulator pods' `/stats`: where each pod is reached, and bounded concurrent reads.

Why /stats rather than events or logs: the emulator already serves exactly the aggregate the
status needs (process totals, per-device state and counters), a poll every few seconds costs one
small request per pod, and nothing is lost when the operator restarts. For a fleet only the devices
that are not bound are asked for (`?state=`): a pod of 5,000 bound devices answers with its totals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import aiohttp

from iot_operator import observed
from iot_operator import settings as settings_mod
from iot_operator import status as status_mod

NOT_BOUND = (("state", "pending"), ("state", "binding"), ("state", "stopped"))
"""The /stats query of a fleet pod: its totals, and the rows of devices without a lease."""


def base_url(pod: observed.PodView, settings: settings_mod.OperatorSettings) -> str | None:
    """The pod's HTTP endpoint: the override of settings.stats_urls, else its IP and port (None: no IP yet)."""
    override = settings.stats_urls.get(f"{pod.namespace}/{pod.name}")
    if override:
        return override.rstrip("/")
    if pod.pod_ip is None or not pod.port:
        return None
    host = f"[{pod.pod_ip}]" if ":" in pod.pod_ip else pod.pod_ip
    return f"http://{host}:{pod.port}"


class Scraper:
    def __init__(self, settings: settings_mod.OperatorSettings) -> None:
        self._settings = settings
        self._limit = asyncio.Semaphore(settings.stats_concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def stats(self, pod: observed.PodView, query: Sequence[tuple[str, str]] = ()) -> status_mod.Stats:
        url = base_url(pod, self._settings)
        if url is None:
            return "the pod has no IP yet"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._settings.stats_timeout))
        try:
            async with self._limit, self._session.get(f"{url}/stats", params=list(query)) as resp:
                if resp.status != 200:
                    return f"/stats answered HTTP {resp.status}"
                body = await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return f"cannot read {url}/stats: {exc.__class__.__name__} {exc}".strip()
        if not isinstance(body, dict) or not isinstance(body.get("totals"), dict):
            return f"{url}/stats: not the emulator's /stats body"
        return body

    async def many(
        self, pods: Iterable[observed.PodView], query: Sequence[tuple[str, str]] = ()
    ) -> dict[str, status_mod.Stats]:
        """/stats of every running pod, read concurrently (at most settings.stats_concurrency at once)."""
        running = [p for p in pods if p.running]
        results = await asyncio.gather(*(self.stats(p, query) for p in running))
        return {p.name: r for p, r in zip(running, results, strict=True)}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
