"""The TLS ClientHello a profile describes, byte by byte, and the JA3/JA4 fingerprints it yields.

Fingerprinting products identify TLS clients by their ClientHello: its version, cipher suites,
extensions and their order, groups and point formats (JA3), plus SNI, ALPN and signature
algorithms (JA4). Those come from the profile (`catalog.TlsClientHello`); what is random in a
real client (random, session id, key share) is random here too.

Formats: TLS 1.2 record and ClientHello (RFC 5246 6.2, 7.4.1.2), TLS 1.3 extensions (RFC 8446
4.2), SNI and status_request (RFC 6066), ALPN (RFC 7301), padding (RFC 7685), extended master
secret (RFC 7627), encrypt-then-MAC (RFC 7366), record size limit (RFC 8449), SCT (RFC 6962),
GREASE (RFC 8701), certificate compression (RFC 8879). JA3: github.com/salesforce/ja3; JA4:
github.com/FoxIO-LLC/ja4 (technical details).

The session id is 32 random bytes when the hello offers TLS 1.3 (RFC 8446 D.4 "middlebox
compatibility mode", what OpenSSL, BoringSSL and NSS send) and empty otherwise, as TLS 1.2-only
stacks send on a fresh connection.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import random
import struct
from collections.abc import Callable

from iot_emulator.profiles import catalog
from iot_emulator.protocols.transport import tls_crypto

GREASE = tuple(0x0A0A + 0x1010 * i for i in range(16))
"""RFC 8701 reserved values (0x0a0a, 0x1a1a, ... 0xfafa): offered to keep servers tolerant, ignored by JA3/JA4."""
EXT_SNI, EXT_STATUS_REQUEST, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIG_ALGS = 0, 5, 10, 11, 13
EXT_ALPN, EXT_SCT, EXT_PADDING, EXT_ETM, EXT_EMS, EXT_COMPRESS_CERT = 16, 18, 21, 22, 23, 27
EXT_RECORD_SIZE_LIMIT, EXT_SESSION_TICKET, EXT_SUPPORTED_VERSIONS, EXT_PSK_MODES = 28, 35, 43, 45
EXT_KEY_SHARE, EXT_RENEGOTIATION_INFO = 51, 0xFF01
DEFAULT_VERSIONS = (0x0304, 0x0303)
"""supported_versions when the profile lists extension 43 without values."""
DEFAULT_ALPN = ("http/1.1",)
"""ALPN protocols when the profile lists extension 16 without values (an empty list is not valid)."""
KEY_SHARE_SIZES = {29: 32, 30: 56, 23: 65, 24: 97, 25: 133}
"""Key share sizes per group (x25519, x448, P-256/384/521 uncompressed); a group without a real key here
(an unknown or post-quantum one) gets random bytes of the size."""
RECORD_HANDSHAKE = 22
HANDSHAKE_CLIENT_HELLO = 1


def is_grease(value: int) -> bool:
    return value in GREASE


def _u8(data: bytes) -> bytes:
    return bytes((len(data),)) + data


def _u16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _u16s(values: list[int]) -> bytes:
    return struct.pack(f"!{len(values)}H", *values)


def offered_versions(tls: catalog.TlsClientHello) -> list[int]:
    """The versions of extension 43, if the hello carries it."""
    if EXT_SUPPORTED_VERSIONS not in tls.extensions:
        return []
    return list(tls.supported_versions) or list(DEFAULT_VERSIONS)


def alpn_protocols(tls: catalog.TlsClientHello) -> list[str]:
    if EXT_ALPN not in tls.extensions:
        return []
    return list(tls.alpn) or list(DEFAULT_ALPN)


@dataclasses.dataclass
class _Hello:
    """What the extension bodies are made from, for one ClientHello."""

    tls: catalog.TlsClientHello
    server_name: str | None
    rng: random.Random
    grease: dict[str, int]
    """GREASE value per use, as BoringSSL draws them: distinct values for the cipher list, the groups,
    the versions and the two extensions, but one value for supported_groups and key_share, since a
    key share must be for an offered group (RFC 8446 4.2.8; OpenSSL answers illegal_parameter)."""
    shares: dict[int, tls_crypto.KeyShare] = dataclasses.field(default_factory=dict)
    """The private halves of the key_share extension, kept to finish a TLS 1.3 handshake."""

    def grease_for(self, use: str) -> int | None:
        return self.grease.get(use)


def _sni(h: _Hello) -> bytes:
    name = (h.server_name or "").encode("idna")
    return _u16(b"\x00" + _u16(name))


def _groups(h: _Hello) -> bytes:
    g = h.grease_for("group")
    return _u16(_u16s(([g] if g is not None else []) + list(h.tls.supported_groups)))


def _versions(h: _Hello) -> bytes:
    g = h.grease_for("version")
    return _u8(_u16s(([g] if g is not None else []) + offered_versions(h.tls)))


def _key_share(h: _Hello) -> bytes:
    shares = b""
    g = h.grease_for("group")
    if g is not None:
        shares += struct.pack("!HH", g, 1) + b"\x00"
    groups = [x for x in h.tls.supported_groups if not is_grease(x)]
    group = 29 if 29 in groups or not groups else groups[0]
    if tls_crypto.KeyShare.supported(group):
        share = h.shares[group] = tls_crypto.KeyShare(group, h.rng)
        public = share.public
    else:
        public = h.rng.randbytes(KEY_SHARE_SIZES.get(group, 32))
    shares += struct.pack("!H", group) + _u16(public)
    return _u16(shares)


_BODIES: dict[int, Callable[[_Hello], bytes]] = {
    EXT_SNI: _sni,
    EXT_STATUS_REQUEST: lambda h: b"\x01\x00\x00\x00\x00",  # OCSP, no responder ids, no extensions
    EXT_GROUPS: _groups,
    EXT_POINT_FORMATS: lambda h: _u8(bytes(h.tls.ec_point_formats)),
    EXT_SIG_ALGS: lambda h: _u16(_u16s(list(h.tls.signature_algorithms))),
    EXT_ALPN: lambda h: _u16(b"".join(_u8(p.encode()) for p in alpn_protocols(h.tls))),
    15: lambda h: b"\x01",  # heartbeat (RFC 6520): peer_allowed_to_send
    EXT_COMPRESS_CERT: lambda h: b"\x02\x00\x02",  # brotli, as Chrome offers
    EXT_RECORD_SIZE_LIMIT: lambda h: struct.pack("!H", 0x4001),  # Firefox's 16385
    EXT_SUPPORTED_VERSIONS: _versions,
    EXT_PSK_MODES: lambda h: b"\x01\x01",  # psk_dhe_ke
    EXT_KEY_SHARE: _key_share,
    EXT_RENEGOTIATION_INFO: lambda h: b"\x00",  # empty renegotiated_connection
    50: lambda h: _u16(_u16s(list(h.tls.signature_algorithms))),  # signature_algorithms_cert
}
"""Extension bodies; any other type (SCT, EMS, ETM, session ticket, post-handshake auth...) is sent empty."""


def _padding(hello_length: int) -> bytes:
    """RFC 7685 as BoringSSL applies it: a hello of 256-511 bytes is padded to 512 (an F5 bug workaround).
    `hello_length` counts the handshake header and an empty padding extension."""
    return bytes(0x200 - hello_length) if 0xFF < hello_length < 0x200 else b""


@dataclasses.dataclass(frozen=True)
class ClientHello:
    """A ClientHello as sent, with what finishing the handshake needs from it."""

    record: bytes
    """The TLS record that carries it."""
    message: bytes
    """The handshake message (type, length, body): the first part of the transcript."""
    random: bytes
    version: int
    """The legacy version field (also the RSA premaster secret's first two bytes)."""
    shares: dict[int, tls_crypto.KeyShare]
    """key_share's private keys by group (TLS 1.3)."""
    cipher_suites: frozenset[int]
    """What the server may choose from."""


def client_hello(tls: catalog.TlsClientHello, server_name: str, rng: random.Random) -> bytes:
    """The TLS record carrying the ClientHello to `server_name` (no SNI for an IP literal, RFC 6066 3)."""
    return build_hello(tls, server_name, rng).record


def build_hello(tls: catalog.TlsClientHello, server_name: str, rng: random.Random) -> ClientHello:
    """The ClientHello to `server_name` (no SNI for an IP literal, RFC 6066 3) and its private parts."""
    name = None if _is_ip(server_name) else server_name
    uses = ("cipher", "group", "version", "first extension", "last extension")
    hello = _Hello(tls, name, rng, dict(zip(uses, rng.sample(GREASE, len(uses)), strict=True)) if tls.grease else {})
    cipher_grease = hello.grease_for("cipher")
    cipher_suites = ([cipher_grease] if cipher_grease is not None else []) + list(tls.cipher_suites)
    client_random = rng.randbytes(32)
    session_id = rng.randbytes(32) if 0x0304 in offered_versions(tls) else b""
    extensions: list[tuple[int, bytes]] = []
    if tls.grease:
        extensions.append((hello.grease["first extension"], b""))
    for ext in tls.extensions:
        if ext == EXT_SNI and name is None:
            continue
        extensions.append((ext, _BODIES.get(ext, _empty)(hello)))
    if tls.grease:
        extensions.append((hello.grease["last extension"], b"\x00"))  # Chrome: the last one carries a byte

    def message() -> bytes:
        encoded = b"".join(struct.pack("!H", t) + _u16(b) for t, b in extensions)
        fixed = struct.pack("!H", tls.version) + client_random + _u8(session_id)
        return fixed + _u16(_u16s(cipher_suites)) + b"\x01\x00" + _u16(encoded)  # compression: null only

    if EXT_PADDING in tls.extensions:
        at = [t for t, _ in extensions].index(EXT_PADDING)
        extensions[at] = (EXT_PADDING, _padding(4 + len(message())))
    body = message()
    handshake = bytes((HANDSHAKE_CLIENT_HELLO,)) + len(body).to_bytes(3, "big") + body
    record = struct.pack("!BHH", RECORD_HANDSHAKE, 0x0301, len(handshake)) + handshake
    return ClientHello(record, handshake, client_random, tls.version, hello.shares, frozenset(tls.cipher_suites))


def _empty(hello: _Hello) -> bytes:
    return b""


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


# -- fingerprints ------------------------------------------------------------------------------


def ja3(tls: catalog.TlsClientHello) -> str:
    """The JA3 string: version, ciphers, extensions, groups, point formats (decimal, GREASE left out)."""

    def join(values: list[int]) -> str:
        return "-".join(str(v) for v in values if not is_grease(v))

    return ",".join(
        [
            str(tls.version),
            join(list(tls.cipher_suites)),
            join(list(tls.extensions)),
            join(list(tls.supported_groups)) if EXT_GROUPS in tls.extensions else "",
            join(list(tls.ec_point_formats)) if EXT_POINT_FORMATS in tls.extensions else "",
        ]
    )


def ja3_md5(tls: catalog.TlsClientHello) -> str:
    """The JA3 hash (what JA3 databases and IDS rules list)."""
    return hashlib.md5(ja3(tls).encode(), usedforsecurity=False).hexdigest()


_JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}


