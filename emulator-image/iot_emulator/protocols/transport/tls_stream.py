"""TLS under a long-lived client (MQTT over TLS, RFC 8446 / MQTT 3.1.1 section 5.1): a TCP connection's twin.

The application opens a `TlsStream` where it would open a TCP connection and gets the same
calls: `on_connected` once the handshake is complete (not at the SYN-ACK), `on_data` with the
plaintext, `on_closed` once, also when the handshake fails (an alert, an unsupported suite);
it writes with `send` and ends with `close` (close_notify, then FIN). The hello is the profile's
(`tls_hello`), so the session carries the device's JA3/JA4 and the broker's name as SNI.
"""

from __future__ import annotations

import random
from typing import Protocol

from iot_emulator.protocols.transport import tcp, tls_client, tls_hello
from iot_emulator.protocols.transport.tcp_connection import Stream


class StreamApp(Protocol):
    """The calls a `TlsStream` makes to its application (the shape of `tcp.TcpApp`, for any stream)."""

    def on_connected(self, conn: Stream, now: float) -> None: ...
    def on_data(self, conn: Stream, data: bytes, now: float) -> None: ...
    def on_closed(self, conn: Stream, reason: str, now: float) -> None: ...


class TlsStream:
    """A TLS client session on its own TCP connection; also the `tcp.TcpApp` of that connection."""

    def __init__(
        self,
        stack: tcp.TcpStack,
        address: bytes,
        port: int,
        app: StreamApp,
        now: float,
        *,
        protocol: str,
        hello: tls_hello.ClientHello,
        rng: random.Random,
    ) -> None:
        self.tls = tls_client.TlsClient(hello, rng)
        self.app = app
        self._closed = False
        self.conn = stack.connect(address, port, self, now, protocol)

    # -- for the application ------------------------------------------------------------------

    def send(self, data: bytes, now: float) -> None:
        if self.tls.state == "established":
            self.tls.send(data)
            self._flush(now)

    def close(self, now: float) -> None:
        self._closed = True
        self.tls.close()
        self._flush(now)
        self.conn.close(now)

    # -- tcp.TcpApp ---------------------------------------------------------------------------

    def on_connected(self, conn: tcp.Connection, now: float) -> None:
        self._flush(now)  # the ClientHello

    def on_data(self, conn: tcp.Connection, data: bytes, now: float) -> None:
        was = self.tls.state
        self.tls.receive(data)
        self._flush(now)
        if self.tls.state == "established" and was != "established":
            self.app.on_connected(self, now)
        if self.tls.received and not self._closed:
            plaintext = bytes(self.tls.received)
            self.tls.received.clear()
            self.app.on_data(self, plaintext, now)
        if self.tls.state in ("failed", "unsupported", "closed") and not self._closed:
            reason = {"failed": f"TLS: {self.tls.failure}", "closed": "TLS close_notify"}.get(
                self.tls.state, f"TLS: {self.tls.describe()} not implemented here"
            )
            self._closed = True
            conn.close(now)
            self.app.on_closed(self, reason, now)

    def on_closed(self, conn: tcp.Connection, reason: str, now: float) -> None:
        if not self._closed:
            self._closed = True
            self.app.on_closed(self, reason, now)

    def _flush(self, now: float) -> None:
        data = self.tls.data_to_send()
        if data:
            self.conn.send(data, now)
