"""The `exfiltration` behaviour: `total_bytes` uploaded in POSTs of `chunk_bytes`, then it stops.

A device that suddenly sends tens of megabytes to one destination is the volume spike a NAC's
baseline flags. The uploads are HTTP/1.1 POSTs of random (incompressible) bytes to
`<target><path>`, one connection per chunk, one after the other, over http or https (the
device's TLS hello, `web.RequestSession`); the device's TCP sends them within the server's
window and its congestion window (`tcp_connection`), so the rate is what the path allows. A
chunk whose POST is not answered with a 2xx is sent again; after `MAX_FAILURES` failures in a row
the behaviour gives up. `max_mbps` caps the average rate (chunks are paced; each one goes at the
path's speed): an upload spread over minutes, and an engine loop left free for the other devices.
Progress is logged at debug per chunk, and a summary (bytes, POSTs, seconds, rate) at the end.
Packets are counted under "exfil".
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from iot_emulator.profiles import catalog
from iot_emulator.protocols import services
from iot_emulator.protocols.clients import tcp_client
from iot_emulator.scenarios import base, lab_bounds, web

if TYPE_CHECKING:
    from iot_emulator.scenarios import compromise

MAX_FAILURES = 3


class Exfiltration(tcp_client.PeriodicClient):
    """host.Service: one POST at a time until `total_bytes` are acknowledged by the server."""

    SESSION_TIMEOUT = 300.0
    """A chunk (up to 16 MiB) must be answered within this; a slow lab link is not a dead server."""

    def __init__(self, spec: compromise.Exfiltration, context: services.Context, label: str) -> None:
        super().__init__(context, spec.kind, base.PROTOCOL["exfiltration"], catalog.Schedule(interval=1, jitter=0))
        self.log = base.labelled(context, label)
        self.spec = spec
        port = 443 if spec.protocol == "https" else 80
        self.target = tcp_client.Target(spec.target, port, f"{spec.protocol} POST {spec.target}{spec.path}")
        self.uploaded = 0
        self.posts = 0
        self.failures = 0
        self.finished = False
        """True once the behaviour has done all it was asked (it sends nothing more)."""
        self._due: float | None = None
        self._started = 0.0
        self._in_flight = 0
        self._why = "the step ended"

    def targets(self) -> list[tcp_client.Target]:
        return [self.target]

    # -- host.Service -------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self._last_now = self._started = now
        self._due = now
        self.log(
            "info",
            f"{self.name}: uploading {self.spec.total_bytes} bytes to {self.spec.target} over "
            f"{self.spec.protocol} in POSTs of {self.spec.chunk_bytes}",
        )

    def on_timer(self, now: float) -> None:
        self.run_ready(now)
        for session in [s for s in self.sessions if s.deadline <= now]:
            session.expire(now)
        if self.finished and self._started:
            self._summary(now)
        if self._due is not None and now >= self._due and not self.sessions and not self.finished:
            self._due = None
            self.resolve(self.target.host, now, functools.partial(self._connect, self.target), self._failed)

    def next_deadline(self) -> float | None:
        deadlines = [self._due, self.ready_deadline(), *(s.deadline for s in self.sessions)]
        if self.finished and self._started:
            deadlines.append(self._last_now)
        return min((d for d in deadlines if d is not None), default=None)

    def stop(self, now: float) -> None:
        super().stop(now)
        self._due = None
        if self._started:
            self._summary(now)

    # -- sessions -----------------------------------------------------------------------------

    def _connect(self, target: tcp_client.Target, address: bytes, now: float) -> None:
        if not lab_bounds.allowed(address):
            self.log(
                "warning",
                f"{self.name}: {target.host} is {base.address_text(address)}, outside the lab's "
                "ranges: nothing uploaded",
            )
            self.finished = True
            self._why = "target outside the lab"
            self.context.done()
            return
        super()._connect(target, address, now)

    def open_session(self, target: tcp_client.Target, address: bytes, now: float) -> tcp_client.Session:
        size = min(self.spec.chunk_bytes, self.spec.total_bytes - self.uploaded)
        self._in_flight = size
        body = self.context.rng.randbytes(size)
        request = web.Request("POST", self.spec.path, (("Content-Type", "application/octet-stream"),), body)
        return UploadSession(self, target, address, now, request, tls=self.spec.protocol == "https")

    def ended(self, session: tcp_client.Session, reason: str) -> None:
        super().ended(session, reason)
        status = getattr(session, "status", None)
        if status is not None and 200 <= status[0] < 300:
            self.uploaded += self._in_flight
            self.posts += 1
            self.failures = 0
        else:
            self.failures += 1
        self._after_chunk()

    def _failed(self, now: float) -> None:
        self.failures += 1
        self._after_chunk()

    def _after_chunk(self) -> None:
        if self.uploaded >= self.spec.total_bytes or self.failures >= MAX_FAILURES:
            self.finished = True
            self._why = f"{self.failures} failures in a row"
            self.context.done()
        else:
            self._due = self._last_now if self.failures == 0 else self._last_now + self.failures
            if self.spec.max_mbps is not None:  # the next chunk waits until the average is back under the cap
                self._due = max(self._due, self._started + self.uploaded * 8 / (self.spec.max_mbps * 1e6))

    def _summary(self, now: float) -> None:
        seconds = max(now - self._started, 1e-6)
        rate = self.uploaded * 8 / seconds / 1e6
        gave_up = "" if self.uploaded >= self.spec.total_bytes else f" (stopped: {self._why})"
        self.log(
            "info",
            f"{self.name}: {self.uploaded} of {self.spec.total_bytes} bytes uploaded to "
            f"{self.spec.target} in {self.posts} POSTs, {seconds:.1f} s, "
            f"{rate:.1f} Mbit/s{gave_up}",
        )
        self._started = 0.0


class UploadSession(web.RequestSession):
    def outcome(self, reason: str) -> tuple[str, str] | None:
        if self.status is None:
            return None
        return "debug", f"{self.client.name}: {self.target.label} -> {self.status[0]} {self.status[1]}"
