"""The IoTDevice and IoTFleet resources, as pydantic models: the single source of truth.

Local mode reads them from YAML files and cluster mode from the Kubernetes API; the CRD schemas
are generated from these classes. Field names are camelCase on the wire (Kubernetes API
conventions) and snake_case in Python.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from iot_emulator.devices import macs
from iot_emulator.scenarios import model as scenario_model

API_VERSION = "iotemu.io/v1alpha1"
GROUP = "iotemu.io"
VERSION = "v1alpha1"
PLURALS = {"IoTDevice": "iotdevices", "IoTFleet": "iotfleets"}
"""Kind -> the resource name in API paths (and the CRD's `names.plural`)."""
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
PROFILE_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
"""A profile's name: profile.NAME_RE, repeated so that models stays free of profile loading (a test compares)."""
UNICAST_MAC = r"^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$"
"""macs.parse's rule as a pattern: six hex pairs, the group bit of the first octet clear."""
OUI_PATTERN = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){2}$"
IFNAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$"
"""A Linux interface name (IFNAMSIZ - 1 characters)."""
NAD_NAME = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
"""A NetworkAttachmentDefinition, `name` or `namespace/name` (Multus's short form)."""

# Messages shared by the pydantic validators and the CRD's CEL rules, so both say the same thing.
STATIC_NEEDS_ADDRESS = "static mode needs an address"
ZERO_MAC = "00:00:00:00:00:00 is not a usable device MAC"
MULTUS_NEEDS_ATTACHMENT = "multus mode needs an attachment (a NetworkAttachmentDefinition)"
ATTACHMENT_NEEDS_MULTUS = "an attachment is only used in multus mode"
RANGE_ORDER = "members: start must be below end"
OUTER_VLAN_NEEDS_VLAN = "outerVlan (QinQ) needs vlan, the inner 802.1Q tag"
PRIORITY_NEEDS_VLAN = "vlanPriority needs vlan: the priority travels in the VLAN tag"
KNOWN_PROTOCOLS = (
    "arp",
    "dhcp",
    "icmp",
    "dns",
    "ntp",
    "http",
    "https",
    "cloud",
    "rtsp",
    "mqtt",
    "coap",
    "mdns",
    "ssdp",
    "lldp",
    "tcp",
    "ipv6",
)


def cel(*rules: tuple[str, str]) -> dict[str, Any]:
    """`x-kubernetes-validations` for a schema: (CEL rule, message) pairs.

    Each rule sits next to the pydantic validator that enforces the same thing, so local mode and
    `kubectl apply` reject the same documents with the same message (tests/operator/test_crds.py
    evaluates both on the same examples).
    """
    return {"x-kubernetes-validations": [{"rule": rule, "message": message} for rule, message in rules]}


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

    model_config = ConfigDict(
        json_schema_extra=cel(("self.mode != 'static' || has(self.address)", STATIC_NEEDS_ADDRESS))
    )

    mode: DhcpMode = DhcpMode.auto
    address: ipaddress.IPv4Address | None = Field(
        default=None, description="requested address (option 50); required in static mode"
    )

    @model_validator(mode="after")
    def _static_needs_address(self) -> DhcpSettings:
        if self.mode is DhcpMode.static and self.address is None:
            raise ValueError(STATIC_NEEDS_ADDRESS)
        return self


Protocol = Annotated[
    str, Field(description="one of " + ", ".join(KNOWN_PROTOCOLS), json_schema_extra={"enum": list(KNOWN_PROTOCOLS)})
]


def _check_protocols(value: list[str]) -> list[str]:
    if any(not p.strip() for p in value):
        raise ValueError("a protocol name is empty")
    cleaned = [p.strip().lower() for p in value]
    unknown = [p for p in cleaned if p not in KNOWN_PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown protocol(s) {', '.join(unknown)}; known: {', '.join(KNOWN_PROTOCOLS)}")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("a protocol is listed twice")
    return cleaned


class NetworkMode(StrEnum):
    host_network = "hostNetwork"
    multus = "multus"


SCENARIO_DESCRIPTION = (
    "behaviours scheduled from the device's start (docs/scenarios.md): power cycles, firmware updates, "
    "churn, compromise traffic kept in the lab"
)
NETWORK_DESCRIPTION = "how the operator connects the emulator pod to the lab LAN; local mode uses --interface"


class NetworkSpec(_Wire):
    """Where a pod's raw socket sends and listens: a node NIC (hostNetwork) or a Multus attachment.

    Only the operator reads this: in local mode the interface is the command line's `--interface`.
    """

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("self.mode != 'multus' || has(self.attachment)", MULTUS_NEEDS_ATTACHMENT),
            ("self.mode == 'multus' || !has(self.attachment)", ATTACHMENT_NEEDS_MULTUS),
        )
    )
    mode: NetworkMode = NetworkMode.host_network
    interface: Annotated[str, Field(pattern=IFNAME)] | None = Field(
        default=None,
        description="hostNetwork: the node's NIC on the lab LAN (default eth0); multus: the attached interface's "
        "name inside the pod (default net1)",
    )
    attachment: Annotated[str, Field(pattern=NAD_NAME, max_length=253)] | None = Field(
        default=None, description="multus: NetworkAttachmentDefinition, `name` or `namespace/name`"
    )
    promiscuous: bool = Field(
        default=False, description="join promiscuous mode: needed on a physical NIC, not on a bridge or veth"
    )
    node_selector: dict[str, str] | None = Field(
        default=None, description="nodes whose interface is on the lab LAN (pod nodeSelector)"
    )

    @model_validator(mode="after")
    def _attachment_iff_multus(self) -> NetworkSpec:
        if self.mode is NetworkMode.multus and self.attachment is None:
            raise ValueError(MULTUS_NEEDS_ATTACHMENT)
        if self.mode is not NetworkMode.multus and self.attachment is not None:
            raise ValueError(ATTACHMENT_NEEDS_MULTUS)
        return self


