"""The event hub: what the devices said, fanned out to WebSocket clients and kept for a while.

Every emulator message (from a local process's stdout or a pod's /events stream) is first
checked against its model (`accepted`, the contract's boundary: `iot_emulator.reporting.message_models`),
then goes through `EventHub.publish`, which does three O(1) things and never waits:

- updates the device's `LiveState` (phase, address, last stats, last error): the table's status;
- appends its JSON text to that device's ring buffers (events and stats apart, so stats every
  second do not push the DHCP history out) and, for logs and errors, to the global log buffer;
- offers it to every matching `Subscription` (the emulator's `messages.Subscriber`, as its own /events
  clients have). A subscription's queue is bounded: when a client is slower than the devices, its
  oldest messages are dropped and counted, and the client is told how many it lost. A slow browser
  can neither slow the others nor grow memory without bound.

A message is wrapped once in an `Entry` shared by every subscription, so its JSON text is made
once however many `/ws` clients send it (`batching` puts many in one frame). A subscription made
with `coalesce_stats` keeps only the latest queued `stats` of a device: a client that fell behind
gets the newest numbers, not the backlog.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import pydantic

from iot_emulator.reporting import message_models, messages

log = logging.getLogger(__name__)

Message = messages.Message
LEVELS = ("debug", "info", "warning", "error", "critical")
SERVICE_ID = "dashboard"
"""`device_id` of the service's own log records (process crashes, restarts)."""
_ADDRESSLESS = frozenset({"dhcp_nak", "dhcp_expire", "dhcp_release", "dhcp_decline"})
_BINDING = frozenset({"dhcp_discover", "dhcp_offer", "dhcp_request", "dhcp_nak", "dhcp_expire", "dhcp_decline"})


_LOGGED = frozenset({"log", "error", messages.SCENARIO})
"""What the log buffer keeps: log lines, errors, and scenario behaviours (a line each in the tab's log)."""


def log_level(message: Message) -> str:
    default = "info" if message.get("type") == messages.SCENARIO else "error"
    return str(message.get("level") or message.get("severity") or default)


def log_text(message: Message) -> str:
    """A logged message as one line; a scenario's as the emulator's own log line says it."""
    if message.get("type") == messages.SCENARIO:
        detail = f": {message['detail']}" if message.get("detail") else ""
        text = f"{message.get('state')} (step {message.get('step')}){detail}"
        return messages.scenario_line(str(message.get("scenario")), str(message.get("behaviour")), text)
    return str(message.get("message") or message.get("error") or "")


def accepted(message: object, origin: str) -> bool:
    """The boundary check of a message read from an emulator (a process's stdout, a pod's stream):
    True if it fits its `message_models` model; else False, logged with the field that is wrong."""
    try:
        message_models.parse(message)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        log.warning("%s: message refused (%s: %s): %.200r", origin, where, err["msg"], message)
        return False
    return True


_LINES: pydantic.TypeAdapter[list[message_models.EmulatorMessage]] = pydantic.TypeAdapter(
    list[message_models.EmulatorMessage]
)


def accepted_lines(lines: Sequence[bytes], origin: str) -> list[tuple[Message, str]]:
    """The messages of a batch of JSON lines (a process's stdout) that fit their models, each with
    its line as its JSON text, which the clients get as is (`Entry`: not encoded again).

    The batch is one JSON array: one `json.loads` and one `validate_json` for all its lines cost
    ~7 us per message here, against ~14 us for a `json.loads`, a validation and a `json.dumps` per
    line. A batch that is not all objects, one per line, each fitting its model, is done again line
    by line: text that is not JSON is logged as the process's output, a misfit is refused (logged
    with the field that is wrong), and only those are lost."""
    texts = [t for t in (line.strip() for line in lines) if t]
    if not texts:
        return []
    if all(t[:1] == b"{" and t[-1:] == b"}" for t in texts):
        body = b"[" + b",".join(texts) + b"]"
        try:
            _LINES.validate_json(body)
            parsed = json.loads(body)
        except ValueError:  # pydantic.ValidationError and json.JSONDecodeError are ValueErrors
            parsed = None
        if isinstance(parsed, list) and len(parsed) == len(texts):  # each line a whole object
            return [(message, text.decode()) for message, text in zip(parsed, texts, strict=True)]
    out: list[tuple[Message, str]] = []
    for text in texts:
        try:
            message = json.loads(text)
        except ValueError:
            log.info("%s: %s", origin, text.decode(errors="replace"))
            continue
        if isinstance(message, dict) and accepted(message, origin):
            out.append((message, text.decode()))
    return out


