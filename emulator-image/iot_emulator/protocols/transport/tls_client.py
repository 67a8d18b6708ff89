"""The devices' TLS client after its ClientHello: a sans-IO handshake to the end, then application data.

The hello is the profile's (`tls_hello`), byte for byte: that is what fingerprinting reads. What
follows is a real handshake so that the session goes on like the device's: TLS 1.3 (RFC 8446 2,
4.4, 7.1; the middlebox-compatible ChangeCipherSpec, D.4) or TLS 1.0-1.2 (RFC 5246 7.3) with
ECDHE or RSA key exchange, extended master secret (RFC 7627) and encrypt-then-MAC (RFC 7366) when
the server agrees, session tickets received and dropped. Then the device's request goes out in
application data and the answer comes back, and the client closes with close_notify.

Like the lab's devices, it trusts whatever certificate the server shows (the lab internet's
nginx shows certificates of a lab CA): the server's key is used (RSA key exchange) but neither its
chain nor its signatures are checked. The Finished messages are: a handshake that completes has
the same transcript and keys on both sides. A suite or group outside `tls_suites` (or a
HelloRetryRequest) ends the exchange after the ServerHello, reported as `unsupported`.

Use: `receive(bytes)` with what the server sent, `data_to_send()` for what goes on the wire,
`send(data)` once `established`, `received` for the server's application data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import random
import struct

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from iot_emulator.protocols.transport import tls_hello, tls_suites
from iot_emulator.protocols.transport.tls_crypto import (
    DECODE_ERROR,
    DECRYPT_ERROR,
    HANDSHAKE_FAILURE,
    ILLEGAL_PARAMETER,
    RECORD_ALERT,
    RECORD_APPLICATION,
    RECORD_CCS,
    RECORD_HANDSHAKE,
    UNEXPECTED_MESSAGE,
    Aead13,
    KeyShare,
    Plain,
    Protection,
    TlsError,
    derive_secret,
    hkdf_expand_label,
    hkdf_extract,
    key_block_length,
    prf,
    tls12_protections,
    transcript_hash,
)

MAX_RECORD = 2**14 + 2048
"""The largest record (ciphertext) a peer may send (RFC 5246 6.2.3)."""
MAX_HANDSHAKE_MESSAGE = 2**16
"""A handshake message longer than this (a certificate chain of 64 KB) is refused, not buffered."""
SERVER_HELLO, NEW_SESSION_TICKET, ENCRYPTED_EXTENSIONS, CERTIFICATE = 2, 4, 8, 11
SERVER_KEY_EXCHANGE, CERTIFICATE_REQUEST, SERVER_HELLO_DONE, CERTIFICATE_VERIFY = 12, 13, 14, 15
CLIENT_KEY_EXCHANGE, FINISHED, CERTIFICATE_STATUS, COMPRESSED_CERTIFICATE = 16, 20, 22, 25
HELLO_RETRY_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()
"""The ServerHello random that marks a HelloRetryRequest (RFC 8446 4.1.3)."""
EXT_EMS, EXT_ETM, EXT_SUPPORTED_VERSIONS, EXT_KEY_SHARE = 23, 22, 43, 51
CLOSE_NOTIFY = 0
VERSION_NAMES = {0x0304: "TLS 1.3", 0x0303: "TLS 1.2", 0x0302: "TLS 1.1", 0x0301: "TLS 1.0", 0x0300: "SSL 3.0"}


def _message(kind: int, body: bytes) -> bytes:
    return bytes((kind,)) + len(body).to_bytes(3, "big") + body


class _Reader:
    """Bounds-checked reads of a handshake message body; a short body is a decode_error, not an IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise TlsError(DECODE_ERROR, "handshake message shorter than its fields")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def vector(self, length_size: int) -> bytes:
        return self.take(int.from_bytes(self.take(length_size), "big"))

    @property
    def left(self) -> int:
        return len(self.data) - self.at


