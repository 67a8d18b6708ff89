"""The EAP-TLS peer (RFC 5216): a TLS handshake carried in EAP Requests and Responses.

Python's `ssl` does the TLS through memory BIOs (no socket); this module only moves its records in
and out of EAP-TLS packets: the flags byte (L: length included, M: more fragments, S: start),
fragmentation of what we send to `fragment_size` bytes, reassembly of what the server sends, and
the empty Response that acknowledges a fragment or the server's last flight (RFC 5216 2.1.5).
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import Callable

FLAG_LENGTH = 0x80
FLAG_MORE = 0x40
FLAG_START = 0x20
MAX_MESSAGE = 65536
"""Bound on a reassembled server flight (a certificate chain); larger is refused."""
ACK = b"\x00"


class TlsError(Exception):
    """The handshake failed or the server broke the framing."""


class TlsPeer:
    """One EAP-TLS conversation; `respond(type_data)` returns the type-data of our Response."""

    __slots__ = (
        "_context",
        "_fragment",
        "_incoming",
        "_outgoing",
        "_pending",
        "_received",
        "_sent",
        "_tls",
        "_tunnel",
        "established",
    )

    def __init__(
        self, context: ssl.SSLContext, *, fragment_size: int = 1000, tunnel: Callable[[bytes], bytes] | None = None
    ) -> None:
        self._context = context
        self._tunnel = tunnel
        """PEAP's phase 2: called with what the server sent inside TLS, returns what to send back in it."""
        self._fragment = fragment_size
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls: ssl.SSLObject | None = None
        self._pending = b""  # our flight, not yet all sent
        self._received = b""  # the server's flight, being reassembled
        self._sent = 0  # bytes of our current flight already sent
        self.established = False

    def respond(self, data: bytes) -> bytes:
        if not data:
            raise TlsError("EAP-TLS request without flags")
        flags, body = data[0], data[1:]
        if flags & FLAG_START:
            self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            self._tls = self._context.wrap_bio(self._incoming, self._outgoing, server_side=False)
            self._pending = self._received = b""
            self._sent = 0
            self.established = False
            return self._advance(b"")
        if self._tls is None:
            raise TlsError("EAP-TLS request before Start")
        if flags & FLAG_LENGTH:
            if len(body) < 4 or struct.unpack_from("!I", body)[0] > MAX_MESSAGE:
                raise TlsError("EAP-TLS length field missing or too large")
            body = body[4:]
        if self._pending and not body:  # the server acknowledged a fragment of ours
            return self._next_fragment()
        self._received += body
        if len(self._received) > MAX_MESSAGE:
            raise TlsError("EAP-TLS server flight too large")
        if flags & FLAG_MORE:
            return ACK
        flight, self._received = self._received, b""
        return self._advance(flight)

    def _advance(self, flight: bytes) -> bytes:
        assert self._tls is not None
        if flight:
            self._incoming.write(flight)
        try:
            if not self.established:
                self._tls.do_handshake()
                self.established = True
            if self._tunnel is not None and (inner := self._read_inner()):
                reply = self._tunnel(inner)
                if reply:
                    self._tls.write(reply)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            self._pending = self._outgoing.read()  # the alert, if OpenSSL wrote one
            if not self._pending:
                raise TlsError(str(exc)) from exc
            return self._next_fragment()
        self._pending = self._outgoing.read()
        return self._next_fragment() if self._pending else ACK

    def _read_inner(self) -> bytes:
        assert self._tls is not None
        data = b""
        while True:
            try:
                chunk = self._tls.read(MAX_MESSAGE)
            except ssl.SSLWantReadError:
                return data
            if not chunk:
                return data
            data += chunk

    def _next_fragment(self) -> bytes:
        """The next piece of our flight; the first of several carries L and the flight's length."""
        total = len(self._pending) + self._sent
        chunk, self._pending = self._pending[: self._fragment], self._pending[self._fragment :]
        first = self._sent == 0
        self._sent = 0 if not self._pending else self._sent + len(chunk)
        if not self._pending and first:
            return b"\x00" + chunk
        if first:
            return bytes([FLAG_LENGTH | FLAG_MORE]) + struct.pack("!I", total) + chunk
        return bytes([FLAG_MORE if self._pending else 0]) + chunk


def server_checking_context(pki_dir: str | None) -> ssl.SSLContext:
    """PEAP's context: no client certificate; the server checked against `ca.pem` if a PKI is given
    (devices configured without a CA certificate accept any server, as many do)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    if pki_dir is None:
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(f"{pki_dir}/ca.pem")
    return context


def client_context(pki_dir: str, name: str) -> ssl.SSLContext:
    """The TLS context of one device: its certificate `<name>.pem` and key `<name>.key`, the lab CA
    `ca.pem` to check the RADIUS server with, TLS 1.2 at most (what FreeRADIUS 3.2 runs EAP-TLS with
    by default and what the devices of the profiles speak)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the RADIUS server's name is not the authenticator's; the CA is checked
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(f"{pki_dir}/ca.pem")
    context.load_cert_chain(f"{pki_dir}/{name}.pem", f"{pki_dir}/{name}.key")
    return context