def ja4(tls: catalog.TlsClientHello) -> str:
    """JA4 (FoxIO): `t13d1516h2_<ciphers hash>_<extensions + signature algorithms hash>`."""
    versions = [v for v in offered_versions(tls) if not is_grease(v)]
    version = _JA4_VERSIONS.get(max(versions) if versions else tls.version, "00")
    ciphers = [c for c in tls.cipher_suites if not is_grease(c)]
    extensions = [e for e in tls.extensions if not is_grease(e)]
    alpn = alpn_protocols(tls)
    first = alpn[0] if alpn else ""
    if not first:
        alpn_code = "00"
    elif first[0].isalnum() and first[-1].isalnum() and first.isascii():
        alpn_code = first[0] + first[-1]
    else:
        hexed = first.encode().hex()
        alpn_code = hexed[0] + hexed[-1]
    head = (
        f"t{version}{'d' if EXT_SNI in extensions else 'i'}"
        f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{alpn_code}"
    )
    cipher_text = ",".join(f"{c:04x}" for c in sorted(ciphers))
    ext_text = ",".join(f"{e:04x}" for e in sorted(e for e in extensions if e not in (EXT_SNI, EXT_ALPN)))
    sig_algs = list(tls.signature_algorithms) if EXT_SIG_ALGS in extensions else []
    if sig_algs:
        ext_text += "_" + ",".join(f"{s:04x}" for s in sig_algs)
    return f"{head}_{_hash12(cipher_text if ciphers else '')}_{_hash12(ext_text if extensions else '')}"


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else "0" * 12
