"""Adding and removing devices in a running process: what the dashboard's supervisor drives.

Starting a Python process per device costs ~40 MB and a second of start-up; a supervisor keeps a
few long-lived emulator processes instead and tells them which devices to run. Every request is
validated whole (schema, profile, duplicates against the devices already running) before any
device starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from iot_emulator.config import manifests
from iot_emulator.engine import engine
from iot_emulator.profiles import catalog
from iot_emulator.scenarios import driver, firmware
from iot_emulator.scenarios import model as scenario_model


class Conflict(ValueError):
    """A device id or MAC that is already running in this process."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class NotFound(ValueError):
    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class Control:
    def __init__(self, eng: engine.Engine, library: catalog.Library, scenarios: driver.Driver | None = None) -> None:
        self.engine = eng
        self.library = library
        self.scenarios = scenarios or driver.Driver(eng, library)

    def add(self, documents: Sequence[Any]) -> list[str]:
        """Validate manifests and start their devices; ManifestError or Conflict on bad input."""
        resources = manifests.validate_documents(documents, "request")
        running_ids = {d.device_id for d in self.engine.devices}
        running_macs = {d.config.mac: d.device_id for d in self.engine.devices}
        configs = manifests.expand(resources, self.library, taken=running_macs)
        problems = [f"{c.device_id}: device id is already running" for c in configs if c.device_id in running_ids]
        problems += [
            f"{c.device_id}: spec.mac: {c.mac} is already used by {running_macs[c.mac]}"
            for c in configs
            if c.mac in running_macs
        ]
        if problems:
            raise Conflict(problems)
        self.engine.add_devices(configs, prepare=self.scenarios.begin)
        return [c.device_id for c in configs]

    def remove(self, device_id: str) -> bool:
        self.scenarios.forget(device_id)
        return self.engine.remove_device(device_id)

    def run_scenario(self, document: Any, device_ids: Sequence[str] | None) -> list[str]:
        """Run a scenario now on these devices (all when None), as members in that order.

        ScenarioError on a bad scenario, NotFound naming the unknown ids; nothing runs unless all is well."""
        try:
            scenario = scenario_model.Scenario.model_validate(document)
        except ValidationError as exc:
            raise scenario_model.ScenarioError(scenario_model.error_lines(exc, "scenario.")) from None
        problems = [f"scenario.{p}" for p in firmware.check(scenario, self.library)]
        if problems:
            raise scenario_model.ScenarioError(problems)
        ids = list(device_ids) if device_ids is not None else [d.device_id for d in self.engine.devices]
        unknown = [i for i in ids if self.engine.find(i) is None]
        if unknown:
            raise NotFound([f"devices: no device {i!r} in this process" for i in unknown])
        started = []
        for index, device_id in enumerate(ids):
            member = scenario_model.for_member(scenario, device_id, index, len(ids))
            if member is not None:
                self.scenarios.run(device_id, member)
                started.append(device_id)
        return started

    def stop_scenario(self, device_ids: Sequence[str] | None) -> list[str]:
        """Stop the scenario of these devices (all when None); the ids that ran one."""
        ids = list(device_ids) if device_ids is not None else list(self.scenarios.runner.running())
        return [i for i in ids if self.scenarios.cancel(i)]
