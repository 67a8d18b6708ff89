"""The TLS ClientHello built from a profile, read back with Scapy's TLS layer; JA3/JA4; the cloud service.

Scapy's TLS layer needs the `cryptography` package (it derives session keys when a record object
is made); without it `load_layer("tls")` fails with a NameError deep inside Scapy.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import TCP
from scapy.layers.tls import extensions, handshake, record
from scapy.packet import Packet

from iot_emulator.profiles import catalog
from iot_emulator.protocols.clients import tls
from iot_emulator.protocols.transport import tls_hello
from tests.unit import protocol_env as penv
from tests.unit.openssl_peer import OpenSslPeer
from tests.unit.tcp_peer import Server, StubResolver, env_with_log, step_until_sent

TLS: Any = record.TLS  # Scapy's TLS classes have untyped constructors
TLSAlert: Any = record.TLSAlert
TLSServerHello: Any = handshake.TLSServerHello
TLS_Ext_SupportedVersion_SH: Any = extensions.TLS_Ext_SupportedVersion_SH
CLOUD = "dev.hik-connect.com"
# An embedded OpenSSL 1.0.2 client: TLS 1.2 only, no GREASE, no ALPN.
IOT: dict[str, Any] = {
    "servers": [CLOUD],
    "cipher_suites": [0xC02F, 0xC030, 0xC02B, 0xC02C, 0x009E, 0xC027, 0x0067, 0xC028, 0x006B, 0x009C, 0x003C, 0x002F],
    "extensions": [0xFF01, 0, 11, 10, 35, 13, 15],
    "supported_groups": [23, 25, 24],
}
# Chrome's hello as a fingerprinting site printed it (ja4_ro order); ECH (0xfe0d) and ALPS (0x44cd) go empty.
CHROME: dict[str, Any] = {
    "servers": ["tls.browserleaks.com"],
    "version": 0x0303,
    "supported_versions": [0x0304, 0x0303],
    "cipher_suites": [
        0x1301,
        0x1302,
        0x1303,
        0xC02B,
        0xC02F,
        0xC02C,
        0xC030,
        0xCCA9,
        0xCCA8,
        0xC013,
        0xC014,
        0x009C,
        0x009D,
        0x002F,
        0x0035,
    ],
    "extensions": [
        0x002D,
        0x0033,
        0x0010,
        0xFE0D,
        0x0017,
        0x44CD,
        0x0000,
        0x000B,
        0x000A,
        0x002B,
        0xFF01,
        0x0023,
        0x0012,
        0x0005,
        0x000D,
        0x001B,
    ],
    "supported_groups": [4588, 29, 23, 24],
    "alpn": ["h2", "http/1.1"],
    "grease": True,
}


def hello_of(fields: dict[str, Any], server: str | None = None, seed: int = 7) -> tuple[Packet, bytes]:
    cfg = catalog.TlsClientHello.model_validate(fields)
    raw = tls_hello.client_hello(cfg, server or cfg.servers[0], random.Random(seed))
    record = TLS(raw)
    assert record.type == 22 and record.version == 0x0301 and len(raw) == 5 + record.len
    hello = record.msg[0]
    assert isinstance(hello, handshake.TLSClientHello)
    return hello, raw


def ext(hello: Packet, kind: int) -> Any:
    return next(e for e in hello.ext if e.type == kind)


def ja3_of(hello: Packet) -> str:
    """JA3 computed from Scapy's dissection, independently of tls_hello.ja3."""

    def keep(values: list[int]) -> str:
        return "-".join(str(v) for v in values if v not in tls_hello.GREASE)

    types = [e.type for e in hello.ext]
    groups = ext(hello, 10).groups if 10 in types else []
    formats = ext(hello, 11).ecpl if 11 in types else []
    return ",".join([str(hello.version), keep(hello.ciphers), keep(types), keep(groups), keep(formats)])


