"""Manifest files: multi-document YAML of IoTDevice / IoTFleet, validated whole, expanded to devices.

Loading is all-or-nothing: every document is checked (schema, known profile, MAC and host name
unique across the file) and every problem is reported with its document and field, before any
device exists.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import TypeAdapter, ValidationError

from iot_emulator.config import bounded, models
from iot_emulator.devices import macs
from iot_emulator.profiles import catalog
from iot_emulator.scenarios import firmware
from iot_emulator.scenarios import model as scenario_model

_RESOURCE = TypeAdapter(models.Resource)


class ManifestError(ValueError):
    """Everything wrong with a manifest set, one problem per line, each naming where."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class Vlan(NamedTuple):
    """A device's VLAN as the engine tags its frames (`protocols.link.vlan_tag` builds the bytes)."""

    vid: int
    pcp: int = 0
    outer_vid: int | None = None
    """QinQ: the 802.1ad S-tag outside the C-tag."""

    @property
    def key(self) -> tuple[int, int]:
        """(S-tag id or 0, C-tag id): what the engine routes received frames by."""
        return (self.outer_vid or 0, self.vid)


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One device, fully resolved: what the engine needs and nothing else."""

    device_id: str
    mac: str
    hostname: str
    profile: catalog.Profile
    protocols: tuple[str, ...]
    traffic_interval: float
    dhcp_mode: models.DhcpMode = models.DhcpMode.auto
    static_address: ipaddress.IPv4Address | None = None
    fleet: str | None = None
    index: int = 0
    vendor_label: str | None = None  # the seed CLI's --vendor, shown as given
    mac_derived: bool = False
    """spec.mac was not set: the MAC was derived from the name, and may be re-derived on a collision."""
    scenario: scenario_model.Scenario | None = None
    """The steps of the resource's scenario that target this device (`scenario_model.for_member`)."""
    hostname_given: bool = False
    """spec.hostname was set: it must be unique. Names from a profile's pattern may repeat, as
    real ones do (every Hue bridge says `Philips-hue`, every Kasa plug `HS110`)."""
    vlan: Vlan | None = None
    """The 802.1Q tag (and QinQ S-tag) on its frames; None: untagged."""


