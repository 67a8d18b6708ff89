"""The sans-IO scenario runner driven by a virtual clock: which actions, at which times."""

from __future__ import annotations

import pytest

from iot_emulator.scenarios import model, runner


def scenario(*steps: dict[str, object], seed: int = 0) -> model.Scenario:
    return model.Scenario.model_validate({"name": "lab", "seed": seed, "steps": list(steps)})


def advance(r: runner.Runner, until: float) -> list[tuple[float, runner.Action]]:
    """Run the timeline up to `until`, each action with the virtual time it happened."""
    out = []
    while (deadline := r.next_deadline()) is not None and deadline <= until:
        out += [(deadline, a) for a in r.on_timer(deadline)]
    return out


def kinds(timeline: list[tuple[float, runner.Action]]) -> list[tuple[float, str]]:
    return [(t, type(a).__name__ + (f":{a.state}" if isinstance(a, runner.Mark) else "")) for t, a in timeline]


def test_power_cycle_goes_dark_then_powers_on_after_the_down_time() -> None:
    r = runner.Runner()
    assert r.start("cam", scenario({"at": 10, "behaviour": {"kind": "power_cycle", "down": 4}}), now=100) == []
    timeline = advance(r, 200)
    assert kinds(timeline) == [(110, "Mark:started"), (110, "PowerOff"), (114, "PowerOn"), (114, "Mark:ended")]
    off, on = timeline[1][1], timeline[2][1]
    assert off == runner.PowerOff("cam", release=False) and on == runner.PowerOn("cam")
    assert r.next_deadline() is None


def test_repeats_run_every_period_and_are_numbered() -> None:
    r = runner.Runner()
    r.start("cam", scenario({"at": 0, "repeat": 3, "every": 60, "behaviour": {"kind": "power_cycle", "down": 5}}), 0)
    marks = [(t, a) for t, a in advance(r, 1000) if isinstance(a, runner.Mark) and a.state == "started"]
    assert [(t, a.step) for t, a in marks] == [(0, "1#1"), (60, "1#2"), (120, "1#3")]


def test_boot_storm_powers_on_at_once_past_the_pacing() -> None:
    r = runner.Runner()
    r.start("a", scenario({"at": 1, "behaviour": {"kind": "boot_storm", "down": 2, "fresh": True}}), 0)
    ons = [(t, a) for t, a in advance(r, 10) if isinstance(a, runner.PowerOn)]
    assert ons == [(3, runner.PowerOn("a", at_once=True, fresh=True))]


def test_new_device_is_held_back_until_its_step_and_leaves_after_its_visit() -> None:
    r = runner.Runner()
    held = r.start("guest", scenario({"at": 30, "duration": 60, "behaviour": {"kind": "new_device"}}), 0)
    assert held == [runner.PowerOff("guest")]
    timeline = advance(r, 1000)
    assert kinds(timeline) == [(30, "Mark:started"), (30, "PowerOn"), (90, "PowerOff"), (90, "Mark:ended")]
    assert timeline[2][1] == runner.PowerOff("guest", release=True)


def test_firmware_update_reboots_into_the_new_firmware() -> None:
    r = runner.Runner()
    r.start("cam", scenario({"at": 5, "behaviour": {"kind": "firmware_update", "user_agent": "X/2", "down": 7}}), 0)
    [(t, on)] = [(t, a) for t, a in advance(r, 100) if isinstance(a, runner.PowerOn)]
    assert t == 12 and on.firmware is not None and on.firmware.user_agent == "X/2"


def test_mac_randomisation_comes_back_with_a_locally_administered_unicast_mac() -> None:
    r = runner.Runner()
    s = scenario({"at": 1, "behaviour": {"kind": "mac_randomisation", "down": 2, "release": True}}, seed=3)
    r.start("phone", s, 0)
    timeline = advance(r, 10)
    assert timeline[1][1] == runner.PowerOff("phone", release=True)
    [on] = [a for _, a in timeline if isinstance(a, runner.PowerOn)]
    assert on.mac is not None and int(on.mac[:2], 16) & 0x03 == 0x02  # local bit set, group bit clear
    again = runner.Runner()
    again.start("phone", s, 0)
    assert [a for _, a in advance(again, 10) if isinstance(a, runner.PowerOn)] == [on]  # the seed decides


