"""Manifest files: validation names the document and the field; fleets expand deterministically."""

from __future__ import annotations

from typing import Any

import pytest

from iot_emulator.config import manifests
from iot_emulator.devices import macs
from iot_emulator.profiles import catalog

DEVICE = """\
apiVersion: iotemu.io/v1alpha1
kind: IoTDevice
metadata: {{name: {name}}}
spec:
  profile: tiny-cam
  mac: "{mac}"
"""

FLEET = """\
apiVersion: iotemu.io/v1alpha1
kind: IoTFleet
metadata: {name: cams}
spec:
  replicas: 300
  template: {profile: tiny-cam, protocols: [arp, dhcp]}
"""


def expand(text: str, library: catalog.Library) -> list[manifests.DeviceConfig]:
    return manifests.expand(manifests.parse_documents(text, "test.yaml"), library)


def test_device_resolves_profile_hostname_and_protocols(tiny_library: catalog.Library) -> None:
    [dev] = expand(DEVICE.format(name="cam-1", mac="00:12:34:56:78:01"), tiny_library)
    assert dev.device_id == "cam-1"
    assert dev.mac == "00:12:34:56:78:01"
    assert dev.hostname == "tinycam-567801"
    assert dev.profile.name == "tiny-cam"
    assert dev.protocols == ("arp", "dhcp", "icmp")


def test_fleet_macs_are_stable_unique_and_inside_the_oui(tiny_library: catalog.Library) -> None:
    first = expand(FLEET, tiny_library)
    again = expand(FLEET, tiny_library)
    assert [d.mac for d in first] == [d.mac for d in again]
    assert len({d.mac for d in first}) == 300
    assert all(d.mac.startswith("44:19:b6:") for d in first)
    assert first[7].device_id == "cams-0007"
    assert len({d.hostname for d in first}) == 300


def test_scaling_a_fleet_up_keeps_existing_macs(tiny_library: catalog.Library) -> None:
    small = expand(FLEET.replace("replicas: 300", "replicas: 10"), tiny_library)
    big = expand(FLEET, tiny_library)
    assert [d.mac for d in small] == [d.mac for d in big[:10]]


def test_bad_mac_names_document_and_field(tiny_library: catalog.Library) -> None:
    with pytest.raises(manifests.ManifestError) as err:
        expand(DEVICE.format(name="cam-1", mac="00:12:34:56:78"), tiny_library)
    assert "document 1 (IoTDevice/cam-1)" in str(err.value)
    assert "spec.mac" in str(err.value)


def test_multicast_mac_is_refused(tiny_library: catalog.Library) -> None:
    with pytest.raises(manifests.ManifestError, match="multicast"):
        expand(DEVICE.format(name="cam-1", mac="01:00:5e:00:00:01"), tiny_library)


def test_duplicate_macs_are_reported_with_both_devices(tiny_library: catalog.Library) -> None:
    text = (
        DEVICE.format(name="cam-1", mac="00:12:34:56:78:01")
        + "---\n"
        + DEVICE.format(name="cam-2", mac="00:12:34:56:78:01")
    )
    with pytest.raises(manifests.ManifestError) as err:
        expand(text, tiny_library)
    assert "cam-2: spec.mac: 00:12:34:56:78:01 is already used by cam-1" in err.value.problems


def test_unknown_profile_lists_the_known_ones(tiny_library: catalog.Library) -> None:
    text = DEVICE.format(name="cam-1", mac="00:12:34:56:78:01").replace("tiny-cam", "no-such")
    with pytest.raises(manifests.ManifestError) as err:
        expand(text, tiny_library)
    assert "spec.profile: unknown profile 'no-such'; known profiles: tiny-cam" in str(err.value)


def test_every_bad_document_is_reported_at_once(tiny_library: catalog.Library) -> None:
    text = (
        DEVICE.format(name="Bad_Name", mac="00:12:34:56:78:01")
        + "---\n"
        + DEVICE.format(name="cam-2", mac="zz").replace("profile: tiny-cam", "profile: tiny-cam\n  protocols: [gopher]")
    )
    with pytest.raises(manifests.ManifestError) as err:
        expand(text, tiny_library)
    problems = "\n".join(err.value.problems)
    assert "document 1" in problems and "metadata.name" in problems
    assert "document 2" in problems and "spec.mac" in problems and "unknown protocol(s) gopher" in problems


def test_static_mode_needs_an_address(tiny_library: catalog.Library) -> None:
    text = DEVICE.format(name="cam-1", mac="00:12:34:56:78:01") + "  dhcp: {mode: static}\n"
    with pytest.raises(manifests.ManifestError, match=r"spec\.dhcp.*static mode needs an address"):
        expand(text, tiny_library)


def test_wrong_api_version_and_not_yaml() -> None:
    with pytest.raises(manifests.ManifestError, match=r"apiVersion: expected iotemu\.io/v1alpha1"):
        manifests.parse_documents("apiVersion: v1\nkind: IoTDevice\n")
    with pytest.raises(manifests.ManifestError, match="not valid YAML"):
        manifests.parse_documents("a: [1, 2\n")


