"""The emulator's HTTP endpoint, served for real on 127.0.0.1 from a fake engine view."""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import prometheus_client
from prometheus_client import parser

from iot_dashboard.backends.kubernetes import pods
from iot_emulator.endpoints import http_api
from iot_emulator.reporting import message_models, messages

DEADLINE = 10.0  # seconds; a guard against hangs, never a pace


def _device(device_id: str, state: str, sent: int, protocols: dict[str, int]) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "mac": "00:12:34:56:78:01",
        "hostname": device_id,
        "profile": "hikvision",
        "state": state,
        "current_ip": "192.168.207.10" if state == "bound" else None,
        "packets_sent": sent,
        "bytes_sent": sent * 100,
        "packets_received": sent // 2,
        "bytes_received": sent * 50,
        "packet_rate": 1.5,
        "uptime_seconds": 12.0,
        "protocols": protocols,
        "lease": None,
    }


class RecordingFanout(messages.Fanout):
    """A Fanout that lets a test await the removal of a sink instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.removed = asyncio.Event()

    def remove(self, sink: messages.Emit) -> None:
        super().remove(sink)
        self.removed.set()


class FakeEngine:
    def __init__(self) -> None:
        self.events = RecordingFanout()
        self.fail = False
        self.devices = [
            _device("cam1", "bound", 10, {"arp": 2, "dhcp": 4, "rtsp": 4}) | {"auth": "authorized"},
            _device("cam2", "bound", 20, {"dhcp": 4, "http": 16}) | {"auth": "authorized"},
            _device("plug1", "binding", 3, {"dhcp": 3}) | {"auth": "mab"},
        ]

    def device_stats(self) -> list[dict[str, Any]]:
        if self.fail:
            raise RuntimeError("engine hiccup")
        return [dict(d) for d in self.devices]

    def totals(self) -> dict[str, Any]:
        return {
            "devices": len(self.devices),
            "bound": 2,
            "binding": 1,
            "packets_sent": 33,
            "bytes_sent": 3300,
            "packets_received": 16,
            "bytes_received": 1650,
            "started_at": "2025-01-01T00:00:00.000Z",
            "uptime_seconds": 12.5,
            "interface": "veth0",
        }


@contextlib.asynccontextmanager
async def serving(
    engine: FakeEngine, **settings: Any
) -> AsyncIterator[tuple[http_api.Server, aiohttp.ClientSession, str]]:
    server = await http_api.start(engine, "127.0.0.1", 0, http_api.Settings(**settings))
    try:
        async with aiohttp.ClientSession() as session:
            yield server, session, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


_READERS: weakref.WeakKeyDictionary[aiohttp.ClientResponse, AsyncIterator[tuple[str, str]]] = (
    weakref.WeakKeyDictionary()
)


async def next_event(resp: aiohttp.ClientResponse) -> tuple[str, Any]:
    """The next SSE event of the stream, read as the dashboard reads a pod's (httpx-sse): (event, decoded data)."""
    reader = _READERS.setdefault(resp, pods.sse(resp))
    async with asyncio.timeout(DEADLINE):
        event, data = await anext(reader)
    return event, json.loads(data)


def emit(engine: FakeEngine, type_: str, device_id: str, **fields: Any) -> None:
    engine.events(messages.make(type_, device_id, 1_700_000_000.0, **fields))


