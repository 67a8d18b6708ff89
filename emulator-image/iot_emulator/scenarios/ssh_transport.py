"""A sans-IO SSH 2 client transport, enough for password login attempts (RFC 4253, RFC 8731, RFC 4344, RFC 6668).

Brute-force traffic against SSH is real SSH: version exchange, KEXINIT, a key exchange, then
encrypted user-authentication requests; a server only logs a failed password after all of that.
What is implemented, one choice each: curve25519-sha256 key exchange (RFC 8731, also offered as
curve25519-sha256@libssh.org for older servers), aes128-ctr (RFC 4344), hmac-sha2-256 (RFC
6668), no compression. An Ed25519 host key's signature over the exchange hash is verified (RFC
8709), which also proves both sides derived the same hash; ECDSA and RSA host keys are accepted
unchecked (a brute-forcer does not care who answers), and no key is compared with a known one.
No re-keying (an attempt is a few packets).

Use: `data_to_send()` for what goes on the wire, `receive(bytes)` with what came, `inbox` for
the messages after the key exchange (service accept, user-auth answers), `send(payload)` once
`state == "established"`. `failure` says why when `state == "failed"`.
"""

from __future__ import annotations

import hashlib
import hmac
import random

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

CLIENT_ID = b"SSH-2.0-libssh2_1.8.0"
"""What the device says it is: libssh2, the library of many IoT brute-forcers (and curl, hydra)."""
KEX = (b"curve25519-sha256", b"curve25519-sha256@libssh.org")
HOST_KEYS = (b"ssh-ed25519", b"ecdsa-sha2-nistp256", b"rsa-sha2-256", b"rsa-sha2-512")
CIPHER, MAC = b"aes128-ctr", b"hmac-sha2-256"
DISCONNECT, IGNORE, UNIMPLEMENTED, DEBUG = 1, 2, 3, 4
SERVICE_REQUEST, SERVICE_ACCEPT, EXT_INFO = 5, 6, 7
KEXINIT, NEWKEYS, KEX_ECDH_INIT, KEX_ECDH_REPLY = 20, 21, 30, 31
MAX_PACKET = 35000
"""RFC 4253 6.1: the largest packet a peer must accept; a longer length is an error, not a buffer."""
MAX_BANNER_LINES = 32
MAX_LINE = 255


class SshError(Exception):
    pass


def string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def mpint(value: bytes) -> bytes:
    """RFC 4251 5: a non-negative integer from big-endian bytes, minimal, with a 0 byte if the top bit is set."""
    value = value.lstrip(b"\x00")
    if value and value[0] & 0x80:
        value = b"\x00" + value
    return string(value)


