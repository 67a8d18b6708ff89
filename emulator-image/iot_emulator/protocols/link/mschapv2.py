"""MS-CHAPv2 (RFC 2759) for EAP-MSCHAPv2 inside PEAP, with the MD4 it needs (RFC 1320).

OpenSSL 3 moved MD4 to its legacy provider, so `hashlib.new("md4")` fails on current systems; the
NT password hash is MD4 over UTF-16LE, written here in plain Python (16 bytes of input a login,
so speed does not matter). DES, for the three 7-byte keys of the NT-Response, is `cryptography`'s
TripleDES with one key repeated, which is single DES.
"""

from __future__ import annotations

import hashlib
import struct
import warnings

from cryptography.hazmat.primitives.ciphers import Cipher, modes

with warnings.catch_warnings():  # TripleDES lives in `decrepit` from cryptography 43; older ones warn
    warnings.simplefilter("ignore")
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # pragma: no cover - cryptography < 43
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore[attr-defined,no-redef,unused-ignore]

_MASK = 0xFFFFFFFF


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def md4(data: bytes) -> bytes:
    """RFC 1320 MD4 digest."""
    length = len(data) * 8
    data += b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", length)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for offset in range(0, len(data), 64):
        x = struct.unpack_from("<16I", data, offset)
        aa, bb, cc, dd = a, b, c, d
        for i in range(16):  # round 1: F(x,y,z) = xy v not(x)z
            k, s = i, (3, 7, 11, 19)[i % 4]
            a = _rotl((a + ((b & c) | (~b & d)) + x[k]) & _MASK, s)
            a, b, c, d = d, a, b, c
        for i in range(16):  # round 2: G = xy v xz v yz, + 0x5A827999
            k, s = (i % 4) * 4 + i // 4, (3, 5, 9, 13)[i % 4]
            a = _rotl((a + ((b & c) | (b & d) | (c & d)) + x[k] + 0x5A827999) & _MASK, s)
            a, b, c, d = d, a, b, c
        for i in range(16):  # round 3: H = x xor y xor z, + 0x6ED9EBA1
            k, s = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[i], (3, 9, 11, 15)[i % 4]
            a = _rotl((a + (b ^ c ^ d) + x[k] + 0x6ED9EBA1) & _MASK, s)
            a, b, c, d = d, a, b, c
        a, b, c, d = (a + aa) & _MASK, (b + bb) & _MASK, (c + cc) & _MASK, (d + dd) & _MASK
    return struct.pack("<4I", a, b, c, d)


def nt_password_hash(password: str) -> bytes:
    return md4(password.encode("utf-16-le"))


def challenge_hash(peer_challenge: bytes, authenticator_challenge: bytes, username: str) -> bytes:
    """RFC 2759 8.2: the 8-byte challenge the NT-Response answers (the user name without any domain)."""
    user = username.rsplit("\\", 1)[-1].encode()
    return hashlib.sha1(peer_challenge + authenticator_challenge + user, usedforsecurity=False).digest()[:8]


def _des_key(seven: bytes) -> bytes:
    """7 key bytes spread over 8, the low bit of each left for parity (DES ignores it)."""
    bits = int.from_bytes(seven, "big")
    return bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


def _des(key7: bytes, block: bytes) -> bytes:
    key = _des_key(key7)
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def nt_response(authenticator_challenge: bytes, peer_challenge: bytes, username: str, password: str) -> bytes:
    """RFC 2759 8.1 GenerateNTResponse: 24 bytes."""
    challenge = challenge_hash(peer_challenge, authenticator_challenge, username)
    z = nt_password_hash(password) + b"\x00" * 5
    return b"".join(_des(z[i : i + 7], challenge) for i in (0, 7, 14))


_MAGIC1 = b"Magic server to client signing constant"
_MAGIC2 = b"Pad to make it do more than one iteration"


def authenticator_response(
    password: str, nt_resp: bytes, peer_challenge: bytes, authenticator_challenge: bytes, username: str
) -> str:
    """RFC 2759 8.7: the "S=<40 hex>" string the server proves its knowledge of the password with."""
    hash_hash = md4(nt_password_hash(password))
    digest = hashlib.sha1(hash_hash + nt_resp + _MAGIC1, usedforsecurity=False).digest()
    challenge = challenge_hash(peer_challenge, authenticator_challenge, username)
    return "S=" + hashlib.sha1(digest + challenge + _MAGIC2, usedforsecurity=False).hexdigest().upper()
