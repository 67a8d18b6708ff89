"""TLS key derivation, record protection and ephemeral keys: the arithmetic of a handshake, no state machine.

- PRFs: TLS 1.0/1.1's MD5+SHA-1 (RFC 2246 5), TLS 1.2's P_hash (RFC 5246 5), TLS 1.3's HKDF with
  `HKDF-Expand-Label` (RFC 8446 7.1).
- Record protection, one object per direction with its sequence number: TLS 1.3 AEAD (RFC 8446
  5.2-5.3), TLS 1.2 AEAD (AES-GCM with an explicit nonce, RFC 5288 3; ChaCha20-Poly1305 with a
  masked one, RFC 7905 2), AES-CBC with HMAC, MAC-then-encrypt (RFC 5246 6.2.3.2) or
  encrypt-then-MAC (RFC 7366), with TLS 1.0's chained IV (RFC 2246 6.2.3.2).
- Ephemeral keys for the groups hellos offer (x25519, x448, NIST and Brainpool curves), drawn from
  the device's random generator so that a seeded run repeats its hellos.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import struct
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from iot_emulator.protocols.transport import tls_suites

RECORD_CCS, RECORD_ALERT, RECORD_HANDSHAKE, RECORD_APPLICATION = 20, 21, 22, 23
TAG_LENGTH = 16


class TlsError(Exception):
    """A protocol failure; `alert` is the fatal alert a client sends for it (RFC 8446 6.2)."""

    def __init__(self, alert: int, reason: str) -> None:
        super().__init__(reason)
        self.alert = alert


BAD_RECORD_MAC, HANDSHAKE_FAILURE, ILLEGAL_PARAMETER, DECODE_ERROR, DECRYPT_ERROR = 20, 40, 47, 50, 51
UNEXPECTED_MESSAGE, PROTOCOL_VERSION = 10, 70


# -- PRF and HKDF ------------------------------------------------------------------------------


def _p_hash(hash_name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    out, a = b"", seed
    while len(out) < length:
        a = hmac.digest(secret, a, hash_name)
        out += hmac.digest(secret, a + seed, hash_name)
    return out[:length]


def prf(version: int, hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """TLS 1.2's PRF with the suite's hash, or TLS 1.0/1.1's P_MD5 XOR P_SHA1 over the secret's halves."""
    if version >= 0x0303:
        return _p_hash(hash_name, secret, label + seed, length)
    half = (len(secret) + 1) // 2
    md5 = _p_hash("md5", secret[:half], label + seed, length)
    sha = _p_hash("sha1", secret[len(secret) - half :], label + seed, length)
    return bytes(a ^ b for a, b in zip(md5, sha, strict=True))


def transcript_hash(version: int, hash_name: str, messages: bytes | bytearray) -> bytes:
    """The handshake hash Finished messages sign: MD5 || SHA-1 before TLS 1.2."""
    if version >= 0x0303:
        return hashlib.new(hash_name, messages).digest()
    return hashlib.md5(messages, usedforsecurity=False).digest() + hashlib.sha1(messages).digest()


def hkdf_extract(hash_name: str, salt: bytes, key_material: bytes) -> bytes:
    return hmac.digest(salt or bytes(hashlib.new(hash_name).digest_size), key_material, hash_name)


def hkdf_expand_label(hash_name: str, secret: bytes, label: bytes, context: bytes, length: int) -> bytes:
    info = struct.pack("!HB", length, 6 + len(label)) + b"tls13 " + label + bytes((len(context),)) + context
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(secret, block + info + bytes((counter,)), hash_name)
        out += block
        counter += 1
    return out[:length]


def derive_secret(hash_name: str, secret: bytes, label: bytes, messages: bytes | bytearray) -> bytes:
    digest = hashlib.new(hash_name, messages).digest()
    return hkdf_expand_label(hash_name, secret, label, digest, len(digest))


# -- record protection -------------------------------------------------------------------------


class Protection(Protocol):
    def seal(self, content_type: int, version: int, plaintext: bytes) -> bytes:
        """The whole record (header and protected fragment)."""
        ...

    def open(self, content_type: int, version: int, fragment: bytes) -> tuple[int, bytes]:
        """(content type, plaintext) of a received record; TlsError(bad_record_mac) if it does not verify."""
        ...


def _header(content_type: int, version: int, length: int) -> bytes:
    return struct.pack("!BHH", content_type, version, length)


class Plain:
    """Before the first ChangeCipherSpec (or the TLS 1.3 handshake keys)."""

    def seal(self, content_type: int, version: int, plaintext: bytes) -> bytes:
        return _header(content_type, version, len(plaintext)) + plaintext

    def open(self, content_type: int, version: int, fragment: bytes) -> tuple[int, bytes]:
        return content_type, fragment


def _aead(cipher: tls_suites.Cipher, key: bytes) -> AESGCM | ChaCha20Poly1305:
    return ChaCha20Poly1305(key) if cipher == "chacha20-poly1305" else AESGCM(key)


def _masked_nonce(iv: bytes, sequence: int) -> bytes:
    return bytes(a ^ b for a, b in zip(iv, sequence.to_bytes(len(iv), "big"), strict=True))


class Aead13:
    """TLS 1.3: the real content type inside, `application_data` outside, nonce = IV XOR sequence."""

    def __init__(self, suite: tls_suites.Suite, key: bytes, iv: bytes) -> None:
        self._aead = _aead(suite.cipher, key)
        self._iv = iv
        self._sequence = 0

    def seal(self, content_type: int, version: int, plaintext: bytes) -> bytes:
        header = _header(RECORD_APPLICATION, 0x0303, len(plaintext) + 1 + TAG_LENGTH)
        nonce = _masked_nonce(self._iv, self._sequence)
        self._sequence += 1
        return header + self._aead.encrypt(nonce, plaintext + bytes((content_type,)), header)

    def open(self, content_type: int, version: int, fragment: bytes) -> tuple[int, bytes]:
        if content_type != RECORD_APPLICATION:
            raise TlsError(UNEXPECTED_MESSAGE, f"unprotected record of type {content_type} after the keys")
        header = _header(content_type, version, len(fragment))
        nonce = _masked_nonce(self._iv, self._sequence)
        self._sequence += 1
        try:
            inner = self._aead.decrypt(nonce, fragment, header).rstrip(b"\x00")
        except InvalidTag:
            raise TlsError(BAD_RECORD_MAC, "record does not verify") from None
        if not inner:
            raise TlsError(UNEXPECTED_MESSAGE, "record without a content type")
        return inner[-1], inner[:-1]


class Aead12:
    """TLS 1.2 AEAD: AES-GCM with the sequence number as explicit nonce, ChaCha20-Poly1305 with a masked one."""

    def __init__(self, suite: tls_suites.Suite, key: bytes, fixed_iv: bytes) -> None:
        self._aead = _aead(suite.cipher, key)
        self._explicit = suite.cipher != "chacha20-poly1305"
        self._iv = fixed_iv
        self._sequence = 0

    def _nonce(self, explicit: bytes) -> bytes:
        return self._iv + explicit if self._explicit else _masked_nonce(self._iv, self._sequence)

    def seal(self, content_type: int, version: int, plaintext: bytes) -> bytes:
        sequence = self._sequence.to_bytes(8, "big")
        aad = sequence + _header(content_type, version, len(plaintext))
        sealed = self._aead.encrypt(self._nonce(sequence), plaintext, aad)
        self._sequence += 1
        fragment = sequence + sealed if self._explicit else sealed
        return _header(content_type, version, len(fragment)) + fragment

    def open(self, content_type: int, version: int, fragment: bytes) -> tuple[int, bytes]:
        explicit, sealed = (fragment[:8], fragment[8:]) if self._explicit else (b"", fragment)
        if len(sealed) < TAG_LENGTH:
            raise TlsError(BAD_RECORD_MAC, "record shorter than its tag")
        aad = self._sequence.to_bytes(8, "big") + _header(content_type, version, len(sealed) - TAG_LENGTH)
        try:
            plaintext = self._aead.decrypt(self._nonce(explicit), sealed, aad)
        except InvalidTag:
            raise TlsError(BAD_RECORD_MAC, "record does not verify") from None
        self._sequence += 1
        return content_type, plaintext


class Cbc:
    """CBC with HMAC: MAC-then-encrypt, or encrypt-then-MAC when both sides agreed on RFC 7366.

    TLS 1.1 and later put a random IV in front of each record; TLS 1.0 chains the last ciphertext
    block of the previous record (its known weakness, BEAST, is what TLS 1.0 firmware has)."""

    def __init__(self, suite: tls_suites.Suite, key: bytes, iv: bytes, mac_key: bytes, version: int, etm: bool) -> None:
        assert suite.mac is not None
        self._key = key
        self._block = 16
        self._mac = suite.mac
        self._mac_key = mac_key
        self._iv = iv
        self._explicit_iv = version >= 0x0302
        self._etm = etm
        self._sequence = 0

    def _hmac(self, content_type: int, version: int, data: bytes) -> bytes:
        sequence = self._sequence.to_bytes(8, "big")
        return hmac.digest(self._mac_key, sequence + _header(content_type, version, len(data)) + data, self._mac)

    def _padded(self, data: bytes) -> bytes:
        pad = self._block - (len(data) + 1) % self._block
        return data + bytes((pad,)) * (pad + 1)

    def _encrypt(self, data: bytes) -> bytes:
        iv = os.urandom(self._block) if self._explicit_iv else self._iv
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        sealed = encryptor.update(data) + encryptor.finalize()
        if not self._explicit_iv:
            self._iv = sealed[-self._block :]
            return sealed
        return iv + sealed

    def _decrypt(self, fragment: bytes) -> bytes:
        if self._explicit_iv:
            iv, fragment = fragment[: self._block], fragment[self._block :]
        else:
            iv = self._iv
        if not fragment or len(fragment) % self._block:
            raise TlsError(BAD_RECORD_MAC, "CBC record not a whole number of blocks")
        if not self._explicit_iv:
            self._iv = fragment[-self._block :]
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).decryptor()
        return decryptor.update(fragment) + decryptor.finalize()

    def seal(self, content_type: int, version: int, plaintext: bytes) -> bytes:
        if self._etm:
            sealed = self._encrypt(self._padded(plaintext))
            fragment = sealed + self._hmac(content_type, version, sealed)
        else:
            fragment = self._encrypt(self._padded(plaintext + self._hmac(content_type, version, plaintext)))
        self._sequence += 1
        return _header(content_type, version, len(fragment)) + fragment

    def open(self, content_type: int, version: int, fragment: bytes) -> tuple[int, bytes]:
        size = tls_suites.HASH_LENGTHS[self._mac]
        if self._etm:
            sealed, mac = fragment[:-size], fragment[-size:]
            if not hmac.compare_digest(mac, self._hmac(content_type, version, sealed)):
                raise TlsError(BAD_RECORD_MAC, "record does not verify")
            padded = self._decrypt(sealed)
            plaintext = padded[: len(padded) - padded[-1] - 1]
        else:
            padded = self._decrypt(fragment)
            pad = padded[-1]
            if pad + 1 + size > len(padded) or padded[-pad - 1 :] != bytes((pad,)) * (pad + 1):
                raise TlsError(BAD_RECORD_MAC, "record does not verify")
            body = padded[: -pad - 1]
            plaintext, mac = body[:-size], body[-size:]
            if not hmac.compare_digest(mac, self._hmac(content_type, version, plaintext)):
                raise TlsError(BAD_RECORD_MAC, "record does not verify")
        self._sequence += 1
        return content_type, plaintext


def tls12_protections(
    suite: tls_suites.Suite, version: int, key_block: bytes, etm: bool
) -> tuple[Protection, Protection]:
    """(client write, server read) protections cut from a TLS 1.0-1.2 key block (RFC 5246 6.3)."""
    mac = tls_suites.HASH_LENGTHS[suite.mac] if suite.mac else 0
    key, iv = suite.key_length, suite.fixed_iv_length
    cuts = [mac, mac, key, key, iv, iv]
    parts, at = [], 0
    for size in cuts:
        parts.append(key_block[at : at + size])
        at += size
    client_mac, server_mac, client_key, server_key, client_iv, server_iv = parts
    if suite.aead:
        return Aead12(suite, client_key, client_iv), Aead12(suite, server_key, server_iv)
    return (
        Cbc(suite, client_key, client_iv, client_mac, version, etm),
        Cbc(suite, server_key, server_iv, server_mac, version, etm),
    )


def key_block_length(suite: tls_suites.Suite) -> int:
    mac = tls_suites.HASH_LENGTHS[suite.mac] if suite.mac else 0
    return 2 * (mac + suite.key_length + suite.fixed_iv_length)


# -- ephemeral keys ----------------------------------------------------------------------------

_CURVES: dict[int, type[ec.EllipticCurve]] = {
    23: ec.SECP256R1,
    24: ec.SECP384R1,
    25: ec.SECP521R1,
    26: ec.BrainpoolP256R1,
    27: ec.BrainpoolP384R1,
    28: ec.BrainpoolP512R1,
}
GROUP_NAMES = {29: "x25519", 30: "x448", 23: "secp256r1", 24: "secp384r1", 25: "secp521r1"}


class KeyShare:
    """One ephemeral Diffie-Hellman key of the client, for one named group."""

    def __init__(self, group: int, rng: random.Random) -> None:
        self.group = group
        self._key: x25519.X25519PrivateKey | x448.X448PrivateKey | ec.EllipticCurvePrivateKey
        if group == 29:
            self._key = x25519.X25519PrivateKey.from_private_bytes(rng.randbytes(32))
            self.public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        elif group == 30:
            self._key = x448.X448PrivateKey.from_private_bytes(rng.randbytes(56))
            self.public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        else:
            curve = _CURVES[group]()
            bits = curve.key_size
            secret = int.from_bytes(rng.randbytes((bits + 7) // 8)) & ((1 << (bits - 1)) - 1) | 1  # below the order
            self._key = ec.derive_private_key(secret, curve)
            self.public = self._key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    @staticmethod
    def supported(group: int) -> bool:
        return group in (29, 30) or group in _CURVES

    def shared_secret(self, peer: bytes) -> bytes:
        """The Diffie-Hellman result with the server's public value; TlsError if it is not a valid point."""
        try:
            if isinstance(self._key, x25519.X25519PrivateKey):
                return self._key.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
            if isinstance(self._key, x448.X448PrivateKey):
                return self._key.exchange(x448.X448PublicKey.from_public_bytes(peer))
            point = ec.EllipticCurvePublicKey.from_encoded_point(self._key.curve, peer)
            return self._key.exchange(ec.ECDH(), point)
        except ValueError as exc:
            raise TlsError(ILLEGAL_PARAMETER, f"server key share: {exc}") from None