@dataclasses.dataclass
class ServerHello:
    version: int
    random: bytes
    suite: int
    extensions: dict[int, bytes]

    @classmethod
    def parse(cls, body: bytes) -> ServerHello:
        reader = _Reader(body)
        version = reader.u16()
        server_random = reader.take(32)
        reader.vector(1)  # session id
        suite = reader.u16()
        reader.u8()  # compression
        extensions: dict[int, bytes] = {}
        if reader.left:
            block = _Reader(reader.vector(2))
            while block.left:
                kind = block.u16()
                extensions[kind] = block.vector(2)
        selected = extensions.get(EXT_SUPPORTED_VERSIONS)
        if selected is not None and len(selected) == 2:
            version = int.from_bytes(selected, "big")
        return cls(version, server_random, suite, extensions)


class TlsClient:
    """One TLS client connection from its ClientHello on; `state` says where it stands.

    States: `hello` (ClientHello sent), `handshake`, `established`, `closed` (close_notify either
    way), `failed` (an alert sent or received: `failure` says which), `unsupported` (the server
    chose what this client cannot finish; `server_hello` tells what)."""

    def __init__(self, hello: tls_hello.ClientHello, rng: random.Random) -> None:
        self.hello = hello
        self.rng = rng
        self.state = "hello"
        self.failure: str | None = None
        self.server_hello: ServerHello | None = None
        self.suite: tls_suites.Suite | None = None
        self.received = bytearray()
        """Application data from the server."""
        self._out = bytearray(hello.record)
        self._in = bytearray()
        self._handshake = bytearray()
        self._transcript = bytearray(hello.message)
        self._read: Protection = Plain()
        self._write: Protection = Plain()
        self._record_version = 0x0301
        # TLS 1.2
        self._server_key: rsa.RSAPublicKey | None = None
        self._server_share: tuple[int, bytes] | None = None
        self._master = b""
        self._pending_read: Protection | None = None
        # TLS 1.3
        self._handshake_secret = b""
        self._server_traffic = b""
        self._client_traffic = b""

    # -- the connection's API -----------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.server_hello.version if self.server_hello else 0

    def describe(self) -> str:
        """ "TLS 1.3 TLS_AES_256_GCM_SHA384", as far as the server answered."""
        if self.server_hello is None:
            return "no ServerHello"
        name = VERSION_NAMES.get(self.version, f"{self.version:#06x}")
        return f"{name} {tls_suites.name(self.server_hello.suite)}"

    def data_to_send(self) -> bytes:
        data, self._out = bytes(self._out), bytearray()
        return data

    def receive(self, data: bytes) -> None:
        """Bytes from the server: records are read as they complete."""
        if self.state in ("failed", "closed", "unsupported"):
            return
        self._in += data
        try:
            while self.state not in ("failed", "closed", "unsupported") and len(self._in) >= 5:
                content_type, version, length = struct.unpack_from("!BHH", self._in)
                if length > MAX_RECORD:
                    raise TlsError(DECODE_ERROR, f"record of {length} bytes")
                if len(self._in) < 5 + length:
                    return
                fragment = bytes(self._in[5 : 5 + length])
                del self._in[: 5 + length]
                self._record(content_type, version, fragment)
        except TlsError as error:
            self._fail(error.alert, str(error))

    def send(self, data: bytes) -> None:
        """Application data, once `established` (in records of at most 16 KB)."""
        if self.state != "established":
            raise RuntimeError(f"TLS connection {self.state}, not established")
        for at in range(0, len(data), 2**14):
            self._out += self._write.seal(RECORD_APPLICATION, self._record_version, data[at : at + 2**14])

    def close(self) -> None:
        """close_notify, as a client that is done sends it before its FIN."""
        if self.state == "established":
            self._alert(CLOSE_NOTIFY, level=1)
            self.state = "closed"

    # -- records ------------------------------------------------------------------------------

    def _record(self, content_type: int, version: int, fragment: bytes) -> None:
        if content_type == RECORD_CCS:
            self._change_cipher_spec(fragment)
            return
        content_type, plaintext = self._read.open(content_type, version, fragment)
        if content_type == RECORD_ALERT:
            self._received_alert(plaintext)
        elif content_type == RECORD_HANDSHAKE:
            self._handshake += plaintext
            self._messages()
        elif content_type == RECORD_APPLICATION and self.state in ("established", "closed"):
            self.received += plaintext
        else:
            raise TlsError(UNEXPECTED_MESSAGE, f"record of type {content_type} in state {self.state}")

    def _change_cipher_spec(self, fragment: bytes) -> None:
        if fragment != b"\x01":
            raise TlsError(DECODE_ERROR, "malformed ChangeCipherSpec")
        if self.version == 0x0304:
            return  # middlebox compatibility (RFC 8446 D.4): ignored
        if self._pending_read is None:
            raise TlsError(UNEXPECTED_MESSAGE, "ChangeCipherSpec before the keys")
        self._read, self._pending_read = self._pending_read, None

    def _received_alert(self, plaintext: bytes) -> None:
        if len(plaintext) != 2:
            raise TlsError(DECODE_ERROR, "malformed alert")
        if plaintext[1] == CLOSE_NOTIFY:
            self.state = "closed"
        else:
            self.state = "failed"
            self.failure = f"alert {plaintext[1]}"

    def _messages(self) -> None:
        while len(self._handshake) >= 4:
            size = int.from_bytes(self._handshake[1:4], "big")
            if size > MAX_HANDSHAKE_MESSAGE:
                raise TlsError(DECODE_ERROR, f"handshake message of {size} bytes")
            if len(self._handshake) < 4 + size:
                return
            message = bytes(self._handshake[: 4 + size])
            del self._handshake[: 4 + size]
            self._message(message[0], message[4:], message)
            if self.state in ("failed", "unsupported"):
                return

    def _message(self, kind: int, body: bytes, message: bytes) -> None:
        if self.state == "hello":
            if kind != SERVER_HELLO:
                raise TlsError(UNEXPECTED_MESSAGE, f"handshake message {kind} before the ServerHello")
            self._transcript += message
            self._on_server_hello(ServerHello.parse(body))
        elif self.state == "established":
            if kind != NEW_SESSION_TICKET:  # TLS 1.3 post-handshake tickets: not resumed, dropped
                raise TlsError(UNEXPECTED_MESSAGE, f"handshake message {kind} after the handshake")
        elif self.version == 0x0304:
            self._tls13_message(kind, body, message)
        else:
            self._tls12_message(kind, body, message)

    def _fail(self, alert: int, reason: str) -> None:
        self._alert(alert, level=2)
        self.state = "failed"
        self.failure = reason

    def _alert(self, description: int, level: int) -> None:
        self._out += self._write.seal(RECORD_ALERT, self._record_version, bytes((level, description)))

    # -- ServerHello --------------------------------------------------------------------------

    def _on_server_hello(self, hello: ServerHello) -> None:
        self.server_hello = hello
        suite = tls_suites.SUITES.get(hello.suite)
        if hello.suite not in self.hello.cipher_suites:
            raise TlsError(ILLEGAL_PARAMETER, f"server chose {hello.suite:#06x}, which was not offered")
        if (
            hello.random == HELLO_RETRY_RANDOM
            or suite is None
            or hello.version < 0x0301
            or (suite.kex == "tls13") != (hello.version == 0x0304)
        ):
            self.state = "unsupported"
            return
        self.suite = suite
        self.state = "handshake"
        if hello.version == 0x0304:
            self._tls13_keys(hello)
        else:
            self._record_version = hello.version

    # -- TLS 1.3 ------------------------------------------------------------------------------

    def _tls13_keys(self, hello: ServerHello) -> None:
        assert self.suite is not None
        share = _Reader(hello.extensions.get(EXT_KEY_SHARE, b""))
        group = share.u16()
        ours = self.hello.shares.get(group)
        if ours is None:
            raise TlsError(ILLEGAL_PARAMETER, f"server key share for group {group}, not ours")
        shared = ours.shared_secret(share.vector(2))
        h = self.suite.prf
        early = hkdf_extract(h, b"", bytes(hashlib.new(h).digest_size))
        self._handshake_secret = hkdf_extract(h, derive_secret(h, early, b"derived", b""), shared)
        self._client_traffic = derive_secret(h, self._handshake_secret, b"c hs traffic", self._transcript)
        self._server_traffic = derive_secret(h, self._handshake_secret, b"s hs traffic", self._transcript)
        self._read = self._aead13(self._server_traffic)
        self._record_version = 0x0303

    def _aead13(self, secret: bytes) -> Aead13:
        assert self.suite is not None
        h, size = self.suite.prf, self.suite.key_length
        key = hkdf_expand_label(h, secret, b"key", b"", size)
        return Aead13(self.suite, key, hkdf_expand_label(h, secret, b"iv", b"", 12))

    def _finished13(self, secret: bytes) -> bytes:
        assert self.suite is not None
        h = self.suite.prf
        key = hkdf_expand_label(h, secret, b"finished", b"", hashlib.new(h).digest_size)
        return hmac.digest(key, hashlib.new(h, self._transcript).digest(), h)

    def _tls13_message(self, kind: int, body: bytes, message: bytes) -> None:
        assert self.suite is not None
        if kind in (ENCRYPTED_EXTENSIONS, CERTIFICATE, COMPRESSED_CERTIFICATE, CERTIFICATE_VERIFY):
            self._transcript += message
            return
        if kind == CERTIFICATE_REQUEST:
            raise TlsError(HANDSHAKE_FAILURE, "the server asks for a client certificate")
        if kind != FINISHED:
            raise TlsError(UNEXPECTED_MESSAGE, f"handshake message {kind} in TLS 1.3")
        if not hmac.compare_digest(body, self._finished13(self._server_traffic)):
            raise TlsError(DECRYPT_ERROR, "the server's Finished does not verify")
        self._transcript += message
        h = self.suite.prf
        zeros = bytes(hashlib.new(h).digest_size)
        master = hkdf_extract(h, derive_secret(h, self._handshake_secret, b"derived", b""), zeros)
        client_app = derive_secret(h, master, b"c ap traffic", self._transcript)
        server_app = derive_secret(h, master, b"s ap traffic", self._transcript)
        finished = _message(FINISHED, self._finished13(self._client_traffic))
        if len(self.hello.message) > 38 + 32 and self.hello.message[38] == 32:  # a session id: compatibility mode
            self._out += bytes((RECORD_CCS,)) + struct.pack("!HH", 0x0303, 1) + b"\x01"
        self._out += self._aead13(self._client_traffic).seal(RECORD_HANDSHAKE, 0x0303, finished)
        self._write, self._read = self._aead13(client_app), self._aead13(server_app)
        self.state = "established"

    # -- TLS 1.0-1.2 --------------------------------------------------------------------------

    def _tls12_message(self, kind: int, body: bytes, message: bytes) -> None:
        assert self.suite is not None and self.server_hello is not None
        if kind == FINISHED:
            self._server_finished(body)
            self._transcript += message
            return
        self._transcript += message
        if kind == CERTIFICATE:
            self._certificate(body)
        elif kind == SERVER_KEY_EXCHANGE:
            self._server_key_exchange(body)
        elif kind == SERVER_HELLO_DONE:
            self._client_flight()
        elif kind == CERTIFICATE_REQUEST:
            raise TlsError(HANDSHAKE_FAILURE, "the server asks for a client certificate")
        elif kind not in (CERTIFICATE_STATUS, NEW_SESSION_TICKET):
            raise TlsError(UNEXPECTED_MESSAGE, f"handshake message {kind} in TLS 1.2")

    def _certificate(self, body: bytes) -> None:
        chain = _Reader(_Reader(body).vector(3))
        if not chain.left:
            raise TlsError(DECODE_ERROR, "empty certificate chain")
        try:
            key = x509.load_der_x509_certificate(chain.vector(3)).public_key()
        except ValueError as exc:
            raise TlsError(DECODE_ERROR, f"server certificate: {exc}") from None
        self._server_key = key if isinstance(key, rsa.RSAPublicKey) else None

    def _server_key_exchange(self, body: bytes) -> None:
        reader = _Reader(body)
        if reader.u8() != 3:  # named_curve (RFC 8422 5.4); explicit curves are long gone
            raise TlsError(HANDSHAKE_FAILURE, "ServerKeyExchange without a named curve")
        group = reader.u16()
        self._server_share = (group, reader.vector(1))

    def _client_flight(self) -> None:
        """ClientKeyExchange, ChangeCipherSpec, Finished: the keys from here on are the new ones."""
        assert self.suite is not None and self.server_hello is not None
        version = self.server_hello.version
        if self.suite.kex == "ecdhe":
            if self._server_share is None:
                raise TlsError(UNEXPECTED_MESSAGE, "ServerHelloDone before the ServerKeyExchange")
            group, point = self._server_share
            if not KeyShare.supported(group):
                self.state = "unsupported"
                return
            share = KeyShare(group, self.rng)
            premaster = share.shared_secret(point)
            exchange = bytes((len(share.public),)) + share.public
        else:
            if self._server_key is None:
                raise TlsError(HANDSHAKE_FAILURE, "RSA key exchange without an RSA certificate")
            premaster = self.hello.version.to_bytes(2, "big") + self.rng.randbytes(46)
            encrypted = self._server_key.encrypt(premaster, padding.PKCS1v15())
            exchange = len(encrypted).to_bytes(2, "big") + encrypted
        key_exchange = _message(CLIENT_KEY_EXCHANGE, exchange)
        self._transcript += key_exchange
        self._out += self._write.seal(RECORD_HANDSHAKE, version, key_exchange)
        h = self.suite.prf
        server_random = self.server_hello.random
        if EXT_EMS in self.server_hello.extensions:
            session_hash = transcript_hash(version, h, self._transcript)
            self._master = prf(version, h, premaster, b"extended master secret", session_hash, 48)
        else:
            self._master = prf(version, h, premaster, b"master secret", self.hello.random + server_random, 48)
        block = prf(
            version, h, self._master, b"key expansion", server_random + self.hello.random, key_block_length(self.suite)
        )
        etm = EXT_ETM in self.server_hello.extensions and not self.suite.aead
        self._write, self._pending_read = tls12_protections(self.suite, version, block, etm)
        self._out += bytes((RECORD_CCS,)) + struct.pack("!HH", version, 1) + b"\x01"
        finished = _message(FINISHED, self._verify_data(b"client finished"))
        self._out += self._write.seal(RECORD_HANDSHAKE, version, finished)
        self._transcript += finished

    def _verify_data(self, label: bytes) -> bytes:
        assert self.suite is not None
        digest = transcript_hash(self.version, self.suite.prf, self._transcript)
        return prf(self.version, self.suite.prf, self._master, label, digest, 12)

    def _server_finished(self, body: bytes) -> None:
        if not self._master or self._pending_read is not None:
            raise TlsError(UNEXPECTED_MESSAGE, "Finished before the ChangeCipherSpec")
        if not hmac.compare_digest(body, self._verify_data(b"server finished")):
            raise TlsError(DECRYPT_ERROR, "the server's Finished does not verify")
        self.state = "established"