RESOURCE = "resource"
"""Type of the messages that say a resource changed (`resource:changed`), not what a device said."""


def event_name(message: Message) -> str:
    """The WebSocket event of a message: `device:<type>` (the brief's names), or `resource:changed`."""
    if message.get("type") == RESOURCE:
        return "resource:changed"
    return f"device:{message.get('type', 'unknown')}"


_AUTH_OUTCOMES = {"dot1x_success": "success", "dot1x_failure": "failure", "dot1x_timeout": "timeout"}


@dataclasses.dataclass(slots=True)
class LiveState:
    """What the last messages of a device say about it."""

    phase: str = "pending"
    """pending | binding | bound | stopped (the engine's phases), or error after a crash."""
    ip: str | None = None
    ipv6: list[str] | None = None
    """The IPv6 addresses of the last stats (devices that speak IPv6)."""
    auth: str | None = None
    """The 802.1X state of the last stats."""
    auth_last: dict[str, Any] | None = None
    """The last dot1x_success / dot1x_failure / dot1x_timeout, as `models.AuthOutcome`'s fields."""
    stats: dict[str, Any] | None = None
    last_error: str | None = None
    updated: str | None = None

    def apply(self, message: Message) -> None:
        type_ = message.get("type")
        self.updated = message.get("timestamp", self.updated)
        if type_ == "started":
            self.phase, self.ip, self.ipv6, self.last_error = "pending", None, None, None
            self.auth, self.auth_last = None, None
        elif type_ == "stopped":
            self.phase, self.ip, self.ipv6, self.auth = "stopped", None, None, None
        elif type_ == "stats":
            stats = message.get("stats") or {}
            self.stats = stats
            self.phase = str(stats.get("state") or self.phase)
            self.ip = stats.get("current_ip")
            self.ipv6 = stats.get("ipv6_addresses")
            self.auth = stats.get("auth")
        elif type_ in _AUTH_OUTCOMES:
            self.auth_last = {
                "result": _AUTH_OUTCOMES[type_],
                "method": message.get("method"),
                "identity": message.get("identity"),
                "timestamp": message.get("timestamp"),
                "retry_in": message.get("retry_in"),
            }
        elif type_ == "dhcp_ack":  # the address is checked (RFC 5227) first: `bound` comes with the next stats
            self.phase, self.ip = "bound" if self.phase == "bound" else "binding", message.get("assigned_ip", self.ip)
        elif type_ in _BINDING and self.phase != "bound":
            self.phase = "binding"
        if type_ in _ADDRESSLESS:
            self.ip = None
            if self.phase == "bound":
                self.phase = "binding"
        if type_ == "error":
            self.last_error = str(message.get("error", ""))
            if message.get("severity") in ("error", "critical") and message.get("fatal"):
                self.phase = "error"


class Entry:
    """A published message and its JSON text, made at most once for all the clients that send it."""

    __slots__ = ("_text", "message")

    def __init__(self, message: Message, text: str | None = None) -> None:
        self.message = message
        self._text = text
        """The message's JSON text: given when the message was read as JSON (`accepted_lines`)."""

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = json.dumps(self.message, separators=(",", ":"), default=str)
        return self._text


class _Latest:
    """A queue slot holding a device's newest `stats`: a later one replaces it in place."""

    __slots__ = ("entry",)

    def __init__(self, entry: Entry) -> None:
        self.entry = entry


