"""Device-side TLS (HTTPS): the profile's HTTP answers inside TLS, with a certificate in the vendor's name.

Scanners read a TLS port's certificate before anything else (`nmap --script ssl-cert`, NAC
products' "certificate subject" attribute): a Hue bridge shows `CN=<bridge id>, O=Philips Hue`
issued by `root-bridge`, a camera its vendor's self-signed name. Python's `ssl` runs the handshake
on memory BIOs fed from the user-space TCP stream (no socket, no thread): `TlsServerApp` decrypts
what the connection receives and hands the plaintext to a `tcp_server.ServerApp`, whose answers it
encrypts back. Keys are made once per certificate spec in the process (`ec-p256` or `rsa-2048`)
and never written to disk; certificates and `SSLContext`s are cached per rendered subject, at most
`MAX_CONTEXTS` (a thousand Hue bridges share one key and hold no context until probed).
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import hashlib
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from iot_emulator.profiles import answers, derived
from iot_emulator.protocols.servers import tcp_server
from iot_emulator.protocols.transport import tcp_connection

MAX_CONTEXTS = 256
"""SSLContexts kept (one per distinct certificate); the least recently used is dropped beyond this."""
READ_CHUNK = 16384
_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "serialNumber": NameOID.SERIAL_NUMBER,
}
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_CONTEXTS: collections.OrderedDict[tuple[int, tuple[tuple[str, str], ...]], ssl.SSLContext] = collections.OrderedDict()


def _name(rdns: tuple[tuple[str, str], ...]) -> x509.Name:
    return x509.Name([x509.NameAttribute(_OIDS[key], value) for key, value in rdns])


@derived.PerObject
def _key(spec: answers.ServerCertificate) -> PrivateKey:
    """One key per certificate of a profile, shared by its devices (an RSA key takes tens of ms)."""
    if spec.key == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(
    spec: answers.ServerCertificate, subject: tuple[tuple[str, str], ...], issuer: tuple[tuple[str, str], ...]
) -> tuple[x509.Certificate, PrivateKey]:
    """The device's certificate (signed with the spec's key, also when the issuer names a vendor CA)."""
    key = _key(spec)
    start = datetime.datetime.fromisoformat(spec.not_before).replace(tzinfo=datetime.UTC)
    serial = int.from_bytes(hashlib.sha256(repr(subject).encode()).digest()[:8], "big") >> 1 or 1
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=spec.days))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _rendered(rdns: dict[str, str], values: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((key, tcp_server.render(value, values)) for key, value in rdns.items())


def context_for(spec: answers.ServerCertificate, values: dict[str, str]) -> ssl.SSLContext:
    """The server context for a device's rendered certificate, from the cache when it is there."""
    subject = _rendered(spec.subject, values)
    issuer = subject if spec.issuer is None else _rendered(spec.issuer, values)
    cache_key = (id(spec), (*subject, ("", ""), *issuer))
    context = _CONTEXTS.get(cache_key)
    if context is not None:
        _CONTEXTS.move_to_end(cache_key)
        return context
    cert, key = certificate(spec, subject, issuer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_3 if spec.max_version == "1.3" else ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory() as private:  # ssl loads only from files: a 0700 directory, removed at once
        path = os.path.join(private, "device.pem")
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(pem + cert.public_bytes(serialization.Encoding.PEM))
        context.load_cert_chain(path)
    _CONTEXTS[cache_key] = context
    if len(_CONTEXTS) > MAX_CONTEXTS:
        _CONTEXTS.popitem(last=False)
    return context


class _Plain:
    """What the inner `ServerApp` sees as its connection: sends are encrypted, closes send close_notify."""

    __slots__ = ("app", "conn")

    def __init__(self, app: TlsServerApp, conn: tcp_connection.Connection) -> None:
        self.app = app
        self.conn = conn

    @property
    def closed(self) -> bool:
        return self.conn.closed

    @property
    def expire_at(self) -> float | None:
        return self.conn.expire_at

    @expire_at.setter
    def expire_at(self, value: float | None) -> None:
        self.conn.expire_at = value

    def send(self, data: bytes, now: float) -> bool:
        self.app.tls.write(data)
        return self.app.flush(self.conn, now)

    def close(self, now: float) -> None:
        if self.app.closing:
            return
        self.app.closing = True
        with contextlib.suppress(ssl.SSLError):  # close_notify goes out; the peer's is not awaited
            self.app.tls.unwrap()
        self.app.flush(self.conn, now)
        self.conn.close(now)

    def abort(self, now: float) -> None:
        self.conn.abort(now)


class TlsServerApp:
    """One accepted TLS connection: handshake, then the profile's HTTP answers, encrypted."""

    __slots__ = ("closing", "incoming", "inner", "outgoing", "ready", "tls")

    def __init__(
        self, spec: answers.ServerCertificate, responder: tcp_server.Responder, facts: tcp_server.Facts
    ) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        context = context_for(spec, facts.values(0.0))
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.inner = tcp_server.ServerApp(responder, facts)
        self.ready = self.closing = False

    def flush(self, conn: tcp_connection.Connection, now: float) -> bool:
        data = self.outgoing.read()
        return conn.send(data, now) if data else True

    def on_connected(self, conn: tcp_connection.Connection, now: float) -> None:
        conn.expire_at = now + tcp_server.IDLE

    def on_data(self, conn: tcp_connection.Connection, data: bytes, now: float) -> None:
        conn.expire_at = now + tcp_server.IDLE
        self.incoming.write(data)
        plain = _Plain(self, conn)
        try:
            if not self.ready:
                self.tls.do_handshake()
                self.ready = True
                self.flush(conn, now)
                self.inner.on_connected(plain, now)  # type: ignore[arg-type]  # duck-typed connection
            while not self.closing:
                chunk = self.tls.read(READ_CHUNK)
                if not chunk:
                    break
                self.inner.on_data(plain, chunk, now)  # type: ignore[arg-type]
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:  # the peer's close_notify
            plain.close(now)
        except ssl.SSLError:  # a bad hello, an unsupported version: the alert goes out, then FIN
            self.flush(conn, now)
            conn.close(now)
            return
        if not self.closing:
            self.flush(conn, now)
        if self.incoming.pending > tcp_server.MAX_REQUEST * 4:
            conn.abort(now)

    def on_closed(self, conn: tcp_connection.Connection, reason: str, now: float) -> None:
        self.inner.on_closed(conn, reason, now)
