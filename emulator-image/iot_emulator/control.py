"""Adding and removing devices in a running process: what the dashboard's supervisor drives.

Starting a Python process per device costs ~40 MB and a second of start-up; a supervisor keeps a
few long-lived emulator processes instead and tells them which devices to run. Every request is
validated whole (schema, profile, duplicates against the devices already running) before any
device starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iot_emulator import engine, manifests
from iot_emulator import profile as profiles


class Conflict(ValueError):
    """A device id or MAC that is already running in this process."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class Control:
    def __init__(self, eng: engine.Engine, library: profiles.Library) -> None:
        self.engine = eng
        self.library = library

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
        self.engine.add_devices(configs)
        return [c.device_id for c in configs]

    def remove(self, device_id: str) -> bool:
        return self.engine.remove_device(device_id)