class Reader:
    """Bounds-checked reads of a payload (RFC 4251 5 types)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise SshError("message shorter than its fields")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def string(self) -> bytes:
        return self.take(self.u32())

    def names(self) -> list[bytes]:
        return self.string().split(b",")


def kexinit(rng: random.Random) -> bytes:
    lists = [b",".join(KEX), b",".join(HOST_KEYS), CIPHER, CIPHER, MAC, MAC, b"none", b"none", b"", b""]
    return bytes((KEXINIT,)) + rng.randbytes(16) + b"".join(string(n) for n in lists) + b"\x00" + bytes(4)


class SshClient:
    """One client connection's transport, from version exchange to encrypted messages."""

    def __init__(self, rng: random.Random, ident: bytes = CLIENT_ID) -> None:
        self.rng = rng
        self.ident = ident
        self.state = "version"
        """version -> kex -> newkeys -> established; or failed / closed."""
        self.failure: str | None = None
        self.server_ident: bytes | None = None
        self.host_key_verified: bool | None = None
        """True once an Ed25519 host key's signature over the exchange hash verified (other key types: None)."""
        self.inbox: list[bytes] = []
        self._out = bytearray()
        self._in = bytearray()
        self._banner_lines = 0
        self._i_c = kexinit(rng)
        self._i_s = b""
        self._key = x25519.X25519PrivateKey.from_private_bytes(rng.randbytes(32))
        self._q_c = self._key.public_key().public_bytes_raw()
        self._seq_out = self._seq_in = 0
        self._enc: CipherContext | None = None
        self._dec: CipherContext | None = None
        self._mac_out = self._mac_in = b""
        self._next_in: tuple[CipherContext, bytes] | None = None
        self._head: bytes | None = None
        self._out += ident + b"\r\n"
        self._send_packet(self._i_c)

    # -- for the application ------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    def send(self, payload: bytes) -> None:
        if self.state == "established":
            self._send_packet(payload)

    def disconnect(self, reason: int = 11, text: bytes = b"") -> None:
        """SSH_MSG_DISCONNECT (11: by application), then the state is closed."""
        if self.state == "established":
            self._send_packet(bytes((DISCONNECT,)) + reason.to_bytes(4, "big") + string(text) + string(b""))
        self.state = "closed"

    def receive(self, data: bytes) -> None:
        if self.state in ("failed", "closed"):
            return
        self._in += data
        try:
            if self.state == "version":
                self._read_version()
            while self.state not in ("version", "failed", "closed"):
                payload = self._next_packet()
                if payload is None:
                    break
                self._dispatch(payload)
        except SshError as exc:
            self.state, self.failure = "failed", str(exc)

    # -- receive path -------------------------------------------------------------------------

    def _read_version(self) -> None:
        while self.state == "version":
            end = self._in.find(b"\n")
            if end < 0:
                if len(self._in) > MAX_LINE:
                    raise SshError("version line too long")
                return
            line = bytes(self._in[:end]).rstrip(b"\r")
            del self._in[: end + 1]
            if line.startswith(b"SSH-"):
                if not line.startswith((b"SSH-2.0-", b"SSH-1.99-")):
                    raise SshError(f"server speaks {line[:16]!r}, not SSH 2")
                self.server_ident = line
                self.state = "kex"
                return
            self._banner_lines += 1
            if self._banner_lines > MAX_BANNER_LINES:
                raise SshError("no version line")

    def _next_packet(self) -> bytes | None:
        if self._dec is None:
            if len(self._in) < 4:
                return None
            length = int.from_bytes(self._in[:4], "big")
            self._check_length(length, 8)
            if len(self._in) < 4 + length:
                return None
            packet = bytes(self._in[: 4 + length])
            del self._in[: 4 + length]
        else:
            if self._head is None:
                if len(self._in) < 16:
                    return None
                self._head = self._dec.update(bytes(self._in[:16]))
                del self._in[:16]
            length = int.from_bytes(self._head[:4], "big")
            self._check_length(length, 16)
            rest = length + 4 - 16
            if len(self._in) < rest + 32:
                return None
            packet = self._head + self._dec.update(bytes(self._in[:rest]))
            tag = bytes(self._in[rest : rest + 32])
            del self._in[: rest + 32]
            self._head = None
            wanted = hmac.new(self._mac_in, self._seq_in.to_bytes(4, "big") + packet, hashlib.sha256).digest()
            if not hmac.compare_digest(tag, wanted):
                raise SshError("bad MAC")
        self._seq_in = (self._seq_in + 1) & 0xFFFFFFFF
        padding = packet[4]
        if padding < 4 or padding > length - 1:
            raise SshError("bad padding length")
        return packet[5 : 4 + length - padding]

    @staticmethod
    def _check_length(length: int, block: int) -> None:
        if length > MAX_PACKET or length < 12 or (length + 4) % block:
            raise SshError(f"bad packet length {length}")

    def _dispatch(self, payload: bytes) -> None:
        kind = payload[0] if payload else 0
        if kind in (IGNORE, DEBUG, UNIMPLEMENTED, EXT_INFO):
            return
        if kind == DISCONNECT:
            reader = Reader(payload[1:])
            code = reader.u32()
            text = reader.string().decode("utf-8", "replace")
            self.state, self.failure = "closed", f"server disconnected ({code}: {text})"
        elif self.state == "kex" and kind == KEXINIT:
            self._on_kexinit(payload)
        elif self.state == "kex" and kind == KEX_ECDH_REPLY:
            self._on_reply(payload)
        elif self.state == "newkeys" and kind == NEWKEYS:
            assert self._next_in is not None
            self._dec, self._mac_in = self._next_in
            self._next_in = None
            self.state = "established"
        elif self.state == "established":
            self.inbox.append(payload)
        else:
            raise SshError(f"unexpected message {kind} in {self.state}")

    def _on_kexinit(self, payload: bytes) -> None:
        self._i_s = payload
        reader = Reader(payload[17:])
        kex, host_keys, enc_cs, enc_sc, mac_cs, mac_sc = (reader.names() for _ in range(6))
        if not set(KEX) & set(kex):
            raise SshError(f"no common key exchange (server: {b','.join(kex).decode('latin-1')})")
        if not set(HOST_KEYS) & set(host_keys):
            raise SshError("no common host key type")
        for offered, ours in ((enc_cs, CIPHER), (enc_sc, CIPHER), (mac_cs, MAC), (mac_sc, MAC)):
            if ours not in offered:
                raise SshError(f"server does not offer {ours.decode()}")
        self._send_packet(bytes((KEX_ECDH_INIT,)) + string(self._q_c))

    def _on_reply(self, payload: bytes) -> None:
        if not self._i_s:
            raise SshError("key exchange reply before the server's KEXINIT")
        reader = Reader(payload[1:])
        host_key, q_s, signature = reader.string(), reader.string(), reader.string()
        if len(q_s) != 32:
            raise SshError("bad curve25519 public key")
        shared = self._key.exchange(x25519.X25519PublicKey.from_public_bytes(q_s))
        k = mpint(shared)
        assert self.server_ident is not None
        parts = (self.ident, self.server_ident, self._i_c, self._i_s, host_key, self._q_c, q_s)
        h = hashlib.sha256(b"".join(string(p) for p in parts) + k).digest()
        self.host_key_verified = verify_ed25519(host_key, signature, h)

        def derive(letter: bytes, size: int) -> bytes:
            return hashlib.sha256(k + h + letter + h).digest()[:size]  # session id = H: the first exchange

        self._send_packet(bytes((NEWKEYS,)))
        self._enc = _ctr(derive(b"C", 16), derive(b"A", 16)).encryptor()
        self._mac_out = derive(b"E", 32)
        self._next_in = (_ctr(derive(b"D", 16), derive(b"B", 16)).decryptor(), derive(b"F", 32))
        self.state = "newkeys"

    # -- send path ----------------------------------------------------------------------------

    def _send_packet(self, payload: bytes) -> None:
        block = 16 if self._enc is not None else 8
        padding = block - (5 + len(payload)) % block
        if padding < 4:
            padding += block
        packet = (1 + len(payload) + padding).to_bytes(4, "big") + bytes((padding,)) + payload
        packet += self.rng.randbytes(padding)
        if self._enc is None:
            self._out += packet
        else:
            tag = hmac.new(self._mac_out, self._seq_out.to_bytes(4, "big") + packet, hashlib.sha256).digest()
            self._out += self._enc.update(packet) + tag
        self._seq_out = (self._seq_out + 1) & 0xFFFFFFFF


def verify_ed25519(host_key: bytes, signature: bytes, h: bytes) -> bool | None:
    """RFC 8709: the server's signature over the exchange hash. None for another key type (not checked),
    SshError if an Ed25519 signature does not verify (then the keys would not match either)."""
    key, sig = Reader(host_key), Reader(signature)
    if key.string() != b"ssh-ed25519" or sig.string() != b"ssh-ed25519":
        return None
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(key.string()).verify(sig.string(), h)
    except (InvalidSignature, ValueError) as exc:
        raise SshError("the server's host key signature does not verify") from exc
    return True


def _ctr(key: bytes, iv: bytes) -> Cipher[modes.CTR]:
    return Cipher(algorithms.AES(key), modes.CTR(iv))
