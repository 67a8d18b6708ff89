"""The local supervisor's pure parts: the emulator command line it builds, how it cuts a start into requests."""

from __future__ import annotations

from pathlib import Path

from iot_dashboard import events
from iot_dashboard.backends.local import backend as local_backend
from iot_dashboard.backends.local import supervisor
from iot_dashboard.settings import LocalSettings
from iot_emulator.config import manifests, models
from iot_emulator.profiles import catalog


def argv(tmp_path: Path, **settings: object) -> list[str]:
    local = LocalSettings.model_validate({"data_file": tmp_path / "d.yaml", **settings})
    sup = supervisor.Supervisor(local, events.EventHub(), tmp_path / "sockets", tmp_path / "state")
    return sup._argv(supervisor.Shard("devices-0", "devices", 250))


def test_a_physical_nic_gets_promiscuous_mode(tmp_path: Path) -> None:
    assert "--promiscuous" in argv(tmp_path, interface="enp3s0", promiscuous=True)
    assert "--promiscuous" not in argv(tmp_path, interface="lab0", netns="lab-dev")


def test_the_lab_namespace_and_interface_are_passed_on(tmp_path: Path) -> None:
    line = argv(tmp_path, interface="lab0", netns="lab-dev")
    assert line[line.index("--interface") + 1] == "lab0"
    assert line[line.index("--netns") + 1] == "lab-dev"


def test_start_rate_is_passed_on_only_when_set(tmp_path: Path) -> None:
    line = argv(tmp_path, interface="enp3s0", start_rate=5)
    assert line[line.index("--start-rate") + 1] == "5.0"
    assert "--start-rate" not in argv(tmp_path, interface="enp3s0")  # the emulator's own default (20/s)


def test_a_start_is_cut_into_requests_where_no_host_name_repeats() -> None:
    """The emulator refuses a request naming a host name twice: the n-th device of a name goes in the
    n-th request (not one request per device, as when the whole batch was refused)."""

    def unit(name: str, hostname: str | None) -> supervisor.Unit:
        return supervisor.Unit(
            name, supervisor.DEVICES_GROUP, {"metadata": {"name": name}, "spec": {"hostname": hostname}}
        )

    units = [
        unit("a1", "hue"),
        unit("b1", "nest"),
        unit("a2", "hue"),
        unit("c", None),
        unit("a3", "hue"),
        unit("b2", "nest"),
    ]
    assert [[u.device_id for u in batch] for batch in supervisor.rounds(units)] == [
        ["a1", "b1", "c"],
        ["a2", "b2"],
        ["a3"],
    ]
    assert supervisor.rounds([]) == []


PHONE = """\
name: tiny-phone
vendor: Phoneco
model: PH-1
device_class: phone
os: Linux
ouis: ["00:04:f2"]
hostname_pattern: "phone-{mac6}"
dhcp:
  options: [53, 61, 50, 12, 55]
  parameter_request_list: [1, 3, 6, 15]
dot1x: {method: md5}
sources: {dhcp.options: "test fixture", dot1x: "test fixture"}
"""


def test_the_manifest_an_emulator_is_given_keeps_vlan_and_dot1x(profiles_dir: Path) -> None:
    """The emulator process re-reads the device from this manifest: a VLAN or 802.1X choice left
    out would run the device untagged, or with its profile's shipped 802.1X (off: MAB)."""
    (profiles_dir / "tiny-phone.yaml").write_text(PHONE)
    library = catalog.Library(catalog.load_dir(profiles_dir))
    specs = [
        {"profile": "tiny-phone", "vlan": 20, "vlanPriority": 5, "outerVlan": 100, "dot1x": True},
        {"profile": "tiny-phone", "dot1x": False},
        {"profile": "tiny-phone"},
        {"profile": "tiny-cam", "vlan": 30},
    ]
    documents = [
        {"apiVersion": models.API_VERSION, "kind": "IoTDevice", "metadata": {"name": f"d{i}"}, "spec": spec}
        for i, spec in enumerate(specs)
    ]
    configs = manifests.expand(manifests.validate_documents(documents), library)
    for config in configs:
        unit = local_backend.unit_of(config, {})
        [again] = manifests.expand(manifests.validate_documents([unit.manifest]), library)
        assert again.vlan == config.vlan, config.device_id
        assert again.profile.dot1x == config.profile.dot1x, config.device_id
    assert [c.vlan for c in configs] == [manifests.Vlan(20, 5, 100), None, None, manifests.Vlan(30, 0, None)]
    assert [c.profile.dot1x.enabled if c.profile.dot1x else None for c in configs] == [True, False, False, None]
