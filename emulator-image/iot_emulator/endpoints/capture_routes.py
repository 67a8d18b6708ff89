"""`GET /capture`: a live pcap of some devices' frames, streamed for at most `capture_format.MAX_SECONDS`.

`?seconds=N` (required), then what to capture, repeatable and combined: `device=ID`, `fleet=NAME`
(the members this process runs when the capture starts), `mac=AA:BB:...`, or `all=true` (every
device the process runs when the capture starts: a fleet shard's process runs that fleet only);
`max_bytes=N` caps the file. A capture is sensitive (it carries every payload), so it is guarded like the
control routes: served on the unix socket (its owner only), and over TCP only when the process
has a capture token (`IOTEMU_CAPTURE_TOKEN`) and the request carries it in `X-Iotemu-Token` (a
header of its own: the Kubernetes API server's pod proxy keeps it, and it never sits in a URL).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from iot_emulator.devices import macs
from iot_emulator.endpoints import capture
from iot_emulator.reporting import capture_format

log = logging.getLogger(__name__)

MAX_SELECTORS = 256
"""Device ids, fleets and MACs one request may name, each (the request line stays under 8 KiB)."""
Name = Annotated[str, Field(min_length=1, max_length=253)]
Roster = Callable[[], Iterable[tuple[str, str | None, bytes]]]
"""(device id, fleet, MAC) of every device the process runs now."""


class CaptureQuery(BaseModel):
    """The query string of `GET /capture`, bounded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seconds: float = Field(gt=0, le=capture_format.MAX_SECONDS, allow_inf_nan=False)
    max_bytes: int = Field(default=capture_format.MAX_BYTES, ge=1024, le=capture_format.MAX_BYTES)
    device: list[Name] = Field(default_factory=list, max_length=MAX_SELECTORS)
    fleet: list[Name] = Field(default_factory=list, max_length=MAX_SELECTORS)
    mac: list[str] = Field(default_factory=list, max_length=MAX_SELECTORS)
    all: bool = False

    @field_validator("mac")
    @classmethod
    def _macs(cls, values: list[str]) -> list[str]:
        for value in values:
            macs.parse(value)  # ValueError naming the bad MAC
        return values


def _problems(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'][:1]) or 'query'}: {e['msg']}" for e in exc.errors()]


def parse_query(request: web.Request) -> CaptureQuery:
    """The query as a model; ValidationError names the field."""
    query = request.query
    data: dict[str, object] = {k: query.getall(k) for k in ("device", "fleet", "mac") if k in query}
    for key in set(query) - {"device", "fleet", "mac"}:
        data[key] = query.get(key)
    return CaptureQuery.model_validate(data)


class CaptureRoutes:
    def __init__(self, tap: capture.CaptureTap, roster: Roster, token: str | None) -> None:
        self._tap = tap
        self._roster = roster
        self._token = token

    def _allowed(self, request: web.Request) -> bool:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if isinstance(sockname, str):  # the unix socket: mode 0600, its owner only
            return True
        given = request.headers.get(capture_format.TOKEN_HEADER)
        return self._token is not None and given is not None and secrets.compare_digest(self._token, given)

    async def read_capture(self, request: web.Request) -> web.StreamResponse:
        """Stream the pcap; 403 without the token over TCP, 422 on a bad query, 404 when nothing matches."""
        if not self._allowed(request):
            body = {
                "error": f"a capture needs the unix socket, or {capture_format.TOKEN_HEADER} over TCP",
                "status": 403,
            }
            return web.json_response(body, status=403)
        try:
            query = parse_query(request)
        except ValidationError as exc:
            return web.json_response({"errors": _problems(exc)}, status=422)
        if not (query.device or query.fleet or query.mac or query.all):
            return web.json_response({"errors": ["device: name a device, a fleet or a MAC to capture"]}, status=422)
        roster = list(self._roster())
        found, missing = capture.macs_of(roster, query.device, query.fleet)
        found |= {macs.parse(m) for m in query.mac}
        if query.all:
            found |= {mac for _, _, mac in roster}
            if not roster:
                missing.append("any device")
        if missing and not found:
            return web.json_response({"error": f"not running here: {', '.join(missing)}", "status": 404}, status=404)
        stream = self._tap.stream(capture.Request(frozenset(found), query.seconds, query.max_bytes))
        async with contextlib.aclosing(stream):
            try:
                first = await anext(stream)
            except capture.Busy as exc:
                return web.json_response({"error": str(exc), "status": 429}, status=429)
            resp = web.StreamResponse(
                headers={"Content-Type": "application/vnd.tcpdump.pcap", "Cache-Control": "no-store"}
            )
            await resp.prepare(request)
            try:
                await resp.write(first)
                async for chunk in stream:
                    await resp.write(chunk)
                await resp.write_eof()
            except ConnectionError:
                log.debug("capture reader %s left", request.remote)
            return resp


def register(app: web.Application, tap: capture.CaptureTap, roster: Roster, token: str | None) -> None:
    app.router.add_get("/capture", CaptureRoutes(tap, roster, token).read_capture, allow_head=False)
