"""The message contract on the emulator's side: the seed's shapes parse, builders fit their models,
and `encode` prints exactly the fields it was given, validated."""

from __future__ import annotations

import asyncio
import json
import logging

import pydantic
import pytest

from iot_emulator.reporting import message_models, messages

# the seed brief's "Message Format" examples, with the timestamp DESIGN.md makes mandatory
SEED: list[dict[str, object]] = [
    {"type": "started", "device_id": "camera_01", "timestamp": "2025-01-29T16:45:23Z"},
    {"type": "stopped", "device_id": "camera_01", "timestamp": "2025-01-29T16:47:15Z"},
    {
        "type": "error",
        "device_id": "camera_01",
        "timestamp": "2025-01-29T16:47:15Z",
        "error": "DHCP timeout",
        "severity": "error",
    },
    {
        "type": "stats",
        "device_id": "camera_01",
        "timestamp": "2025-01-29T16:45:30Z",
        "stats": {
            "packets_sent": 1247,
            "bytes_sent": 523000,
            "packet_rate": 4.2,
            "current_ip": "192.168.207.180",
            "uptime_seconds": 30,
            "protocols": {"dhcp": 8, "arp": 256, "http": 512, "rtsp": 384, "dns": 87},
        },
    },
    {
        "type": "dhcp_discover",
        "device_id": "camera_01",
        "timestamp": "2025-01-29T16:45:23Z",
        "xid": "0x3bbff79e",
        "mac": "00:12:34:56:78:01",
    },
    {
        "type": "dhcp_offer",
        "device_id": "camera_01",
        "timestamp": "2025-01-29T16:45:23Z",
        "server_id": "192.168.207.1",
        "offered_ip": "192.168.207.180",
        "lease_time": 86400,
    },
    {
        "type": "dhcp_ack",
        "device_id": "camera_01",
        "timestamp": "2025-01-29T16:45:23Z",
        "assigned_ip": "192.168.207.180",
        "server_id": "192.168.207.1",
        "lease_time": 86400,
    },
    {
        "type": "log",
        "device_id": "camera_01",
        "level": "info",
        "timestamp": "2025-01-29T16:45:23.123Z",
        "message": "Sending DHCP DISCOVER (xid: 0x3bbff79e, MAC: 00:12:34:56:78:01)",
    },
]


@pytest.mark.parametrize("message", SEED, ids=[str(m["type"]) for m in SEED])
def test_the_seed_shapes_are_messages_and_print_unchanged(message: dict[str, object]) -> None:
    typed = message_models.parse(message)
    assert type(typed) is message_models.BY_TYPE[str(message["type"])]
    line = messages.encode(message)
    assert json.loads(line) == message
    assert json.dumps(json.loads(line), sort_keys=True) == json.dumps(message, sort_keys=True)  # 30 stays 30


def test_builders_fit_their_models_and_carry_the_version() -> None:
    built = [
        messages.log("cam", 0.0, "info", "hello"),
        messages.process_log(0.0, "warning", "slow reader"),
        messages.error("cam", 0.0, "no lease", severity="warning"),
        messages.scenario("cam", 0.0, "s", "1", "beacon", "started", "every 5 s"),
        messages.make("stopped", "cam", 0.0, packets_sent=3),
    ]
    for message in built:
        assert message["v"] == message_models.VERSION
        message_models.parse(message)


def test_the_union_refuses_unknown_types_and_fields_naming_them() -> None:
    with pytest.raises(pydantic.ValidationError, match="dhcp_bogus"):
        message_models.parse(messages.make("dhcp_bogus", "cam", 0.0))
    with pytest.raises(pydantic.ValidationError, match="released_ip"):
        message_models.parse(
            messages.make("dhcp_release", "cam", 0.0, address="10.0.0.2", server_id="10.0.0.1", released_ip="10.0.0.2")
        )


def test_encode_logs_a_message_that_breaks_the_contract_and_still_prints_it(caplog: pytest.LogCaptureFixture) -> None:
    broken = messages.make("log", "cam", 0.0, level="loud", message="x")
    with caplog.at_level(logging.ERROR, logger="iot_emulator.reporting.messages"):
        line = messages.encode(broken)
    assert json.loads(line) == broken
    assert "level" in caplog.text and "breaks the contract" in caplog.text


def test_dhcp_types_come_from_the_models() -> None:
    assert tuple(t for t in message_models.BY_TYPE if t.startswith("dhcp_")) == messages.DHCP_TYPES
    assert set(messages.LIFECYCLE) <= set(message_models.BY_TYPE)
    assert len(messages.DHCP_TYPES) == 10


async def test_subscriber_filters_drops_the_oldest_and_ends_on_close() -> None:
    sub = messages.Subscriber(2, asyncio.Event(), devices=["cam"], types=["dhcp*"], unfiltered=frozenset({"resource"}))
    for i in range(4):
        sub(messages.make("dhcp_offer", "cam", 1_700_000_000.0 + i))
    sub(messages.make("dhcp_offer", "plug", 1_700_000_000.0))  # another device's
    sub(messages.make("log", "cam", 1_700_000_000.0, level="info", message="x"))  # another type
    batch = await sub.next_batch()
    assert [m["timestamp"][-6:] for m in batch] == ["2.000Z", "3.000Z"] and sub.take_drops() == 2 == sub.dropped
    sub.offer({"type": "resource", "device_id": "any"})
    assert sub.queued == 0  # a device filter lets `resource` by, but the type filter still holds
    sub.set_filter(devices=["cam"])
    sub.offer({"type": "resource", "device_id": "any"})
    waiter = asyncio.create_task(sub.next_batch())
    assert [m["type"] for m in await waiter] == ["resource"]
    waiter = asyncio.create_task(sub.next_batch())
    await asyncio.sleep(0)
    sub.offer(messages.make("dhcp_ack", "cam", 1_700_000_000.0))
    sub.close(discard=True)
    assert await asyncio.wait_for(waiter, 1) == [] and sub.queued == 0


def test_timestamps_are_the_millisecond_fromtimestamp_gives_also_when_kept_for_a_burst() -> None:
    """The text of the last millisecond is reused; it must be exactly what datetime would have written,
    at the edges of a millisecond and where float rounding decides it."""
    import datetime as dt
    import random

    rng = random.Random(7)
    walls = [0.0, 1.0005, 879546019.8899999, 1887880235.3729994, 1700000000.9999996]
    walls += [rng.uniform(0, 2e9) for _ in range(20000)]
    walls += [w + d for w in walls[:500] for d in (0.0, 0.0004, 0.0005, 0.0009999)]  # bursts in one millisecond
    for wall in walls:
        expected = dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert messages.timestamp(wall) == expected, wall
