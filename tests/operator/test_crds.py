"""The CRDs: generated from the models, structural, valid, and rejecting what the models reject.

The CEL rules (`x-kubernetes-validations`) live in `iot_emulator.config.models` next to the pydantic
validator that enforces the same rule. Here every example document is judged twice, by pydantic
and by the CRD (schema with jsonschema, CEL rules with cel-python), and both verdicts must agree;
every CEL rule must be broken by at least one example, so none is untested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from iot_emulator.config import models
from iot_emulator.profiles import catalog
from iot_operator import crdgen
from tests.operator import crdcheck

ROOT = Path(__file__).resolve().parents[2]
CRDS = {"IoTDevice": crdgen.iotdevice(), "IoTFleet": crdgen.iotfleet()}


def test_checked_in_crds_match_the_models() -> None:
    assert crdgen.differences(ROOT) == [], "run: python -m iot_operator.crdgen --write"


def test_chart_carries_the_same_crds() -> None:
    for name in crdgen.render():
        assert (ROOT / "crds" / name).read_text() == (ROOT / "helm/iot-emulator/crds" / name).read_text()


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_crd_is_a_valid_customresourcedefinition(kind: str) -> None:
    text = (ROOT / "crds" / f"{CRDS[kind]['metadata']['name']}.yaml").read_text()
    kubernetes_validate.validate(yaml.safe_load(text), "1.30.0", strict=True)


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(node, dict):
        return []
    found = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        found += _walk(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += _walk(node[key], f"{path}.{key}")
    return found


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schema_is_structural(kind: str) -> None:
    schema = CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert not {"$ref", "anyOf", "oneOf", "allOf", "not", "$defs", "title"} & set(node), path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("additionalProperties") is not False, path
    assert not any(n.get("x-kubernetes-preserve-unknown-fields") for _, n in _walk(schema))


def test_crd_shape_follows_api_conventions() -> None:
    device, fleet = CRDS["IoTDevice"]["spec"], CRDS["IoTFleet"]["spec"]
    assert device["names"]["shortNames"] == ["iotdev"] and fleet["names"]["shortNames"] == ["iotfleet"]
    assert device["versions"][0]["subresources"] == {"status": {}}
    assert fleet["versions"][0]["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    columns = [c["name"] for c in device["versions"][0]["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Profile", "IP", "VLAN", "Phase", "Auth", "Packets", "Age"]
    columns = [c["name"] for c in fleet["versions"][0]["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Profile", "Desired", "VLAN", "Bound", "Pods", "Age"]
    status = fleet["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["failingDevices"]["maxItems"] == models.MAX_FAILING_DEVICES


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_printer_columns_name_fields_of_the_schema(kind: str) -> None:
    """A column whose path names no field prints empty forever: each one must exist, with its type."""
    version = CRDS[kind]["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"]
        if path.startswith(".metadata") or "[?" in path:
            continue
        node = schema
        for part in path.strip(".").split("."):
            if "additionalProperties" in node:  # a map (status.auth): any key, of the values' type
                node = node["additionalProperties"]
                continue
            assert part in node.get("properties", {}), f"{column['name']}: {path}"
            node = node["properties"][part]
        expected = {"integer": {"integer"}, "string": {"string", "array"}}[column["type"]]
        assert node["type"] in expected, f"{column['name']}: {path} is {node['type']}"


def test_fleet_status_counts_devices_per_802_1x_state() -> None:
    version = CRDS["IoTFleet"]["spec"]["versions"][0]
    auth = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["auth"]
    assert auth["type"] == "object" and auth["additionalProperties"] == {"type": "integer", "minimum": 0}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert columns["Authorized"]["jsonPath"] == ".status.auth.authorized" and columns["Authorized"]["priority"] == 1


def test_device_columns_show_vlan_auth_and_ipv6() -> None:
    columns = {c["name"]: c for c in CRDS["IoTDevice"]["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert columns["VLAN"]["jsonPath"] == ".spec.vlan" and "priority" not in columns["VLAN"]
    assert columns["Auth"]["jsonPath"] == ".status.auth" and "priority" not in columns["Auth"]
    assert columns["IPv6"]["jsonPath"] == ".status.ipv6" and columns["IPv6"]["priority"] == 1


def test_profile_pattern_is_the_profile_libraries() -> None:
    assert models.PROFILE_NAME == catalog.NAME_RE


def device(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": models.API_VERSION, "kind": "IoTDevice", "metadata": {"name": "cam1"}, "spec": spec}


def fleet(name: str = "cams", **spec: Any) -> dict[str, Any]:
    spec = {"replicas": 10, "template": {"profile": "tiny-cam"}, **spec}
    return {"apiVersion": models.API_VERSION, "kind": "IoTFleet", "metadata": {"name": name}, "spec": spec}


MULTUS = {"mode": "multus", "attachment": "lab/lan", "interface": "net1"}
SCENARIO = {
    "name": "branch-day",
    "seed": 3,
    "steps": [
        {"at": 10, "target": {"share": 0.2}, "behaviour": {"kind": "power_cycle", "down": 5}},
        {"at": 20, "duration": 60, "repeat": 2, "every": 120, "behaviour": {"kind": "c2_beacon", "period": 10}},
    ],
}


def scenario_with(**step: Any) -> dict[str, Any]:
    return {"name": "s", "steps": [{"at": 1, "behaviour": {"kind": "power_cycle"}, **step}]}


EXAMPLES = [
    ("minimal device", device(profile="tiny-cam"), True),
    (
        "full device",
        device(
            profile="tiny-cam",
            mac="00:12:34:56:78:01",
            hostname="cam-1",
            protocols=["arp", "dhcp"],
            trafficInterval=30,
            dhcp={"mode": "static", "address": "192.168.1.9"},
            running=False,
            network=MULTUS,
        ),
        True,
    ),
    ("static without address", device(profile="tiny-cam", dhcp={"mode": "static"}), False),
    ("auto with address", device(profile="tiny-cam", dhcp={"mode": "auto", "address": "10.0.0.5"}), True),
    ("bad address", device(profile="tiny-cam", dhcp={"mode": "static", "address": "10.0.0.500"}), False),
    ("multicast MAC", device(profile="tiny-cam", mac="01:00:5e:00:00:01"), False),
    ("zero MAC", device(profile="tiny-cam", mac="00:00:00:00:00:00"), False),
    ("short MAC", device(profile="tiny-cam", mac="00:12:34:56:78"), False),
    ("unknown protocol", device(profile="tiny-cam", protocols=["arp", "gopher"]), False),
    ("interval too short", device(profile="tiny-cam", trafficInterval=0.5), False),
    ("unknown field", device(profile="tiny-cam", colour="red"), False),
    ("multus without attachment", device(profile="tiny-cam", network={"mode": "multus"}), False),
    ("attachment without multus", device(profile="tiny-cam", network={"attachment": "lan"}), False),
    (
        "host network",
        device(
            profile="tiny-cam", network={"interface": "enp3s0", "promiscuous": True, "nodeSelector": {"lab": "yes"}}
        ),
        True,
    ),
    ("long interface name", device(profile="tiny-cam", network={"interface": "a-very-long-ifname"}), False),
    ("device vlan", device(profile="tiny-cam", vlan=10, vlanPriority=5), True),
    ("device qinq", device(profile="tiny-cam", vlan=30, outerVlan=100), True),
    ("vlan 4095", device(profile="tiny-cam", vlan=4095), False),
    ("vlan priority 8", device(profile="tiny-cam", vlan=10, vlanPriority=8), False),
    ("device outer vlan alone", device(profile="tiny-cam", outerVlan=100), False),
    ("device priority without vlan", device(profile="tiny-cam", vlanPriority=3), False),
    ("fleet vlan", fleet(template={"profile": "tiny-cam", "vlan": 20}), True),
    ("fleet outer vlan alone", fleet(template={"profile": "tiny-cam", "outerVlan": 100}), False),
    ("fleet priority without vlan", fleet(template={"profile": "tiny-cam", "vlanPriority": 1}), False),
    ("minimal fleet", fleet(), True),
    ("fleet with members", fleet(members={"start": 250, "end": 500}, devicesPerPod=250), True),
    ("members reversed", fleet(members={"start": 500, "end": 250}), False),
    ("members empty", fleet(members={"start": 5, "end": 5}), False),
    ("too many replicas", fleet(replicas=100001), False),
    ("negative replicas", fleet(replicas=-1), False),
    ("devicesPerPod zero", fleet(devicesPerPod=0), False),
    ("bad OUI", fleet(macOui="44:19"), False),
    ("fleet template static", fleet(template={"profile": "tiny-cam", "dhcp": {"mode": "static"}}), False),
    ("name not a DNS label", fleet(name="Cams_1"), False),
    ("scenario", fleet(scenario=SCENARIO), True),
    ("device scenario", device(profile="tiny-cam", scenario=SCENARIO), True),
    ("scenario unknown kind", fleet(scenario=scenario_with(behaviour={"kind": "teleport"})), False),
    ("scenario two targets", fleet(scenario=scenario_with(target={"share": 0.5, "count": 2})), False),
    ("scenario repeat without every", fleet(scenario=scenario_with(repeat=3)), False),
    ("scenario churn without duration", fleet(scenario=scenario_with(behaviour={"kind": "churn"})), False),
    (
        "scenario overlapping repeats",
        fleet(scenario=scenario_with(repeat=2, every=5, duration=10, behaviour={"kind": "port_scan"})),
        False,
    ),
    ("scenario zero duration", fleet(scenario=scenario_with(duration=0, behaviour={"kind": "port_scan"})), False),
    (
        "scenario field of another kind",
        fleet(scenario=scenario_with(behaviour={"kind": "power_cycle", "rate": 5})),
        False,
    ),
    ("scenario without steps", fleet(scenario={"name": "s", "steps": []}), False),
]


def _pydantic_accepts(document: dict[str, Any]) -> bool:
    model = models.IoTDevice if document["kind"] == "IoTDevice" else models.IoTFleet
    try:
        model.model_validate(document)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("what", "document", "valid"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_crd_and_models_agree(what: str, document: dict[str, Any], valid: bool) -> None:
    crd_problems = crdcheck.problems(CRDS[document["kind"]], document)
    assert _pydantic_accepts(document) is valid, what
    assert (not crd_problems) is valid, crd_problems


def test_every_cel_rule_is_broken_by_an_example() -> None:
    broken = {
        rule
        for _, document, _ in EXAMPLES
        for _, rule, _ in crdcheck.failed_rules(
            CRDS[document["kind"]]["spec"]["versions"][0]["schema"]["openAPIV3Schema"], document
        )
    }
    every = {
        rule
        for crd in CRDS.values()
        for _, rule, _ in crdcheck.rules(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    }
    assert every - broken == set()


def test_cel_messages_are_the_pydantic_messages() -> None:
    schema = CRDS["IoTDevice"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    document = device(profile="tiny-cam", dhcp={"mode": "static"})
    [(_, _, message)] = crdcheck.failed_rules(schema, document)
    with pytest.raises(ValidationError, match=message):
        models.IoTDevice.model_validate(document)


def test_shipped_examples_would_be_accepted_by_the_api_server() -> None:
    documents = [d for path in sorted((ROOT / "examples").glob("*.yaml")) for d in yaml.safe_load_all(path.read_text())]
    resources = [d for d in documents if isinstance(d, dict) and d.get("kind") in CRDS]
    assert resources
    for document in resources:
        assert crdcheck.problems(CRDS[document["kind"]], document) == [], document["metadata"]["name"]


def test_dot1x_is_spelled_as_the_docs_and_manifests_spell_it() -> None:
    """to_camel makes `dot1X`; the API server would prune a manifest's `dot1x: true` without a word."""
    spec = CRDS["IoTDevice"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert "dot1x" in spec["properties"] and "dot1X" not in spec["properties"]
    parsed = models.IoTDevice.model_validate(device(profile="tiny-cam", dot1x=False))
    assert parsed.spec.dot1x is False and models.to_manifest(parsed)["spec"]["dot1x"] is False
    assert crdcheck.problems(CRDS["IoTDevice"], device(profile="tiny-cam", dot1x=True)) == []
