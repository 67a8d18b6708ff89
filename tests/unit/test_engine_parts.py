"""The engine's parts on their own: routing by address, the deadline heap and its clock, the DHCP window.

The engine's behaviour as a whole is in test_engine.py; these pin what each part decides, with
stand-in devices (the parts use a device as a key, and admission reads its DHCP state only).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from iot_emulator.engine import admission, routing, scheduler
from iot_emulator.protocols.link import arp, dhcp

MAC_A, MAC_B, ASKER = bytes.fromhex("020000000001"), bytes.fromhex("020000000002"), bytes.fromhex("02000000000f")
IP_A, IP_B = bytes([10, 0, 0, 5]), bytes([10, 0, 0, 6])


class Stub:
    """A device as the parts see it: hashable, with a DHCP state."""

    def __init__(self, state: dhcp.DhcpState = dhcp.DhcpState.INIT) -> None:
        self.dhcp = type("Dhcp", (), {"state": state})()


def device(state: dhcp.DhcpState = dhcp.DhcpState.INIT) -> Any:
    return Stub(state)


def test_arp_goes_to_the_owner_of_the_target_address_and_to_who_checks_it() -> None:
    router = routing.Router()
    owner, checker = device(), device()
    router.bind(owner, IP_A)
    router.set_candidate(checker, IP_B)
    assert router.broadcast_recipients(arp.who_has(ASKER, bytes([10, 0, 0, 1]), IP_A)) == [owner]
    probe = arp.who_has(ASKER, b"\x00" * 4, IP_B)  # RFC 5227 probe for the address being checked
    assert router.broadcast_recipients(probe) == [checker]
    assert router.broadcast_recipients(probe, exclude=checker) == []
    assert router.heard_locally(probe)
    router.forget(checker)
    assert router.broadcast_recipients(probe) == [] and not router.heard_locally(probe)


def test_unbind_forgets_only_the_device_that_holds_the_address() -> None:
    router = routing.Router()
    first, second = device(), device()
    router.bind(first, IP_A)
    router.bind(second, IP_A)  # the address moved on
    router.unbind(first)
    assert router.by_ip == {IP_A: second}


def test_admission_keeps_the_window_and_reopens_it_when_an_exchange_ends() -> None:
    gate = admission.Admission(window=2, start_rate=None)
    waiting = [device() for _ in range(3)]
    gate.pending.extend(waiting)
    started, wait = gate.take(now=0.0)
    assert started == waiting[:2] and wait is None
    for dev in started:
        dev.dhcp.state = dhcp.DhcpState.SELECTING
        assert not gate.track(dev)
    assert gate.take(now=0.0) == ([], None)  # the window is full
    started[0].dhcp.state = dhcp.DhcpState.BOUND
    assert gate.track(started[0])  # room for the next
    assert gate.take(now=0.0) == ([waiting[2]], None)


def test_admission_spaces_starts_at_the_start_rate() -> None:
    gate = admission.Admission(window=100, start_rate=4.0)
    gate.pending.extend(device() for _ in range(3))
    started, wait = gate.take(now=0.0)
    assert len(started) == 1 and wait == 0.25
    assert len(gate.take(now=0.25)[0]) == 1


async def test_scheduler_calls_each_device_at_its_latest_deadline_on_the_loop_clock() -> None:
    due: list[tuple[Any, float]] = []
    done = asyncio.Event()

    def on_due(dev: Any, now: float) -> None:
        due.append((dev, now))
        if len(due) == 2:
            done.set()

    timers = scheduler.Scheduler(on_due)
    assert abs(timers.clock() - time.monotonic()) < 1.0  # before the loop: monotonic
    loop = asyncio.get_running_loop()
    timers.start(loop)
    first, second = device(), device()
    now = timers.clock()
    assert now <= loop.time()
    timers.schedule(first, now + 0.05)
    timers.schedule(second, now + 0.01)
    timers.schedule(first, now + 0.02)  # rescheduled: the old entry is skipped
    await asyncio.wait_for(done.wait(), 5)
    assert [d for d, _ in due] == [second, first]
    assert all(at >= deadline for (_, at), deadline in zip(due, (now + 0.01, now + 0.02), strict=True))
    assert timers.scheduled == {first: None, second: None}


def test_a_stopped_scheduler_arms_no_timer() -> None:
    loop = asyncio.new_event_loop()
    try:
        timers = scheduler.Scheduler(lambda dev, now: None)
        timers.start(loop)
        timers.stop()
        timers.schedule(device(), 1.0)
        assert timers._timer is None
    finally:
        loop.close()


async def test_scheduler_lets_the_loop_read_between_slices_of_due_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """A boot storm's thousands of due timers run in slices: a callback queued meanwhile (the link's
    reader in the engine) runs between two slices, not after every device."""
    monkeypatch.setattr(scheduler, "SLICE", 0.0)  # one device per slice
    loop = asyncio.get_running_loop()
    order: list[str] = []
    done = asyncio.Event()

    def on_due(dev: Any, now: float) -> None:
        order.append("device")
        if len(order) == 1:
            loop.call_soon(order.append, "reader")
        if order.count("device") == 3:
            done.set()

    timers = scheduler.Scheduler(on_due)
    timers.start(loop)
    now = timers.clock()
    for _ in range(3):
        timers.schedule(device(), now)
    await asyncio.wait_for(done.wait(), 5)
    assert order == ["device", "reader", "device", "device"]


async def test_scheduler_runs_urgent_devices_first_when_both_are_due() -> None:
    """Devices still getting an address (the engine's `urgent`) run before bound devices due as early."""
    ran: list[Any] = []
    done = asyncio.Event()
    getting_address = device()

    def on_due(dev: Any, now: float) -> None:
        ran.append(dev)
        if len(ran) == 3:
            done.set()

    timers = scheduler.Scheduler(on_due, urgent=lambda dev: dev is getting_address)
    timers.start(asyncio.get_running_loop())
    now = timers.clock()
    bound = [device(), device()]
    timers.schedule(bound[0], now - 0.2)
    timers.schedule(bound[1], now - 0.1)
    timers.schedule(getting_address, now)
    await asyncio.wait_for(done.wait(), 5)
    assert ran == [getting_address, *bound]
