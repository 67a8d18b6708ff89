"""One HTTP/1.1 request on its own connection, in the clear or inside TLS: the beacon's check-in, an upload.

The TLS hello is the device's own (its profile's `tls`, so the session carries the device's
JA3/JA4) with the target as SNI; a profile without one uses `DEFAULT_HELLO`, a TLS 1.3 hello of
a current OpenSSL-based IoT client. The answer is read until complete (RFC 9112 6.3) and its
status kept; then the client closes (close_notify, FIN).
"""

from __future__ import annotations

import dataclasses

from iot_emulator.profiles import catalog
from iot_emulator.protocols.clients import http, tcp_client
from iot_emulator.protocols.transport import tls_client, tls_hello

DEFAULT_HELLO = catalog.TlsClientHello(
    servers=["lab.test"],
    version=0x0303,
    supported_versions=[0x0304, 0x0303],
    cipher_suites=[0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8],
    extensions=[0, 11, 10, 35, 22, 23, 13, 43, 45, 51],
    alpn=[],
)


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def encode(self, host: str, port: int, default_port: int, user_agent: str | None) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}" + ("" if port == default_port else f":{port}")]
        if user_agent:
            lines.append(f"User-Agent: {user_agent}")
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body or self.method == "POST":
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def hello_for(prof: catalog.Profile) -> catalog.TlsClientHello:
    return prof.tls or DEFAULT_HELLO


class RequestSession(tcp_client.Session):
    """`request` to the target; `tls` wraps it in the device's TLS. `status` once the answer is read."""

    def __init__(
        self,
        client: tcp_client.PeriodicClient,
        target: tcp_client.Target,
        address: bytes,
        now: float,
        request: Request,
        *,
        tls: bool,
    ) -> None:
        config = client.context.config
        agent = config.profile.http.user_agent if config.profile.http else None
        self.request = request.encode(target.host, target.port, 443 if tls else 80, agent)
        self.tls: tls_client.TlsClient | None = None
        if tls:
            rng = client.context.rng
            self.tls = tls_client.TlsClient(tls_hello.build_hello(hello_for(config.profile), target.host, rng), rng)
        self.sent_request = False
        self.status: tuple[int, str] | None = None
        super().__init__(client, target, address, now)

    def begin(self, now: float) -> None:
        if self.tls is None:
            self.conn.send(self.request, now)
            self.sent_request = True
        else:
            self._flush(now)

    def feed(self, now: float) -> None:
        if self.tls is None:
            if http.message_length(self.received) is not None:
                self.status = http.status_line(self.received)
                self.end(now, "complete")
            return
        self.tls.receive(bytes(self.received))
        self.received.clear()
        state = self.tls.state
        if state == "established" and not self.sent_request:
            self.tls.send(self.request)
            self.sent_request = True
        answered = self.sent_request and http.message_length(self.tls.received) is not None
        if state in ("established", "closed") and answered:  # the answer and close_notify may come together
            self.status = http.status_line(self.tls.received)
            self.tls.close()
            state = "complete"
        self._flush(now)
        if state == "failed":
            self.end(now, f"TLS: {self.tls.failure}")
        elif state in ("complete", "closed", "unsupported"):
            self.end(now, state if state == "complete" else f"TLS {state}")

    def _flush(self, now: float) -> None:
        assert self.tls is not None
        data = self.tls.data_to_send()
        if data:
            self.conn.send(data, now)
