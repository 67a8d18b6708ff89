"""desired_pods: one pod per device, stable fleet shards, hashes that roll only what changed."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from iot_emulator.config import manifests, models
from iot_emulator.profiles import catalog
from iot_operator import pods
from iot_operator import settings as settings_mod

SETTINGS = settings_mod.OperatorSettings(emulator_image="img:1")


def owner(kind: str = "IoTFleet", name: str = "cams") -> pods.Owner:
    return pods.Owner(kind, name, "lab", "uid-1")


def fleet(replicas: int, per: int = 250, **spec: Any) -> models.IoTFleet:
    body = {"replicas": replicas, "devicesPerPod": per, "template": {"profile": "tiny-cam"}, **spec}
    return models.IoTFleet.model_validate({"metadata": {"name": "cams"}, "spec": body})


def device(**spec: Any) -> models.IoTDevice:
    return models.IoTDevice.model_validate({"metadata": {"name": "cam1"}, "spec": {"profile": "tiny-cam", **spec}})


def by_name(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in found}


@pytest.mark.parametrize(
    ("replicas", "per", "members", "expected"),
    [
        (1000, 250, None, [(0, 0, 250), (1, 250, 500), (2, 500, 750), (3, 750, 1000)]),
        (1001, 250, None, [(0, 0, 250), (1, 250, 500), (2, 500, 750), (3, 750, 1000), (4, 1000, 1001)]),
        (0, 250, None, []),
        (1000, 250, {"start": 300, "end": 600}, [(1, 300, 500), (2, 500, 600)]),
        (400, 250, {"start": 300, "end": 600}, [(1, 300, 400)]),
    ],
)
def test_shards(replicas: int, per: int, members: dict[str, int] | None, expected: list[tuple[int, int, int]]) -> None:
    spec = fleet(replicas, per, **({"members": members} if members else {})).spec
    assert [(s.index, s.start, s.end) for s in pods.shards(spec)] == expected


@pytest.mark.parametrize("replicas", [1, 300, 9999, 10001, 12000])
def test_shard_manifests_run_exactly_the_whole_fleets_devices(replicas: int, tiny_library: catalog.Library) -> None:
    resource = fleet(replicas, per=2500)
    whole = [(d.device_id, d.mac, d.hostname) for d in manifests.expand([resource], tiny_library)]
    parts = []
    for pod in pods.desired_pods(resource, owner(), SETTINGS, tiny_library):
        documents = manifests.parse_documents(pod["metadata"]["annotations"][pods.MANIFEST])
        parts += [(d.device_id, d.mac, d.hostname) for d in manifests.expand(documents, tiny_library)]
    assert parts == whole
    assert [pods.device_id("cams", i, replicas) for i in range(replicas)] == [d[0] for d in whole]


SCENARIO = {
    "name": "storm",
    "seed": 9,
    "steps": [
        {"at": 5, "target": {"count": 7}, "behaviour": {"kind": "power_cycle", "down": 3}},
        {"at": 9, "target": {"share": 0.1}, "duration": 30, "behaviour": {"kind": "c2_beacon"}},
    ],
}


def test_shards_of_a_fleet_with_a_scenario_target_the_same_members_as_the_whole(tiny_library: catalog.Library) -> None:
    resource = fleet(1000, per=250, scenario=SCENARIO)
    whole = {d.device_id: d.scenario for d in manifests.expand([resource], tiny_library)}
    parts = {}
    for pod in pods.desired_pods(resource, owner(), SETTINGS, tiny_library):
        documents = manifests.parse_documents(pod["metadata"]["annotations"][pods.MANIFEST])
        parts.update({d.device_id: d.scenario for d in manifests.expand(documents, tiny_library)})
    assert parts == whole
    assert sum(s is not None and any(st.name == "1" for st in s.steps) for s in whole.values()) == 7


def test_a_device_pod_carries_its_scenario(tiny_library: catalog.Library) -> None:
    [pod] = pods.desired_pods(device(scenario=SCENARIO), owner("IoTDevice", "cam1"), SETTINGS, tiny_library)
    [document] = yaml.safe_load_all(pod["metadata"]["annotations"][pods.MANIFEST])
    assert document["spec"]["scenario"]["name"] == "storm"


def test_scaling_changes_only_the_pods_whose_devices_change(tiny_library: catalog.Library) -> None:
    before = by_name(pods.desired_pods(fleet(1100), owner(), SETTINGS, tiny_library))
    after = by_name(pods.desired_pods(fleet(1300), owner(), SETTINGS, tiny_library))
    hashes = {
        n: (
            before.get(n, {}).get("metadata", {}).get("annotations", {}).get(pods.HASH),
            after[n]["metadata"]["annotations"][pods.HASH],
        )
        for n in after
    }
    unchanged = {n for n, (a, b) in hashes.items() if a == b}
    assert unchanged == {f"iotfleet-cams-{k}" for k in range(4)}  # shard 4 grew 100 -> 250, shard 5 is new


def test_a_template_change_rolls_every_pod(tiny_library: catalog.Library) -> None:
    before = by_name(pods.desired_pods(fleet(500), owner(), SETTINGS, tiny_library))
    changed = fleet(500, template={"profile": "tiny-cam", "trafficInterval": 10})
    after = by_name(pods.desired_pods(changed, owner(), SETTINGS, tiny_library))
    assert all(
        before[n]["metadata"]["annotations"][pods.HASH] != after[n]["metadata"]["annotations"][pods.HASH] for n in after
    )


def test_stopped_resources_have_no_pod(tiny_library: catalog.Library) -> None:
    assert pods.desired_pods(fleet(500, running=False), owner(), SETTINGS, tiny_library) == []
    assert pods.desired_pods(device(running=False), owner("IoTDevice", "cam1"), SETTINGS, tiny_library) == []


def test_fleet_pod_security_and_capabilities(tiny_library: catalog.Library) -> None:
    [pod] = pods.desired_pods(fleet(10), owner(), SETTINGS, tiny_library)
    [container] = pod["spec"]["containers"]
    security = container["securityContext"]
    assert security["runAsUser"] == 0 and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["metadata"]["labels"][pods.SHARD_LABEL] == "0"
    assert pod["metadata"]["annotations"][pods.MEMBERS] == "0-10"
    assert "--http-host" in container["args"] and "$(POD_IP)" in container["args"]


def test_the_capture_token_comes_from_its_secret_only_when_configured(tiny_library: catalog.Library) -> None:
    [plain] = pods.desired_pods(fleet(2), owner(), SETTINGS, tiny_library)
    assert [e["name"] for e in plain["spec"]["containers"][0]["env"]] == ["POD_IP"]
    with_secret = SETTINGS.model_copy(update={"capture_secret": "iotemu-capture"})
    [pod] = pods.desired_pods(fleet(2), owner(), with_secret, tiny_library)
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    ref = {"name": "iotemu-capture", "key": "token", "optional": True}
    assert env["IOTEMU_CAPTURE_TOKEN"] == {"name": "IOTEMU_CAPTURE_TOKEN", "valueFrom": {"secretKeyRef": ref}}
    assert all("iotemu-capture" not in a for a in pod["spec"]["containers"][0]["args"])  # never a flag


def test_multus_fleet_gets_no_per_pod_mac(tiny_library: catalog.Library) -> None:
    resource = fleet(10, network={"mode": "multus", "attachment": "lan-bridge"})
    [pod] = pods.desired_pods(resource, owner(), SETTINGS, tiny_library)
    assert pod["metadata"]["annotations"][pods.NETWORKS] == '[{"name":"lan-bridge","interface":"net1"}]'
    assert "hostNetwork" not in pod["spec"]


def test_multus_device_mac_is_the_one_the_emulator_derives(tiny_library: catalog.Library) -> None:
    resource = device(network={"mode": "multus", "attachment": "lab/mv", "interface": "lan0"})
    [pod] = pods.desired_pods(resource, owner("IoTDevice", "cam1"), SETTINGS, tiny_library)
    [config] = manifests.expand(manifests.parse_documents(pod["metadata"]["annotations"][pods.MANIFEST]), tiny_library)
    assert f'"mac":"{config.mac}"' in pod["metadata"]["annotations"][pods.NETWORKS]
    assert "network" not in yaml.safe_load(pod["metadata"]["annotations"][pods.MANIFEST])["spec"]


def test_multus_device_with_an_unknown_profile_is_a_spec_error(tiny_library: catalog.Library) -> None:
    resource = models.IoTDevice.model_validate(
        {"metadata": {"name": "x"}, "spec": {"profile": "nope", "network": {"mode": "multus", "attachment": "a"}}}
    )
    with pytest.raises(pods.SpecError, match="unknown profile 'nope'"):
        pods.desired_pods(resource, owner("IoTDevice", "x"), SETTINGS, tiny_library)


def test_a_firmware_update_to_an_unknown_profile_is_a_spec_error(tiny_library: catalog.Library) -> None:
    scenario = {"name": "fw", "steps": [{"at": 1, "behaviour": {"kind": "firmware_update", "profile": "nope"}}]}
    with pytest.raises(pods.SpecError, match=r"spec\.scenario\.steps\.0\.behaviour\.profile: unknown profile 'nope'"):
        pods.desired_pods(fleet(3, scenario=scenario), owner(), SETTINGS, tiny_library)


V6 = ["arp", "dhcp", "ipv6"]


@pytest.mark.parametrize(
    ("resource", "where"),
    [
        (device(profile="sonoff-mini", protocols=V6), "spec.protocols"),
        (fleet(2, template={"profile": "sonoff-mini", "protocols": V6}), "spec.template.protocols"),
    ],
)
def test_ipv6_for_an_ipv4_only_profile_is_a_spec_error(
    resource: models.IoTDevice | models.IoTFleet, where: str
) -> None:
    """The status says why, instead of a pod whose emulator exits on the same check."""
    with pytest.raises(pods.SpecError, match=rf"{where}: profile 'sonoff-mini' has no IPv6"):
        pods.desired_pods(resource, owner(resource.kind, "x"), SETTINGS, catalog.builtin())
    dual_stack = device(profile="samsung-tizen-tv", protocols=V6)
    assert pods.desired_pods(dual_stack, owner("IoTDevice", "x"), SETTINGS, catalog.builtin())


def test_host_network_ports_are_spread_and_stable() -> None:
    ports = {pods.http_port(owner(), f"iotfleet-cams-{k}", True, SETTINGS) for k in range(20)}
    assert len(ports) > 15 and all(20000 <= p < 30000 for p in ports)
    assert pods.http_port(owner(), "iotfleet-cams-0", True, SETTINGS) == pods.http_port(
        owner(), "iotfleet-cams-0", True, SETTINGS
    )
    assert pods.http_port(owner(), "x", False, SETTINGS) == 8080
