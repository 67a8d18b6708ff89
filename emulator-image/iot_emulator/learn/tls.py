"""The device's TLS ClientHello, parsed back into the fields of `catalog.TlsClientHello`.

`protocols.tls_hello` writes a hello from a profile; this reads one from the first bytes of a TCP
flow (RFC 5246 6.2 record, 7.4.1.2 ClientHello; RFC 8446 4.2 extensions; RFC 6066 SNI; RFC 7301
ALPN). GREASE values (RFC 8701) are taken out of every list and only `grease: true` is kept, as the
builder draws its own. Bodies the profile model has no field for (key shares, padding, PSK) are not
kept: the builder makes them. A hello cut short or malformed is None, never an exception.
"""

from __future__ import annotations

import collections
import dataclasses
import struct

from iot_emulator.learn import dns, findings, packets
from iot_emulator.profiles import catalog
from iot_emulator.protocols.transport import tls_hello as th

MQTT_TLS_PORT = 8883


@dataclasses.dataclass
class Hello:
    version: int
    cipher_suites: list[int]
    extensions: list[int]
    server_name: str | None = None
    supported_groups: list[int] | None = None
    ec_point_formats: list[int] | None = None
    signature_algorithms: list[int] | None = None
    alpn: list[str] | None = None
    supported_versions: list[int] | None = None
    grease: bool = False

    def shape(self) -> tuple[object, ...]:
        """Everything but the server name: two hellos of one client library have the same shape."""
        return (
            self.version,
            tuple(self.cipher_suites),
            tuple(self.extensions),
            tuple(self.supported_groups or ()),
            tuple(self.ec_point_formats or ()),
            tuple(self.signature_algorithms or ()),
            tuple(self.alpn or ()),
            tuple(self.supported_versions or ()),
            self.grease,
        )

    def profile(self) -> catalog.TlsClientHello:
        """The hello as the profile's model, unvalidated (a capture may hold an SSL 3.0 hello the
        model refuses), for what reads one: `tls_hello.ja3` and `ja4`."""
        return catalog.TlsClientHello.model_construct(
            servers=[self.server_name or ""],
            version=self.version,
            cipher_suites=self.cipher_suites,
            extensions=self.extensions,
            supported_groups=self.supported_groups or [],
            ec_point_formats=self.ec_point_formats or [],
            signature_algorithms=self.signature_algorithms or [],
            alpn=self.alpn or [],
            supported_versions=self.supported_versions or [],
            grease=self.grease,
        )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("cut short")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack("!H", self.take(2))[0])

    def vector(self, size_bytes: int) -> bytes:
        return self.take(int.from_bytes(self.take(size_bytes), "big"))


def _u16s(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]


def parse_client_hello(data: bytes) -> Hello | None:
    """The ClientHello at the start of `data` (one or more TLS records), or None."""
    try:
        handshake = b""
        r = _Reader(data)
        while len(handshake) < 4 or len(handshake) < 4 + int.from_bytes(handshake[1:4], "big"):
            if r.u8() != th.RECORD_HANDSHAKE:
                return None
            r.u16()
            handshake += r.vector(2)
        if handshake[0] != th.HANDSHAKE_CLIENT_HELLO:
            return None
        return _hello(_Reader(handshake[4 : 4 + int.from_bytes(handshake[1:4], "big")]))
    except ValueError:
        return None


def _hello(r: _Reader) -> Hello:
    version = r.u16()
    r.take(32)
    r.vector(1)  # session id
    suites = _u16s(r.vector(2))
    r.vector(1)  # compression methods
    hello = Hello(version, [c for c in suites if not th.is_grease(c)], [], grease=any(map(th.is_grease, suites)))
    extensions = _Reader(r.vector(2)) if r.pos < len(r.data) else _Reader(b"")
    while extensions.pos < len(extensions.data):
        kind, body = extensions.u16(), extensions.vector(2)
        if th.is_grease(kind):
            hello.grease = True
            continue
        hello.extensions.append(kind)
        _extension(hello, kind, _Reader(body))
    return hello


def _extension(hello: Hello, kind: int, r: _Reader) -> None:
    if kind == th.EXT_SNI and r.data:
        names = _Reader(r.vector(2))
        if names.u8() == 0:
            hello.server_name = names.vector(2).decode("ascii", "replace")
    elif kind == th.EXT_GROUPS:
        hello.supported_groups = _strip(hello, _u16s(r.vector(2)))
    elif kind == th.EXT_POINT_FORMATS:
        hello.ec_point_formats = list(r.vector(1))
    elif kind == th.EXT_SIG_ALGS:
        hello.signature_algorithms = _u16s(r.vector(2))
    elif kind == th.EXT_ALPN:
        names = _Reader(r.vector(2))
        hello.alpn = []
        while names.pos < len(names.data):
            hello.alpn.append(names.vector(1).decode("ascii", "replace"))
    elif kind == th.EXT_SUPPORTED_VERSIONS:
        hello.supported_versions = _strip(hello, _u16s(r.vector(1)))


def _strip(hello: Hello, values: list[int]) -> list[int]:
    if any(map(th.is_grease, values)):
        hello.grease = True
    return [v for v in values if not th.is_grease(v)]


def learn(decoded: packets.Decoded, names: dns.Resolved) -> findings.Findings:
    """The hello of the device's TLS sessions (the most common shape), their port and server names."""
    out = findings.Findings()
    seen = [(f, h) for f in decoded.flows if (h := parse_client_hello(bytes(f.sent))) is not None]
    if not seen:
        return out
    cloud = [(f, h) for f, h in seen if f.dport != MQTT_TLS_PORT] or seen
    shapes = collections.Counter(h.shape() for _, h in cloud)
    shape, count = shapes.most_common(1)[0]
    flow, hello = next((f, h) for f, h in cloud if h.shape() == shape)
    servers: list[str] = []
    for f, h in cloud:
        name = h.server_name or names.name_for(f.dst, f.start)
        if name and name not in servers and f.dport == flow.dport:
            servers.append(name)
    if not servers:
        out.notes.append("TLS sessions without SNI to addresses no DNS answer named: tls.servers is the base's")
    section: dict[str, object] = {
        "port": flow.dport,
        "version": hello.version,
        "cipher_suites": hello.cipher_suites,
        "extensions": hello.extensions,
        "grease": hello.grease,
        "supported_versions": hello.supported_versions or [],
        "alpn": hello.alpn or [],
    }
    if servers:
        section["servers"] = servers[:16]
    for key in ("supported_groups", "ec_point_formats", "signature_algorithms"):
        value = getattr(hello, key)
        if value is not None:
            section[key] = value
    what = f"ClientHello of {len(cloud)} TLS sessions to port {flow.dport} ({count} alike; JA3 string of the first"
    out.set("tls", section, f"{what}: {th.ja3(hello.profile())})")
    out.speaks("cloud" if flow.dport != MQTT_TLS_PORT else "mqtt")
    if len(shapes) > 1:
        out.notes.append(f"{len(shapes)} different ClientHello shapes: the profile takes the most common")
    return out
