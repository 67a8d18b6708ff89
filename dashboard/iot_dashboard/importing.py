"""Import and export formats: our manifests (YAML or JSON) and the brief's `iot_devices.json`.

Accepted on import, in one body:

- manifests: multi-document YAML, a JSON object, a JSON list, or a `kind: List` (`items`), as
  `kubectl get -o yaml` writes it;
- the brief's device list: `{"devices": [...]}` or a bare JSON list whose entries carry `id` and
  `vendor` (the seed CLI's flags as keys: `mac`, `dhcp_mode`, `static_ip`, `protocols`,
  `traffic_interval`, `vlan`, `vlan_priority`, `outer_vlan`, `dot1x`, ...). The brief's ids (`camera_01`)
  are not Kubernetes names, so the name is made from the id (`camera-01`) and the id kept in the
  `iotemu.io/seed-id` annotation, which the `iot_devices` export gives back. Brief devices come in stopped.

Everything is converted and validated before anything is returned: each problem names the
entry (its index, from 1, and its id) and the field, and the caller writes nothing unless the
list of problems is empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import yaml

from iot_dashboard.backends import base
from iot_emulator.config import bounded, manifests, models
from iot_emulator.profiles import catalog

SEED_ID = base.SEED_ID
DISPLAY_NAME = "iotemu.io/display-name"
DEVICE_TYPE = "iotemu.io/device-type"
BRIEF_KEYS = frozenset(
    {
        "id",
        "name",
        "vendor",
        "profile",
        "type",
        "mac",
        "hostname",
        "dhcp_mode",
        "static_ip",
        "ip",
        "gateway",
        "interface",
        "protocols",
        "traffic_interval",
        "enabled",
        "running",
        "status",
        "vlan",
        "vlan_priority",
        "outer_vlan",
        "dot1x",
    }
)
_FIELD_OF = {
    "spec.mac": "mac",
    "spec.hostname": "hostname",
    "spec.protocols": "protocols",
    "spec.trafficInterval": "traffic_interval",
    "spec.dhcp": "static_ip",
    "spec.dhcp.address": "static_ip",
    "spec.dhcp.mode": "dhcp_mode",
    "metadata.name": "id",
    "spec.profile": "vendor",
    "spec.vlan": "vlan",
    "spec.vlanPriority": "vlan_priority",
    "spec.outerVlan": "outer_vlan",
    "spec.dot1x": "dot1x",
}


def parse(body: bytes, library: catalog.Library, source: str = "import", seconds: float = 30.0) -> list[base.Resource]:
    """The resources of an import body; raises base.Invalid naming every bad entry and field.

    Reading is bounded (`iot_emulator.config.bounded`: aliases, depth, `seconds`); the caller caps the size."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise base.Invalid("the import is not UTF-8 text", [f"{source}: byte {exc.start}: not UTF-8"]) from exc
    entries = _entries(text, source, bounded.Limits(max_bytes=len(text), seconds=seconds))
    problems: list[str] = []
    resources: list[base.Resource] = []
    for index, entry in enumerate(entries, start=1):
        try:
            if isinstance(entry, dict) and "apiVersion" not in entry and ("id" in entry or "vendor" in entry):
                resources.append(_brief_device(entry, index, library))
            else:
                resources.extend(manifests.validate_documents([entry], "import"))
        except manifests.ManifestError as exc:
            problems.extend(p.replace("import: document 1", f"entry {index}", 1) for p in exc.problems)
        except base.Invalid as exc:
            problems.extend(exc.problems)
    if not entries:
        problems.append(f"{source}: no device or fleet found")
    names: dict[base.Key, int] = {}
    for index, resource in enumerate(resources, start=1):
        key = base.key_of(resource)
        if key in names:
            problems.append(f"entry {index} ({base.label(key)}): metadata.name: also used by entry {names[key]}")
        names.setdefault(key, index)
    if problems:
        raise base.Invalid(f"the import has {len(problems)} problem(s); nothing was changed", problems)
    return resources


def _entries(text: str, source: str, limits: bounded.Limits) -> list[Any]:
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            docs = [bounded.load_json(text, limits)]
        except json.JSONDecodeError as exc:
            raise base.Invalid("not valid JSON", [f"{source}:{exc.lineno}:{exc.colno}: {exc.msg}"]) from exc
        except bounded.BadInput as exc:
            raise base.Invalid("not valid JSON", [f"{source}: {exc}"]) from exc
    else:
        try:
            docs = [d for _, d in bounded.load_all(text, limits) if d is not None]
        except bounded.BadInput as exc:
            raise base.Invalid("not valid YAML", [f"{source}: {exc}"]) from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark is not None else source
            raise base.Invalid("not valid YAML", [f"{where}: {getattr(exc, 'problem', None) or exc}"]) from exc
    entries: list[Any] = []
    for doc in docs:
        if isinstance(doc, list):
            entries.extend(doc)
        elif isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            entries.extend(doc["items"])
        elif isinstance(doc, dict) and "apiVersion" not in doc and isinstance(doc.get("devices"), list):
            entries.extend(doc["devices"])
            entries.extend(doc.get("fleets") or [])
        else:
            entries.append(doc)
    return entries


