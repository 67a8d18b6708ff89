"""The devices' TLS client against a real OpenSSL server (Python's `ssl` on memory BIOs).

OpenSSL is what the lab internet's nginx runs, with the same setup: an ECDSA and an RSA
certificate, TLS 1.0 to 1.3, every cipher at security level 0 (what old firmware needs). Every
shipped profile's hello completes and carries a request; each suite and option the client
implements is forced once; tampering and alerts end the session as a real client would.
"""

from __future__ import annotations

import contextlib
import datetime
import random
import ssl
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from iot_emulator.profiles import catalog
from iot_emulator.protocols.transport import tls_client, tls_hello, tls_suites

REQUEST = b"GET /v1/status HTTP/1.1\r\nHost: cloud.example\r\nUser-Agent: test\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
OPENSSL_VERSIONS = {
    "TLSv1.3": 0x0304,
    "TLSv1.2": 0x0303,
    "TLSv1.1": 0x0302,
    "TLSv1": 0x0301,
}


def _certificate(directory: Path, name: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    directory = tmp_path_factory.mktemp("tls")
    return [
        _certificate(directory, "ec", ec.generate_private_key(ec.SECP256R1())),
        _certificate(directory, "rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ]


def server_context(certificates: list[tuple[str, str]], ciphers: str = "ALL:@SECLEVEL=0") -> ssl.SSLContext:
    """The lab internet's nginx TLS settings (`lab/internet.py`), in OpenSSL terms."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings(category=DeprecationWarning, action="ignore"):  # TLS 1.0 is the point
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers(ciphers)
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE  # nginx's default: the client's order decides
    for cert, key in certificates:
        context.load_cert_chain(cert, key)
    return context


class Pair:
    """Our client and an OpenSSL server, bytes passed by hand until nothing moves."""

    def __init__(self, context: ssl.SSLContext, tls: catalog.TlsClientHello, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.client = tls_client.TlsClient(tls_hello.build_hello(tls, tls.servers[0], rng), rng)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.server = context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    def pump(self) -> None:
        for _ in range(20):
            to_server = self.client.data_to_send()
            self.incoming.write(to_server)
            with contextlib.suppress(ssl.SSLWantReadError):
                self.server.do_handshake()
            to_client = self.outgoing.read()
            self.client.receive(to_client)
            if not to_server and not to_client:
                return

    def exchange(self) -> bytes:
        """Our request to the server, its answer back; what the client received."""
        self.client.send(REQUEST)
        self.incoming.write(self.client.data_to_send())
        assert self.server.read(4096) == REQUEST
        self.server.write(RESPONSE)
        self.client.receive(self.outgoing.read())
        return bytes(self.client.received)

    def close(self) -> None:
        self.client.close()
        self.incoming.write(self.client.data_to_send())
        try:
            data = self.server.read(4096)
        except ssl.SSLZeroReturnError:
            data = b""
        assert data == b"" and self.client.state == "closed"
        assert self.server.get_channel_binding() is not None  # the server still holds a session: no error


def hello(**fields: Any) -> catalog.TlsClientHello:
    defaults = {"servers": ["cloud.example"], "extensions": [0, 10, 11, 13]}
    return catalog.TlsClientHello.model_validate({**defaults, **fields})


def complete(pair: Pair) -> None:
    pair.pump()
    assert pair.client.state == "established", (pair.client.state, pair.client.failure)
    assert pair.exchange() == RESPONSE
    pair.close()


TLS_PROFILES = [p for p in catalog.builtin() if p.tls]
REFUSED = {"bd-alaris-gateway-workstation": "alert 40"}
"""Hellos no server here can answer: SChannel on Windows CE offers only RC4, DES and 3DES, which
Debian's OpenSSL 3 (like any up-to-date server) has dropped: handshake_failure."""


@pytest.mark.parametrize("prof", [p for p in TLS_PROFILES if p.name in REFUSED], ids=lambda p: p.name)
def test_a_hello_no_modern_server_accepts_is_refused(
    prof: catalog.Profile, certificates: list[tuple[str, str]]
) -> None:
    assert prof.tls is not None
    pair = Pair(server_context(certificates), prof.tls)
    with pytest.raises(ssl.SSLError):
        pair.pump()
    pair.client.receive(pair.outgoing.read())
    assert (pair.client.state, pair.client.failure) == ("failed", REFUSED[prof.name])


@pytest.mark.parametrize("prof", [p for p in TLS_PROFILES if p.name not in REFUSED], ids=lambda p: p.name)
def test_every_shipped_profile_completes_and_carries_its_request(
    prof: catalog.Profile, certificates: list[tuple[str, str]]
) -> None:
    assert prof.tls is not None
    pair = Pair(server_context(certificates), prof.tls)
    complete(pair)
    version, cipher = pair.server.version(), pair.server.cipher()
    assert version is not None and cipher is not None
    assert pair.client.version == OPENSSL_VERSIONS[version]
    assert pair.client.suite is not None and pair.client.describe().endswith(pair.client.suite.name)


SUITE_CASES = [
    # (suite, version offered)
    *((code, 0x0303) for code, s in tls_suites.SUITES.items() if s.kex != "tls13"),
    (0x002F, 0x0302),  # TLS 1.1: explicit IVs, MD5+SHA-1 PRF
    (0xC013, 0x0301),  # TLS 1.0: chained IVs
    (0x0035, 0x0301),
]


@pytest.mark.parametrize(("code", "version"), SUITE_CASES, ids=lambda v: f"{v:#06x}")
def test_each_tls12_suite_and_version(code: int, version: int, certificates: list[tuple[str, str]]) -> None:
    groups = [23, 24]
    pair = Pair(
        server_context(certificates),
        hello(version=version, cipher_suites=[code], extensions=[0, 10, 11, 13], supported_groups=groups),
    )
    complete(pair)
    assert pair.client.version == version and pair.client.suite is not None and pair.client.suite.code == code


@pytest.mark.parametrize("code", [0x1301, 0x1302, 0x1303])
@pytest.mark.parametrize("group", [29, 23, 24, 25, 30])
def test_each_tls13_suite_and_group(code: int, group: int, certificates: list[tuple[str, str]]) -> None:
    tls = hello(
        supported_versions=[0x0304], cipher_suites=[code], supported_groups=[group], extensions=[0, 10, 13, 43, 51]
    )
    pair = Pair(server_context(certificates), tls)
    complete(pair)
    assert pair.client.describe() == f"TLS 1.3 {tls_suites.SUITES[code].name}"


@pytest.mark.parametrize("extensions", [[0, 10, 11, 13, 23], [0, 10, 11, 13, 22], [0, 10, 11, 13, 22, 23, 35]])
def test_extended_master_secret_encrypt_then_mac_and_tickets(
    extensions: list[int], certificates: list[tuple[str, str]]
) -> None:
    complete(Pair(server_context(certificates), hello(cipher_suites=[0xC027], extensions=extensions)))


def test_a_tampered_record_is_refused_with_bad_record_mac(certificates: list[tuple[str, str]]) -> None:
    pair = Pair(server_context(certificates), hello(cipher_suites=[0xC02F], extensions=[0, 10, 11, 13]))
    pair.pump()
    pair.server.write(RESPONSE)
    record = bytearray(pair.outgoing.read())
    record[-1] ^= 1
    pair.client.receive(bytes(record))
    assert pair.client.state == "failed" and pair.client.failure == "record does not verify"
    alert = pair.client.data_to_send()
    assert alert[0] == 21  # an alert record (encrypted), as a client that gives up sends


def test_a_server_alert_ends_the_session(certificates: list[tuple[str, str]]) -> None:
    pair = Pair(
        server_context(certificates, ciphers="AES128-SHA"), hello(cipher_suites=[0xC02B], extensions=[0, 10, 11, 13])
    )
    with pytest.raises(ssl.SSLError):
        pair.pump()
    pair.client.receive(pair.outgoing.read())
    assert pair.client.state == "failed" and pair.client.failure == "alert 40"  # handshake_failure


def test_a_suite_it_cannot_finish_ends_after_the_server_hello(certificates: list[tuple[str, str]]) -> None:
    # AES-CCM with ECDHE-ECDSA: offered by some firmware (Meross, after GCM), chosen by OpenSSL if first
    pair = Pair(server_context(certificates), hello(cipher_suites=[0xC0AC, 0xC02B]))
    pair.pump()
    assert pair.client.state == "unsupported"
    assert pair.client.describe() == "TLS 1.2 0xc0ac"


def test_a_suite_that_was_not_offered_is_illegal() -> None:
    client = tls_client.TlsClient(
        tls_hello.build_hello(hello(cipher_suites=[0xC02F]), "cloud.example", random.Random(1)), random.Random(1)
    )
    client.data_to_send()
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x30" + b"\x00"
    client.receive(b"\x16\x03\x03" + (len(body) + 4).to_bytes(2, "big") + b"\x02" + len(body).to_bytes(3, "big") + body)
    assert client.state == "failed" and client.failure is not None and "not offered" in client.failure
    assert client.data_to_send() == b"\x15\x03\x01\x00\x02\x02\x2f"  # fatal illegal_parameter, in the clear


GARBAGE = [
    b"\x16\x03\x03\x00\x05\x02\x00\x00\x01\x03",  # a ServerHello shorter than its fields
    b"\x16\x03\x03\xff\xff",  # a record longer than TLS allows
    b"\x17\x03\x03\x00\x01x",  # application data before the handshake
]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_from_the_server_fails_cleanly(garbage: bytes) -> None:
    client = tls_client.TlsClient(
        tls_hello.build_hello(hello(cipher_suites=[0xC02F]), "cloud.example", random.Random(1)), random.Random(1)
    )
    client.receive(garbage)
    assert client.state == "failed"
