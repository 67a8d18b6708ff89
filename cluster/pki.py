"""The test cluster's certificates and kubeconfigs, made at start as kubeadm would make them.

One CA signs the API server's serving certificate and one client certificate per component (its
user name and groups in the subject, which is what the API server's x509 authenticator reads); the
service-account key pair signs and checks bound tokens. Everything lives in one 0700 directory.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=30)
Key = ec.EllipticCurvePrivateKey


def _key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*parts, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, data: bytes, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class Authority:
    """A CA, in `directory/NAME.crt` and `NAME.key`; signs the other certificates."""

    def __init__(self, directory: Path, name: str = "ca") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.key = _key()
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"iotemu-test-cluster-{name}"))
            .issuer_name(_name(f"iotemu-test-cluster-{name}"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        _write(self.path(f"{name}.crt"), self.cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(self.path(f"{name}.key"), _pem_key(self.key))

    @classmethod
    def load(cls, source: Path, directory: Path, name: str = "ca") -> Authority:
        """The CA already made in `source`, issuing into `directory` (which gets a copy of its certificate)."""
        ca = cls.__new__(cls)
        ca.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = serialization.load_pem_private_key((source / f"{name}.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{source / name}.key is not the EC key this module makes")
        ca.key = key
        ca.cert = x509.load_pem_x509_certificate((source / f"{name}.crt").read_bytes())
        _write(directory / f"{name}.crt", ca.ca_pem, 0o644)
        return ca

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def ca_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        name: str,
        common_name: str,
        organizations: Sequence[str] = (),
        *,
        server_names: Sequence[str] = (),
        client: bool = True,
    ) -> tuple[Path, Path]:
        """`name.crt` and `name.key`: a client certificate, or a serving one when `server_names` are given."""
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organizations))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server_names:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            alt: list[x509.GeneralName] = []
            for entry in server_names:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(entry)))
                except ValueError:
                    alt.append(x509.DNSName(entry))
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        crt, pem = self.path(f"{name}.crt"), self.path(f"{name}.key")
        _write(crt, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(pem, _pem_key(key))
        return crt, pem

    def service_account_keys(self) -> tuple[Path, Path]:
        """`sa.key` signs service-account tokens (controller manager, API server), `sa.pub` checks them."""
        key = _key()
        _write(self.path("sa.key"), _pem_key(key))
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write(self.path("sa.pub"), public, 0o644)
        return self.path("sa.key"), self.path("sa.pub")

    def kubeconfig(self, path: Path, server: str, user: str, cert: Path, key: Path) -> Path:
        """A kubeconfig for `server` with the client certificate embedded (as kubeadm writes admin.conf)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "iotemu", "cluster": {"server": server, "certificate-authority-data": _b64(self.ca_pem)}}
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": _b64(cert.read_bytes()),
                        "client-key-data": _b64(key.read_bytes()),
                    },
                }
            ],
            "contexts": [{"name": f"{user}@iotemu", "context": {"cluster": "iotemu", "user": user}}],
            "current-context": f"{user}@iotemu",
        }
        _write(path, yaml.safe_dump(config).encode())
        return path


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
