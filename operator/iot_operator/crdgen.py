"""The CustomResourceDefinitions, generated from the pydantic models (`python -m iot_operator.crdgen --write`).

Why generated: the models in `iot_emulator.config.models` are the single source of truth for what a
manifest may say; the API server must reject at `kubectl apply` time what local mode rejects at
load time. Pydantic's JSON Schema is close to what Kubernetes wants but not a *structural* schema,
so this module rewrites it: `$ref`s inlined, `anyOf [X, null]` turned into `nullable`, titles and
`additionalProperties: false` dropped (the API server prunes unknown fields instead), null
defaults dropped. Anything it does not know how to express raises, instead of producing a schema
the API server would refuse.

The same files go to `crds/` and to the chart's `crds/`, and the names of the shipped profiles to
the chart's `files/profiles.yaml` (its admission policy refuses a profile the emulator does not
know); `--check` (and a test) fails when the checked-in files differ from what the models generate.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from iot_emulator.config import models
from iot_emulator.profiles import catalog

HEADER = "# Generated from iot_emulator.config.models by `python -m iot_operator.crdgen --write`. Do not edit.\n"
OUTPUTS = (Path("crds"), Path("helm/iot-emulator/crds"))
"""Where `--write` and `--check` look, relative to the repository root (the working directory)."""
CHART_PROFILES = Path("helm/iot-emulator/files/profiles.yaml")

_DROPPED = {"title", "additionalProperties", "$defs"}
_ORDER = (
    "type",
    "format",
    "nullable",
    "description",
    "enum",
    "default",
    "pattern",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "x-kubernetes-validations",
)
"""The structural keywords this generator emits, in the order a reader wants them."""
_KEPT = set(_ORDER) - {"additionalProperties"}
NAME_RULE = {
    "rule": f"self.metadata.name.matches('{models.DNS_LABEL}') && size(self.metadata.name) <= 63",
    "message": "metadata.name must be a DNS label of at most 63 characters (it names the emulator pods)",
}
"""models.ObjectMeta's name rule, for the API server (a structural schema cannot constrain metadata)."""


class SchemaError(ValueError):
    """The models use a JSON Schema feature that a structural CRD schema cannot express."""


