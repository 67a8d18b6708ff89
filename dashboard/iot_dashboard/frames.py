"""The dashboard's live protocol, defined once: the frames of `WS /ws` and the events of `/socket.io`.

`WS /ws` sends JSON frames `{"event": name, "data": ...}`: the devices' messages and resource
changes travel in `batch` frames (one per tick, see `batching`), the answers to requests as frames
of their own. Socket.io sends each message apart, as `device:<type>` with the emulator's message
(`message_models`) as `data` (the brief's events), so each `device:*` frame here is made from its
message model: a new message type is a new frame without a line written here. The React tab's TypeScript types are
generated from this JSON Schema (`scripts/dump_protocol.py`), and so is `docs/protocol.md`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from iot_dashboard import models
from iot_emulator.reporting import message_models


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Snapshot(_Body):
    """Every device and fleet with its status, sent first: events follow from that point on."""

    devices: list[models.DevicePublic]
    fleets: list[models.FleetPublic]


class ResourceChanged(_Body):
    """A resource was changed through this service: every open tab lists the same resources."""

    type: Literal["resource"]
    action: Literal["created", "updated", "deleted"]
    kind: Literal["IoTDevice", "IoTFleet"]
    name: str
    timestamp: str


class Dropped(_Body):
    """This client was too slow: `dropped` messages were lost here (`total` over the connection)."""

    dropped: int
    total: int


BatchMessage: Any = Annotated[cast(Any, Union)[(*message_models.MODELS, ResourceChanged)], Field(discriminator="type")]
"""A message in a `batch`: a device's (`message_models`) or a resource change, by `type`."""


class Batch(_Body):
    """Everything this client was sent since its last frame, in the order it happened (`WS /ws`).

    The service sends at most one per tick (`ws_tick`, 50 ms by default) whatever the number of
    devices; a device's `stats` waiting in the same frame are coalesced to the latest. Each message
    is what a `device:<type>` (or `resource:changed`, `type: "resource"`) frame would carry."""

    v: Literal[1]
    """The batch frame's version (`batching.VERSION`)."""
    dropped: int
    """Messages this client lost (it was too slow) since its last frame: list the devices again."""
    total: int
    """Messages this client lost since it connected."""
    messages: list[BatchMessage]
    """Device messages (the emulator's, by `type`) and resource changes (`type: "resource"`), oldest first."""


class StatsResponse(_Body):
    """The answer to `request:stats`: the device's last `stats` body, or null if it sent none."""

    device_id: str
    stats: message_models.StatsBody | None


class Subscribed(_Body):
    """The answer to `subscribe`: the filter now in force (empty lists: everything)."""

    devices: list[str]
    types: list[str]


class ErrorBody(_Body):
    """A request this service could not understand."""

    error: str


class Subscribe(_Body):
    """Narrow this client's events to these devices and type patterns (`dhcp*`, `stats`)."""

    devices: list[str] = Field(default=[], max_length=1000)
    types: list[str] = Field(default=[], max_length=1000)


def _frame(name: str, event: str, data: Any, doc: str) -> type[BaseModel]:
    return create_model(
        name,
        __config__=ConfigDict(extra="forbid", title=name),
        __doc__=doc,
        event=(cast(Any, Literal)[event], ...),
        data=(data, ...),
    )


def _device_frame(model: type[BaseModel]) -> type[BaseModel]:
    type_ = message_models.type_of(model)
    name = "Device" + "".join(part.title() for part in type_.split("_")) + "Frame"
    return _frame(name, f"device:{type_}", model, f"`device:{type_}`: {' '.join((model.__doc__ or '').split())}")


def event_of(frame: type[BaseModel]) -> str:
    """The `event` a frame model stands for."""
    return str(get_args(frame.model_fields["event"].annotation)[0])


DEVICE_FRAMES = tuple(_device_frame(m) for m in message_models.MODELS)
"""`device:<type>` for every emulator message, in `message_models.MODELS` order."""
SERVICE_FRAMES = (
    _frame("SnapshotFrame", "snapshot", Snapshot, "`snapshot`: the first frame of a connection (WebSocket only)."),
    _frame("ResourceChangedFrame", "resource:changed", ResourceChanged, "`resource:changed`: sent to every client."),
    _frame("BatchFrame", "batch", Batch, "`batch`: the messages since the last frame (WebSocket; one per tick)."),
    _frame("DroppedFrame", "dropped", Dropped, "`dropped`: where this client lost messages (Socket.io)."),
    _frame("StatsResponseFrame", "stats:response", StatsResponse, "`stats:response`: one per requested device."),
    _frame("SubscribedFrame", "subscribed", Subscribed, "`subscribed`: the answer to `subscribe` (WebSocket)."),
    _frame("ErrorFrame", "error", ErrorBody, "`error`: a request that was not understood (WebSocket)."),
)
CLIENT_FRAMES = (
    _frame("SubscribeFrame", "subscribe", Subscribe, "`subscribe`: narrow this client's events."),
    _frame(
        "RequestStatsFrame",
        "request:stats",
        str | list[str] | dict[str, str | list[str]],
        "`request:stats`: a device id (the brief's form), a list, `{device_id}` or `{devices: [...]}`.",
    ),
)

ServerFrame: Any = Annotated[cast(Any, Union)[(*DEVICE_FRAMES, *SERVICE_FRAMES)], Field(discriminator="event")]
"""Any frame the service sends, by `event`."""
ClientFrame: Any = Annotated[cast(Any, Union)[CLIENT_FRAMES], Field(discriminator="event")]
"""Any frame a client sends, by `event`."""
SERVER: TypeAdapter[Any] = TypeAdapter(ServerFrame)


def parse_server_frame(frame: object) -> BaseModel:
    """A frame the service sent, typed (tests use it on what they receive), or `ValidationError`."""
    return cast(BaseModel, SERVER.validate_python(frame))