class MemberRange(_Wire):
    """A slice [start, end) of a fleet's member indices."""

    model_config = ConfigDict(json_schema_extra=cel(("self.start < self.end", RANGE_ORDER)))
    start: Annotated[int, Field(ge=0, le=100000)] = 0
    end: Annotated[int, Field(ge=1, le=100000)]

    @model_validator(mode="after")
    def _ordered(self) -> MemberRange:
        if self.start >= self.end:
            raise ValueError(RANGE_ORDER)
        return self


VlanId = Annotated[int, Field(ge=1, le=4094)]


class DeviceTemplate(_Wire):
    """What a device is and does; shared by IoTDevice.spec and IoTFleet.spec.template."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("!has(self.outerVlan) || has(self.vlan)", OUTER_VLAN_NEEDS_VLAN),
            ("!has(self.vlanPriority) || self.vlanPriority == 0 || has(self.vlan)", PRIORITY_NEEDS_VLAN),
        )
    )

    profile: Annotated[
        str,
        Field(
            min_length=1,
            max_length=63,
            description="profile name from the library",
            json_schema_extra={"pattern": PROFILE_NAME},  # schema only: pydantic reports it as an unknown profile
        ),
    ]
    protocols: list[Protocol] | None = Field(
        default=None,
        description="protocols to run; default: the profile's list",
        json_schema_extra={"x-kubernetes-list-type": "set"},  # the API server's form of "a protocol is listed twice"
    )
    traffic_interval: Annotated[float, Field(ge=1, le=86400)] = Field(
        default=60, description="seconds between periodic traffic bursts"
    )
    dhcp: DhcpSettings = DhcpSettings()
    vlan: VlanId | None = Field(
        default=None, description="802.1Q VLAN id (C-tag) on every frame the device sends; default: untagged"
    )
    vlan_priority: Annotated[int, Field(ge=0, le=7)] = Field(
        default=0, description="802.1p priority (PCP) in the VLAN tag(s)"
    )
    outer_vlan: VlanId | None = Field(
        default=None, description="QinQ: an 802.1ad S-tag (TPID 0x88a8) with this id outside the C-tag"
    )
    dot1x: bool | None = Field(
        default=None,
        # to_camel would spell it dot1X, which the API server prunes from a manifest saying dot1x
        validation_alias="dot1x",
        serialization_alias="dot1x",
        description="802.1X: true runs the profile's supplicant (its method, identity and timers: the profile needs a "
        "dot1x section), false keeps the device silent on EAPOL (the switch falls back to MAB); default: the profile's",
    )

    @field_validator("protocols")
    @classmethod
    def _protocols_known(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_protocols(value)

    @model_validator(mode="after")
    def _tags_nest(self) -> DeviceTemplate:
        if self.outer_vlan is not None and self.vlan is None:
            raise ValueError(OUTER_VLAN_NEEDS_VLAN)
        if self.vlan_priority and self.vlan is None:
            raise ValueError(PRIORITY_NEEDS_VLAN)
        return self


class DeviceSpec(DeviceTemplate):
    mac: str | None = Field(
        default=None,
        description="unicast MAC; default: derived from the name in the profile's OUI",
        json_schema_extra={"pattern": UNICAST_MAC, **cel(("self != '00:00:00:00:00:00'", ZERO_MAC))},
    )
    hostname: Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$")] | None = Field(
        default=None, description="option 12; default: the profile's host-name pattern"
    )
    running: bool = True
    network: NetworkSpec | None = Field(default=None, description=NETWORK_DESCRIPTION)
    scenario: scenario_model.Scenario | None = Field(default=None, description=SCENARIO_DESCRIPTION)

    @field_validator("mac")
    @classmethod
    def _mac_valid(cls, value: str | None) -> str | None:
        return None if value is None else macs.normalise(value)


class FleetSpec(_Wire):
    replicas: Annotated[int, Field(ge=0, le=100000)] = 1
    template: DeviceTemplate
    mac_oui: str | None = Field(
        default=None,
        description="OUI for derived MACs; default: the profile's first",
        json_schema_extra={"pattern": OUI_PATTERN},
    )
    devices_per_pod: Annotated[int, Field(ge=1, le=5000)] = Field(
        default=250, description="the operator runs the fleet in pods of at most this many devices"
    )
    running: bool = True
    network: NetworkSpec | None = Field(default=None, description=NETWORK_DESCRIPTION)
    scenario: scenario_model.Scenario | None = Field(default=None, description=SCENARIO_DESCRIPTION)
    members: MemberRange | None = Field(
        default=None,
        description="run only members start..end-1 (clipped to replicas); ids, MACs and host names stay those of "
        "the whole fleet, so a fleet can be split across pods or hosts",
    )

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


# -- status: written by the operator, read by kubectl, the dashboard and the CRD generator ------


class ConditionStatus(StrEnum):
    true = "True"
    false = "False"
    unknown = "Unknown"


class Condition(_Wire):
    """One `status.conditions` entry, as Kubernetes API conventions (metav1.Condition) define it."""

    type: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=316)]
    status: ConditionStatus
    reason: Annotated[str, Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)]
    message: Annotated[str, Field(max_length=32768)] = ""
    last_transition_time: dt.datetime
    observed_generation: Annotated[int, Field(ge=0)] | None = None


CONDITION_TYPES = ("Ready", "Progressing", "Degraded")
MAX_FAILING_DEVICES = 10
"""IoTFleet.status lists at most this many failing devices: status stays small for any fleet size."""


class DevicePhase(StrEnum):
    """What `kubectl get iotdevices` shows: the emulator's device phase, or why there is none."""

    pending = "Pending"
    binding = "Binding"
    bound = "Bound"
    stopped = "Stopped"
    failed = "Failed"
    unknown = "Unknown"


