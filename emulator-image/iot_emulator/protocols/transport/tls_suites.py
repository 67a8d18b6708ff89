"""The cipher suites the devices' TLS client completes a handshake with, and what each one is made of.

A device offers whatever its profile lists (that is its fingerprint); the server picks one. The
suites below are the ones servers pick from the shipped profiles' offers (nginx/OpenSSL with an
ECDSA and an RSA certificate, client preference): TLS 1.3's three AEAD suites, ECDHE with ECDSA or
RSA signatures and static RSA key exchange, each with AES-GCM, ChaCha20-Poly1305 or AES-CBC with
HMAC. Any other choice (DHE, CCM, ARIA, CAMELLIA...) ends the session after the ServerHello. RC4,
DES and 3DES are left out on purpose: Debian's OpenSSL 3 (the lab's servers) has none of them, so
no real server here could prove them, and a TLS 1.0 hello that offers only those (the Alaris
gateway's) gets a handshake_failure alert, as from any up-to-date server.

Sources: RFC 8446 B.4 (TLS 1.3), RFC 5289 (ECDHE with SHA-256/384 and GCM), RFC 4492 (ECDHE
with SHA-1 CBC), RFC 5288 (RSA with GCM), RFC 5246 A.5 (RSA with CBC), RFC 7905 (ChaCha20-Poly1305).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

KeyExchange = Literal["tls13", "ecdhe", "rsa"]
Cipher = Literal["aes-128-gcm", "aes-256-gcm", "chacha20-poly1305", "aes-128-cbc", "aes-256-cbc"]
KEY_LENGTHS: dict[Cipher, int] = {
    "aes-128-gcm": 16,
    "aes-256-gcm": 32,
    "chacha20-poly1305": 32,
    "aes-128-cbc": 16,
    "aes-256-cbc": 32,
}
HASH_LENGTHS = {"sha1": 20, "sha256": 32, "sha384": 48}


@dataclasses.dataclass(frozen=True)
class Suite:
    code: int
    name: str
    kex: KeyExchange
    cipher: Cipher
    prf: Literal["sha256", "sha384"]
    """The PRF's hash in TLS 1.2 (HKDF's in TLS 1.3); TLS 1.0/1.1 always use MD5+SHA-1."""
    mac: Literal["sha1", "sha256", "sha384"] | None = None
    """HMAC of CBC suites; None for AEAD."""

    @property
    def aead(self) -> bool:
        return self.mac is None

    @property
    def key_length(self) -> int:
        return KEY_LENGTHS[self.cipher]

    @property
    def fixed_iv_length(self) -> int:
        """TLS 1.2 key block IV bytes: GCM's 4-byte salt, ChaCha20's 12-byte nonce mask, CBC's first IV."""
        if self.cipher == "chacha20-poly1305":
            return 12
        return 4 if self.aead else 16


def _suites(*suites: Suite) -> dict[int, Suite]:
    return {s.code: s for s in suites}


SUITES = _suites(
    Suite(0x1301, "TLS_AES_128_GCM_SHA256", "tls13", "aes-128-gcm", "sha256"),
    Suite(0x1302, "TLS_AES_256_GCM_SHA384", "tls13", "aes-256-gcm", "sha384"),
    Suite(0x1303, "TLS_CHACHA20_POLY1305_SHA256", "tls13", "chacha20-poly1305", "sha256"),
    Suite(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ecdhe", "aes-128-gcm", "sha256"),
    Suite(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ecdhe", "aes-256-gcm", "sha384"),
    Suite(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ecdhe", "aes-128-gcm", "sha256"),
    Suite(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ecdhe", "aes-256-gcm", "sha384"),
    Suite(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ecdhe", "chacha20-poly1305", "sha256"),
    Suite(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ecdhe", "chacha20-poly1305", "sha256"),
    Suite(0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ecdhe", "aes-128-cbc", "sha256", "sha256"),
    Suite(0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ecdhe", "aes-256-cbc", "sha384", "sha384"),
    Suite(0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ecdhe", "aes-128-cbc", "sha256", "sha256"),
    Suite(0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ecdhe", "aes-256-cbc", "sha384", "sha384"),
    Suite(0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ecdhe", "aes-128-cbc", "sha256", "sha1"),
    Suite(0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ecdhe", "aes-256-cbc", "sha256", "sha1"),
    Suite(0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ecdhe", "aes-128-cbc", "sha256", "sha1"),
    Suite(0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ecdhe", "aes-256-cbc", "sha256", "sha1"),
    Suite(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "rsa", "aes-128-gcm", "sha256"),
    Suite(0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", "rsa", "aes-256-gcm", "sha384"),
    Suite(0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", "rsa", "aes-128-cbc", "sha256", "sha256"),
    Suite(0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", "rsa", "aes-256-cbc", "sha256", "sha256"),
    Suite(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", "rsa", "aes-128-cbc", "sha256", "sha1"),
    Suite(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", "rsa", "aes-256-cbc", "sha256", "sha1"),
)
"""Every suite the client completes, by code."""


def name(code: int) -> str:
    suite = SUITES.get(code)
    return suite.name if suite else f"{code:#06x}"