class Subscription(messages.Subscriber):
    """One WebSocket or Socket.io client: the emulator's `Subscriber` (filters, bounded queue dropping
    the oldest, drop counts), whose device filter lets `resource` changes through to every tab, and
    whose queue holds `Entry`s, so a message's JSON text is made once for all clients.

    With `coalesce_stats`, a device's queued `stats` is replaced by a newer one as long as no other
    message of that device came between (so each device's messages stay in order); the replaced
    ones are counted in `coalesced`, not in `dropped`."""

    def __init__(
        self, size: int, devices: Iterable[str] = (), types: Iterable[str] = (), *, coalesce_stats: bool = False
    ) -> None:
        super().__init__(size, asyncio.Event(), devices, types, unfiltered=frozenset({RESOURCE}))
        self._items: deque[Entry | _Latest] = deque()
        self._latest: dict[str, _Latest] = {}
        self.coalesce_stats = coalesce_stats
        self.coalesced = 0
        """Stats replaced by a newer one of the same device before they were sent."""

    def offer(self, message: Message | Entry) -> None:
        entry = message if isinstance(message, Entry) else Entry(message)
        if self.closed or not self.wants(entry.message):
            return
        item: Entry | _Latest = entry
        if self.coalesce_stats:
            device_id = str(entry.message.get("device_id", ""))
            if entry.message.get("type") == "stats":
                latest = self._latest.get(device_id)
                if latest is not None:
                    latest.entry = entry
                    self.coalesced += 1
                    return
                item = self._latest[device_id] = _Latest(entry)
            else:
                self._latest.pop(device_id, None)  # a later stats goes after this message
        if len(self._items) >= self._size:
            self._unwrap(self._items.popleft())
            self.dropped += 1
            self.pending_drops += 1
        self._items.append(item)
        self._signal.set()

    __call__ = offer

    def _unwrap(self, item: Entry | _Latest) -> Entry:
        if isinstance(item, Entry):
            return item
        device_id = str(item.entry.message.get("device_id", ""))
        if self._latest.get(device_id) is item:
            del self._latest[device_id]
        return item.entry

    def close(self, *, discard: bool = False) -> None:
        if discard:
            self._items.clear()
            self._latest.clear()
        super().close(discard=discard)

    async def wait(self) -> bool:
        """Until something is queued (True) or the subscription is closed with nothing left (False)."""
        while not self._items and not self.closed:
            self._signal.clear()
            await self._signal.wait()
        return bool(self._items)

    def take(self, limit: int) -> list[Entry]:
        """Up to `limit` queued entries, oldest first, without waiting."""
        batch: list[Entry] = []
        while self._items and len(batch) < limit:
            batch.append(self._unwrap(self._items.popleft()))
        return batch

    async def next_batch(self, limit: int = 256) -> list[Message]:
        """The next messages in order (at least one), or [] once closed."""
        if not await self.wait():
            return []
        return [entry.message for entry in self.take(limit)]

    async def frames(self) -> AsyncIterator[tuple[str, Any]]:
        """(event, data) in order until closed: a `dropped` report where messages were lost, then each message."""
        while batch := await self.next_batch():
            drops = self.take_drops()
            if drops:
                yield "dropped", {"dropped": drops, "total": self.dropped}
            for message in batch:
                yield event_name(message), message

    @property
    def queued(self) -> int:
        return len(self._items)

    def queued_messages(self) -> list[Message]:
        """What waits to be sent, oldest first (a coalesced `stats` as its latest)."""
        return [item.message if isinstance(item, Entry) else item.entry.message for item in self._items]


class _DeviceRecord:
    """A device's live state and its kept messages, as JSON text: a parsed `stats` message is ~6x its
    text in Python objects, and 2,000 devices' full buffers held hundreds of MB as dicts; `history`
    parses the few a client asks for."""

    __slots__ = ("events", "live", "stats")

    def __init__(self, events: int, stats: int) -> None:
        self.live = LiveState()
        self.events: deque[str] = deque(maxlen=events)
        self.stats: deque[str] = deque(maxlen=stats)


