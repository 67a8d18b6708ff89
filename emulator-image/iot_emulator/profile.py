"""Device profiles: the identity a discovery product reads from a device, as validated data.

A profile is YAML, not code. This module holds the pydantic model and the loader; the shipped
library is in `profiles/*.yaml`, and users add their own with `--profiles-dir`. Every value that
is a fingerprint should carry its source in the YAML (`sources:`), so a reviewer can check it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from iot_emulator import macs

BUILTIN_DIR = Path(__file__).parent / "profiles"
NAME_RE = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class DeviceClass(StrEnum):
    camera = "camera"
    nvr = "nvr"
    printer = "printer"
    phone = "phone"
    speaker = "speaker"
    tv = "tv"
    thermostat = "thermostat"
    plug = "plug"
    bridge = "bridge"
    sensor = "sensor"
    gateway = "gateway"
    medical = "medical"
    industrial = "industrial"
    building = "building"
    access_point = "access_point"
    other = "other"


class ClientIdKind(StrEnum):
    """How option 61 is formed: `mac` is type 1 + hardware address (RFC 2132), `none` omits it."""

    mac = "mac"
    none = "none"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArpProbe(_Strict):
    """RFC 5227 address check after DHCPACK. Real stacks differ: udhcpc sends one ARP and waits,
    Windows and Apple follow the RFC's probe timing; `count: 0` skips the check."""

    count: Annotated[int, Field(ge=0, le=5)] = 1
    interval: Annotated[float, Field(ge=0.0, le=5.0, description="seconds between probes")] = 0.2
    wait: Annotated[float, Field(ge=0.0, le=5.0, description="seconds after the last probe")] = 0.3


class DhcpFingerprint(_Strict):
    """What a DHCP server (and a fingerprinting product) sees of the device's DHCP client."""

    options: list[Annotated[int, Field(ge=1, le=254)]] = Field(
        description="options present in DISCOVER/REQUEST, in this order (53 is always first)"
    )
    parameter_request_list: list[Annotated[int, Field(ge=1, le=254)]] = Field(description="option 55")
    vendor_class_id: str | None = Field(default=None, description="option 60")
    max_message_size: Annotated[int, Field(ge=576, le=65535)] | None = Field(default=None, description="option 57")
    client_id: ClientIdKind = ClientIdKind.mac
    broadcast_flag: bool = Field(default=False, description="BOOTP flags bit 15: ask for broadcast replies")
    ip_ttl: Annotated[int, Field(ge=1, le=255)] = 64
    secs: bool = Field(default=True, description="fill `secs` with the time since the exchange began")
    arp_probe: ArpProbe = ArpProbe()

    @field_validator("options")
    @classmethod
    def _options_well_formed(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("an option appears twice")
        if value and value[0] != 53:
            raise ValueError("option 53 (message type) must come first")
        return value


class Profile(_Strict):
    """One device model: its vendor, its class and the fingerprints it carries."""

    name: Annotated[str, Field(pattern=NAME_RE, description="stable id used by manifests")]
    vendor: str
    model: str
    device_class: DeviceClass
    os: str = Field(description="the device's OS or network stack, e.g. 'Linux 3.x (BusyBox udhcpc)'")
    ouis: list[str] = Field(min_length=1, description="vendor OUIs; generated MACs use the first")
    hostname_pattern: str = Field(
        default="{vendor}-{mac6}",
        description="placeholders: {vendor} {model} {mac6} (last 6 hex digits) {MAC6} {index} {name}",
    )
    ip_ttl: Annotated[int, Field(ge=1, le=255)] = 64
    dhcp: DhcpFingerprint
    protocols: list[str] = Field(default_factory=lambda: ["arp", "dhcp", "icmp"])
    sources: dict[str, str] = Field(default_factory=dict, description="fingerprint -> where it comes from")

    @field_validator("ouis")
    @classmethod
    def _ouis_valid(cls, value: list[str]) -> list[str]:
        for oui in value:
            if not macs.OUI_RE.match(oui):
                raise ValueError(f"{oui!r} is not an OUI (three hex pairs like 44:19:b6)")
        return [oui.lower() for oui in value]

    def hostname_for(self, mac: str, index: int = 0, name: str = "") -> str:
        """The host name a device of this profile announces in option 12."""
        mac6 = mac.replace(":", "")[-6:]
        raw = self.hostname_pattern.format(
            vendor=self.vendor, model=self.model, mac6=mac6.lower(), MAC6=mac6.upper(), index=index, name=name
        )
        cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", raw).strip("-")
        return cleaned[:63] or "device"


class ProfileError(ValueError):
    """A profile file that does not load, with the file and the field named."""


class Library:
    """The profiles known to a process: the built-in ones plus a user directory."""

    def __init__(self, profiles: Iterable[Profile]) -> None:
        self._by_name: dict[str, Profile] = {}
        for profile in profiles:
            self._by_name[profile.name] = profile

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Profile]:
        return iter(sorted(self._by_name.values(), key=lambda p: p.name))

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> Profile:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise ProfileError(f"unknown profile {name!r}; known profiles: {known}") from None

    def for_vendor(self, vendor: str) -> Profile:
        """The default profile of a vendor, for the seed CLI's `--vendor` (case-insensitive)."""
        wanted = vendor.strip().lower()
        matches = [p for p in self if p.vendor.lower() == wanted or p.name == wanted]
        if not matches:
            matches = [p for p in self if p.vendor.lower().startswith(wanted) or wanted in p.name]
        if not matches:
            vendors = ", ".join(sorted({p.vendor for p in self}))
            raise ProfileError(f"unknown vendor {vendor!r}; known vendors: {vendors}")
        return matches[0]


def load_file(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        profile: Profile = Profile.model_validate(data)
        return profile
    except ValidationError as exc:
        raise ProfileError(f"{path}: {format_validation_error(exc)}") from exc


def load_dir(path: Path) -> list[Profile]:
    if not path.is_dir():
        raise ProfileError(f"profiles directory {path} does not exist")
    return [load_file(p) for p in sorted(path.glob("*.yaml"))]


@functools.cache
def builtin() -> Library:
    return Library(load_dir(BUILTIN_DIR))


def library(user_dir: Path | None = None) -> Library:
    """Built-in profiles, overridden or extended by the user's directory."""
    if user_dir is None:
        return builtin()
    return Library([*builtin(), *load_dir(user_dir)])


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem, each naming the field path: `spec.mac: not a MAC address`."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)
