"""The scenario runner: sans-IO, one timeline for the scenarios of every device of a process.

Each entry point takes `now` and returns actions (power a device off or on, start or stop a
compromise service, mark a behaviour's start or end); `next_deadline()` says when to call
`on_timer` again. The engine adapter (`scenarios.driver`) owns the clock and applies the actions,
so tests drive a virtual clock, as the protocol machines' tests do. A device runs its own scenario
(`model.for_member` has already kept only the steps that target it); its random choices (churn
times, a random MAC) come from the scenario's seed and the device id, so a run repeats exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import random
from collections.abc import Callable
from typing import Literal

from iot_emulator.devices import macs
from iot_emulator.scenarios import compromise, model


@dataclasses.dataclass(frozen=True, slots=True)
class PowerOff:
    """Link down: silent (a power cut), or saying goodbye first (`release`: DHCPRELEASE)."""

    device_id: str
    release: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class PowerOn:
    """Link up, booting: INIT-REBOOT for the remembered lease unless `fresh` or the MAC changed."""

    device_id: str
    at_once: bool = False
    """Start now, past the engine's start pacing (a boot storm)."""
    fresh: bool = False
    firmware: model.FirmwareUpdate | None = None
    mac: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class StartService:
    device_id: str
    key: str
    spec: compromise.CompromiseBehaviour
    label: str


@dataclasses.dataclass(frozen=True, slots=True)
class StopService:
    device_id: str
    key: str


@dataclasses.dataclass(frozen=True, slots=True)
class Mark:
    """A behaviour started or ended: the `scenario` message and its log line."""

    device_id: str
    scenario: str
    step: str
    behaviour: str
    state: Literal["started", "ended"]
    detail: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Note:
    """Something within a behaviour (a churn departure): a log line only."""

    device_id: str
    scenario: str
    behaviour: str
    detail: str


Action = PowerOff | PowerOn | StartService | StopService | Mark | Note
Thunk = Callable[[float], list[Action]]
"""An event: called with its scheduled time, returns what to do."""


@dataclasses.dataclass(slots=True)
class _Run:
    device_id: str
    scenario: model.Scenario
    generation: int
    rng: random.Random
    open: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    """Behaviours started and not ended: key -> (step label, kind)."""
    services: set[str] = dataclasses.field(default_factory=set)
    down_by: str | None = None
    """The behaviour whose power-off holds the device down."""


