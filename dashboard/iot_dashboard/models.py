"""The API's model families (`DeviceCreate` / `DeviceUpdate` / `DevicePatch` / `DevicePublic`, same for fleets).

They wrap the resource models of `iot_emulator.config.models` instead of copying their fields: a
device's `spec` *is* an `IoTDevice.spec`, so the form, the YAML file and the cluster accept and
reject exactly the same things. Field names are camelCase on the wire, like the CRDs. The patch
models are derived from the specs (every field optional) so that PATCH documents itself in
OpenAPI without a second list of fields to keep in step.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel

from iot_emulator.config import models

Name = Annotated[str, Field(pattern=models.DNS_LABEL, max_length=63, description="resource name (a DNS label)")]
Labels = Annotated[dict[str, str], Field(default_factory=dict)]


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """`model` with every field optional and defaulting to None: a merge patch of it."""
    fields: dict[str, Any] = {}
    for key, field in model.model_fields.items():
        annotation: Any = field.annotation
        alias = field.serialization_alias  # an explicit wire name (dot1x) stays the same in a patch
        fields[key] = (annotation | None, Field(default=None, alias=alias, description=field.description))
    return create_model(name, __base__=ApiModel, **fields)


DeviceSpecPatch = _partial(models.DeviceSpec, "DeviceSpecPatch")
FleetSpecPatch = _partial(models.FleetSpec, "FleetSpecPatch")


# -- devices --------------------------------------------------------------------------------------


class DeviceBase(ApiModel):
    labels: Labels
    annotations: Labels
    spec: models.DeviceSpec


class DeviceCreate(DeviceBase):
    """A new IoTDevice: its name and spec (`spec.running: false` creates it stopped)."""

    name: Name


class DeviceUpdate(DeviceBase):
    """PUT: the whole spec and labels of an existing device."""


class DevicePatch(ApiModel):
    """PATCH: only the fields given change (a JSON merge patch of the spec)."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    spec: DeviceSpecPatch | None = None  # type: ignore[valid-type]


Phase = Literal["stopped", "pending", "binding", "bound", "error", "unknown"]


class AuthOutcome(ApiModel):
    """The last 802.1X outcome a device reported: what a NAC test wants to see next to the state."""

    result: Literal["success", "failure", "timeout"] = Field(
        description="success: EAP-Success; failure: EAP-Failure (held, then retried); timeout: no authenticator"
    )
    method: str | None = Field(default=None, description="the EAP method (md5, tls, peap)")
    identity: str | None = Field(default=None, description="the EAP identity the device sent")
    timestamp: str | None = None
    retry_in: float | None = Field(default=None, description="failure: seconds held silent before retrying")


class DeviceStatus(ApiModel):
    """What runs: the desired state (`running`) and what the device last said (`phase`, `ip`, `stats`)."""

    running: bool = Field(description="spec.running: the device is wanted up")
    phase: Phase = Field(description="stopped | pending | binding | bound | error")
    ip: str | None = None
    ipv6: list[str] | None = Field(default=None, description="IPv6 addresses (devices that speak IPv6)")
    auth: str | None = Field(
        default=None,
        description="802.1X: connecting, authenticating, authorized, failed (held), no-authenticator; "
        "mab: the device never speaks EAPOL",
    )
    auth_last: AuthOutcome | None = Field(default=None, description="the last 802.1X outcome (live only)")
    mac: str | None = None
    hostname: str | None = None
    profile: str
    vendor: str | None = None
    device_class: str | None = None
    fleet: str | None = Field(default=None, description="the IoTFleet of a fleet member")
    last_error: str | None = None
    updated: str | None = Field(default=None, description="timestamp of the last message")
    stats: dict[str, Any] | None = Field(default=None, description="the last `stats` message's body")


class DevicePublic(DeviceBase):
    """An IoTDevice as the table shows it."""

    name: str
    status: DeviceStatus


class DeviceStats(ApiModel):
    device_id: str
    timestamp: str | None = None
    stats: dict[str, Any] | None = None


# -- fleets ---------------------------------------------------------------------------------------


class FleetBase(ApiModel):
    labels: Labels
    annotations: Labels
    spec: models.FleetSpec


class FleetCreate(FleetBase):
    """A new IoTFleet: `replicas` devices from one template."""

    name: Name


class FleetUpdate(FleetBase):
    """PUT: the whole spec and labels of an existing fleet."""


class FleetPatch(ApiModel):
    """PATCH: only the fields given change."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    spec: FleetSpecPatch | None = None  # type: ignore[valid-type]


class FleetScale(ApiModel):
    """The scale subresource's body."""

    replicas: Annotated[int, Field(ge=0, le=100000)]


class FleetStatus(ApiModel):
    running: bool
    replicas: int
    phases: dict[str, int] = Field(description="members per phase")
    bound: int = 0
    auth: dict[str, int] = Field(
        default_factory=dict,
        description="members per 802.1X state (authorized, failed, mab, ...), of those reporting one",
    )
    profile: str
    vendor: str | None = None
    device_class: str | None = None


class FleetPublic(FleetBase):
    name: str
    status: FleetStatus


# -- operations -----------------------------------------------------------------------------------


class Failure(ApiModel):
    id: str
    reason: str


class FleetMember(ApiModel):
    index: int
    device_id: str
    mac: str
    hostname: str
    phase: Phase
    ip: str | None = None


class FleetMembers(ApiModel):
    """One page of a fleet's members, in index order."""

    total: int = Field(description="the fleet's replicas")
    offset: int
    limit: int
    items: list[FleetMember]


class BulkRequest(ApiModel):
    """Devices to act on: by name (or the brief's id), by label selector, or both (their union)."""

    names: list[Annotated[str, Field(max_length=253)]] = Field(default_factory=list, max_length=10000)
    selector: str | None = Field(
        default=None, max_length=1000, description="labels, `key=value` joined by commas (all must match)"
    )


class BulkResult(ApiModel):
    """All-or-report: which devices reached the asked state and which did not, and why."""

    action: Literal["start", "stop", "delete"]
    done: list[str] = Field(default_factory=list, description="devices that are now started (or stopped)")
    failed: list[Failure] = Field(default_factory=list)


class ImportResult(ApiModel):
    created: list[str] = Field(default_factory=list, description="`Kind/name` of new resources")
    updated: list[str] = Field(default_factory=list, description="`Kind/name` of replaced resources")
    deleted: list[str] = Field(default_factory=list, description="`Kind/name` removed (mode=replace)")


class ErrorBody(ApiModel):
    detail: str
    errors: list[str] = Field(default_factory=list, description="one line per problem, naming entry and field")


class ProfileSummary(ApiModel):
    name: str
    vendor: str
    model: str
    device_class: str
    os: str
    ouis: list[str]
    protocols: list[str]
    dot1x: Literal["md5", "tls", "peap"] | None = Field(
        default=None, alias="dot1x", description="the 802.1X EAP method of the profile's supplicant; None: none (MAB)"
    )
    dot1x_enabled: bool = Field(
        default=False, alias="dot1xEnabled", description="the supplicant runs unless a device's spec.dot1x says"
    )


class Health(ApiModel):
    status: Literal["ok", "unavailable"]
    backend: str
    detail: str | None = None