def test_churn_leaves_and_rejoins_within_its_window_at_about_the_rate() -> None:
    r = runner.Runner()
    step = {"at": 0, "duration": 3600, "behaviour": {"kind": "churn", "interval": 60, "down_min": 10, "down_max": 20}}
    r.start("cam", scenario(step, seed=5), 0)
    timeline = advance(r, 10_000)
    offs = [t for t, a in timeline if isinstance(a, runner.PowerOff)]
    ons = [t for t, a in timeline if isinstance(a, runner.PowerOn)]
    assert len(offs) == len(ons) and 25 <= len(offs) <= 70  # ~3600 / (60 + 15)
    assert all(0 <= t < 3600 for t in offs)
    assert all(10 <= on - off <= 20 for off, on in zip(offs, ons, strict=True))
    assert kinds(timeline)[-1][1] == "Mark:ended" or any(k == "Mark:ended" for _, k in kinds(timeline))


def test_a_compromise_step_starts_and_stops_its_service() -> None:
    r = runner.Runner()
    r.start("cam", scenario({"at": 2, "duration": 30, "behaviour": {"kind": "c2_beacon", "period": 5}}), 0)
    timeline = advance(r, 100)
    assert kinds(timeline) == [(2, "Mark:started"), (2, "StartService"), (32, "StopService"), (32, "Mark:ended")]
    start = timeline[1][1]
    assert isinstance(start, runner.StartService) and start.spec.kind == "c2_beacon" and start.label == "lab"


def test_a_compromise_service_that_is_done_ends_its_step_once() -> None:
    r = runner.Runner()
    r.start("cam", scenario({"at": 2, "duration": 30, "behaviour": {"kind": "brute_force", "attempts": 3}}), 0)
    timeline = advance(r, 10)
    assert kinds(timeline) == [(2, "Mark:started"), (2, "StartService")]
    assert isinstance(timeline[1][1], runner.StartService) and timeline[1][1].key == "0#0"
    done = r.service_done("cam", "0#0")
    assert [type(a).__name__ for a in done] == ["StopService", "Mark"]
    assert isinstance(done[1], runner.Mark) and (done[1].state, done[1].detail) == ("ended", "done")
    assert r.service_done("cam", "0#0") == [] and advance(r, 100) == []  # not again, not at the duration


def test_stopping_ends_open_behaviours_stops_services_and_brings_the_device_back() -> None:
    r = runner.Runner()
    r.start(
        "cam",
        scenario(
            {"at": 1, "behaviour": {"kind": "port_scan"}},
            {"at": 2, "behaviour": {"kind": "power_cycle", "down": 100}},
        ),
        0,
    )
    advance(r, 5)
    out = r.stop("cam", 5)
    assert [type(a).__name__ for a in out] == ["StopService", "Mark", "Mark", "PowerOn"]
    assert all(a.state == "ended" and a.detail == "scenario stopped" for a in out if isinstance(a, runner.Mark))
    assert r.next_deadline() is None and r.running() == {}


def test_a_power_action_while_already_down_is_skipped() -> None:
    r = runner.Runner()
    r.start(
        "cam",
        scenario(
            {"at": 1, "behaviour": {"kind": "power_cycle", "down": 10}},
            {"at": 2, "behaviour": {"kind": "firmware_update", "user_agent": "x", "down": 1}},
        ),
        0,
    )
    timeline = advance(r, 100)
    assert sum(isinstance(a, runner.PowerOff) for _, a in timeline) == 1
    assert any(isinstance(a, runner.Note) and "skipped" in a.detail for _, a in timeline)


@pytest.mark.parametrize("restart_at", [3.0])
def test_starting_again_replaces_the_running_scenario(restart_at: float) -> None:
    r = runner.Runner()
    s = scenario({"at": 5, "behaviour": {"kind": "power_cycle"}})
    r.start("cam", s, 0)
    r.start("cam", s, restart_at)
    starts = [t for t, a in advance(r, 100) if isinstance(a, runner.Mark) and a.state == "started"]
    assert starts == [restart_at + 5]
