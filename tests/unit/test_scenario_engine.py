"""Scenarios on a running engine (a recording link, real loop time, steps of a fraction of a second).

What each behaviour puts on the wire is asserted frame by frame here and against a real dnsmasq in
tests/lab/test_scenarios_lab.py; the compromise services' own traffic is tested with them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.l2 import Ether

from iot_emulator.engine import engine
from iot_emulator.profiles import catalog
from iot_emulator.reporting import console, message_models, messages
from iot_emulator.scenarios import compromise, driver, model
from tests.unit.fakes import RecordingLink
from tests.unit.test_engine import Harness, configs

Message = dict[str, Any]


class Run(Harness):
    driver: driver.Driver

    def __init__(self, eng: engine.Engine, link: RecordingLink) -> None:
        super().__init__(eng, link)
        self.arrived = asyncio.Event()
        eng.events.add(lambda m: self.arrived.set())

    async def until(self, predicate: Callable[[Message], bool], timeout: float = 5) -> Message:
        async def wait() -> Message:
            while True:
                found = [m for m in self.messages if predicate(m)]
                if found:
                    return found[0]
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(wait(), timeout)

    def scenario_messages(self) -> list[tuple[str, str, str]]:
        return [(m["device_id"], m["behaviour"], m["state"]) for m in self.messages if m["type"] == "scenario"]


def options(frame: bytes) -> dict[str, Any]:
    return {o[0]: o[1] for o in Ether(frame)[DHCP].options if isinstance(o, tuple)}


@pytest.fixture
async def run(tiny_library: catalog.Library) -> AsyncIterator[Run]:
    link = RecordingLink()
    eng = engine.Engine(link, configs(tiny_library, 2), interface="lab0", stats_interval=60, seed=3)
    scenarios = driver.Driver(eng, tiny_library)
    r = Run(eng, link)
    r.driver = scenarios
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    await asyncio.sleep(0)
    await r.bind_all()
    yield r
    stop.set()
    await task
    for message in r.messages:  # scenario, log and error messages fit their models too
        message_models.parse(message)


def start(r: Run, device_id: str, *steps: dict[str, object]) -> None:
    scenario = model.Scenario.model_validate({"name": "t", "steps": list(steps)})
    r.driver.run(device_id, scenario)


async def test_power_cycle_is_silent_then_asks_for_its_address_again(run: Run) -> None:
    dev = run.engine.devices[0]
    address = dev.ip
    run.link.sent.clear()
    start(run, dev.device_id, {"at": 0, "behaviour": {"kind": "power_cycle", "down": 0.2}})
    await run.until(lambda m: m["type"] == "scenario" and m["state"] == "started")
    assert run.link.sent == [] and run.engine.devices[0].ip is None  # no RELEASE, no goodbye
    await run.until(lambda m: m["type"] == "scenario" and m["state"] == "ended")
    await run.until(lambda m: m["type"] == "dhcp_request" and m["device_id"] == dev.device_id)
    [request] = run.dhcp_frames(3)
    opts = options(request)
    assert opts["requested_addr"] == ".".join(map(str, address or b"")) and "server_id" not in opts  # INIT-REBOOT
    assert Ether(request)[BOOTP].ciaddr == "0.0.0.0"
    logs = [m["message"] for m in run.messages if m["type"] == "log" and m["message"].startswith("[scenario t]")]
    assert logs[0] == "[scenario t] power_cycle: started (step 1): power off for 0.2 s"
    assert run.scenario_messages() == [
        (dev.device_id, "power_cycle", "started"),
        (dev.device_id, "power_cycle", "ended"),
    ]
    assert run.engine.devices[0].counters.packets_sent > 1  # counting goes on across the reboot


async def test_mac_randomisation_starts_over_from_a_local_mac(run: Run) -> None:
    dev = run.engine.devices[1]
    run.link.sent.clear()
    start(run, dev.device_id, {"at": 0, "behaviour": {"kind": "mac_randomisation", "down": 0.1, "release": True}})
    ended = await run.until(lambda m: m["type"] == "scenario" and m["state"] == "ended")
    [release] = run.dhcp_frames(7)
    assert Ether(release).src == dev.config.mac  # goodbye from the old MAC
    await run.until(lambda m: m["type"] == "dhcp_discover" and m["device_id"] == dev.device_id)
    [discover] = run.dhcp_frames(1)
    new_mac = Ether(discover).src
    assert new_mac != dev.config.mac and int(new_mac[:2], 16) & 0x03 == 0x02
    assert "requested_addr" not in options(discover)  # a new identity remembers nothing
    assert run.engine.find(dev.device_id).config.mac == new_mac  # type: ignore[union-attr]
    assert new_mac in ended["detail"]
    await run.bind_all()


async def test_firmware_update_changes_the_dhcp_fingerprint_after_the_reboot(run: Run) -> None:
    dev = run.engine.devices[0]
    run.link.sent.clear()
    run.messages.clear()
    start(
        run,
        dev.device_id,
        {
            "at": 0,
            "behaviour": {
                "kind": "firmware_update",
                "down": 0.1,
                "user_agent": "TinyCam/2.0",
                "dhcp": {"vendor_class_id": "udhcp 1.36.1", "parameter_request_list": [1, 3, 6, 42]},
            },
        },
    )
    await run.until(lambda m: m["type"] == "dhcp_request")
    [request] = run.dhcp_frames(3)
    assert options(request)["vendor_class_id"] == b"udhcp 1.36.1"
    assert options(request)["param_req_list"] == [1, 3, 6, 42]
    updated = run.engine.find(dev.device_id)
    assert updated is not None and updated.config.profile.http is not None
    assert updated.config.profile.http.user_agent == "TinyCam/2.0"


async def test_boot_storm_starts_every_target_at_once_past_the_window(tiny_library: catalog.Library) -> None:
    link = RecordingLink()
    eng = engine.Engine(link, configs(tiny_library, 6), stats_interval=60, window=2, seed=4)
    scenarios = driver.Driver(eng, tiny_library)
    r = Run(eng, link)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    await asyncio.sleep(0)
    await r.bind_all()
    link.sent.clear()
    storm = model.Scenario.model_validate(
        {"name": "s", "steps": [{"at": 0, "behaviour": {"kind": "boot_storm", "down": 0.1, "fresh": True}}]}
    )
    for dev in eng.devices:
        scenarios.run(dev.device_id, storm)
    await r.until(lambda m: sum(x["type"] == "scenario" and x["state"] == "ended" for x in r.messages) == 6)
    assert len(r.dhcp_frames(1)) == 6  # six DISCOVERs in the same instant; the window (2) would pace them
    stop.set()
    await task


async def test_new_device_is_absent_until_its_step(tiny_library: catalog.Library) -> None:
    link = RecordingLink()
    cfgs = configs(tiny_library, 2)
    guest = model.Scenario.model_validate({"name": "g", "steps": [{"at": 0.3, "behaviour": {"kind": "new_device"}}]})
    cfgs[1] = dataclasses.replace(cfgs[1], scenario=guest)
    eng = engine.Engine(link, cfgs, stats_interval=60, seed=4)
    driver.Driver(eng, tiny_library)
    r = Run(eng, link)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    await asyncio.sleep(0)
    assert [Ether(f).src for f in r.dhcp_frames(1)] == [cfgs[0].mac]
    await r.until(lambda m: m["type"] == "dhcp_discover" and m["device_id"] == cfgs[1].device_id)
    assert r.scenario_messages()[0] == (cfgs[1].device_id, "new_device", "started")
    stop.set()
    await task


class FakeService:
    """Stands in for a compromise service: records its life."""

    name = "fake"

    def __init__(self, life: list[str]) -> None:
        self.life = life

    def start(self, now: float) -> None:
        self.life.append("start")

    def on_timer(self, now: float) -> None:
        pass

    def next_deadline(self) -> float | None:
        return None

    def stop(self, now: float) -> None:
        self.life.append("stop")


async def test_a_compromise_step_runs_its_service_for_the_duration(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    life: list[str] = []
    built: list[tuple[str, str]] = []

    def build(spec: compromise.CompromiseBehaviour, context: Any, label: str) -> FakeService:
        built.append((spec.kind, label))
        assert context.host is run.engine.devices[0].host
        return FakeService(life)

    monkeypatch.setattr(compromise, "build_service", build)
    start(run, run.engine.devices[0].device_id, {"at": 0, "duration": 0.2, "behaviour": {"kind": "dns_tunnel"}})
    await run.until(lambda m: m["type"] == "scenario" and m["state"] == "ended")
    assert built == [("dns_tunnel", "t")] and life == ["start", "stop"]
    assert run.engine.devices[0].scenario_services == {}


class FiniteService(FakeService):
    """A compromise service that ends by itself: done at its first timer, `wait` seconds after its start."""

    def __init__(self, life: list[str], done: Callable[[], None], wait: float) -> None:
        super().__init__(life)
        self._done, self._wait = done, wait
        self.finished = False
        self._due: float | None = None

    def start(self, now: float) -> None:
        super().start(now)
        self._due = now + self._wait

    def on_timer(self, now: float) -> None:
        if self._due is not None and now >= self._due:
            self._due, self.finished = None, True
            self.life.append("done")
            self._done()

    def next_deadline(self) -> float | None:
        return self._due


async def test_a_finite_service_ends_its_step_when_it_says_done(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """The step ends on the service's `done` call (services.Context.done), with no poll of `finished`."""
    life: list[str] = []

    def build(spec: compromise.CompromiseBehaviour, context: Any, label: str) -> FiniteService:
        return FiniteService(life, context.done, 0.05)

    monkeypatch.setattr(compromise, "build_service", build)
    loop = asyncio.get_running_loop()
    began = loop.time()
    start(run, run.engine.devices[0].device_id, {"at": 0, "duration": 30, "behaviour": {"kind": "port_scan"}})
    ended = await run.until(lambda m: m["type"] == "scenario" and m["state"] == "ended")
    assert loop.time() - began < 0.3  # the 0.05 s scan, not a 0.5 s look at `finished`, nor the 30 s duration
    assert life == ["start", "done", "stop"] and "done" in ended["detail"]
    assert run.engine.devices[0].scenario_services == {}


