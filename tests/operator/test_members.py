"""`IoTFleet.spec.members`: a slice of a fleet runs the same devices as the whole fleet, no more.

The operator gives each pod one slice; these tests pin the contract it relies on: ids, MACs and
host names of a member do not depend on which slice runs it.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from iot_emulator.config import manifests, models
from iot_emulator.profiles import catalog


def fleet(replicas: int, members: dict[str, int] | None = None) -> models.IoTFleet:
    spec: dict[str, object] = {"replicas": replicas, "template": {"profile": "tiny-cam"}}
    if members is not None:
        spec["members"] = members
    return models.IoTFleet.model_validate({"metadata": {"name": "cams"}, "spec": spec})


def identities(devices: list[manifests.DeviceConfig]) -> list[tuple[str, str, str, int]]:
    return [(d.device_id, d.mac, d.hostname, d.index) for d in devices]


def test_slices_are_the_whole_fleet_cut_in_pieces(tiny_library: catalog.Library) -> None:
    whole = identities(manifests.expand([fleet(1000)], tiny_library))
    pieces = [
        identities(manifests.expand([fleet(1000, {"start": start, "end": start + 250})], tiny_library))
        for start in range(0, 1000, 250)
    ]
    assert [d for piece in pieces for d in piece] == whole
    assert [len(p) for p in pieces] == [250] * 4


def test_a_slice_is_clipped_to_replicas(tiny_library: catalog.Library) -> None:
    devices = manifests.expand([fleet(300, {"start": 250, "end": 500})], tiny_library)
    assert [d.index for d in devices] == list(range(250, 300))
    assert manifests.expand([fleet(200, {"start": 250, "end": 500})], tiny_library) == []


def test_members_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="start must be below end"):
        fleet(10, {"start": 5, "end": 5})