def structural(model: type[BaseModel], *, defaults: bool = True) -> dict[str, Any]:
    """The model's JSON Schema as a Kubernetes structural schema (camelCase, as on the wire)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(raw, raw.get("$defs", {}), defaults, str(model.__name__))


def _convert(node: Mapping[str, Any], defs: Mapping[str, Any], defaults: bool, where: str) -> dict[str, Any]:
    node = dict(node)
    if "$ref" in node:  # pydantic puts siblings (default, description) next to a $ref: they win
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    if "anyOf" in node:
        options = node.pop("anyOf")
        real = [o for o in options if o.get("type") != "null"]
        if len(real) != 1 or len(options) != 2:
            raise SchemaError(f"{where}: anyOf other than `X or null` is not structural")
        node = {**_convert(real[0], defs, defaults, where), **node, "nullable": True}
        if node.get("default", 0) is None:
            del node["default"]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            if key == "additionalProperties" and isinstance(value, dict):
                out[key] = _convert(value, defs, defaults, f"{where}.*")  # a map: dict[str, X]
            continue
        if key not in _KEPT:
            raise SchemaError(f"{where}: {key} has no structural equivalent")
        if key == "properties":
            out[key] = {name: _convert(sub, defs, defaults, f"{where}.{name}") for name, sub in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs, defaults, f"{where}[]")
        elif key == "x-kubernetes-validations":
            out[key] = [{"rule": v["rule"], "message": v["message"]} for v in value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema's bound -> OpenAPI 3.0's bound and flag (a node converted already has the flag)
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "default":
            if defaults and value is not None:
                out[key] = _without_nulls(value)
        else:
            out[key] = copy.deepcopy(value)
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        raise SchemaError(f"{where}: no type")
    return {key: out[key] for key in _ORDER if key in out}


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _column(name: str, type_: str, path: str, description: str, priority: int = 0) -> dict[str, Any]:
    column = {"name": name, "type": type_, "jsonPath": path, "description": description}
    return {**column, "priority": priority} if priority else column


_READY = '.status.conditions[?(@.type=="Ready")].status'
_AGE = _column("Age", "date", ".metadata.creationTimestamp", "time since creation")


def _crd(
    kind: str,
    plural: str,
    short: str,
    spec: type[BaseModel],
    status: type[BaseModel],
    description: str,
    columns: list[dict[str, Any]],
    subresources: dict[str, Any],
) -> dict[str, Any]:
    root = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural(spec),
            "status": structural(status, defaults=False),
        },
        "x-kubernetes-validations": [dict(NAME_RULE)],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{models.GROUP}",
            "labels": {"app.kubernetes.io/name": "iot-emulator", "app.kubernetes.io/part-of": "iot-emulator"},
        },
        "spec": {
            "group": models.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": ["iotemu"],
            },
            "versions": [
                {
                    "name": models.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": subresources,
                    "additionalPrinterColumns": [*columns, _AGE],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def iotdevice() -> dict[str, Any]:
    return _crd(
        "IoTDevice",
        models.PLURALS["IoTDevice"],
        "iotdev",
        models.DeviceSpec,
        models.IoTDeviceStatus,
        "One emulated IoT device: the operator runs it in its own emulator pod on the lab network.",
        [
            _column("Profile", "string", ".spec.profile", "device profile"),
            _column("IP", "string", ".status.ip", "leased address"),
            _column("VLAN", "integer", ".spec.vlan", "802.1Q VLAN id (empty: untagged)"),
            _column("Phase", "string", ".status.phase", "Pending, Binding, Bound, Stopped, Failed"),
            _column("Auth", "string", ".status.auth", "802.1X state (authorized, failed, ...; mab: no EAPOL)"),
            _column("Packets", "integer", ".status.traffic.packetsSent", "packets sent"),
            _column("Ready", "string", _READY, "Ready condition", priority=1),
            _column("MAC", "string", ".status.mac", "device MAC", priority=1),
            _column("IPv6", "string", ".status.ipv6", "IPv6 addresses (devices that speak IPv6)", priority=1),
            _column("QinQ", "integer", ".spec.outerVlan", "802.1ad S-tag outside the VLAN", priority=1),
        ],
        {"status": {}},
    )


def iotfleet() -> dict[str, Any]:
    return _crd(
        "IoTFleet",
        models.PLURALS["IoTFleet"],
        "iotfleet",
        models.FleetSpec,
        models.IoTFleetStatus,
        "A fleet of identical emulated devices, sharded by the operator into pods of devicesPerPod devices.",
        [
            _column("Profile", "string", ".spec.template.profile", "device profile"),
            _column("Desired", "integer", ".spec.replicas", "devices wanted"),
            _column("VLAN", "integer", ".spec.template.vlan", "802.1Q VLAN id of every member (empty: untagged)"),
            _column("Bound", "integer", ".status.boundReplicas", "devices holding a lease"),
            _column("Authorized", "integer", ".status.auth.authorized", "devices authorized by 802.1X", 1),
            _column("Pods", "integer", ".status.pods", "emulator pods"),
            _column("Failing", "integer", ".status.failingCount", "devices neither bound nor starting", 1),
            _column("Ready", "string", _READY, "Ready condition", priority=1),
        ],
        {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector",
            },
        },
    )


def render() -> dict[str, str]:
    """File name -> YAML text, exactly as checked in."""
    return {
        f"{crd['metadata']['name']}.yaml": HEADER + yaml.safe_dump(crd, sort_keys=False, width=100)
        for crd in (iotdevice(), iotfleet())
    }


def shipped_profiles() -> str:
    """The chart's list of shipped profiles: name -> what it emulates (a ConfigMap's data)."""
    names = {p.name: f"{p.vendor} {p.model}" for p in sorted(catalog.library(None), key=lambda p: p.name)}
    header = HEADER.replace("iot_emulator.config.models", "the shipped profiles (iot_emulator/profiles/data)")
    return header + yaml.safe_dump(names, sort_keys=False, width=100)


def outputs() -> dict[Path, str]:
    """Every generated file (path relative to the repository root) and its text."""
    files = {out / name: text for out in OUTPUTS for name, text in render().items()}
    files[CHART_PROFILES] = shipped_profiles()
    return files


def differences(root: Path) -> list[str]:
    """Files under `root` that are missing or differ from what the models generate."""
    return [
        str(path)
        for path, text in outputs().items()
        if not (root / path).is_file() or (root / path).read_text() != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iot_operator.crdgen", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="write " + ", ".join(map(str, [*OUTPUTS, CHART_PROFILES])))
    action.add_argument("--check", action="store_true", help="exit 1 when a checked-in file differs")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: cwd)")
    args = parser.parse_args(argv)
    if args.check:
        stale = differences(args.root)
        for path in stale:
            print(f"{path}: differs from the models; run python -m iot_operator.crdgen --write", file=sys.stderr)
        return 1 if stale else 0
    for target, text in outputs().items():
        (args.root / target).parent.mkdir(parents=True, exist_ok=True)
        (args.root / target).write_text(text)
        print(args.root / target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
