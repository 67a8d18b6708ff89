"""The "rtsp" service: OPTIONS then DESCRIBE to the profile's RTSP peer, as a camera client or an NVR does (RFC 2326).

An NVR polls its cameras' streams, a camera's cloud relay is asked for its stream description:
what a product sees is an RTSP session on port 554 with the client's User-Agent. Each occurrence
opens one connection, sends OPTIONS (CSeq 1), then DESCRIBE (CSeq 2, `Accept: application/sdp`)
once OPTIONS is answered, reads that answer (a 401 from a camera that wants credentials is an
answer too) and closes. No SETUP/PLAY: no media flows.
"""

from __future__ import annotations

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols import services
from iot_emulator.protocols.clients import http, tcp_client


def url(rtsp: catalog.Rtsp) -> str:
    port = "" if rtsp.port == 554 else f":{rtsp.port}"
    path = rtsp.path if rtsp.path.startswith("/") else "/" + rtsp.path
    return f"rtsp://{rtsp.server}{port}{path}"


def request_bytes(method: str, rtsp: catalog.Rtsp, cseq: int, extra: tuple[str, ...] = ()) -> bytes:
    lines = [f"{method} {url(rtsp)} RTSP/1.0", f"CSeq: {cseq}"]
    if rtsp.user_agent is not None:
        lines.append(f"User-Agent: {rtsp.user_agent}")
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


def options(rtsp: catalog.Rtsp) -> bytes:
    return request_bytes("OPTIONS", rtsp, 1)


def describe(rtsp: catalog.Rtsp) -> bytes:
    return request_bytes("DESCRIBE", rtsp, 2, ("Accept: application/sdp",))


class RtspSession(tcp_client.Session):
    def __init__(self, client: RtspClient, target: tcp_client.Target, address: bytes, now: float) -> None:
        self.rtsp = client.rtsp
        self.statuses: list[int] = []
        super().__init__(client, target, address, now)

    def begin(self, now: float) -> None:
        self.conn.send(options(self.rtsp), now)

    def feed(self, now: float) -> None:
        while (length := http.message_length(self.received, close_delimited=False)) is not None:
            status = http.status_line(self.received)
            del self.received[:length]
            self.statuses.append(status[0] if status else 0)
            if len(self.statuses) == 1:
                self.conn.send(describe(self.rtsp), now)
            else:
                self.end(now, "complete")
                return

    def outcome(self, reason: str) -> tuple[str, str] | None:
        if len(self.statuses) < 2:
            return None
        return "debug", f"rtsp: {url(self.rtsp)}: OPTIONS {self.statuses[0]}, DESCRIBE {self.statuses[1]}"


class RtspClient(tcp_client.PeriodicClient):
    def __init__(self, context: services.Context, rtsp: catalog.Rtsp) -> None:
        super().__init__(context, "rtsp", "rtsp", context.config.profile.schedule.get("rtsp"))
        self.rtsp = rtsp
        self._targets = [tcp_client.Target(rtsp.server, rtsp.port, f"RTSP {url(rtsp)}")]

    def targets(self) -> list[tcp_client.Target]:
        return self._targets

    def open_session(self, target: tcp_client.Target, address: bytes, now: float) -> tcp_client.Session:
        return RtspSession(self, target, address, now)


@services.register("rtsp")
def _rtsp(context: services.Context) -> host_mod.Service | None:
    rtsp = context.config.profile.rtsp
    return None if rtsp is None else RtspClient(context, rtsp)