def name_from_id(device_id: str) -> str:
    """A DNS label from a seed id: lower case, `_`, `.` and spaces become `-`."""
    name = re.sub(r"[^a-z0-9-]+", "-", device_id.strip().lower()).strip("-")
    return name[:63].rstrip("-")


def _brief_device(entry: dict[str, Any], index: int, library: catalog.Library) -> models.IoTDevice:
    raw_id = entry.get("id")
    where = f"entry {index} ({raw_id})" if raw_id is not None else f"entry {index}"
    problems = [f"{where}: {key}: unknown field" for key in entry if key not in BRIEF_KEYS]
    if not isinstance(raw_id, str) or not raw_id.strip():
        problems.append(f"{where}: id: required (a device id such as camera_01)")
        raw_id = ""
    profile_name = entry.get("profile")
    if profile_name is None:
        vendor = entry.get("vendor")
        if not isinstance(vendor, str) or not vendor.strip():
            problems.append(f"{where}: vendor: required (or give a profile)")
        else:
            try:
                profile_name = library.for_vendor(vendor).name
            except catalog.ProfileError as exc:
                problems.append(f"{where}: vendor: {exc}")
    if problems:
        raise base.Invalid("invalid entry", problems)
    protocols = entry.get("protocols")
    if isinstance(protocols, str):
        protocols = [p for p in protocols.split(",") if p.strip()]
    static_ip = entry.get("static_ip") or (entry.get("ip") if entry.get("dhcp_mode") == "static" else None)
    spec = {
        "profile": profile_name,
        "mac": entry.get("mac"),
        "hostname": entry.get("hostname"),
        "protocols": protocols,
        "trafficInterval": entry.get("traffic_interval", 60),
        "dhcp": {"mode": entry.get("dhcp_mode") or "auto", "address": static_ip},
        "running": bool(entry.get("running", False)),
        "vlan": entry.get("vlan"),
        "vlanPriority": entry.get("vlan_priority"),
        "outerVlan": entry.get("outer_vlan"),
        "dot1x": entry.get("dot1x"),
    }
    annotations = {SEED_ID: raw_id}
    for key, annotation in (("name", DISPLAY_NAME), ("type", DEVICE_TYPE)):
        if isinstance(entry.get(key), str):
            annotations[annotation] = entry[key]
    doc = {
        "apiVersion": models.API_VERSION,
        "kind": "IoTDevice",
        "metadata": {"name": name_from_id(raw_id), "annotations": annotations},
        "spec": {k: v for k, v in spec.items() if v is not None},
    }
    try:
        return manifests.validate_documents([doc], "x")[0]  # type: ignore[return-value]
    except manifests.ManifestError as exc:
        raise base.Invalid("invalid entry", [_brief_problem(where, p) for p in exc.problems]) from exc


def _brief_problem(where: str, problem: str) -> str:
    """`x: document 1 (IoTDevice/cam): spec.mac: msg` -> `entry 3 (cam_01): mac: msg` (the brief's field)."""
    detail = problem.split("): ", 1)[-1]
    field, _, message = detail.partition(": ")
    return f"{where}: {_FIELD_OF.get(field, field)}: {message}"


# -- export ---------------------------------------------------------------------------------------


def to_yaml(resources: Sequence[base.Resource]) -> str:
    return yaml.safe_dump_all([models.to_manifest(r) for r in resources], sort_keys=False, explicit_start=True)


def to_json_list(resources: Sequence[base.Resource]) -> dict[str, Any]:
    """A `kind: List` of manifests: `kubectl apply -f` takes it, and so does our import."""
    return {"apiVersion": "v1", "kind": "List", "items": [models.to_manifest(r) for r in resources]}


def to_brief(resources: Sequence[base.Resource], library: catalog.Library) -> dict[str, Any]:
    """The brief's `iot_devices.json`: IoTDevices as seed-style entries; fleets kept as manifests."""
    devices, fleets = [], []
    for resource in resources:
        if isinstance(resource, models.IoTFleet):
            fleets.append(models.to_manifest(resource))
            continue
        spec, meta = resource.spec, resource.metadata
        prof = library.get(spec.profile) if spec.profile in library else None
        entry: dict[str, Any] = {
            "id": meta.annotations.get(SEED_ID, meta.name),
            "name": meta.annotations.get(DISPLAY_NAME, meta.name),
            "vendor": prof.vendor if prof else spec.profile,
            "profile": spec.profile,
            "type": meta.annotations.get(DEVICE_TYPE, prof.device_class.value if prof else None),
            "mac": spec.mac,
            "hostname": spec.hostname,
            "dhcp_mode": spec.dhcp.mode.value,
            "static_ip": str(spec.dhcp.address) if spec.dhcp.address else None,
            "protocols": spec.protocols if spec.protocols is not None else (prof.protocols if prof else None),
            "traffic_interval": spec.traffic_interval,
            "running": spec.running,
            "vlan": spec.vlan,
            "vlan_priority": spec.vlan_priority if spec.vlan else None,
            "outer_vlan": spec.outer_vlan,
            "dot1x": spec.dot1x,
        }
        devices.append({k: v for k, v in entry.items() if v is not None})
    out: dict[str, Any] = {"devices": devices}
    if fleets:
        out["fleets"] = fleets
    return out
