"""OpenSSL (Python's `ssl` on memory BIOs) as the server side of `tcp_peer.Server`: real TLS in unit tests."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class OpenSslPeer:
    """Decrypts what the device sends, hands each plaintext chunk to `answer`, encrypts its reply.

    TLS 1.2 at most and client preference (nginx's default), an ECDSA P-256 certificate for `name`.
    `plaintext` keeps what the device sent inside TLS; `closed` tells that it sent close_notify."""

    def __init__(self, directory: Path, answer: Callable[[bytes], bytes | None], name: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (directory / "key.pem").write_bytes(pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.app = answer
        self.plaintext: list[bytes] = []
        self.closed = False

    def answer(self, data: bytes) -> bytes:
        """`tcp_peer.Server`'s reply callback: TLS records in, TLS records out."""
        self.incoming.write(data)
        try:
            self.tls.do_handshake()
            chunk = self.tls.read(65536)
        except ssl.SSLWantReadError:
            return self.outgoing.read()
        except ssl.SSLZeroReturnError:
            chunk = b""
        if not chunk:
            self.closed = True  # close_notify
        else:
            self.plaintext.append(chunk)
            reply = self.app(chunk)
            if reply:
                self.tls.write(reply)
        return self.outgoing.read()
