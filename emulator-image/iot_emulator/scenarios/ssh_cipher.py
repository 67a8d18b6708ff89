"""SSH binary packet protection, one direction each (RFC 4253 6): none, aes128-ctr + hmac-sha2-256, chacha20-poly1305.

`seal(seq, packet)` turns a whole cleartext packet (length, padding length, payload, padding) into
what goes on the wire; `open(seq, buffer)` takes one packet off the front of `buffer` (None until
it is all there) and returns it in clear, its MAC or tag checked. `block` and `aad` say how the
sender pads: to a multiple of `block`, counting the 4-byte length unless it is authenticated data
(`aad`), as chacha20-poly1305@openssh.com (OpenSSH PROTOCOL.chacha20poly1305) keeps it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

from cryptography.hazmat.primitives import poly1305
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

MAX_PACKET = 35000
"""RFC 4253 6.1: the largest packet a peer must accept; a longer length is an error, not a buffer."""


class CipherError(Exception):
    pass


class Direction(Protocol):
    block: int
    aad: bool

    def seal(self, seq: int, packet: bytes) -> bytes: ...
    def open(self, seq: int, buffer: bytearray) -> bytes | None: ...


def _check(length: int, aligned: int, block: int) -> None:
    if length > MAX_PACKET or length < 12 or aligned % block:
        raise CipherError(f"bad packet length {length}")


class Plain:
    """Before the first NEWKEYS."""

    block, aad = 8, False

    def seal(self, seq: int, packet: bytes) -> bytes:
        return packet

    def open(self, seq: int, buffer: bytearray) -> bytes | None:
        if len(buffer) < 4:
            return None
        length = int.from_bytes(buffer[:4], "big")
        _check(length, length + 4, self.block)
        if len(buffer) < 4 + length:
            return None
        packet = bytes(buffer[: 4 + length])
        del buffer[: 4 + length]
        return packet


class AesCtrHmac:
    """aes128-ctr (RFC 4344: one counter over the whole stream) and hmac-sha2-256 over seq || cleartext (RFC 6668)."""

    block, aad = 16, False
    TAG = 32

    def __init__(self, key: bytes, iv: bytes, mac_key: bytes, *, decrypt: bool) -> None:
        cipher = Cipher(algorithms.AES(key), modes.CTR(iv))
        self._ctx: CipherContext = cipher.decryptor() if decrypt else cipher.encryptor()
        self._mac = mac_key
        self._head: bytes | None = None

    def _tag(self, seq: int, packet: bytes) -> bytes:
        return hmac.new(self._mac, seq.to_bytes(4, "big") + packet, hashlib.sha256).digest()

    def seal(self, seq: int, packet: bytes) -> bytes:
        return self._ctx.update(packet) + self._tag(seq, packet)

    def open(self, seq: int, buffer: bytearray) -> bytes | None:
        if self._head is None:  # the first block holds the length: decrypted once, kept until the rest is in
            if len(buffer) < self.block:
                return None
            self._head = self._ctx.update(bytes(buffer[: self.block]))
            del buffer[: self.block]
        length = int.from_bytes(self._head[:4], "big")
        _check(length, length + 4, self.block)
        rest = length + 4 - self.block
        if len(buffer) < rest + self.TAG:
            return None
        packet = self._head + self._ctx.update(bytes(buffer[:rest]))
        tag = bytes(buffer[rest : rest + self.TAG])
        del buffer[: rest + self.TAG]
        self._head = None
        if not hmac.compare_digest(tag, self._tag(seq, packet)):
            raise CipherError("bad MAC")
        return packet


class ChaChaPoly:
    """chacha20-poly1305@openssh.com: the length under K_1, the rest under K_2 (block counter 1), a Poly1305
    tag keyed by K_2's block 0 over both; the nonce is the sequence number. `key` is K_2 || K_1 (64 bytes)."""

    block, aad = 8, True
    TAG = 16

    def __init__(self, key: bytes) -> None:
        self._main, self._header = key[:32], key[32:64]

    @staticmethod
    def _stream(key: bytes, seq: int, counter: int, data: bytes) -> bytes:
        nonce = counter.to_bytes(8, "little") + seq.to_bytes(8, "big")  # the original 64/64-bit ChaCha20 layout
        return Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor().update(data)

    def _poly(self, seq: int, data: bytes) -> bytes:
        return poly1305.Poly1305.generate_tag(self._stream(self._main, seq, 0, bytes(32)), data)

    def seal(self, seq: int, packet: bytes) -> bytes:
        sealed = self._stream(self._header, seq, 0, packet[:4]) + self._stream(self._main, seq, 1, packet[4:])
        return sealed + self._poly(seq, sealed)

    def open(self, seq: int, buffer: bytearray) -> bytes | None:
        if len(buffer) < 4:
            return None
        length = int.from_bytes(self._stream(self._header, seq, 0, bytes(buffer[:4])), "big")
        _check(length, length, self.block)
        if len(buffer) < 4 + length + self.TAG:
            return None
        sealed = bytes(buffer[: 4 + length])
        tag = bytes(buffer[4 + length : 4 + length + self.TAG])
        del buffer[: 4 + length + self.TAG]
        if not hmac.compare_digest(tag, self._poly(seq, sealed)):
            raise CipherError("bad Poly1305 tag")
        return length.to_bytes(4, "big") + self._stream(self._main, seq, 1, sealed[4:])
