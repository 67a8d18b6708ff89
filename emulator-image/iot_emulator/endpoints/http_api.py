"""The emulator process's HTTP endpoint (`--http-port`): health, stats, live events, metrics.

Why it exists: the operator and the dashboard must see what thousands of emulated devices are doing
without parsing each process's stdout. One small aiohttp server in the engine's own event loop
serves four read-only views of an `EngineView`:

- `GET /healthz`: liveness, with device and bound counts.
- `GET /stats`: process totals and per-device stats, filtered by `?device=ID` and `?state=S`
  (both repeatable).
- `GET /events`: the JSON-lines messages as Server-Sent Events (`event: <type>`, `data: <json>`),
  filtered by `?device=ID` (repeatable) and `?type=dhcp*,error` (shell-style patterns). A
  `snapshot` event (the /stats body) comes first; a comment every `keepalive` seconds keeps
  proxies from closing an idle stream.
- `GET /metrics`: Prometheus text, read from the view at scrape time by a custom collector.
- `GET /capture`: a live pcap of some devices, time-bounded (`capture_routes`; guarded).

The engine must never wait for a reader. Each SSE client is one sink on the engine's `Fanout`, a
`messages.Subscriber` (the dashboard's clients have the same): it filters and enqueues in O(1) into a
bounded queue and, when the queue is full, drops the oldest message and counts it. The client's
writer task drains the queue at the client's pace and announces every gap with a `dropped` event
placed where the messages were lost. Disconnected clients are removed from the `Fanout` (aiohttp cancels their handler).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import exposition, registry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from iot_emulator.endpoints import capture, capture_routes, control, control_routes
from iot_emulator.reporting import messages

log = logging.getLogger(__name__)

KNOWN_STATES = ("binding", "bound", "stopped")
"""States always present in `iotemu_devices`, at 0 when no device is in them (stable series)."""
_BATCH = 256
"""Messages an SSE writer takes from its queue per socket write."""
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EngineView(Protocol):
    """What the endpoint reads from the engine; the engine owns every value."""

    @property
    def events(self) -> messages.Fanout:
        """Where the engine emits every message; a plain attribute satisfies this (read-only here)."""
        ...

    def device_stats(self) -> list[dict[str, Any]]: ...

    def totals(self) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class Settings:
    """Tuning of the endpoint; the defaults suit a process of 10,000 devices."""

    queue_size: int = 10_000
    """Messages kept per SSE client before the oldest are dropped."""
    keepalive: float = 15.0
    """Seconds of silence after which an SSE stream gets a `: keep-alive` comment."""
    per_device_metrics: bool = False
    """Export `iotemu_device_*{device_id=...}` series too (one series per device and counter)."""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {_dumps(data)}\n\n".encode()


def _values(request: web.Request, key: str, split: bool = False) -> frozenset[str]:
    """All values of a repeatable query parameter; with `split`, comma lists too."""
    raw = request.query.getall(key, [])
    parts = (p for v in raw for p in v.split(",")) if split else iter(raw)
    return frozenset(p.strip() for p in parts if p.strip())


def _stats_body(view: EngineView, devices: frozenset[str], states: frozenset[str]) -> dict[str, Any]:
    rows = [
        d
        for d in view.device_stats()
        if (not devices or d.get("device_id") in devices) and (not states or d.get("state") in states)
    ]
    return {"totals": view.totals(), "devices": rows}


class _Hub:
    """The SSE clients of one server (each a `messages.Subscriber`, a sink on the engine's Fanout), and
    the drop count `/metrics` reports."""

    def __init__(self, view: EngineView, settings: Settings) -> None:
        self.view = view
        self.settings = settings
        self.subscribers: set[messages.Subscriber] = set()
        self._dropped_closed = 0
        """Drops of clients that have left, so the lifetime counter never goes down."""

    @property
    def dropped(self) -> int:
        return self._dropped_closed + sum(sub.dropped for sub in self.subscribers)

    def subscribe(self, devices: frozenset[str], patterns: frozenset[str]) -> messages.Subscriber:
        sub = messages.Subscriber(self.settings.queue_size, asyncio.Event(), devices, patterns)
        self.view.events.add(sub)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: messages.Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            self._dropped_closed += sub.dropped
        with contextlib.suppress(ValueError):
            self.view.events.remove(sub)

    def close_all(self) -> None:
        """Ends every stream at once: what their queues still hold is discarded."""
        for sub in list(self.subscribers):
            sub.close(discard=True)


class _Collector(registry.Collector):
    """Reads the view at scrape time: nothing is stored between scrapes."""

    def __init__(self, hub: _Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        view, hub = self._hub.view, self._hub
        devices = view.device_stats()
        totals = view.totals()

        states = Counter(str(d.get("state", "unknown")) for d in devices)
        by_state = GaugeMetricFamily("iotemu_devices", "Emulated devices by state.", labels=["state"])
        for state in sorted(set(KNOWN_STATES) | set(states)):
            by_state.add_metric([state], states.get(state, 0))
        yield by_state

        auth = Counter(str(d["auth"]) for d in devices if d.get("auth"))
        by_auth = GaugeMetricFamily(
            "iotemu_devices_auth", "Emulated devices by 802.1X state (mab: they send no EAPOL).", labels=["state"]
        )
        for state in sorted(auth):
            by_auth.add_metric([state], auth[state])
        yield by_auth

        for key, help_ in (
            ("packets_sent", "Packets sent by all devices."),
            ("bytes_sent", "Bytes sent by all devices."),
            ("packets_received", "Packets received by all devices."),
            ("bytes_received", "Bytes received by all devices."),
        ):
            yield CounterMetricFamily(f"iotemu_{key}", help_, value=float(totals.get(key, 0) or 0))

        protocols: Counter[str] = Counter()
        for d in devices:
            protocols.update({str(k): int(v or 0) for k, v in (d.get("protocols") or {}).items()})
        per_protocol = CounterMetricFamily(
            "iotemu_protocol_packets_sent",
            "Packets sent per protocol, summed over devices.",
            labels=["protocol"],
        )
        for name in sorted(protocols):
            per_protocol.add_metric([name], protocols[name])
        yield per_protocol

        yield GaugeMetricFamily(
            "iotemu_uptime_seconds",
            "Seconds since the engine started.",
            value=float(totals.get("uptime_seconds", 0) or 0),
        )
        yield CounterMetricFamily(
            "iotemu_events_dropped", "Events dropped because an SSE client was too slow.", value=hub.dropped
        )
        clients = len(hub.subscribers)
        yield GaugeMetricFamily("iotemu_sse_clients", "Connected /events clients.", value=clients)
        if hub.settings.per_device_metrics:
            yield from _per_device(devices)


def _per_device(devices: Iterable[dict[str, Any]]) -> Iterator[Metric]:
    families = {
        key: CounterMetricFamily(
            f"iotemu_device_{key}", f"{key.replace('_', ' ').capitalize()}, per device.", labels=["device_id"]
        )
        for key in ("packets_sent", "bytes_sent", "packets_received", "bytes_received")
    }
    for d in devices:
        for key, family in families.items():
            family.add_metric([str(d.get("device_id", ""))], float(d.get(key, 0) or 0))
    yield from families.values()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is a JSON body; an exception in a view is logged, never raised into the engine."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        body = {"error": exc.reason, "status": exc.status}
        return web.json_response(body, status=exc.status, headers=headers)
    except Exception:
        log.exception("HTTP %s %s failed", request.method, request.path)
        return web.json_response({"error": "Internal Server Error", "status": 500}, status=500)


class _Routes:
    def __init__(self, hub: _Hub, metrics: registry.CollectorRegistry) -> None:
        self._hub = hub
        self._metrics = metrics

    async def read_health(self, request: web.Request) -> web.Response:
        """Liveness plus the two counts a probe or a glance wants."""
        totals = self._hub.view.totals()
        body = {"status": "ok", "devices": totals.get("devices", 0), "bound": totals.get("bound", 0)}
        return web.json_response(body)

    async def read_stats(self, request: web.Request) -> web.Response:
        """Process totals and the (filtered) per-device stats."""
        body = _stats_body(self._hub.view, _values(request, "device"), _values(request, "state"))
        return web.json_response(body, dumps=_dumps)

    async def read_metrics(self, request: web.Request) -> web.Response:
        """Prometheus text exposition of the own registry."""
        payload = exposition.generate_latest(self._metrics)
        return web.Response(body=payload, headers={"Content-Type": exposition.CONTENT_TYPE_LATEST})

    async def stream_events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: a snapshot, then every matching message, at the client's pace."""
        hub = self._hub
        devices = _values(request, "device")
        sub = hub.subscribe(devices, _values(request, "type", split=True))
        try:  # subscribed before the snapshot: nothing falls between the two
            snapshot = _sse("snapshot", _stats_body(hub.view, devices, frozenset()))
            resp = web.StreamResponse(headers=_SSE_HEADERS)
            await resp.prepare(request)
            try:
                await resp.write(snapshot)
                await self._pump(sub, resp, hub.settings.keepalive)
            except ConnectionError:
                log.debug("SSE client %s left", request.remote)
            except Exception:  # the response is started: log, end the stream, keep the engine going
                log.exception("SSE stream to %s failed", request.remote)
            return resp
        finally:  # also on cancellation, when the client disconnects
            hub.unsubscribe(sub)

    @staticmethod
    async def _pump(sub: messages.Subscriber, resp: web.StreamResponse, keepalive: float) -> None:
        while True:
            try:
                batch = await asyncio.wait_for(sub.next_batch(_BATCH), keepalive)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            if not batch:  # closed
                return
            chunks = []
            if drops := sub.take_drops():  # the lost messages were older than everything in this batch
                gap = {
                    "type": "dropped",
                    "dropped": drops,
                    "total_dropped": sub.dropped,
                    "timestamp": messages.timestamp(time.time()),
                }
                chunks.append(_sse("dropped", gap))
            chunks.extend(_sse(str(message.get("type", "message")), message) for message in batch)
            await resp.write(b"".join(chunks))


class Server:
    """A running endpoint. `port` is the bound port, so `start(..., port=0)` works."""

    def __init__(self, runner: web.AppRunner, hub: _Hub) -> None:
        self._runner = runner
        self._hub = hub
        tcp = [a for a in runner.addresses if isinstance(a, tuple)]
        self.host, self.port = tcp[0][:2] if tcp else ("", 0)

    @property
    def sse_clients(self) -> int:
        """Connected /events clients."""
        return len(self._hub.subscribers)

    @property
    def events_dropped(self) -> int:
        """Messages dropped for slow /events clients since start."""
        return self._hub.dropped

    def queued(self) -> list[int]:
        """Messages waiting in each SSE client's queue (each at most `Settings.queue_size`)."""
        return [sub.queued for sub in self._hub.subscribers]

    async def close(self) -> None:
        """Stops listening, ends every SSE stream and removes their sinks from the Fanout."""
        await self._runner.cleanup()


@web.middleware
async def _control_on_unix_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Adding and removing devices is for the unix socket's owner: over TCP (whatever `--http-host`
    says, loopback included: every local user reaches it) only the read-only views are served."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    control_path = request.path == "/devices" or request.path.startswith("/devices/")
    if control_path and not isinstance(sockname, str):  # TCP: a (host, port) tuple
        return web.json_response({"error": "control is served on the unix socket only", "status": 403}, status=403)
    return await handler(request)