async def test_healthz() -> None:
    async with serving(FakeEngine()) as (_, session, url), session.get(f"{url}/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "devices": 3, "bound": 2}


async def test_stats_and_filters() -> None:
    engine = FakeEngine()
    async with serving(engine) as (_, session, url):

        async def ids(query: str) -> list[str]:
            async with session.get(f"{url}/stats{query}") as resp:
                assert resp.status == 200
                body = await resp.json()
                assert body["totals"] == engine.totals()
                return [d["device_id"] for d in body["devices"]]

        assert await ids("") == ["cam1", "cam2", "plug1"]
        assert await ids("?device=cam2&device=plug1") == ["cam2", "plug1"]
        assert await ids("?state=bound") == ["cam1", "cam2"]
        assert await ids("?state=binding&device=cam1") == []
        assert await ids("?device=nobody") == []


async def test_unknown_route_and_method_are_json_errors() -> None:
    async with serving(FakeEngine()) as (_, session, url):
        async with session.get(f"{url}/nope") as resp:
            assert resp.status == 404
            assert await resp.json() == {"error": "Not Found", "status": 404}
        async with session.post(f"{url}/stats") as resp:
            assert resp.status == 405
            assert (await resp.json())["status"] == 405
            assert "GET" in resp.headers["Allow"]


async def test_engine_error_is_a_500_and_the_server_survives() -> None:
    engine = FakeEngine()
    async with serving(engine) as (_, session, url):
        engine.fail = True
        async with session.get(f"{url}/stats") as resp:
            assert resp.status == 500
            assert (await resp.json())["status"] == 500
        engine.fail = False
        async with session.get(f"{url}/stats") as resp:
            assert resp.status == 200


async def test_events_snapshot_then_filtered_messages() -> None:
    engine = FakeEngine()
    async with serving(engine) as (_, session, url):
        filtered = await session.get(f"{url}/events?device=cam1&device=plug1&type=dhcp*,error")
        everything = await session.get(f"{url}/events")
        assert filtered.headers["Content-Type"] == "text/event-stream"

        event, body = await next_event(filtered)
        assert event == "snapshot"
        assert body["totals"] == engine.totals()
        assert [d["device_id"] for d in body["devices"]] == ["cam1", "plug1"]
        event, body = await next_event(everything)
        assert event == "snapshot" and len(body["devices"]) == 3

        emit(engine, "dhcp_ack", "cam2", ip="192.168.207.11")  # other device
        emit(engine, "stats", "cam1", packets_sent=10)  # other type
        emit(engine, "dhcp_offer", "cam1", ip="192.168.207.10")
        emit(engine, "error", "plug1", error="no lease", severity="warning")

        assert await next_event(filtered) == (
            "dhcp_offer",
            messages.make("dhcp_offer", "cam1", 1_700_000_000.0, ip="192.168.207.10"),
        )
        event, body = await next_event(filtered)
        assert (event, body["device_id"], body["severity"]) == ("error", "plug1", "warning")

        seen = [await next_event(everything) for _ in range(4)]
        assert [(e, b["device_id"]) for e, b in seen] == [
            ("dhcp_ack", "cam2"),
            ("stats", "cam1"),
            ("dhcp_offer", "cam1"),
            ("error", "plug1"),
        ]
        filtered.close()
        everything.close()


async def test_keepalive_comment_on_idle_stream() -> None:
    async with (
        serving(FakeEngine(), keepalive=0.01) as (_, session, url),
        session.get(f"{url}/events") as resp,
    ):
        assert (await next_event(resp))[0] == "snapshot"
        async with asyncio.timeout(DEADLINE):
            assert await resp.content.readline() == b": keep-alive\n"


async def test_disconnect_removes_the_sink() -> None:
    engine = FakeEngine()
    async with serving(engine) as (server, session, url):
        resp = await session.get(f"{url}/events")
        assert (await next_event(resp))[0] == "snapshot"
        assert len(engine.events.sinks) == 1 and server.sse_clients == 1

        resp.close()
        async with asyncio.timeout(DEADLINE):
            await engine.events.removed.wait()
        assert engine.events.sinks == [] and server.sse_clients == 0
        emit(engine, "log", "cam1", level="info", message="nobody listens")  # no sink, no error


async def test_slow_client_is_bounded_and_told_what_it_lost() -> None:
    engine = FakeEngine()
    total, queue_size = 50_000, 100
    async with serving(engine, queue_size=queue_size) as (server, session, url):
        slow = await session.get(f"{url}/events")  # headers only: it reads nothing for now

        deepest = 0
        padding = "x" * 512  # enough bytes to fill the socket buffers while the client reads nothing
        for seq in range(total):
            emit(engine, "log", "cam1", level="debug", message=padding, seq=seq)
            if seq % 1000 == 999:
                (queued,) = server.queued()
                deepest = max(deepest, queued)
                await asyncio.sleep(0)  # let the writer run (and block on the full socket)
        assert 0 < deepest <= queue_size
        assert server.events_dropped > 0

        # The slow client now reads everything: each gap is announced, nothing is lost silently.
        assert (await next_event(slow))[0] == "snapshot"
        received, dropped, last = 0, 0, -1
        while last != total - 1:
            event, body = await next_event(slow)
            if event == "dropped":
                assert body["dropped"] > 0
                dropped += body["dropped"]
                assert body["total_dropped"] == dropped
            else:
                assert body["seq"] > last
                received, last = received + 1, body["seq"]
        assert dropped == server.events_dropped
        assert received + dropped == total
        slow.close()


async def test_drops_reported_before_the_surviving_messages() -> None:
    engine = FakeEngine()
    async with (
        serving(engine, queue_size=10) as (server, session, url),
        session.get(f"{url}/events?type=stats") as resp,
    ):
        for seq in range(25):  # all at once: the writer gets no turn
            emit(engine, "stats", "cam1", seq=seq)
        assert server.queued() == [10] and server.events_dropped == 15
        assert (await next_event(resp))[0] == "snapshot"
        event, body = await next_event(resp)
        assert (event, body["dropped"], body["total_dropped"]) == ("dropped", 15, 15)
        message_models.EventsDropped.model_validate(body)  # the documented shape
        assert [(await next_event(resp))[1]["seq"] for _ in range(10)] == list(range(15, 25))


async def test_server_close_ends_open_streams() -> None:
    engine = FakeEngine()
    server = await http_api.start(engine, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as session:
        resp = await session.get(f"http://127.0.0.1:{server.port}/events")
        assert (await next_event(resp))[0] == "snapshot"
        async with asyncio.timeout(DEADLINE):
            await server.close()
            assert await resp.content.read() == b""
        assert engine.events.sinks == []


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parser.text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics() -> None:
    engine = FakeEngine()
    async with serving(engine, queue_size=1) as (_, session, url):
        resp = await session.get(f"{url}/events")
        emit(engine, "log", "cam1", level="info", message="one")
        emit(engine, "log", "cam1", level="info", message="two")  # queue of 1: the first is dropped
        async with session.get(f"{url}/metrics") as metrics:
            assert metrics.status == 200
            assert metrics.headers["Content-Type"].startswith("text/plain; version=")
            samples = _samples(await metrics.text())
        resp.close()

    assert samples[("iotemu_devices", (("state", "bound"),))] == 2
    assert samples[("iotemu_devices", (("state", "binding"),))] == 1
    assert samples[("iotemu_devices", (("state", "stopped"),))] == 0
    assert samples[("iotemu_devices_auth", (("state", "authorized"),))] == 2
    assert samples[("iotemu_devices_auth", (("state", "mab"),))] == 1
    assert samples[("iotemu_packets_sent_total", ())] == 33
    assert samples[("iotemu_bytes_sent_total", ())] == 3300
    assert samples[("iotemu_packets_received_total", ())] == 16
    assert samples[("iotemu_bytes_received_total", ())] == 1650
    family = "iotemu_protocol_packets_sent_total"
    protocols = {dict(labels)["protocol"]: v for (name, labels), v in samples.items() if name == family}
    assert protocols == {"arp": 2, "dhcp": 11, "http": 16, "rtsp": 4}
    assert samples[("iotemu_events_dropped_total", ())] == 1
    assert samples[("iotemu_sse_clients", ())] == 1
    assert not any(name.startswith("iotemu_device_") for name, _ in samples)
    assert prometheus_client.REGISTRY.get_sample_value("iotemu_sse_clients") is None  # own registry


async def test_per_device_metrics_behind_an_option() -> None:
    async with (
        serving(FakeEngine(), per_device_metrics=True) as (_, session, url),
        session.get(f"{url}/metrics") as metrics,
    ):
        samples = _samples(await metrics.text())
    assert samples[("iotemu_device_packets_sent_total", (("device_id", "cam2"),))] == 20
    assert samples[("iotemu_device_bytes_received_total", (("device_id", "plug1"),))] == 150