def parse_documents(text: str, source: str = "<manifest>") -> list[models.IoTDevice | models.IoTFleet]:
    """Validate every document; raise ManifestError naming each bad document and field."""
    try:
        documents = [d for _, d in bounded.load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError([f"{source}: not valid YAML: {exc}"]) from exc
    except bounded.BadInput as exc:
        raise ManifestError([f"{source}: {exc}"]) from exc
    return validate_documents(documents, source)


def validate_documents(
    documents: Sequence[Any], source: str = "<manifest>"
) -> list[models.IoTDevice | models.IoTFleet]:
    """The same checks for documents already parsed (a REST body, a Kubernetes object)."""
    resources: list[models.IoTDevice | models.IoTFleet] = []
    problems: list[str] = []
    for i, doc in enumerate(documents):
        where = _where(source, i, doc)
        if not isinstance(doc, dict):
            problems.append(f"{where}: a document must be a mapping with apiVersion, kind, metadata, spec")
            continue
        if doc.get("apiVersion") != models.API_VERSION:
            problems.append(f"{where}: apiVersion: expected {models.API_VERSION}, got {doc.get('apiVersion')!r}")
            continue
        try:
            resources.append(_RESOURCE.validate_python(doc))
        except ValidationError as exc:
            problems.extend(f"{where}: {line}" for line in _errors(exc, doc.get("kind")))
    if problems:
        raise ManifestError(problems)
    return resources


def load(path: Path) -> list[models.IoTDevice | models.IoTFleet]:
    try:
        text = bounded.read_text(path)
    except OSError as exc:
        raise ManifestError([f"{path}: cannot read: {exc.strerror}"]) from exc
    except bounded.BadInput as exc:
        raise ManifestError([f"{path}: {exc}"]) from exc
    return parse_documents(text, str(path))


def expand(
    resources: Iterable[models.IoTDevice | models.IoTFleet], library: catalog.Library, taken: Iterable[str] = ()
) -> list[DeviceConfig]:
    """Devices of every resource that should run, checked for unknown profiles and duplicates.

    A derived MAC never collides: with a given MAC, a fleet member's, another derived one or one in
    `taken` (what a running engine already uses), see `_unique_derived_macs`."""
    devices: list[DeviceConfig] = []
    problems: list[str] = []
    for resource in resources:
        try:
            if isinstance(resource, models.IoTDevice):
                if resource.spec.running:
                    devices.append(_device(resource, library))
            elif resource.spec.running:
                devices.extend(_fleet(resource, library))
        except catalog.ProfileError as exc:
            problems.append(f"{resource.kind}/{resource.metadata.name}: spec.profile: {exc}")
        except (NoSupplicant, NoIpv6) as exc:
            problems.append(f"{resource.kind}/{resource.metadata.name}: {exc}")
        if resource.spec.scenario is not None:
            where = f"{resource.kind}/{resource.metadata.name}: spec.scenario."
            problems.extend(where + p for p in firmware.check(resource.spec.scenario, library))
    devices = _unique_derived_macs(devices, {m.lower() for m in taken})
    problems.extend(_duplicates(devices))
    if problems:
        raise ManifestError(problems)
    return devices


def _unique_derived_macs(devices: list[DeviceConfig], taken: set[str]) -> list[DeviceConfig]:
    """Re-derive (with a salt) each derived MAC that another device or `taken` already uses.

    24 bits of hash collide for some pair among ~2,500 names of one OUI. Given MACs and fleet
    members keep theirs; derived ones are settled in device-id order, so the same set of
    resources always gives the same MACs, whatever the order of the files."""
    used = {d.mac.lower() for d in devices if not d.mac_derived} | taken
    out = list(devices)
    for i in sorted((i for i, d in enumerate(devices) if d.mac_derived), key=lambda i: devices[i].device_id):
        dev = devices[i]
        mac, salt = dev.mac.lower(), 0
        while mac in used:
            salt += 1
            mac = macs.derive(dev.profile.ouis[0], f"device/{dev.device_id}#{salt}", 0)
        used.add(mac)
        if mac != dev.mac.lower():
            hostname = dev.hostname if dev.hostname_given else dev.profile.hostname_for(mac, 0, dev.device_id)
            out[i] = dataclasses.replace(dev, mac=mac, hostname=hostname)
    return out


def _device(resource: models.IoTDevice, library: catalog.Library) -> DeviceConfig:
    spec = resource.spec
    prof = with_dot1x(library.get(spec.profile), spec.dot1x, "spec.dot1x")
    protocols = tuple(spec.protocols if spec.protocols is not None else prof.protocols)
    check_ipv6(prof, protocols, "spec.protocols")
    name = resource.metadata.name
    mac = spec.mac or macs.derive(prof.ouis[0], f"device/{name}", 0)
    return DeviceConfig(
        device_id=name,
        mac=mac,
        mac_derived=spec.mac is None,
        hostname=spec.hostname or prof.hostname_for(mac, 0, name),
        hostname_given=spec.hostname is not None,
        profile=prof,
        protocols=protocols,
        traffic_interval=spec.traffic_interval,
        dhcp_mode=spec.dhcp.mode,
        static_address=spec.dhcp.address,
        scenario=scenario_model.for_member(spec.scenario, name, 0, 1) if spec.scenario else None,
        vlan=tagging(spec),
    )


def _fleet(resource: models.IoTFleet, library: catalog.Library) -> list[DeviceConfig]:
    spec = resource.spec
    prof = with_dot1x(library.get(spec.template.profile), spec.template.dot1x, "spec.template.dot1x")
    protocols = tuple(spec.template.protocols or prof.protocols)
    check_ipv6(prof, protocols, "spec.template.protocols")
    oui = spec.mac_oui or prof.ouis[0]
    name = resource.metadata.name
    first, end = (spec.members.start, min(spec.members.end, spec.replicas)) if spec.members else (0, spec.replicas)
    seen: set[str] = set()
    out = []
    for index in range(end):  # members below `first` are derived too: a MAC depends on the ones before it
        mac, salt = macs.derive(oui, f"fleet/{name}", index), 0
        while mac in seen:  # 24 bits: rare, but a fleet's MACs must be unique
            salt += 1
            mac = macs.derive(oui, f"fleet/{name}#{salt}", index)
        seen.add(mac)
        if index < first:
            continue
        device_id = f"{name}-{index:04d}"  # fixed width: growing past 9999 renames nobody
        out.append(
            DeviceConfig(
                device_id=device_id,
                mac=mac,
                hostname=prof.hostname_for(mac, index, device_id),
                profile=prof,
                protocols=protocols,
                traffic_interval=spec.template.traffic_interval,
                dhcp_mode=spec.template.dhcp.mode,
                static_address=spec.template.dhcp.address,
                fleet=name,
                index=index,
                scenario=scenario_model.for_member(spec.scenario, device_id, index, spec.replicas)
                if spec.scenario
                else None,
                vlan=tagging(spec.template),
            )
        )
    return out


class NoSupplicant(ValueError):
    """`dot1x: true` for a profile without a `dot1x` section (the real device has no 802.1X)."""


def with_dot1x(prof: catalog.Profile, wanted: bool | None, field: str) -> catalog.Profile:
    """The profile with its 802.1X supplicant turned on or off as the spec says (None: as the profile ships)."""
    if wanted is None or (prof.dot1x is not None and prof.dot1x.enabled == wanted):
        return prof
    if prof.dot1x is None:
        if not wanted:
            return prof
        raise NoSupplicant(f"{field}: profile {prof.name!r} has no 802.1X supplicant (no dot1x section)")
    return prof.model_copy(update={"dot1x": prof.dot1x.model_copy(update={"enabled": wanted})})


class NoIpv6(ValueError):
    """The protocol "ipv6" for a profile whose real device has no IPv6 stack (`ipv6.enabled: false`)."""


def check_ipv6(prof: catalog.Profile, protocols: tuple[str, ...], field: str) -> None:
    """Refuse "ipv6" for a device that has none: an IPv4-only model sending IPv6 would carry a false identity."""
    if "ipv6" in protocols and not prof.speaks_ipv6:
        raise NoIpv6(
            f"{field}: profile {prof.name!r} has no IPv6 (ipv6.enabled: false: its real device is IPv4 only); "
            "remove ipv6 from the protocols or pick a profile with IPv6 (docs/ipv6.md)"
        )


def tagging(spec: models.DeviceTemplate) -> Vlan | None:
    """A spec's VLAN fields as the engine uses them."""
    if spec.vlan is None:
        return None
    return Vlan(spec.vlan, spec.vlan_priority, spec.outer_vlan)


def _duplicates(devices: list[DeviceConfig]) -> list[str]:
    problems = []
    for attr, label in (("device_id", "device id"), ("mac", "spec.mac"), ("hostname", "spec.hostname")):
        first: dict[str, str] = {}
        for dev in devices:
            if attr == "hostname" and not dev.hostname_given:
                continue
            value = getattr(dev, attr).lower()
            if value in first:
                problems.append(f"{dev.device_id}: {label}: {value} is already used by {first[value]}")
            else:
                first[value] = dev.device_id
    return problems


def _where(source: str, index: int, doc: Any) -> str:
    if isinstance(doc, dict):
        name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
        return f"{source}: document {index + 1} ({doc.get('kind', '?')}/{name or '?'})"
    return f"{source}: document {index + 1}"


def _errors(exc: ValidationError, kind: Any) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        if loc and loc[0] in ("IoTDevice", "IoTFleet"):  # the union's tag, noise for a person
            loc = loc[1:]
        where = ".".join(str(p) for p in scenario_model.clean_loc(loc)) or "(root)"
        lines.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return lines
