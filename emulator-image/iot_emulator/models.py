"""The IoTDevice and IoTFleet resources, as pydantic models: the single source of truth.

Local mode reads them from YAML files and cluster mode from the Kubernetes API; the CRD schemas
are generated from these classes. Field names are camelCase on the wire (Kubernetes API
conventions) and snake_case in Python.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from iot_emulator import macs

API_VERSION = "iotemu.io/v1alpha1"
GROUP = "iotemu.io"
VERSION = "v1alpha1"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
KNOWN_PROTOCOLS = (
    "arp", "dhcp", "icmp", "dns", "ntp", "http", "https", "cloud", "rtsp", "mqtt", "coap",
    "mdns", "ssdp", "lldp", "tcp",
)  # fmt: skip


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
        populate_by_name=True,
        extra="forbid",
    )


class DhcpMode(StrEnum):
    auto = "auto"
    static = "static"


class DhcpSettings(_Wire):
    """How the device gets its address: a normal DHCP exchange, or asking for a given one."""

    mode: DhcpMode = DhcpMode.auto
    address: ipaddress.IPv4Address | None = Field(
        default=None, description="requested address (option 50); required in static mode"
    )

    @model_validator(mode="after")
    def _static_needs_address(self) -> DhcpSettings:
        if self.mode is DhcpMode.static and self.address is None:
            raise ValueError("static mode needs an address")
        return self


Protocol = Annotated[str, Field(description="one of " + ", ".join(KNOWN_PROTOCOLS))]


def _check_protocols(value: list[str]) -> list[str]:
    cleaned = [p.strip().lower() for p in value if p.strip()]
    unknown = [p for p in cleaned if p not in KNOWN_PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown protocol(s) {', '.join(unknown)}; known: {', '.join(KNOWN_PROTOCOLS)}")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("a protocol is listed twice")
    return cleaned


class DeviceTemplate(_Wire):
    """What a device is and does; shared by IoTDevice.spec and IoTFleet.spec.template."""

    profile: Annotated[str, Field(min_length=1, max_length=63, description="profile name from the library")]
    protocols: list[Protocol] | None = Field(default=None, description="protocols to run; default: the profile's list")
    traffic_interval: Annotated[float, Field(ge=1, le=86400)] = Field(
        default=60, description="seconds between periodic traffic bursts"
    )
    dhcp: DhcpSettings = DhcpSettings()

    @field_validator("protocols")
    @classmethod
    def _protocols_known(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_protocols(value)


class DeviceSpec(DeviceTemplate):
    mac: str | None = Field(
        default=None, description="unicast MAC; default: derived from the name in the profile's OUI"
    )
    hostname: Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")] | None = Field(
        default=None, description="option 12; default: the profile's host-name pattern"
    )
    running: bool = True

    @field_validator("mac")
    @classmethod
    def _mac_valid(cls, value: str | None) -> str | None:
        return None if value is None else macs.normalise(value)


class FleetSpec(_Wire):
    replicas: Annotated[int, Field(ge=0, le=100000)] = 1
    template: DeviceTemplate
    mac_oui: str | None = Field(default=None, description="OUI for derived MACs; default: the profile's first")
    devices_per_pod: Annotated[int, Field(ge=1, le=5000)] = 250
    running: bool = True

    @field_validator("mac_oui")
    @classmethod
    def _oui_valid(cls, value: str | None) -> str | None:
        if value is not None and not macs.OUI_RE.match(value):
            raise ValueError(f"{value!r} is not an OUI (three hex pairs like 44:19:b6)")
        return value.lower() if value else None


class ObjectMeta(_Wire):
    model_config = ConfigDict(extra="allow")
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class IoTDevice(_Wire):
    model_config = ConfigDict(extra="ignore")  # status, kubectl's fields
    api_version: Literal["iotemu.io/v1alpha1"] = "iotemu.io/v1alpha1"
    kind: Literal["IoTDevice"] = "IoTDevice"
    metadata: ObjectMeta
    spec: DeviceSpec


class IoTFleet(_Wire):
    model_config = ConfigDict(extra="ignore")
    api_version: Literal["iotemu.io/v1alpha1"] = "iotemu.io/v1alpha1"
    kind: Literal["IoTFleet"] = "IoTFleet"
    metadata: ObjectMeta
    spec: FleetSpec


Resource = Annotated[IoTDevice | IoTFleet, Field(discriminator="kind")]


def to_manifest(resource: IoTDevice | IoTFleet) -> dict[str, Any]:
    """The YAML/JSON form, camelCase, without defaults that add noise."""
    return resource.model_dump(mode="json", by_alias=True, exclude_none=True)
