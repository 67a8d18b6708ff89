"""The scenario model: what a scenario may say, the errors naming the field, and target selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from iot_emulator.config import manifests
from iot_emulator.profiles import catalog
from iot_emulator.scenarios import firmware, model

EXAMPLE = Path(__file__).parents[2] / "examples" / "scenario-branch-day.yaml"


def scenario(*steps: dict[str, object], **fields: object) -> model.Scenario:
    return model.Scenario.model_validate({"name": "t", "steps": list(steps), **fields})


def problems(*steps: dict[str, object], **fields: object) -> list[str]:
    with pytest.raises(model.ScenarioError) as info:
        model.parse(__import__("json").dumps({"name": "t", "steps": list(steps), **fields}))
    return [p.removeprefix("<scenario>: ") for p in info.value.problems]


def test_every_behaviour_of_the_example_file_parses() -> None:
    parsed = model.load(EXAMPLE)
    kinds = {step.behaviour.kind for step in parsed.steps}
    assert set(model.LIFECYCLE_KINDS) <= kinds
    assert kinds & set(model.COMPROMISE_KINDS)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"at": 1, "behaviour": {"kind": "power_cycle", "downn": 3}}, "steps.0.behaviour.downn: Extra inputs"),
        ({"at": 1, "behaviour": {"kind": "port_scan", "rate": -1}}, "steps.0.behaviour.rate: Input should be greater"),
        ({"at": 1, "behaviour": {"kind": "teleport"}}, "steps.0.behaviour: kind: 'teleport' is not a behaviour"),
        ({"at": -1, "behaviour": {"kind": "power_cycle"}}, "steps.0.at: Input should be greater than or equal to 0"),
        ({"at": 1, "behaviour": {"kind": "churn"}}, "steps.0: churn needs a duration"),
        ({"at": 1, "repeat": 3, "behaviour": {"kind": "power_cycle"}}, "steps.0: repeat > 1 needs every"),
        ({"at": 1, "duration": 5, "behaviour": {"kind": "power_cycle"}}, "steps.0: power_cycle takes no duration"),
        ({"at": 1, "behaviour": {"kind": "firmware_update"}}, "steps.0.behaviour: firmware_update needs profile"),
        (
            {"at": 1, "target": {"share": 0.5, "count": 2}, "behaviour": {"kind": "power_cycle"}},
            "steps.0.target: set one",
        ),
        (
            {"at": 1, "target": {"share": 1.5}, "behaviour": {"kind": "power_cycle"}},
            "steps.0.target.share: Input should",
        ),
        ({"at": 1, "repeat": 5000, "every": 1, "behaviour": {"kind": "power_cycle"}}, "steps.0.repeat: Input should"),
        ({"at": 1, "behaviour": {"kind": "churn", "down_min": 9, "down_max": 1}, "duration": 9}, "down_min must not"),
        ({"at": 1, "behaviour": {"kind": "brute_force", "service": "rdp"}}, "steps.0.behaviour.service: Input should"),
    ],
)
def test_bad_input_names_the_field(step: dict[str, object], expected: str) -> None:
    found = problems(step)
    assert any(expected in p for p in found), found


def test_bounds_on_the_scenario() -> None:
    assert "steps: List should have at least 1 item" in problems()[0]
    many = [{"at": 1, "behaviour": {"kind": "power_cycle"}}] * (model.MAX_STEPS + 1)
    assert "steps: List should have at most" in problems(*many)[0]
    assert any(p.startswith("name:") for p in problems({"at": 1, "behaviour": {"kind": "new_device"}}, name="Bad Name"))


def test_yaml_that_is_not_a_scenario_is_refused() -> None:
    with pytest.raises(model.ScenarioError, match="not a valid YAML"):
        model.parse("name: [unclosed")


def test_share_and_count_pick_the_same_members_every_time() -> None:
    s = scenario(
        {"at": 1, "target": {"count": 3}, "behaviour": {"kind": "power_cycle"}},
        {"at": 1, "target": {"share": 0.25}, "behaviour": {"kind": "power_cycle"}},
        seed=11,
    )
    counted = [i for i in range(40) if model.targets(s, 0, f"d{i}", i, 40)]
    shared = [i for i in range(400) if model.targets(s, 1, f"d{i}", i, 400)]
    assert len(counted) == 3
    assert counted == [i for i in range(40) if model.targets(s, 0, f"d{i}", i, 40)]
    assert 70 <= len(shared) <= 130  # ~25 % of 400
    other = s.model_copy(update={"seed": 12})
    assert counted != [i for i in range(40) if model.targets(other, 0, f"d{i}", i, 40)]


def test_a_member_keeps_only_its_steps_named_as_in_the_whole() -> None:
    s = scenario(
        {"at": 1, "target": {"devices": ["cam-b"]}, "behaviour": {"kind": "power_cycle"}},
        {"at": 2, "name": "all", "behaviour": {"kind": "power_cycle"}},
    )
    mine = model.for_member(s, "cam-a", 0, 2)
    assert mine is not None and [st.name for st in mine.steps] == ["all"]
    theirs = model.for_member(s, "cam-b", 1, 2)
    assert theirs is not None and [st.name for st in theirs.steps] == ["1", "all"]
    assert model.for_member(scenario(s.steps[0].model_dump()), "cam-a", 0, 1) is None


def test_a_manifest_fleet_resolves_its_scenario_per_member(tiny_library: catalog.Library) -> None:
    text = """
apiVersion: iotemu.io/v1alpha1
kind: IoTFleet
metadata: {name: cams}
spec:
  replicas: 10
  template: {profile: tiny-cam}
  scenario:
    name: storm
    steps:
      - {at: 5, target: {count: 4}, behaviour: {kind: power_cycle, down: 3}}
"""
    devices = manifests.expand(manifests.parse_documents(text), tiny_library)
    assert sum(d.scenario is not None for d in devices) == 4


def test_a_manifest_names_a_bad_scenario_field_and_an_unknown_firmware_profile(tiny_library: catalog.Library) -> None:
    base = "apiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {name: cam}\nspec:\n  profile: tiny-cam\n"
    with pytest.raises(manifests.ManifestError, match=r"spec\.scenario\.steps\.0\.behaviour\.down: Input should"):
        manifests.parse_documents(
            base + "  scenario: {name: s, steps: [{at: 1, behaviour: {kind: power_cycle, down: x}}]}\n"
        )
    resources = manifests.parse_documents(
        base + "  scenario: {name: s, steps: [{at: 1, behaviour: {kind: firmware_update, profile: nope}}]}\n"
    )
    with pytest.raises(manifests.ManifestError, match=r"spec\.scenario\.steps\.0\.behaviour\.profile: unknown profile"):
        manifests.expand(resources, tiny_library)


def test_a_firmware_update_changes_only_what_it_says(tiny_library: catalog.Library) -> None:
    base = tiny_library.get("tiny-cam")
    update = model.FirmwareUpdate(user_agent="TinyCam/2.0", dhcp=model.DhcpOverride(vendor_class_id="udhcp 1.36.1"))
    new = firmware.updated(base, update, tiny_library)
    assert new.http is not None and new.http.user_agent == "TinyCam/2.0"
    assert new.dhcp.vendor_class_id == "udhcp 1.36.1"
    assert new.dhcp.parameter_request_list == base.dhcp.parameter_request_list and new.name == base.name
    with pytest.raises(catalog.ProfileError, match="sends no TLS ClientHello"):
        firmware.updated(base, model.FirmwareUpdate(tls=model.TlsOverride(alpn=["h2"])), tiny_library)
