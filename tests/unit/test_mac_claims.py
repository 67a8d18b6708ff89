"""MACs of resources that run apart (a cluster): pinning a new device, and who keeps a shared MAC."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from iot_emulator.config import manifests, models
from iot_emulator.devices import mac_claims, macs
from iot_emulator.profiles import catalog

CLASH = macs.derive("44:19:b6", "device/cam-222", 0)
"""cam-222 and cam-4245 each derive this MAC on their own."""


def device(name: str, **spec: Any) -> models.IoTDevice:
    doc = {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTDevice",
        "metadata": {"name": name},
        "spec": {"profile": "tiny-cam", **spec},
    }
    return manifests.validate_documents([doc])[0]  # type: ignore[return-value]


def fleet(name: str, replicas: int, **spec: Any) -> models.IoTFleet:
    doc = {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTFleet",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "template": {"profile": "tiny-cam"}, **spec},
    }
    return manifests.validate_documents([doc])[0]  # type: ignore[return-value]


def test_each_resource_derives_alone(tiny_library: catalog.Library) -> None:
    claims = mac_claims.Claims(tiny_library)
    assert claims.macs(device("cam-222")) == claims.macs(device("cam-4245")) == {CLASH}
    assert claims.macs(device("cam-1", running=False)) == {macs.derive("44:19:b6", "device/cam-1", 0)}
    assert len(claims.macs(fleet("cams", 50))) == 50
    assert claims.macs(device("x", profile="no-such-profile")) == frozenset()


def test_pin_avoids_every_other_resource_and_the_rest_of_the_change(tiny_library: catalog.Library) -> None:
    claims = mac_claims.Claims(tiny_library)
    [pinned] = claims.pin([device("cam-4245")], [device("cam-222")])
    assert isinstance(pinned, models.IoTDevice) and pinned.spec.mac not in (None, CLASH)
    both = claims.pin([device("cam-4245"), device("cam-222")], [])
    assert [d.spec.mac for d in both if isinstance(d, models.IoTDevice)][1] == CLASH  # the first by name keeps its own
    assert len({d.spec.mac for d in both if isinstance(d, models.IoTDevice)}) == 2
    given = device("cam-4245", mac="00:12:34:56:78:01")
    assert claims.pin([given], [device("cam-222")]) == [given]


def test_shared_names_the_field_the_mac_and_the_other_resource(tiny_library: catalog.Library) -> None:
    claims = mac_claims.Claims(tiny_library)
    assert claims.shared([device("cam-9", mac=CLASH)], [device("cam-222")]) == [
        f"IoTDevice/cam-9: spec.mac: MAC {CLASH} is already used by IoTDevice/cam-222"
    ]
    cams = fleet("cams", 10)
    twin = fleet("twin", 3, macOui="44:19:b6")
    assert claims.shared([twin], [cams]) == []
    member = sorted(claims.macs(cams))[0]
    [problem] = claims.shared([cams], [device("cam-5", mac=member)])
    assert problem == f"IoTFleet/cams: spec.macOui: MAC {member} is already used by IoTDevice/cam-5"


def at(minute: int) -> dt.datetime:
    return dt.datetime(2026, 12, 1, 12, minute, tzinfo=dt.UTC)


def test_the_oldest_keeps_a_clashing_mac(tiny_library: catalog.Library) -> None:
    claims = mac_claims.Claims(tiny_library)
    old, new = claims.claim(device("cam-4245"), at(1)), claims.claim(device("cam-222"), at(2))
    assert mac_claims.clash(old, [old, new]) is None
    message = mac_claims.clash(new, [old, new])
    assert message == f"MAC {CLASH} is already used by IoTDevice/cam-4245; " + mac_claims.ADVICE
    same_time = [claims.claim(device(n), at(1)) for n in ("cam-4245", "cam-222")]
    assert mac_claims.clash(same_time[1], same_time) is None  # then by kind and name: cam-222 < cam-4245
    assert mac_claims.clash(same_time[0], same_time) is not None


def test_a_large_fleet_is_expanded_once(tiny_library: catalog.Library, monkeypatch: pytest.MonkeyPatch) -> None:
    claims = mac_claims.Claims(tiny_library)
    big = fleet("big", 2000)
    first = claims.macs(big)
    monkeypatch.setattr(manifests, "expand", lambda *a, **k: pytest.fail("expanded again"))
    relabelled = big.model_copy(update={"spec": big.spec.model_copy(update={"running": False})})
    assert claims.macs(relabelled) is first
