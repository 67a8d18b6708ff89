"""What a firmware update changes in a device's profile: another profile, or some of its fingerprints.

The device keeps its MAC and host name (they belong to the hardware and its owner); what the new
firmware sends changes: User-Agent, DHCP options (option 55, 60, order, 57), TLS ClientHello.
The result is validated as any profile is, so a change the profile model refuses is refused here.
"""

from __future__ import annotations

from typing import Any

from iot_emulator.profiles import catalog
from iot_emulator.scenarios import model


def updated(base: catalog.Profile, update: model.FirmwareUpdate, library: catalog.Library) -> catalog.Profile:
    """`base` after `update` (a `ProfileError` for an unknown profile name)."""
    prof = library.get(update.profile) if update.profile else base
    if update.user_agent is None and update.dhcp is None and update.tls is None:
        return prof
    data: dict[str, Any] = prof.model_dump()
    if update.user_agent is not None:
        data["http"] = {**(data.get("http") or {}), "user_agent": update.user_agent}
    if update.dhcp is not None:
        data["dhcp"] = {**data["dhcp"], **update.dhcp.model_dump(exclude_none=True)}
    if update.tls is not None:
        if data.get("tls") is None:
            raise catalog.ProfileError(f"{prof.name} sends no TLS ClientHello to change (tls: set a profile that does)")
        data["tls"] = {**data["tls"], **update.tls.model_dump(exclude_none=True)}
    return catalog.Profile.model_validate(data)


def check(scenario: model.Scenario, library: catalog.Library) -> list[str]:
    """Problems of the scenario's firmware updates against the library (`steps.N.behaviour.profile: ...`)."""
    problems = []
    for number, step in enumerate(scenario.steps):
        b = step.behaviour
        if isinstance(b, model.FirmwareUpdate) and b.profile is not None and b.profile not in library:
            problems.append(f"steps.{number}.behaviour.profile: unknown profile {b.profile!r}")
    return problems
