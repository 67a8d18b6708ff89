"""A sans-IO SSH 2 client transport, enough for password login attempts (RFC 4253, RFC 8731, RFC 4344, RFC 6668).

Brute-force traffic against SSH is real SSH: version exchange, KEXINIT, a key exchange, then
encrypted user-authentication requests; a server only logs a failed password after all of that.
What is implemented: curve25519-sha256 key exchange (RFC 8731, also offered as
curve25519-sha256@libssh.org for older servers); aes128-ctr (RFC 4344) with hmac-sha2-256 (RFC
6668), or chacha20-poly1305@openssh.com (`ssh_cipher`), the one the client lists first being the
one a server picks; no compression. An Ed25519 host key's signature over the exchange hash is
verified (RFC 8709), which also proves both sides derived the same hash; ECDSA and RSA host keys
are accepted unchecked (a brute-forcer does not care who answers), and no key is compared with a
known one. No re-keying (an attempt is a few packets).

Use: `data_to_send()` for what goes on the wire, `receive(bytes)` with what came, `inbox` for
the messages after the key exchange (service accept, user-auth answers), `send(payload)` once
`state == "established"`. `failure` says why when `state == "failed"`.
"""

from __future__ import annotations

import hashlib
import random

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from iot_emulator.scenarios import ssh_cipher

CLIENT_ID = b"SSH-2.0-libssh2_1.8.0"
"""What the device says it is: libssh2, the library of many IoT brute-forcers (and curl, hydra)."""
KEX = (b"curve25519-sha256", b"curve25519-sha256@libssh.org")
HOST_KEYS = (b"ssh-ed25519", b"ecdsa-sha2-nistp256", b"rsa-sha2-256", b"rsa-sha2-512")
AES_CTR, CHACHA, MAC = b"aes128-ctr", b"chacha20-poly1305@openssh.com", b"hmac-sha2-256"
CIPHERS = (AES_CTR, CHACHA)
DISCONNECT, IGNORE, UNIMPLEMENTED, DEBUG = 1, 2, 3, 4
SERVICE_REQUEST, SERVICE_ACCEPT, EXT_INFO = 5, 6, 7
KEXINIT, NEWKEYS, KEX_ECDH_INIT, KEX_ECDH_REPLY = 20, 21, 30, 31
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


def kexinit(rng: random.Random, ciphers: tuple[bytes, ...] = CIPHERS) -> bytes:
    offer = b",".join(ciphers)
    lists = [b",".join(KEX), b",".join(HOST_KEYS), offer, offer, MAC, MAC, b"none", b"none", b"", b""]
    return bytes((KEXINIT,)) + rng.randbytes(16) + b"".join(string(n) for n in lists) + b"\x00" + bytes(4)


class SshClient:
    """One client connection's transport, from version exchange to encrypted messages."""

    def __init__(self, rng: random.Random, ident: bytes = CLIENT_ID, ciphers: tuple[bytes, ...] = CIPHERS) -> None:
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
        self.ciphers = ciphers
        self.cipher: bytes | None = None
        """The cipher the server chose (client to server)."""
        self._i_c = kexinit(rng, ciphers)
        self._i_s = b""
        self._key = x25519.X25519PrivateKey.from_private_bytes(rng.randbytes(32))
        self._q_c = self._key.public_key().public_bytes_raw()
        self._seq_out = self._seq_in = 0
        self._send_with: ssh_cipher.Direction = ssh_cipher.Plain()
        self._read_with: ssh_cipher.Direction = ssh_cipher.Plain()
        self._next_read: ssh_cipher.Direction | None = None
        self._chosen: tuple[bytes, bytes] = (AES_CTR, AES_CTR)
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
        try:
            packet = self._read_with.open(self._seq_in, self._in)
        except ssh_cipher.CipherError as exc:
            raise SshError(str(exc)) from exc
        if packet is None:
            return None
        self._seq_in = (self._seq_in + 1) & 0xFFFFFFFF
        length, padding = len(packet) - 4, packet[4]
        if padding < 4 or padding > length - 1:
            raise SshError("bad padding length")
        return packet[5 : 4 + length - padding]

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
            assert self._next_read is not None
            self._read_with, self._next_read = self._next_read, None
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
        chosen = []
        for offered, macs in ((enc_cs, mac_cs), (enc_sc, mac_sc)):
            cipher = next((c for c in self.ciphers if c in offered), None)  # RFC 4253 7.1: the client's order
            if cipher is None:
                raise SshError(f"server offers none of {b','.join(self.ciphers).decode()}")
            if cipher == AES_CTR and MAC not in macs:
                raise SshError(f"server does not offer {MAC.decode()}")
            chosen.append(cipher)
        self._chosen = (chosen[0], chosen[1])
        self.cipher = chosen[0]
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
            """RFC 4253 7.2 (session id = H: the first exchange), extended by hashing K || H || what came before."""
            out = hashlib.sha256(k + h + letter + h).digest()
            while len(out) < size:
                out += hashlib.sha256(k + h + out).digest()
            return out[:size]

        def direction(cipher: bytes, iv: bytes, key: bytes, mac: bytes, *, decrypt: bool) -> ssh_cipher.Direction:
            if cipher == CHACHA:
                return ssh_cipher.ChaChaPoly(derive(key, 64))
            return ssh_cipher.AesCtrHmac(derive(key, 16), derive(iv, 16), derive(mac, 32), decrypt=decrypt)

        self._send_packet(bytes((NEWKEYS,)))
        self._send_with = direction(self._chosen[0], b"A", b"C", b"E", decrypt=False)
        self._next_read = direction(self._chosen[1], b"B", b"D", b"F", decrypt=True)
        self.state = "newkeys"

    # -- send path ----------------------------------------------------------------------------

    def _send_packet(self, payload: bytes) -> None:
        protect = self._send_with
        body = 1 + len(payload)
        padding = protect.block - (body + (0 if protect.aad else 4)) % protect.block
        if padding < 4:
            padding += protect.block
        packet = (body + padding).to_bytes(4, "big") + bytes((padding,)) + payload + self.rng.randbytes(padding)
        self._out += protect.seal(self._seq_out, packet)
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
