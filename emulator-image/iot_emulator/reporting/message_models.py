"""The emulator's messages, defined once: one pydantic model per `type`, under one discriminated union.

Every consumer reads these: the JSON lines on stdout (the seed contract), the `/events` stream, the
dashboard (which relays them to browsers as `device:<type>`), the React tab (TypeScript types are
generated from this JSON Schema) and `docs/protocol.md` (generated too). `messages.py` builds the
dicts the engine emits with exactly these fields; the models validate at the boundaries that parse
(the dashboard reading a process or a pod) and in tests, not per message in the engine's hot path.

Seed fields keep their seed names and meaning; the seed's consumers ignore the extra ones. `v` is
the contract's version: a consumer that meets a higher one should expect fields it does not know.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

VERSION = 1
"""Raised when a field changes meaning or disappears; adding an optional field keeps it."""

LogLevel: TypeAlias = Literal["debug", "info", "warning", "error", "critical"]
Phase: TypeAlias = Literal["pending", "binding", "bound", "stopped"]
"""The engine's phases: `bound` only once the RFC 5227 check of the ACKed address passed."""
Source: TypeAlias = Literal["emulator", "dashboard"]


class _Message(BaseModel):
    """What every message carries. Unknown fields are refused: a field is added here first."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    type: str
    """What happened: each model narrows it to its own name (the union's discriminator)."""
    device_id: str = Field(max_length=253)
    """The device it is about (its manifest name, or the brief's id); empty for the emulator process itself."""
    timestamp: str = Field(max_length=40, examples=["2025-01-29T16:45:23.123Z"])
    """When it happened: ISO 8601 UTC, milliseconds, `Z`."""
    v: int = VERSION
    """The contract's version (`message_models.VERSION`)."""
    source: Source | None = None
    """Set by the dashboard on the records it writes itself (`dashboard`) or relays from an emulator
    process about itself (`emulator`); absent on a device's own messages."""
    name: str | None = Field(default=None, max_length=253)
    """Socket.io only: the device's resource name when `device_id` is the brief's id."""


class Started(_Message):
    """The device is admitted: it starts its DHCP exchange (seed: type, device_id, timestamp)."""

    type: Literal["started"]
    mac: str | None = None
    """The device's MAC address."""
    hostname: str | None = None
    """The host name it sends in DHCP option 12."""
    profile: str | None = None
    """The device profile it emulates."""
    interface: str | None = None
    """The network interface the process sends on."""


class Stopped(_Message):
    """The device stopped: its lease was released and its final stats sent before this."""

    type: Literal["stopped"]
    packets_sent: int | None = None
    """Frames sent over its lifetime."""


class ErrorMessage(_Message):
    """Something went wrong for the device (seed: error, severity)."""

    type: Literal["error"]
    error: str
    """What went wrong, for a person."""
    severity: LogLevel = "error"
    """`warning` for what the device survives (a scenario behaviour that cannot run)."""
    fatal: bool | None = None
    """Dashboard only: the device's process died (its phase becomes `error`)."""


class Lease(BaseModel):
    """The held lease, countdowns in seconds from the stats message (None: infinite)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    server_id: str
    lease_time: int | None
    expires_in: float | None
    t1_in: float | None
    t2_in: float | None


class StatsBody(BaseModel):
    """The seed's six counters, then the engine's own (state, lease, received traffic, identity)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    packets_sent: int
    """Frames sent since the device started."""
    bytes_sent: int
    """Bytes of those frames."""
    packet_rate: int | float
    """Packets per second over the last stats interval."""
    current_ip: str | None
    """The bound address, or null while it has none."""
    uptime_seconds: int | float
    """Seconds since the device started."""
    protocols: dict[str, int]
    """Packets sent per protocol."""
    packets_received: int | None = None
    bytes_received: int | None = None
    state: Phase | None = None
    """The device's phase (`bound` once the ACKed address passed its check)."""
    dhcp_state: str | None = None
    """The DHCP client's RFC 2131 state (`bound`, `renewing`, `checking`, ...)."""
    mac: str | None = None
    hostname: str | None = None
    profile: str | None = None
    lease: Lease | None = None
    ipv6_addresses: list[str] | None = None
    """The IPv6 addresses in use (link-local, SLAAC, DHCPv6), when the device speaks IPv6; absent otherwise."""
    auth: str | None = None
    """802.1X: `connecting`, `authenticating`, `authorized`, `failed` (held), `no-authenticator`, or
    `mab` for a device that never speaks EAPOL (its switch falls back to MAC Authentication Bypass)."""


class Stats(_Message):
    """Counters, every `--stats-interval` seconds, on bind, and once more before `stopped`."""

    type: Literal["stats"]
    stats: StatsBody
    pod: str | None = None
    """Kubernetes backend only: the emulator pod that reported it."""


class Log(_Message):
    """A log line (seed: level, message)."""

    type: Literal["log"]
    level: LogLevel
    """`debug`, `info`, `warning`, `error` or `critical`."""
    message: str
    """The line, for a person."""
    scope: Literal["process"] | None = None
    """`process`: about the emulator process, not a device (`device_id` is empty)."""
    echo_of: Literal["scenario"] | None = None
    """This line repeats a `scenario` message: a consumer showing the typed message may skip it."""
    shard: str | None = None
    """Dashboard only: the emulator process (local shard) a service record is about."""
    exit_code: int | None = None
    """Dashboard only: that process's exit code."""


class ScenarioMessage(_Message):
    """A scenario's behaviour started or ended on the device: what a detection product should see."""

    type: Literal["scenario"]
    scenario: str
    """The scenario's name."""
    step: str
    """The step's name, or its number from 1."""
    behaviour: str
    """The behaviour's kind (`beacon`, `port_scan`, `power_cycle`, ...)."""
    state: Literal["started", "ended"]
    detail: str = ""
    """What it did, for a person (targets, counts)."""


class DhcpDiscover(_Message):
    """DISCOVER sent (seed: xid, mac)."""

    type: Literal["dhcp_discover"]
    xid: str
    """The exchange's transaction id, `0x` and 8 hex digits."""
    mac: str
    requested_ip: str | None = None
    """The address it asks for again (option 50), if its profile sends one."""


class DhcpOffer(_Message):
    """OFFER received (seed: server_id, offered_ip, lease_time)."""

    type: Literal["dhcp_offer"]
    xid: str | None = None
    server_id: str
    offered_ip: str
    lease_time: int | None
    """Seconds offered (option 51), null if the server sent none."""


class DhcpRequest(_Message):
    """REQUEST sent; `state` is the client state it is sent from (RFC 2131 table 4)."""

    type: Literal["dhcp_request"]
    xid: str
    requested_ip: str
    server_id: str | None
    state: Literal["selecting", "init-reboot", "renewing", "rebinding"]


class DhcpAck(_Message):
    """ACK received (seed: assigned_ip, server_id, lease_time). The address is checked (RFC 5227)
    before the device is `bound`: the `stats` message sent then says so."""

    type: Literal["dhcp_ack"]
    xid: str | None = None
    assigned_ip: str
    server_id: str
    lease_time: int
    """Seconds granted (option 51)."""
    renewal_time: int | None = None
    """T1 in seconds from the ACK, as the client will use it (null: infinite lease)."""
    rebinding_time: int | None = None
    """T2 in seconds from the ACK."""
    subnet_mask: str | None = None
    router: str | None = None
    dns_servers: list[str] = []


class DhcpNak(_Message):
    """NAK received: the lease is gone, the client starts over."""

    type: Literal["dhcp_nak"]
    xid: str
    server_id: str
    message: str
    """The server's text (option 56), empty if none."""


class DhcpRenew(_Message):
    """T1 passed: renewing with the server that granted the lease."""

    type: Literal["dhcp_renew"]
    assigned_ip: str
    server_id: str


class DhcpRebind(_Message):
    """T2 passed: asking any server to extend the lease."""

    type: Literal["dhcp_rebind"]
    assigned_ip: str
    server_id: str


class DhcpRelease(_Message):
    """RELEASE sent (on stop)."""

    type: Literal["dhcp_release"]
    address: str
    server_id: str


class DhcpDecline(_Message):
    """DECLINE sent: another host holds the ACKed address."""

    type: Literal["dhcp_decline"]
    address: str
    reason: str


class DhcpExpire(_Message):
    """The lease expired without being extended."""

    type: Literal["dhcp_expire"]
    address: str


class Dot1xStart(_Message):
    """EAPOL-Start sent: an 802.1X authentication begins (at link-up, after the held period, or to re-authenticate)."""

    type: Literal["dot1x_start"]
    identity: str
    attempt: int
    """Starts sent in this attempt (802.1X maxStart bounds them)."""


class Dot1xSuccess(_Message):
    """EAP-Success: the port is authorized; DHCP starts now (if it had not)."""

    type: Literal["dot1x_success"]
    identity: str
    method: str
    seconds: float
    """From the EAPOL-Start (or the authenticator's Request-Identity) to the Success."""
    reauthentication: bool


class Dot1xFailure(_Message):
    """EAP-Failure: the credentials were refused; the supplicant is held silent for `retry_in` seconds."""

    type: Literal["dot1x_failure"]
    identity: str
    method: str
    failures: int
    """Consecutive failures so far."""
    retry_in: float


class Dot1xTimeout(_Message):
    """No authenticator answered `starts` EAPOL-Starts: the port is taken as authorized (802.1X) and DHCP starts."""

    type: Literal["dot1x_timeout"]
    identity: str
    starts: int


Dot1xMessage: TypeAlias = Dot1xStart | Dot1xSuccess | Dot1xFailure | Dot1xTimeout
DhcpMessage: TypeAlias = (
    DhcpDiscover
    | DhcpOffer
    | DhcpRequest
    | DhcpAck
    | DhcpNak
    | DhcpRenew
    | DhcpRebind
    | DhcpRelease
    | DhcpDecline
    | DhcpExpire
)
EmulatorMessage: TypeAlias = Annotated[
    Started | Stopped | ErrorMessage | Stats | Log | ScenarioMessage | DhcpMessage | Dot1xMessage,
    Field(discriminator="type"),
]
"""Any message the emulator prints, by `type`."""


class EventsDropped(BaseModel):
    """`GET /events` (Server-Sent Events) only: this client was too slow and lost `dropped` messages
    here; sent before the next message it gets. Not a device message: no `device_id`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    type: Literal["dropped"]
    dropped: int
    total_dropped: int
    """Messages this client lost since it connected."""
    timestamp: str


MODELS: tuple[type[_Message], ...] = (
    Started,
    Stopped,
    ErrorMessage,
    Stats,
    Log,
    ScenarioMessage,
    DhcpDiscover,
    DhcpOffer,
    DhcpRequest,
    DhcpAck,
    DhcpNak,
    DhcpRenew,
    DhcpRebind,
    DhcpRelease,
    DhcpDecline,
    DhcpExpire,
    Dot1xStart,
    Dot1xSuccess,
    Dot1xFailure,
    Dot1xTimeout,
)
"""Every message model, in the order the docs list them."""


def type_of(model: type[BaseModel]) -> str:
    """The `type` a message model stands for."""
    return str(get_args(model.model_fields["type"].annotation)[0])


BY_TYPE: dict[str, type[_Message]] = {type_of(m): m for m in MODELS}
ADAPTER: TypeAdapter[EmulatorMessage] = TypeAdapter(EmulatorMessage)


def parse(message: object) -> EmulatorMessage:
    """The typed message, or `pydantic.ValidationError` naming the field that is wrong."""
    return ADAPTER.validate_python(message)
