"""The "mqtt" service: an MQTT 3.1.1 client that stays connected to the profile's broker (OASIS MQTT 3.1.1).

Plugs, sensors and gateways keep one long-lived connection to their broker: CONNECT with their
client id (and user name, where the firmware sends one), their state published on their topics
right after CONNACK and then on the schedule counted from there (QoS 0), PINGREQ when nothing
else was sent for a keep-alive period, DISCONNECT when they shut down cleanly. When the broker
closes the connection or stops answering, the client reconnects after a backoff that doubles up
to `RETRY_MAX`, as paho and most embedded clients do.

Packets (section 2 fixed header, 3.1 CONNECT, 3.3 PUBLISH, 3.12 PINGREQ, 3.14 DISCONNECT) are
packed here; nothing is subscribed, so the only packets read are CONNACK and PINGRESP. With
`mqtt.tls` the session runs inside TLS (section 5.1; `tls_stream`) with the profile's ClientHello
and the broker's name as SNI, as AWS IoT, Azure IoT Hub and most vendor clouds require.
"""

from __future__ import annotations

import enum

from iot_emulator.config import manifests
from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols import schedule, services
from iot_emulator.protocols.clients import tcp_client
from iot_emulator.protocols.transport import tls_hello, tls_stream
from iot_emulator.protocols.transport.tcp_connection import Stream

CONNECT, CONNACK, PUBLISH, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 12, 13, 14
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
CONNACK_CODES = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _remaining_length(n: int) -> bytes:
    """Section 2.2.3: seven bits per byte, low first, high bit = more."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes(((kind << 4) | flags,)) + _remaining_length(len(body)) + body


def connect_packet(client_id: str, keepalive: int, username: str | None = None, clean: bool = True) -> bytes:
    flags = (0x02 if clean else 0) | (0x80 if username is not None else 0)
    body = _string("MQTT") + bytes((4, flags)) + keepalive.to_bytes(2, "big") + _string(client_id)
    return packet(CONNECT, 0, body + (_string(username) if username is not None else b""))


def publish_packet(topic: str, payload: bytes) -> bytes:
    """QoS 0, not retained: no packet identifier (section 3.3.2.2)."""
    return packet(PUBLISH, 0, _string(topic) + payload)


def read_packets(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take the complete packets off the front of `buffer`: (type, body) each."""
    out: list[tuple[int, bytes]] = []
    while len(buffer) >= 2:
        length = shift = 0
        i = 1
        while True:
            if i >= len(buffer) or i > 4:
                return out  # the length is not all there yet
            length |= (buffer[i] & 0x7F) << shift
            shift += 7
            i += 1
            if not buffer[i - 1] & 0x80:
                break
        if len(buffer) < i + length:
            return out
        out.append((buffer[0] >> 4, bytes(buffer[i : i + length])))
        del buffer[: i + length]
    return out


def placeholders(config: manifests.DeviceConfig) -> dict[str, str]:
    """What client ids, topics and payloads may contain, as in `hostname_pattern`, plus {hostname}."""
    mac6 = config.mac.replace(":", "")[-6:]
    prof = config.profile
    return {
        "hostname": config.hostname,
        "mac6": mac6.lower(),
        "MAC6": mac6.upper(),
        "vendor": prof.vendor,
        "model": prof.model,
        "index": str(config.index),
        "name": config.device_id,
    }