def test_stopped_resources_produce_no_devices(tiny_library: catalog.Library) -> None:
    text = DEVICE.format(name="cam-1", mac="00:12:34:56:78:01") + "  running: false\n"
    assert expand(text, tiny_library) == []


def test_explicit_hostnames_must_be_unique_but_pattern_names_may_repeat(tiny_library: catalog.Library) -> None:
    fixed = tiny_library.get("tiny-cam").model_copy(update={"hostname_pattern": "Philips-hue"})
    library = catalog.Library([fixed])
    fleet = expand(FLEET.replace("replicas: 300", "replicas: 3"), library)
    assert {d.hostname for d in fleet} == {"Philips-hue"}  # as real bridges all call themselves
    text = (
        DEVICE.format(name="cam-1", mac="00:12:34:56:78:01")
        + "  hostname: lobby\n---\n"
        + DEVICE.format(name="cam-2", mac="00:12:34:56:78:02")
        + "  hostname: lobby\n"
    )
    with pytest.raises(manifests.ManifestError, match=r"cam-2: spec\.hostname: lobby is already used by cam-1"):
        expand(text, library)


def _singles(names: list[str]) -> list[Any]:
    docs = [
        {
            "apiVersion": "iotemu.io/v1alpha1",
            "kind": "IoTDevice",
            "metadata": {"name": n},
            "spec": {"profile": "tiny-cam"},
        }
        for n in names
    ]
    return manifests.validate_documents(docs)


def test_derived_macs_never_collide_and_do_not_depend_on_order(tiny_library: catalog.Library) -> None:
    """cam-222 and cam-4245 hash to the same MAC in 44:19:b6; one of them gets a salted one."""
    assert macs.derive("44:19:b6", "device/cam-222", 0) == macs.derive("44:19:b6", "device/cam-4245", 0)
    forward = manifests.expand(_singles(["cam-222", "cam-4245"]), tiny_library)
    backward = manifests.expand(_singles(["cam-4245", "cam-222"]), tiny_library)
    assert forward[0].mac != forward[1].mac
    assert {d.device_id: d.mac for d in forward} == {d.device_id: d.mac for d in backward}
    assert forward[0].mac == macs.derive("44:19:b6", "device/cam-222", 0)  # the first by id keeps its own
    assert forward[1].hostname.endswith(forward[1].mac.replace(":", "")[-6:])  # host name follows the MAC


def test_derived_macs_avoid_what_a_running_engine_uses(tiny_library: catalog.Library) -> None:
    busy = macs.derive("44:19:b6", "device/cam-1", 0)
    (device,) = manifests.expand(_singles(["cam-1"]), tiny_library, taken=[busy.upper()])
    assert device.mac != busy


def test_2500_single_devices_of_one_profile_expand(tiny_library: catalog.Library) -> None:
    devices = manifests.expand(_singles([f"cam-{i:04d}" for i in range(2500)]), tiny_library)
    assert len({d.mac for d in devices}) == 2500


def test_an_empty_protocol_name_is_refused_naming_the_field() -> None:
    doc = {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTDevice",
        "metadata": {"name": "cam-1"},
        "spec": {"profile": "tiny-cam", "protocols": ["arp", ""]},
    }
    with pytest.raises(manifests.ManifestError, match=r"spec\.protocols: .*a protocol name is empty"):
        manifests.validate_documents([doc])


def test_dot1x_in_a_spec_turns_the_profiles_supplicant_on_or_off() -> None:
    """The shipped phones carry a dot1x section switched off (as the real phones ship); a spec turns it on."""
    library = catalog.builtin()
    phone = """\
apiVersion: iotemu.io/v1alpha1
kind: IoTDevice
metadata: {{name: phone-1}}
spec: {{profile: cisco-cp-7841, {field}}}
"""
    shipped = library.get("cisco-cp-7841").dot1x
    assert shipped is not None and not shipped.enabled
    [as_shipped] = expand(phone.format(field="running: true"), library)
    assert as_shipped.profile.dot1x == shipped
    [on] = expand(phone.format(field="dot1x: true"), library)
    assert on.profile.dot1x is not None and on.profile.dot1x.enabled and on.profile.dot1x.method == shipped.method
    fleet = "apiVersion: iotemu.io/v1alpha1\nkind: IoTFleet\nmetadata: {name: phones}\n"
    fleet += "spec: {replicas: 2, template: {profile: cisco-cp-7841, dot1x: true}}\n"
    assert all(d.profile.dot1x and d.profile.dot1x.enabled for d in expand(fleet, library))
    [plug] = expand(phone.format(field="dot1x: false").replace("cisco-cp-7841", "sonoff-mini"), library)
    assert plug.profile.dot1x is None  # off for a device without a supplicant: nothing to turn off


def test_dot1x_for_a_profile_without_a_supplicant_names_the_field() -> None:
    text = """\
apiVersion: iotemu.io/v1alpha1
kind: IoTFleet
metadata: {name: plugs}
spec: {replicas: 2, template: {profile: sonoff-mini, dot1x: true}}
"""
    with pytest.raises(manifests.ManifestError) as caught:
        expand(text, catalog.builtin())
    assert "IoTFleet/plugs: spec.template.dot1x: profile 'sonoff-mini' has no 802.1X supplicant" in str(caught.value)
