"""The "cloud" / "https" service: the device's TLS sessions with each of its cloud servers (RFC 8446, RFC 5246).

What identifies a device's TLS client is its ClientHello (JA3/JA4, SNI, ALPN), built from the
profile in `tls_hello`. The handshake then runs to the end (`tls_client`), the profile's request
goes out as application data (HTTP/1.1 with the device's User-Agent, Host = the SNI name) and
the answer is read until complete; the client closes with close_notify and a FIN. The log names
the version, suite and status at debug; an alert or a failed handshake is a warning, once.

A server that picks a suite the client does not implement gets the same treatment as before the
handshake was complete: the ServerHello is logged and the connection closed. Keys live only as
long as the session, so thousands of idle devices cost nothing.
"""

from __future__ import annotations

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols import services
from iot_emulator.protocols.clients import http, tcp_client
from iot_emulator.protocols.transport import tls_client, tls_hello

NAMES = ("cloud", "https")


class TlsSession(tcp_client.Session):
    def __init__(self, client: TlsClient, target: tcp_client.Target, address: bytes, now: float) -> None:
        rng = client.context.rng
        self.tls = tls_client.TlsClient(tls_hello.build_hello(client.tls, target.host, rng), rng)
        wanted = client.tls.request
        request = catalog.HttpRequest(
            method=wanted.method,
            host=target.host,
            path=wanted.path,
            port=client.tls.port,
            headers=wanted.headers,
            body=wanted.body,
        )
        self.request = http.request_bytes(request, client.user_agent, default_port=443)
        self.head = wanted.method.upper() == "HEAD"
        self.requested = False
        super().__init__(client, target, address, now)

    def begin(self, now: float) -> None:
        self._flush(now)

    def feed(self, now: float) -> None:
        self.tls.receive(bytes(self.received))
        self.received.clear()
        state = self.tls.state
        if state == "established" and not self.requested:
            self.tls.send(self.request)
            self.requested = True
        if state == "established" and http.message_length(self.tls.received, bodiless=self.head) is not None:
            self.tls.close()
            state = "complete"
        self._flush(now)
        if state == "failed":
            self.end(now, self.tls.failure or "failed")
        elif state in ("complete", "closed", "unsupported"):
            self.end(now, state)

    def _flush(self, now: float) -> None:
        data = self.tls.data_to_send()
        if data:
            self.conn.send(data, now)

    def outcome(self, reason: str) -> tuple[str, str] | None:
        tls = self.tls
        label = f"{self.client.name}: {self.target.label}"
        if tls.server_hello is None or tls.state == "failed":
            return None
        if tls.state == "unsupported":
            return "debug", f"{label}: ServerHello {tls.describe()}, not implemented here: closed"
        status = http.status_line(tls.received)
        answer = f"{status[0]} {status[1]}" if status else f"no HTTP answer ({reason})"
        method_path = self.request.split(b" ", 2)[:2]
        return "debug", f"{label}: {tls.describe()}, {b' '.join(method_path).decode('latin-1')} -> {answer}"


class TlsClient(tcp_client.PeriodicClient):
    """A TLS session to every server of `profile.tls` at each occurrence of the schedule."""

    DUAL_STACK = True

    def __init__(self, context: services.Context, tls: catalog.TlsClientHello) -> None:
        name = next((p for p in context.config.protocols if p in NAMES), NAMES[0])
        schedules = context.config.profile.schedule
        when = next((schedules[n] for n in (name, *NAMES) if n in schedules), None)
        super().__init__(context, name, name, when)
        self.tls = tls
        self.user_agent = context.config.profile.http.user_agent if context.config.profile.http else None
        self._targets = [tcp_client.Target(s, tls.port, f"TLS {s}:{tls.port}", i) for i, s in enumerate(tls.servers)]

    def targets(self) -> list[tcp_client.Target]:
        return self._targets

    def open_session(self, target: tcp_client.Target, address: bytes, now: float) -> tcp_client.Session:
        return TlsSession(self, target, address, now)


@services.register(*NAMES)
def _tls(context: services.Context) -> host_mod.Service | None:
    tls = context.config.profile.tls
    return None if tls is None else TlsClient(context, tls)
