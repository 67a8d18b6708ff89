"""examples/multus-vlan.yaml: the documented VLAN attachments for the operator path, checked without a cluster.

Each NetworkAttachmentDefinition is judged by the NAD CRD's own schema (Multus v4.2.3, the release the
test cluster installs) and its `spec.config` by the CNI plugins' documented fields (CNI spec 0.4.0:
`vlan` needs `master` and a `vlanId`; `bridge`, `macvlan`, `tuning`); each IoTDevice/IoTFleet by the
models and our CRD. The operator then renders their pods (`pods.desired_pods`) and each pod must name
its attachment in Multus's annotation and be a valid Pod. The rule the docs give is checked as well:
a device behind a `vlan` attachment carries no `vlan` of its own (a second, inner tag), and a device
that tags its own frames sits behind an attachment that passes tags through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from iot_emulator.config import models
from iot_emulator.profiles import catalog
from iot_operator import crdgen, pods
from iot_operator import settings as settings_mod
from tests.operator import crdcheck

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "multus-vlan.yaml"
SETTINGS = settings_mod.OperatorSettings(emulator_image="img:1")
CRDS = {"IoTDevice": crdgen.iotdevice(), "IoTFleet": crdgen.iotfleet()}

NAD_SCHEMA: dict[str, Any] = {
    # network-attachment-definitions.k8s.cni.cncf.io, multus-cni v4.2.3 deployments/multus-daemonset.yml
    # (descriptions left out): what the API server checks of a NAD
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string", "const": "k8s.cni.cncf.io/v1"},
        "kind": {"type": "string", "const": "NetworkAttachmentDefinition"},
        "metadata": {
            "type": "object",
            "properties": {"name": {"type": "string", "pattern": models.DNS_LABEL, "maxLength": 63}},
            "required": ["name"],
        },
        "spec": {"type": "object", "properties": {"config": {"type": "string"}}, "required": ["config"]},
    },
    "required": ["apiVersion", "kind", "metadata", "spec"],
}
_IFNAME = {"type": "string", "pattern": models.IFNAME}
_PLUGINS: dict[str, dict[str, Any]] = {
    # the fields of each plugin as containernetworking/plugins documents them (what these examples use)
    "vlan": {
        "properties": {
            "master": _IFNAME,
            "vlanId": {"type": "integer", "minimum": 1, "maximum": 4094},
            "mtu": {"type": "integer"},
            "ipam": {"type": "object"},
            "linkInContainer": {"type": "boolean"},
        },
        "required": ["master", "vlanId", "ipam"],
    },
    "bridge": {
        "properties": {
            "bridge": _IFNAME,
            "vlan": {"type": "integer", "minimum": 1, "maximum": 4094},
            "vlanTrunk": {"type": "array"},
            "ipam": {"type": "object"},
        },
        "required": ["bridge"],
    },
    "macvlan": {
        "properties": {
            "master": _IFNAME,
            "mode": {"enum": ["bridge", "private", "vepa", "passthru"]},
            "ipam": {"type": "object"},
        },
        "required": ["master"],
    },
    "tuning": {"properties": {"capabilities": {"type": "object"}, "mac": {"type": "string"}}},
}
TAG_PASSING = "bridge (no vlan/vlanTrunk), macvlan passthru, host-device"


def documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d]


def nads() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == "NetworkAttachmentDefinition"}


def resources() -> list[models.IoTDevice | models.IoTFleet]:
    kinds = {"IoTDevice": models.IoTDevice, "IoTFleet": models.IoTFleet}
    return [kinds[d["kind"]].model_validate(d) for d in documents() if d["kind"] in kinds]


def cni_config(nad: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(nad["spec"]["config"])
    return config


def template_of(resource: models.IoTDevice | models.IoTFleet) -> models.DeviceTemplate:
    return resource.spec.template if isinstance(resource, models.IoTFleet) else resource.spec


def passes_tags(config: dict[str, Any]) -> bool:
    """An attachment that hands the pod tagged frames as they are on the trunk."""
    first = config["plugins"][0]
    if first["type"] == "bridge":
        return "vlan" not in first and "vlanTrunk" not in first
    return (first["type"], first.get("mode")) == ("macvlan", "passthru") or first["type"] == "host-device"


def test_example_holds_both_kinds_of_vlan_attachment() -> None:
    kinds = {name: cni_config(nad)["plugins"][0]["type"] for name, nad in nads().items()}
    assert kinds == {"lan-vlan20": "vlan", "lan-trunk": "bridge"}
    assert cni_config(nads()["lan-vlan20"])["plugins"][0]["vlanId"] == 20


@pytest.mark.parametrize("name", sorted(nads()))
def test_each_attachment_is_a_valid_nad_with_a_valid_cni_config(name: str) -> None:
    nad = nads()[name]
    jsonschema.validate(nad, NAD_SCHEMA)
    config = cni_config(nad)
    assert config["cniVersion"] in ("0.3.1", "0.4.0", "1.0.0") and config["name"] == name
    assert config["plugins"], "a conflist needs plugins"
    for plugin in config["plugins"]:
        schema = _PLUGINS[plugin["type"]]
        jsonschema.validate({k: v for k, v in plugin.items() if k != "type"}, {"type": "object", **schema})


def test_the_schemas_refuse_a_broken_attachment() -> None:
    """The checks above can fail: a VLAN id out of range, a missing master, a config that is no string."""
    with pytest.raises(jsonschema.ValidationError, match="4095"):
        jsonschema.validate({"master": "eth1", "vlanId": 4095, "ipam": {}}, {"type": "object", **_PLUGINS["vlan"]})
    with pytest.raises(jsonschema.ValidationError, match="master"):
        jsonschema.validate({"vlanId": 20, "ipam": {}}, {"type": "object", **_PLUGINS["vlan"]})
    broken = {**nads()["lan-vlan20"], "spec": {"config": {"type": "vlan"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, NAD_SCHEMA)


def test_every_resource_is_accepted_by_the_models_and_the_crd() -> None:
    docs = [d for d in documents() if d["kind"] in CRDS]
    assert len(docs) == 4
    for document in docs:
        assert crdcheck.problems(CRDS[document["kind"]], document) == [], document["metadata"]["name"]
    models.IoTDevice.model_validate(next(d for d in docs if d["kind"] == "IoTDevice"))


def test_cni_tags_or_emulator_tags_never_both() -> None:
    for resource in resources():
        network = resource.spec.network
        assert network is not None and network.attachment in nads(), resource.metadata.name
        config = cni_config(nads()[network.attachment])
        template = template_of(resource)
        if config["plugins"][0]["type"] == "vlan":
            assert template.vlan is None, f"{resource.metadata.name}: the CNI tags already; vlan would nest a tag"
        if template.vlan is not None:
            assert passes_tags(config), (
                f"{resource.metadata.name}: tags need an attachment that passes them: {TAG_PASSING}"
            )


def test_the_operator_renders_valid_pods_attached_through_the_nads() -> None:
    library = catalog.library(None)
    for resource in resources():
        kind = "IoTFleet" if isinstance(resource, models.IoTFleet) else "IoTDevice"
        owner = pods.Owner(kind, resource.metadata.name, "lab", "uid-1")
        rendered = pods.desired_pods(resource, owner, SETTINGS, library)
        assert rendered, resource.metadata.name
        assert resource.spec.network is not None
        for pod in rendered:
            [attachment] = json.loads(pod["metadata"]["annotations"][pods.NETWORKS])
            assert (attachment["name"], attachment["interface"]) == (resource.spec.network.attachment, "net1")
            assert ("mac" in attachment) == (kind == "IoTDevice")  # one device per pod: net1 carries its MAC
            assert not pod["spec"].get("hostNetwork")
            args = pod["spec"]["containers"][0]["args"]
            assert ("--promiscuous" in args) == resource.spec.network.promiscuous
            kubernetes_validate.validate(pod, "1.30.0", strict=True)
            manifest = list(yaml.safe_load_all(pod["metadata"]["annotations"][pods.MANIFEST]))
            tags = {d["spec"].get("vlan", d["spec"].get("template", {}).get("vlan")) for d in manifest}
            assert tags == {template_of(resource).vlan}  # the emulator gets the tag, or none