def fill(template: str, values: dict[str, str]) -> str:
    """Replace the known {placeholders} only: JSON payloads keep their braces."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


class MqttState(enum.Enum):
    IDLE = "idle"  # waiting to (re)connect
    CONNECTING = "connecting"  # resolving the broker, then the TCP handshake
    WAIT_CONNACK = "wait-connack"
    CONNECTED = "connected"
    STOPPED = "stopped"


class MqttClient(tcp_client.ClientBase):
    """One device's broker connection; also the `tcp.TcpApp` of that connection."""

    DUAL_STACK = True

    CONNACK_TIMEOUT = 10.0
    RETRY_FIRST = 1.0
    RETRY_MAX = 60.0

    def __init__(self, context: services.Context, mqtt: catalog.Mqtt) -> None:
        super().__init__(context, "mqtt", "mqtt")
        self.mqtt = mqtt
        values = placeholders(context.config)
        self.client_id = fill(mqtt.client_id, values)
        self.topics = [fill(t, values) for t in mqtt.topics]
        self.payload = fill(mqtt.payload, values).encode()
        self.ticker = schedule.Ticker(
            context.config.profile.schedule.get("mqtt"), context.config.traffic_interval, context.rng
        )
        self.state = MqttState.IDLE
        self.conn: Stream | None = None
        self.published = 0
        self._rng = context.rng
        self._buffer = bytearray()
        self._retry_at: float | None = None
        self._backoff = self.RETRY_FIRST
        self._wait_until: float | None = None  # CONNACK or PINGRESP due by then
        self._last_sent = 0.0
        self._address: bytes | None = None
        """The broker's address of the connection being opened."""

    # -- host.Service -------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Connect at once: a device connects to its broker as soon as it has an address."""
        self._last_now = now
        self._retry_at = now

    def on_timer(self, now: float) -> None:
        self.run_ready(now)
        if self.state is MqttState.IDLE and self._retry_at is not None and self._retry_at <= now:
            self._retry_at = None
            self._set_state(MqttState.CONNECTING)
            self.resolve(self.mqtt.broker, now, self._open, self._retry)
        if self._wait_until is not None and now >= self._wait_until:
            waited = "CONNACK" if self.state is MqttState.WAIT_CONNACK else "PINGRESP"
            self._lost(now, f"no {waited} from the broker")
        if self.ticker.fire(now) and self.state is MqttState.CONNECTED:
            self._publish(now)
        if (due := self._keepalive_due()) is not None and due <= now:
            self._send(PINGREQ_PACKET, now)
            self._wait_until = now + self.mqtt.keepalive

    def next_deadline(self) -> float | None:
        retry = self._retry_at if self.state is MqttState.IDLE else None
        deadlines = [self.ready_deadline(), retry, self._wait_until, self.ticker.due, self._keepalive_due()]
        return min((d for d in deadlines if d is not None), default=None)

    def stop(self, now: float) -> None:
        """DISCONNECT, then FIN (section 3.14): a clean shutdown the broker does not report as lost."""
        if self.state is MqttState.CONNECTED:
            self._send(DISCONNECT_PACKET, now)
        if self.conn is not None:
            self.conn.close(now)
        self.conn = None
        self.ticker.stop()
        self.drop_ready()
        self._retry_at = self._wait_until = None
        self._set_state(MqttState.STOPPED)

    # -- tcp.TcpApp -----------------------------------------------------------------------------

    def on_connected(self, conn: Stream, now: float) -> None:
        self._send(connect_packet(self.client_id, self.mqtt.keepalive, self.mqtt.username), now)
        self._set_state(MqttState.WAIT_CONNACK)
        self._wait_until = now + self.CONNACK_TIMEOUT

    def on_data(self, conn: Stream, data: bytes, now: float) -> None:
        if conn is not self.conn:
            return
        self._buffer += data
        for kind, body in read_packets(self._buffer):
            if kind == CONNACK and self.state is MqttState.WAIT_CONNACK:
                self._on_connack(body, now)
            elif kind == PINGRESP:
                self._wait_until = None
            if conn is not self.conn:
                return

    def on_closed(self, conn: Stream, reason: str, now: float) -> None:
        if conn is not self.conn:
            return
        address = self._address
        if self.state is MqttState.CONNECTING and address is not None and len(address) == 16:
            other = self.host.resolver.alternative(self.mqtt.broker, address)
            if other is not None:  # the connection over IPv6 never opened: getaddrinfo's next address, at once
                self.log("info", f"mqtt: {self.mqtt.broker} over IPv6 failed ({reason}), trying its IPv4 address")
                self._open(other, now)
                return
        self._lost(now, reason, closed=True)

    # -- internals ----------------------------------------------------------------------------

    def _open(self, address: bytes, now: float) -> None:
        if self.state is not MqttState.CONNECTING or self.host.address is None:
            return
        self._address = address
        self._buffer.clear()
        tls = self.context.config.profile.tls
        if self.mqtt.tls and tls is not None:
            hello = tls_hello.build_hello(tls, self.mqtt.broker, self._rng)
            self.conn = tls_stream.TlsStream(
                self.stack, address, self.mqtt.port, self, now, protocol=self.protocol, hello=hello, rng=self._rng
            )
        else:
            self.conn = self.stack.connect(address, self.mqtt.port, self, now, self.protocol)

    def _on_connack(self, body: bytes, now: float) -> None:
        code = body[1] if len(body) >= 2 else 255
        if code != 0:
            self._lost(now, f"CONNECT refused: {CONNACK_CODES.get(code, code)}")
            return
        self._set_state(MqttState.CONNECTED)
        self._wait_until = None
        self._backoff = self.RETRY_FIRST
        self.clear_note("lost")
        self.note("connected", "info", f"mqtt: connected to {self.mqtt.broker}:{self.mqtt.port} as {self.client_id}")
        self.ticker.start(now, immediately=True)  # devices report their state as soon as they are connected
        if self.ticker.fire(now):
            self._publish(now)

    def _publish(self, now: float) -> None:
        for topic in self.topics:
            self._send(publish_packet(topic, self.payload), now)
            self.published += 1

    def _send(self, data: bytes, now: float) -> None:
        if self.conn is not None:
            self.conn.send(data, now)
            self._last_sent = now

    def _keepalive_due(self) -> float | None:
        """Section 3.1.2.10: a control packet at least every keep-alive period; PINGREQ when idle."""
        if self.state is not MqttState.CONNECTED or self._wait_until is not None:
            return None
        return self._last_sent + self.mqtt.keepalive

    def _lost(self, now: float, reason: str, *, closed: bool = False) -> None:
        """The session is over (refused, closed, silent): close our side, try again later."""
        conn, self.conn = self.conn, None
        if conn is not None and not closed:
            conn.close(now)
        self.note("lost", "warning", f"mqtt: {self.mqtt.broker}:{self.mqtt.port}: {reason}; reconnecting")
        self._retry(now)

    def _retry(self, now: float) -> None:
        if self.state is MqttState.STOPPED:
            return
        self.conn = None
        self.ticker.stop()
        self._wait_until = None
        self._retry_at = now + self._backoff * self._rng.uniform(0.8, 1.2)
        self._backoff = min(self._backoff * 2, self.RETRY_MAX)
        self._set_state(MqttState.IDLE)

    def _set_state(self, state: MqttState) -> None:
        if state is not self.state:
            self.log("debug", f"mqtt: {self.state.value} -> {state.value}")
            self.state = state


@services.register("mqtt")
def _mqtt(context: services.Context) -> host_mod.Service | None:
    mqtt = context.config.profile.mqtt
    return None if mqtt is None else MqttClient(context, mqtt)