class EventHub:
    """See the module docstring. One per service; backends publish, routes read and subscribe."""

    def __init__(self, queue_size: int = 2000, history_events: int = 100, history_stats: int = 20, logs: int = 5000):
        self.queue_size = queue_size
        self._history_events = history_events
        self._history_stats = history_stats
        self._devices: dict[str, _DeviceRecord] = {}
        self._members: dict[str, dict[int, str]] = {}
        """`cams` -> {3: "cams-0003"}: fleet members that ever spoke, so a fleet's status reads only those."""
        self._logs: deque[Message] = deque(maxlen=logs)
        self._subscribers: set[Subscription] = set()
        self.published = 0
        self.dropped_closed = 0
        """Drops of clients that have left, so the lifetime counter never goes down."""

    # -- writing ---------------------------------------------------------------------------------

    def publish(self, message: Message, text: str | None = None) -> None:
        """`text`: the message's JSON, when it was read as JSON, so that it is not encoded again."""
        self.published += 1
        if message.get("scope") == "process":  # an emulator process speaking of itself: a service log
            message, text = {**message, "device_id": SERVICE_ID, "source": "emulator"}, None
        device_id = message.get("device_id")
        type_ = message.get("type")
        entry = Entry(message, text)
        if isinstance(device_id, str) and device_id != SERVICE_ID:
            record = self._devices.get(device_id)
            if record is None:
                record = self._devices[device_id] = _DeviceRecord(self._history_events, self._history_stats)
                group, _, index = device_id.rpartition("-")
                if group and index.isdigit():
                    self._members.setdefault(group, {})[int(index)] = device_id
            record.live.apply(message)
            (record.stats if type_ == "stats" else record.events).append(entry.text)
        if type_ in _LOGGED and message.get("echo_of") != messages.SCENARIO:  # the typed message is kept instead
            self._logs.append(message)
        for sub in self._subscribers:
            sub.offer(entry)

    def resource_changed(self, action: str, kind: str, name: str) -> None:
        """Tell every client that a resource was created, updated or deleted, so that open tabs agree."""
        message = {
            "type": RESOURCE,
            "action": action,
            "kind": kind,
            "name": name,
            "timestamp": messages.timestamp(time.time()),
        }
        entry = Entry(message)
        for sub in self._subscribers:
            sub.offer(entry)

    def service_log(self, level: str, text: str, device_id: str = SERVICE_ID, **fields: Any) -> Message:
        """A log record of the service itself, published like a device's (shown in the log viewer)."""
        message = messages.log(device_id, time.time(), level, text)
        message.update(fields, source="dashboard")
        self.publish(message)
        return message

    def device_error(self, device_id: str, text: str, *, fatal: bool = False) -> None:
        """An error the service observed about a device (its process crashed): `device:error`."""
        message = messages.error(device_id, time.time(), text)
        message.update(source="dashboard", fatal=fatal)
        self.publish(message)

    def forget(self, device_id: str) -> None:
        """Drop a deleted device's state and history."""
        self._devices.pop(device_id, None)
        group, _, index = device_id.rpartition("-")
        if index.isdigit():
            self._members.get(group, {}).pop(int(index), None)

    # -- reading ---------------------------------------------------------------------------------

    def live(self, device_id: str) -> LiveState | None:
        record = self._devices.get(device_id)
        return record.live if record else None

    def member_states(self, fleet: str) -> dict[int, LiveState]:
        """Live state of the members of `fleet` (`<fleet>-<index>`) that have spoken, by index."""
        return {i: self._devices[d].live for i, d in self._members.get(fleet, {}).items() if d in self._devices}

    def live_states(self) -> list[LiveState]:
        return [record.live for record in self._devices.values()]

    def latest_stats(self, device_id: str) -> dict[str, Any] | None:
        live = self.live(device_id)
        return live.stats if live else None

    def history(self, device_id: str, types: Iterable[str] = (), since: str | None = None) -> list[Message]:
        """The device's kept messages (events and stats), oldest first, filtered by type patterns and time."""
        record = self._devices.get(device_id)
        if record is None:
            return []
        patterns = tuple(t.removeprefix("device:") for t in types)
        kept: list[Message] = [json.loads(text) for text in (*record.events, *record.stats)]
        merged = sorted(kept, key=lambda m: str(m.get("timestamp", "")))
        return [
            m
            for m in merged
            if (since is None or str(m.get("timestamp", "")) > since)
            and (not patterns or any(fnmatch.fnmatchcase(str(m.get("type", "")), p) for p in patterns))
        ]

    def logs(
        self, device: str | None = None, level: str | None = None, query: str | None = None, since: str | None = None
    ) -> list[Message]:
        """Logs and errors, oldest first: of one device, at `level` or above, containing `query`."""
        floor = LEVELS.index(level) if level in LEVELS else 0
        needle = query.lower() if query else None
        out = []
        for m in self._logs:
            if device is not None and m.get("device_id") != device:
                continue
            if since is not None and str(m.get("timestamp", "")) <= since:
                continue
            lvl = log_level(m)
            if (LEVELS.index(lvl) if lvl in LEVELS else len(LEVELS)) < floor:
                continue
            text = log_text(m)
            if needle is not None and needle not in text.lower():
                continue
            out.append(m)
        return out

    # -- subscribers -----------------------------------------------------------------------------

    def subscribe(
        self, devices: Iterable[str] = (), types: Iterable[str] = (), *, coalesce_stats: bool = False
    ) -> Subscription:
        sub = Subscription(self.queue_size, devices, types, coalesce_stats=coalesce_stats)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.discard(sub)
            self.dropped_closed += sub.dropped
        sub.close()

    def close(self) -> None:
        for sub in list(self._subscribers):
            self.unsubscribe(sub)

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    @property
    def dropped(self) -> int:
        """Messages dropped for slow clients since start."""
        return self.dropped_closed + sum(s.dropped for s in self._subscribers)