class Traffic(_Wire):
    """Counters since the emulator process started (they restart with the pod)."""

    packets_sent: Annotated[int, Field(ge=0)] = 0
    bytes_sent: Annotated[int, Field(ge=0)] = 0
    packets_received: Annotated[int, Field(ge=0)] = 0
    bytes_received: Annotated[int, Field(ge=0)] = 0


class _Status(_Wire):
    observed_generation: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="the metadata.generation the pods and this status reflect"
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=8,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    last_seen: dt.datetime | None = Field(default=None, description="when the emulator last answered")


class IoTDeviceStatus(_Status):
    phase: DevicePhase = DevicePhase.pending
    ip: ipaddress.IPv4Address | None = None
    ipv6: Annotated[list[ipaddress.IPv6Address], Field(max_length=16)] | None = Field(
        default=None, description="the device's IPv6 addresses (link-local, SLAAC, DHCPv6) when it speaks IPv6"
    )
    auth: Annotated[str, Field(max_length=32)] | None = Field(
        default=None,
        description="802.1X: connecting, authenticating, authorized, failed, no-authenticator; mab: no EAPOL",
    )
    mac: str | None = None
    hostname: str | None = None
    lease_expiry: dt.datetime | None = None
    pod: str | None = Field(default=None, description="the emulator pod")
    traffic: Traffic = Traffic()
    protocols: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="packets sent per protocol"
    )


class FailingDevice(_Wire):
    device: str
    reason: Annotated[str, Field(max_length=1024)]


class IoTFleetStatus(_Status):
    replicas: Annotated[int, Field(ge=0)] = Field(default=0, description="devices in running emulator pods")
    bound_replicas: Annotated[int, Field(ge=0)] = Field(default=0, description="devices holding a DHCP lease")
    auth: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        description="devices per 802.1X state (authorized, authenticating, failed, no-authenticator; "
        "mab: the members that send no EAPOL), summed over the fleet's pods",
    )
    pods: Annotated[int, Field(ge=0)] = Field(default=0, description="emulator pods that exist")
    ready_pods: Annotated[int, Field(ge=0)] = 0
    selector: str = Field(default="", description="label selector of the fleet's pods (the scale subresource's)")
    traffic: Traffic = Traffic()
    failing_count: Annotated[int, Field(ge=0)] = Field(default=0, description="devices neither bound nor starting")
    failing_devices: list[FailingDevice] = Field(
        default_factory=list,
        max_length=MAX_FAILING_DEVICES,
        description=f"the first {MAX_FAILING_DEVICES} failing devices with the reason",
    )
