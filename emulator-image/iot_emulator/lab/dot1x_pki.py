"""The lab's 802.1X certificate authority: a CA, the RADIUS server's certificate, one per device.

EAP-TLS devices authenticate with a client certificate whose subject CN is the EAP identity, as
a site's PKI issues them; FreeRADIUS checks it against the same CA. Keys are P-256 (fast to make,
accepted by OpenSSL 3 at every security level); files are PEM, keys unencrypted, mode 0600.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "iotemu lab 802.1X CA"
SERVER_NAME = "radius.iotemu.lab"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    raw = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(raw)


def _issue(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make(directory: Path, devices: Iterable[tuple[str, str]] = ()) -> None:
    """Write ca.pem/ca.key, server.pem/server.key and `<file>.pem`/`<file>.key` per (file, identity)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue(CA_NAME, ca_key, _name(CA_NAME), ca_key, ca=True)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_key(directory / "ca.key", ca_key)
    issued = [("server", SERVER_NAME, ExtendedKeyUsageOID.SERVER_AUTH)]
    issued += [(file, identity, ExtendedKeyUsageOID.CLIENT_AUTH) for file, identity in devices]
    for file, cn, usage in issued:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(cn, key, ca.subject, ca_key, usage=usage)
        (directory / f"{file}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(directory / f"{file}.key", key)