class Runner:
    """See the module docstring."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, int, Thunk]] = []
        self._seq = itertools.count()
        self._generations = itertools.count(1)
        self._runs: dict[str, _Run] = {}

    # -- entry points ---------------------------------------------------------------------------

    def start(self, device_id: str, scenario: model.Scenario, now: float) -> list[Action]:
        """Run `scenario` for the device from `now` (any scenario it runs is stopped first)."""
        out = self.stop(device_id, now)
        rng = random.Random(f"{scenario.seed}/{scenario.name}/{device_id}")
        run = self._runs[device_id] = _Run(device_id, scenario, next(self._generations), rng)
        for number, step in enumerate(scenario.steps):
            if step.behaviour.kind == "new_device" and run.down_by is None:
                run.down_by = _key(number, 0)  # absent until its step: held before it ever starts
                out.append(PowerOff(device_id))
            self._at(run, now + step.at, functools.partial(self._begin, run, number, 0))
        return out

    def stop(self, device_id: str, now: float) -> list[Action]:
        """End the device's scenario: open behaviours end, services stop, a device held down comes back."""
        run = self._runs.pop(device_id, None)
        if run is None:
            return []
        out: list[Action] = [StopService(device_id, key) for key in sorted(run.services)]
        for label, kind in run.open.values():
            out.append(self._mark(run, label, kind, "ended", "scenario stopped"))
        if run.down_by is not None:
            out.append(PowerOn(device_id))
        return out

    def service_done(self, device_id: str, key: str) -> list[Action]:
        """A compromise service has done all it had to (a scan's last probe, the last login attempt, the last
        upload): its step ends now rather than at its duration or with the scenario."""
        run = self._runs.get(device_id)
        if run is None or key not in run.services:
            return []
        run.services.discard(key)
        return [StopService(device_id, key), *self._end(run, key, "done")]

    def forget(self, device_id: str) -> None:
        """The device is gone: drop its scenario without acting on it."""
        self._runs.pop(device_id, None)

    def running(self) -> dict[str, str]:
        """Device id -> the scenario it runs."""
        return {device_id: run.scenario.name for device_id, run in self._runs.items()}

    def next_deadline(self) -> float | None:
        while self._heap and not self._live(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def on_timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            if self._live(entry):
                out += entry[4](entry[0])
        return out

    # -- behaviours -----------------------------------------------------------------------------

    def _begin(self, run: _Run, number: int, repeat: int, at: float) -> list[Action]:
        step = run.scenario.steps[number]
        if step.every is not None and repeat + 1 < step.repeat:
            self._at(run, at + step.every, lambda t: self._begin(run, number, repeat + 1, t))
        key, label, b = _key(number, repeat), run.scenario.step_label(number), step.behaviour
        if step.repeat > 1:
            label = f"{label}#{repeat + 1}"
        device_id = run.device_id
        if b.kind == "new_device":
            return self._appear(run, key, label, step.duration, at)
        if isinstance(b, model.Churn):
            assert step.duration is not None
            end = at + step.duration
            self._at(run, at + run.rng.expovariate(1 / b.interval), lambda t: self._leave(run, key, b, end, t))
            self._at(run, end, lambda t: self._end(run, key, "ended after the duration"))
            return [
                self._open(run, key, label, b.kind, f"for {step.duration:g} s, one departure every ~{b.interval:g} s")
            ]
        if b.kind in model.COMPROMISE_KINDS:
            spec: compromise.CompromiseBehaviour = b  # type: ignore[assignment]
            run.services.add(key)
            if step.duration is not None:
                self._at(run, at + step.duration, lambda t: self._stop_service(run, key))
            lasts = f"for {step.duration:g} s" if step.duration else "until the scenario stops"
            return [self._open(run, key, label, b.kind, lasts), StartService(device_id, key, spec, run.scenario.name)]
        assert isinstance(b, model.BootStorm | model.PowerCycle | model.FirmwareUpdate | model.MacRandomisation)
        if run.down_by is not None:
            return [Note(device_id, run.scenario.name, b.kind, "skipped: the device is already down")]
        release = b.release if isinstance(b, model.MacRandomisation) else False
        run.down_by = key
        self._at(run, at + b.down, lambda t: self._back(run, key, b))
        return [self._open(run, key, label, b.kind, _describe(b)), PowerOff(device_id, release)]

    def _back(self, run: _Run, key: str, b: model.Lifecycle) -> list[Action]:
        run.down_by = None
        if isinstance(b, model.MacRandomisation):
            mac = _random_mac(run.rng)
            return [PowerOn(run.device_id, mac=mac), *self._end(run, key, f"back as {mac}")]
        if isinstance(b, model.FirmwareUpdate):
            return [PowerOn(run.device_id, firmware=b), *self._end(run, key, "rebooted into the new firmware")]
        if isinstance(b, model.BootStorm):
            return [
                PowerOn(run.device_id, at_once=True, fresh=b.fresh),
                *self._end(run, key, "powered on with the others"),
            ]
        return [PowerOn(run.device_id), *self._end(run, key, "powered on")]

    def _appear(self, run: _Run, key: str, label: str, duration: float | None, at: float) -> list[Action]:
        out: list[Action] = [self._open(run, key, label, "new_device", "the device appears")]
        if run.down_by == key:
            run.down_by = None
            out.append(PowerOn(run.device_id))
        if duration is None:
            return out + self._end(run, key, "the device stays")
        self._at(run, at + duration, lambda t: self._visit_ends(run, key))
        return out

    def _visit_ends(self, run: _Run, key: str) -> list[Action]:
        if run.down_by is not None:
            return self._end(run, key, "the device leaves")
        run.down_by = key  # gone for good: a scenario stopped later brings it back
        return [PowerOff(run.device_id, release=True), *self._end(run, key, "the device leaves")]

    def _leave(self, run: _Run, key: str, b: model.Churn, end: float, at: float) -> list[Action]:
        if at >= end:
            return []
        down = run.rng.uniform(b.down_min, b.down_max)
        if run.down_by is not None:  # down for another reason: this departure does not happen
            self._at(run, at + down + run.rng.expovariate(1 / b.interval), lambda t: self._leave(run, key, b, end, t))
            return []
        run.down_by = key

        def rejoin(t: float) -> list[Action]:
            run.down_by = None
            self._at(run, t + run.rng.expovariate(1 / b.interval), lambda t2: self._leave(run, key, b, end, t2))
            return [PowerOn(run.device_id), Note(run.device_id, run.scenario.name, b.kind, "rejoins")]

        self._at(run, at + down, rejoin)
        return [
            PowerOff(run.device_id, b.release),
            Note(run.device_id, run.scenario.name, b.kind, f"leaves for {down:.0f} s"),
        ]

    def _stop_service(self, run: _Run, key: str) -> list[Action]:
        if key not in run.services:
            return []  # it ended before its duration (`service_done`)
        run.services.discard(key)
        return [StopService(run.device_id, key), *self._end(run, key, "ended after the duration")]

    # -- bookkeeping ----------------------------------------------------------------------------

    def _open(self, run: _Run, key: str, label: str, kind: str, detail: str) -> Mark:
        run.open[key] = (label, kind)
        return self._mark(run, label, kind, "started", detail)

    def _end(self, run: _Run, key: str, detail: str) -> list[Action]:
        opened = run.open.pop(key, None)
        return [] if opened is None else [self._mark(run, opened[0], opened[1], "ended", detail)]

    @staticmethod
    def _mark(run: _Run, label: str, kind: str, state: Literal["started", "ended"], detail: str) -> Mark:
        return Mark(run.device_id, run.scenario.name, label, kind, state, detail)

    def _at(self, run: _Run, when: float, thunk: Thunk) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), run.device_id, run.generation, thunk))

    def _live(self, entry: tuple[float, int, str, int, Thunk]) -> bool:
        run = self._runs.get(entry[2])
        return run is not None and run.generation == entry[3]


def _key(number: int, repeat: int) -> str:
    return f"{number}#{repeat}"


def _describe(b: model.BootStorm | model.PowerCycle | model.FirmwareUpdate | model.MacRandomisation) -> str:
    if isinstance(b, model.FirmwareUpdate):
        changes = [f"profile {b.profile}"] if b.profile else []
        changes += [f"User-Agent {b.user_agent!r}"] if b.user_agent else []
        changes += ["DHCP fingerprint"] if b.dhcp else []
        changes += ["TLS ClientHello"] if b.tls else []
        return f"installing ({', '.join(changes)}), rebooting for {b.down:g} s"
    if isinstance(b, model.MacRandomisation):
        return f"leaving for {b.down:g} s, back with a random MAC"
    return f"power off for {b.down:g} s"


def _random_mac(rng: random.Random) -> str:
    """A locally administered unicast MAC (first octet x2, x6, xA, xE), as phones use per network."""
    raw = bytearray(rng.randbytes(6))
    raw[0] = (raw[0] & 0xFC) | 0x02
    return macs.format_mac(bytes(raw))
