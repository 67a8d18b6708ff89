"""The "cloud" / "https" service: the device's TLS ClientHello to each of its cloud servers (RFC 8446, RFC 5246).

What identifies a device's TLS client is its ClientHello (JA3/JA4, SNI, ALPN), built from the
profile in `tls_hello`. The handshake stops at the server's first answer: the ServerHello's
version and cipher are logged (or the alert, when the server rejects the offer), then the
connection is closed with a FIN. Completing TLS is not needed to be recognised, and keeping no
keys keeps thousands of devices cheap.
"""

from __future__ import annotations

from iot_emulator import host as host_mod
from iot_emulator import profile
from iot_emulator.protocols import services, tcp_client, tls_hello

NAMES = ("cloud", "https")
VERSION_NAMES = {0x0304: "TLS 1.3", 0x0303: "TLS 1.2", 0x0302: "TLS 1.1", 0x0301: "TLS 1.0", 0x0300: "SSL 3.0"}


class TlsSession(tcp_client.Session):
    def __init__(self, client: TlsClient, target: tcp_client.Target, address: bytes, now: float) -> None:
        self.hello = tls_hello.client_hello(client.tls, target.host, client.context.rng)
        self.reply: tls_hello.ServerReply | None = None
        super().__init__(client, target, address, now)

    def begin(self, now: float) -> None:
        self.conn.send(self.hello, now)

    def feed(self, now: float) -> None:
        reply = tls_hello.read_server_reply(self.received)
        if reply is None:
            return
        self.reply = reply
        if reply.kind == "alert":
            self.end(now, f"alert {reply.alert}")
        else:
            self.end(now, "answered")

    def outcome(self, reason: str) -> tuple[str, str] | None:
        reply = self.reply
        if reply is None or reply.kind != "server_hello":
            return None
        version = VERSION_NAMES.get(reply.version, f"{reply.version:#06x}")
        return "debug", f"{self.client.name}: {self.target.label}: ServerHello {version}, cipher {reply.cipher:#06x}"


class TlsClient(tcp_client.PeriodicClient):
    """A ClientHello to every server of `profile.tls` at each occurrence of the schedule."""

    def __init__(self, context: services.Context, tls: profile.TlsClientHello) -> None:
        name = next((p for p in context.config.protocols if p in NAMES), NAMES[0])
        schedules = context.config.profile.schedule
        when = next((schedules[n] for n in (name, *NAMES) if n in schedules), None)
        super().__init__(context, name, name, when)
        self.tls = tls
        self._targets = [tcp_client.Target(s, tls.port, f"TLS {s}:{tls.port}", i) for i, s in enumerate(tls.servers)]

    def targets(self) -> list[tcp_client.Target]:
        return self._targets

    def open_session(self, target: tcp_client.Target, address: bytes, now: float) -> tcp_client.Session:
        return TlsSession(self, target, address, now)


@services.register(*NAMES)
def _tls(context: services.Context) -> host_mod.Service | None:
    tls = context.config.profile.tls
    return None if tls is None else TlsClient(context, tls)
