"""The event hub: bounded queues that drop the oldest and count, filters, live state, history."""

from __future__ import annotations

import asyncio
import logging

import pytest

from iot_dashboard import events
from iot_emulator.reporting import messages


def msg(type_: str, device: str = "d", ts: str = "2026-01-01T00:00:00.000Z", **fields: object) -> dict[str, object]:
    return {"type": type_, "device_id": device, "timestamp": ts, **fields}


async def test_slow_client_loses_oldest_and_is_told() -> None:
    hub = events.EventHub(queue_size=3)
    slow, other = hub.subscribe(), hub.subscribe(devices=["x"])
    for i in range(10):
        hub.publish(msg("log", ts=f"2026-01-01T00:00:0{i}.000Z", message=str(i)))
    batch = await slow.next_batch()
    assert [m["message"] for m in batch] == ["7", "8", "9"]
    assert slow.take_drops() == 7 and slow.take_drops() == 0
    assert hub.dropped == 7 and other.queued == 0
    hub.unsubscribe(slow)
    assert hub.dropped == 7 and hub.clients == 1


async def test_close_wakes_a_waiting_client() -> None:
    hub = events.EventHub()
    sub = hub.subscribe()
    waiter = asyncio.create_task(sub.next_batch())
    await asyncio.sleep(0)
    hub.close()
    assert await asyncio.wait_for(waiter, 1) == []


def test_type_patterns_and_live_state() -> None:
    hub = events.EventHub(history_events=3, history_stats=2)
    sub = hub.subscribe(types=["dhcp*", "device:stopped"])
    hub.publish(msg("started"))
    hub.publish(msg("dhcp_discover"))
    assert hub.live("d").phase == "binding"
    hub.publish(msg("dhcp_ack", assigned_ip="10.0.0.5"))
    # the ACKed address is checked first (RFC 5227): bound comes with the stats sent when the check passes
    assert (hub.live("d").phase, hub.live("d").ip) == ("binding", "10.0.0.5")
    for i in range(3):
        hub.publish(msg("stats", ts=f"2026-01-01T00:00:0{i}.000Z", stats={"state": "bound", "current_ip": "10.0.0.5"}))
    assert hub.live("d").phase == "bound"
    hub.publish(msg("dhcp_ack", ts="2026-01-01T00:00:04.000Z", assigned_ip="10.0.0.5"))  # a renewal
    assert hub.live("d").phase == "bound"
    hub.publish(msg("dhcp_release", ts="2026-01-01T00:00:05.000Z"))
    assert hub.live("d").ip is None
    hub.publish(msg("stopped", ts="2026-01-01T00:00:06.000Z"))
    assert hub.live("d").phase == "stopped"
    queued = [m["type"] for m in sub.queued_messages()]
    assert queued == ["dhcp_discover", "dhcp_ack", "dhcp_ack", "dhcp_release", "stopped"]
    history = hub.history("d")
    assert [m["type"] for m in history] == ["stats", "stats", "dhcp_ack", "dhcp_release", "stopped"]  # 3 events kept
    assert [m["type"] for m in hub.history("d", ["dhcp*"], since="2026-01-01T00:00:04.000Z")] == ["dhcp_release"]
    hub.forget("d")
    assert hub.live("d") is None and hub.history("d") == []


def test_an_emulator_process_log_is_a_service_log_not_a_device() -> None:
    hub = events.EventHub()
    hub.publish(messages.process_log(0.0, "warning", "stdout reader too slow: 3 message(s) dropped (3 in all)"))
    assert hub.live_states() == [] and hub.live(messages.PROCESS_ID) is None
    [logged] = hub.logs(device=events.SERVICE_ID)
    assert logged["source"] == "emulator" and logged["message"].startswith("stdout reader too slow")


def test_a_message_from_an_emulator_is_checked_against_its_model(caplog: pytest.LogCaptureFixture) -> None:
    ack = messages.make("dhcp_ack", "cam", 0.0, assigned_ip="10.0.0.5", server_id="10.0.0.1", lease_time=600)
    assert events.accepted(ack, "emulator shard-0")
    drifted = messages.make("dhcp_release", "cam", 0.0, released_ip="10.0.0.5")  # a field the contract lacks
    with caplog.at_level(logging.WARNING, logger="iot_dashboard.events"):
        assert not events.accepted(drifted, "pod emu-0")
    assert "pod emu-0: message refused" in caplog.text and "released_ip" in caplog.text


def test_live_state_keeps_the_ipv6_addresses_of_the_last_stats_until_the_device_stops() -> None:
    hub = events.EventHub()
    hub.publish(msg("started"))
    addresses = ["fe80::1:2ff:fe03:405", "2001:db8:1::1:2ff:fe03:405"]
    hub.publish(msg("stats", stats={"state": "bound", "current_ip": "10.0.0.5", "ipv6_addresses": addresses}))
    live = hub.live("d")
    assert live is not None and live.ipv6 == addresses
    hub.publish(msg("stats", ts="2026-01-01T00:00:01.000Z", stats={"state": "bound", "current_ip": "10.0.0.5"}))
    assert hub.live("d").ipv6 is None  # an IPv4-only device (or one that lost its addresses) lists none
    hub.publish(msg("stats", ts="2026-01-01T00:00:02.000Z", stats={"state": "bound", "ipv6_addresses": addresses}))
    hub.publish(msg("stopped", ts="2026-01-01T00:00:03.000Z"))
    assert hub.live("d").ipv6 is None


def _line(message: messages.Message) -> bytes:
    return messages.encode(message).rstrip(b"\n")


def test_a_batch_of_lines_is_validated_whole_and_keeps_each_line_as_its_json() -> None:
    ack = _line(messages.make("dhcp_ack", "cam", 0.0, assigned_ip="10.0.0.5", server_id="10.0.0.1", lease_time=600))
    started = _line(messages.make("started", "cam", 0.0))
    got = events.accepted_lines([ack, b"", started + b"\r"], "emulator devices-0")
    assert [(m["type"], text) for m, text in got] == [("dhcp_ack", ack.decode()), ("started", started.decode())]
    hub = events.EventHub()
    sub = hub.subscribe()
    hub.publish(*got[0])
    [entry] = sub.take(10)
    assert entry.text == ack.decode()  # sent as read, not encoded again


def test_a_bad_line_in_a_batch_loses_only_itself(caplog: pytest.LogCaptureFixture) -> None:
    started = _line(messages.make("started", "cam", 0.0))
    drifted = _line(messages.make("dhcp_release", "cam", 0.0, released_ip="10.0.0.5"))
    two = started + b"," + started  # two objects on one line: never split into two messages
    with caplog.at_level(logging.INFO, logger="iot_dashboard.events"):
        got = events.accepted_lines([started, b"Traceback (most recent call last):", drifted, two, started], "emu")
    assert [text for _, text in got] == [started.decode(), started.decode()]
    assert "emu: Traceback" in caplog.text and "released_ip" in caplog.text
    assert [text for _, text in events.accepted_lines([started, two], "emu")] == [started.decode()]  # counted