async def test_a_behaviour_that_cannot_run_is_a_warning_not_a_crash(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def build(spec: Any, context: Any, label: str) -> FakeService:
        raise NotImplementedError("not built yet")

    monkeypatch.setattr(compromise, "build_service", build)
    start(run, run.engine.devices[0].device_id, {"at": 0, "behaviour": {"kind": "port_scan"}})
    warning = await run.until(lambda m: m["type"] == "error")
    assert warning["severity"] == "warning" and warning["error"].startswith("[scenario t] port_scan: cannot run")


async def test_a_compromise_service_is_rebuilt_around_a_rebooted_device(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts: list[Any] = []

    def build(spec: compromise.CompromiseBehaviour, context: Any, label: str) -> FakeService:
        hosts.append(context.host)
        return FakeService([])

    monkeypatch.setattr(compromise, "build_service", build)
    device_id = run.engine.devices[0].device_id
    start(
        run,
        device_id,
        {"at": 0, "duration": 30, "behaviour": {"kind": "c2_beacon"}},
        {"at": 0.05, "behaviour": {"kind": "power_cycle", "down": 0.05}},
    )
    await run.until(lambda m: m["type"] == "scenario" and m["behaviour"] == "power_cycle" and m["state"] == "ended")
    await run.bind_all()
    rebooted = run.engine.devices[0]
    assert len(hosts) == 2 and hosts[1] is rebooted.host and hosts[0] is not rebooted.host
    assert list(rebooted.scenario_services) == ["0#0"] and rebooted.scenario_services["0#0"] in rebooted.host.services


def test_a_person_without_json_output_sees_the_scenario_lines() -> None:
    out = io.StringIO()
    human = console.Console(500, stream=out)
    human(messages.log("cam", 0, "info", "[scenario s] power_cycle: started (step 1): power off for 1 s"))
    human(messages.log("cam", 0, "info", "an ordinary info line"))
    assert out.getvalue().count("\n") == 1 and "[scenario s] power_cycle: started" in out.getvalue()