async def start(
    view: EngineView,
    host: str,
    port: int | None,
    settings: Settings | None = None,
    *,
    ctl: control.Control | None = None,
    unix_path: str | None = None,
    tap: capture.CaptureTap | None = None,
    roster: capture_routes.Roster | None = None,
    capture_token: str | None = None,
) -> Server:
    """Serves `view` on host:port and/or a unix socket, in the running event loop (no threads).

    With `ctl`, the control routes (`POST /devices`, `DELETE /devices/{id}`) are served too, on the
    unix socket only (mode 0600). With `tap` and `roster`, `GET /capture` (see `capture_routes`).
    """
    hub = _Hub(view, settings or Settings())
    metrics = registry.CollectorRegistry(auto_describe=False)
    metrics.register(_Collector(hub))
    routes = _Routes(hub, metrics)

    app = web.Application(middlewares=[_json_errors, _control_on_unix_only], client_max_size=control_routes.MAX_BODY)
    app.router.add_get("/healthz", routes.read_health)
    app.router.add_get("/stats", routes.read_stats)
    app.router.add_get("/events", routes.stream_events, allow_head=False)
    app.router.add_get("/metrics", routes.read_metrics)
    if ctl is not None:
        control_routes.register(app, ctl)
    if tap is not None and roster is not None:
        capture_routes.register(app, tap, roster, capture_token)

    async def end_streams(_: web.Application) -> None:
        hub.close_all()

    app.on_shutdown.append(end_streams)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    try:
        if port is not None:
            await web.TCPSite(runner, host, port).start()
        if unix_path is not None:
            await web.UnixSite(runner, unix_path).start()
            os.chmod(unix_path, 0o600)  # whoever connects may add and remove devices: its owner only
    except BaseException:
        await runner.cleanup()
        raise
    return Server(runner, hub)