def test_iot_hello_carries_the_profile_in_order() -> None:
    hello, _ = hello_of(IOT)
    assert hello.version == 0x0303 and hello.sidlen == 0 and hello.comp == [0]
    assert hello.ciphers == IOT["cipher_suites"]
    assert [e.type for e in hello.ext] == IOT["extensions"]
    assert ext(hello, 0).servernames[0].servername == CLOUD.encode()
    assert ext(hello, 10).groups == [23, 25, 24] and ext(hello, 11).ecpl == [0]
    assert ext(hello, 13).sig_algs == [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
    assert ja3_of(hello) == tls_hello.ja3(catalog.TlsClientHello.model_validate(IOT))


def test_chrome_like_hello_with_grease() -> None:
    hello, _ = hello_of(CHROME)
    types = [e.type for e in hello.ext]
    assert types[0] in tls_hello.GREASE and types[-1] in tls_hello.GREASE and types[0] != types[-1]
    assert types[1:-1] == CHROME["extensions"]
    assert hello.ciphers[0] in tls_hello.GREASE and hello.ciphers[1:] == CHROME["cipher_suites"]
    assert hello.sidlen == 32  # TLS 1.3 middlebox compatibility
    groups = ext(hello, 10).groups
    assert groups[0] in tls_hello.GREASE and groups[1:] == [4588, 29, 23, 24]
    versions = ext(hello, 43).versions
    assert versions[0] in tls_hello.GREASE and versions[1:] == [0x0304, 0x0303]
    shares = ext(hello, 51).client_shares
    assert shares[0].group in tls_hello.GREASE and shares[1].group == 29 and len(shares[1].key_exchange) == 32
    assert [p.protocol for p in ext(hello, 16).protocols] == [b"h2", b"http/1.1"]
    assert shares[0].group == groups[0]  # a key share is for an offered group, GREASE too
    used = [types[0], types[-1], hello.ciphers[0], groups[0], versions[0]]
    assert len(set(used)) == len(used)  # distinct values otherwise, as BoringSSL draws them
    assert ja3_of(hello) == tls_hello.ja3(catalog.TlsClientHello.model_validate(CHROME))


def test_random_parts_change_between_hellos_and_the_rest_does_not() -> None:
    _, first = hello_of(IOT, seed=1)
    _, second = hello_of(IOT, seed=2)
    assert first != second and len(first) == len(second)
    assert first[:11] == second[:11] and first[43:] == second[43:]  # only the 32-byte random differs


def test_ja3_of_the_reference_example() -> None:
    """The example of github.com/salesforce/ja3's README."""
    cfg = catalog.TlsClientHello(
        servers=["x"],
        version=769,
        extensions=[0, 10, 11],
        supported_groups=[23, 24, 25],
        cipher_suites=[47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4],
    )
    assert tls_hello.ja3(cfg) == "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
    assert tls_hello.ja3_md5(cfg) == "ada70206e40642a3e4461f35503241d5"


def test_ja3_and_ja4_of_chrome() -> None:
    """Chrome 143 as browserleaks reports it (JA3 text and md5, JA4 and JA4_r printed side by side)."""
    cfg = catalog.TlsClientHello.model_validate(CHROME)
    assert tls_hello.ja3(cfg) == (
        "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
        "45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0"
    )
    assert tls_hello.ja3_md5(cfg) == "98487aa16281980e7d1120d399efb6a4"
    assert tls_hello.ja4(cfg) == "t13d1516h2_8daaf6152771_d8a2da3f94cd"


def test_ja4_of_a_tls12_client_without_alpn_or_sni() -> None:
    cfg = catalog.TlsClientHello.model_validate({**IOT, "extensions": [0xFF01, 11, 10, 35, 13, 15]})
    assert tls_hello.ja4(cfg).startswith("t12i120600_")


def test_padding_brings_a_mid_sized_hello_to_512_bytes() -> None:
    hello, raw = hello_of({**CHROME, "extensions": [*CHROME["extensions"], 21]})
    assert hello.msglen + 4 == 512 and len(raw) == 517 and ext(hello, 21).len > 0
    hello, _ = hello_of({**IOT, "extensions": [*IOT["extensions"], 21]})
    assert ext(hello, 21).len == 0 and hello.msglen + 4 < 256


def test_no_sni_for_an_address() -> None:
    hello, _ = hello_of(IOT, server="10.77.0.1")
    assert 0 not in [e.type for e in hello.ext]


def server_hello(cipher: int = 0x1301, tls13: bool = True) -> bytes:
    extensions = [TLS_Ext_SupportedVersion_SH(version=0x0304)] if tls13 else []
    return bytes(TLS(msg=[TLSServerHello(version=0x0303, cipher=cipher, sid=bytes(32), ext=extensions)]))


# -- the service --------------------------------------------------------------------------------


def tls_env(protocols: tuple[str, ...] = ("cloud",)) -> tuple[penv.Env, list[tuple[str, str]]]:
    env, log = env_with_log(penv.make_config(protocols, tls=IOT))
    env.build()
    env.host.resolver = StubResolver({CLOUD: penv.GATEWAY})
    env.start()
    return env, log


def test_service_completes_the_handshake_and_sends_its_request(tmp_path: Path) -> None:
    """Through the device's TCP stack to a real OpenSSL server: hello, handshake, request, answer, close."""
    env, log = tls_env()
    step_until_sent(env)
    openssl = OpenSslPeer(tmp_path, lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", CLOUD)
    server = Server(env, openssl.answer)
    server.run()
    hello = TLS(server.received[0][: 5 + int.from_bytes(server.received[0][3:5], "big")]).msg[0]
    assert hello.ciphers == IOT["cipher_suites"] and server.syns[0][TCP].dport == 443
    assert openssl.plaintext == [f"GET / HTTP/1.1\r\nHost: {CLOUD}\r\nConnection: close\r\n\r\n".encode()]
    suite = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"  # the first of the hello's suites the ECDSA server can do
    assert ("debug", f"cloud: TLS {CLOUD}:443: TLS 1.2 {suite}, GET / -> 200 OK") in log
    assert openssl.closed  # close_notify
    assert env.counters.protocols.get("cloud", 0) > 0
    assert next(s for s in env.host.services if isinstance(s, tls.TlsClient)).sessions == []


def test_a_suite_it_cannot_finish_is_logged_and_closed() -> None:
    env, log = tls_env()
    step_until_sent(env)
    Server(env, lambda data: server_hello(0x0067, tls13=False)).run()  # DHE-RSA-AES128-SHA256, offered
    assert ("debug", f"cloud: TLS {CLOUD}:443: ServerHello TLS 1.2 0x0067, not implemented here: closed") in log


@pytest.mark.parametrize("protocols", [("https",), ("cloud", "https"), ("https", "cloud")])
def test_one_service_named_after_the_first_protocol_given(protocols: tuple[str, ...]) -> None:
    env = penv.Env(penv.make_config(protocols, tls=IOT))
    names = [s.name for s in env.build() if isinstance(s, tls.TlsClient)]
    assert names == [protocols[0]]


def test_no_tls_section_no_service() -> None:
    env = penv.Env(penv.make_config(("cloud",)))
    assert not [s for s in env.build() if isinstance(s, tls.TlsClient)]


@pytest.mark.parametrize("prof", [p for p in catalog.builtin() if p.tls is not None], ids=lambda p: p.name)
def test_every_shipped_tls_profile_builds_a_hello_scapy_reads(prof: catalog.Profile) -> None:
    assert prof.tls is not None
    hello, _ = hello_of(prof.tls.model_dump())
    assert [c for c in hello.ciphers if c not in tls_hello.GREASE] == prof.tls.cipher_suites
    assert [e.type for e in hello.ext if e.type not in tls_hello.GREASE] == prof.tls.extensions
    assert ja3_of(hello) == tls_hello.ja3(prof.tls)
