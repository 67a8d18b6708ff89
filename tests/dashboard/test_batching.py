"""`batch` frames on `WS /ws`: a burst arrives as a few frames holding all of it, stats coalesce to
the latest, a slow client is bounded and told what it lost while the others get everything."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from iot_dashboard import batching, events, frames
from tests.dashboard.conftest import ws_connect, ws_next


def msg(type_: str, device: str, n: int = 0, **fields: object) -> dict[str, Any]:
    return {"type": type_, "device_id": device, "timestamp": f"2026-01-01T00:00:{n % 60:02d}.000Z", **fields}


def stats(device: str, n: int) -> dict[str, Any]:
    return msg("stats", device, n, stats={"packets_sent": n, "state": "bound"})


async def test_a_burst_reaches_a_websocket_client_as_a_few_frames_holding_all_of_it(
    server_url: str, hub: events.EventHub
) -> None:
    burst = 1000
    async with ws_connect(server_url) as ws:
        await ws_next(ws, "snapshot")
        for i in range(burst):
            hub.publish(msg("started", f"dev-{i:04d}", i))
        received: list[dict[str, Any]] = []
        count = 0
        while len(received) < burst:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            frames.parse_server_frame(frame)  # the batch fits its model (frames.BatchFrame)
            assert frame["event"] == "batch" and frame["data"]["v"] == batching.VERSION
            received += frame["data"]["messages"]
            count += 1
    assert [m["device_id"] for m in received] == [f"dev-{i:04d}" for i in range(burst)]
    assert count <= 2  # published in one go: one frame (two if the sender woke in between)


async def test_a_devices_stats_coalesce_to_the_latest_and_keep_its_order() -> None:
    sub = events.EventHub().subscribe(coalesce_stats=True)
    hub_sub = events.Subscription(100, coalesce_stats=True)
    for sub_ in (sub, hub_sub):
        for n in range(5):
            sub_.offer(stats("a", n))
        sub_.offer(stats("b", 0))
        sub_.offer(msg("dhcp_release", "a", 6))  # a later stats of `a` must come after this
        sub_.offer(stats("a", 7))
        sub_.offer(stats("a", 8))
    got = [(m["type"], m["device_id"], m.get("stats", {}).get("packets_sent")) for m in hub_sub.queued_messages()]
    assert got == [("stats", "a", 4), ("stats", "b", 0), ("dhcp_release", "a", None), ("stats", "a", 8)]
    assert hub_sub.coalesced == 5 and hub_sub.dropped == 0
    text = await anext(batching.frames(hub_sub, tick=0.0))
    assert [m["type"] for m in json.loads(text)["data"]["messages"]] == ["stats", "stats", "dhcp_release", "stats"]
    assert hub_sub.queued == 0
    hub_sub.offer(stats("a", 9))  # the slot was sent: a new stats is queued again
    assert [m["stats"]["packets_sent"] for m in hub_sub.queued_messages()] == [9]


async def test_one_frame_per_tick_whatever_the_rate() -> None:
    hub = events.EventHub()
    sub = hub.subscribe(coalesce_stats=True)
    now = [0.0]
    stream = batching.frames(sub, tick=0.05, clock=lambda: now[0])
    hub.publish(msg("started", "a"))
    first = json.loads(await anext(stream))
    assert [m["type"] for m in first["data"]["messages"]] == ["started"]  # sent at once after a quiet spell
    for i in range(300):  # within the tick: all wait for the next frame
        hub.publish(stats(f"d{i % 100}", i))
    nxt = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.01)
    assert not nxt.done()  # the tick has not passed (the sender sleeps until it does)
    now[0] = 1.0
    second = json.loads(await asyncio.wait_for(nxt, 1))
    assert len(second["data"]["messages"]) == 100  # 300 stats of 100 devices: the latest of each


async def test_a_slow_client_is_bounded_and_told_while_the_others_get_everything() -> None:
    hub = events.EventHub(queue_size=50)
    slow, fast = hub.subscribe(coalesce_stats=True), hub.subscribe(coalesce_stats=True)
    fast_stream = batching.frames(fast, tick=0.0)
    slow_stream = batching.frames(slow, tick=0.0)
    got: list[str] = []
    for round_ in range(10):  # the fast client reads after every 40 messages; the slow one never does
        for i in range(40):
            hub.publish(msg("log", "d", i, level="info", message=f"{round_}-{i}"))
        frame = json.loads(await anext(fast_stream))
        assert frame["data"]["dropped"] == 0
        got += [m["message"] for m in frame["data"]["messages"]]
        assert slow.queued <= 50  # bounded: the oldest went
    assert got == [f"{r}-{i}" for r in range(10) for i in range(40)]
    late = json.loads(await anext(slow_stream))["data"]
    assert late["dropped"] == 350 and late["total"] == 350  # told how many it lost: it lists again
    assert [m["message"] for m in late["messages"]] == [f"{r}-{i}" for r in (8, 9) for i in range(40)][-50:]
    assert hub.dropped == 350
    hub.close()
    assert await anext(slow_stream, None) is None  # closed: the stream ends
