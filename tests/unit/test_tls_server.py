"""Device-side TLS: Python's ssl client (an independent TLS implementation) talks to a device's HTTPS port
over the device's real TCP stack; the certificate is read back with `cryptography`."""

from __future__ import annotations

import ssl
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from scapy.layers.inet import TCP

from iot_emulator.protocols.servers import tls_server
from tests.unit import protocol_env as penv
from tests.unit.tcp_peer import Peer
from tests.unit.test_tcp_server import LINUX, SCANNER_ISS, connect

CERT = {
    "subject": {"C": "NL", "O": "Philips Hue", "CN": "{mac_fffe}"},
    "issuer": {"C": "NL", "O": "Philips Hue", "CN": "root-bridge"},
    "key": "ec-p256",
}
HTTPS = {
    "kind": "http",
    "port": 443,
    "headers": {"Content-Length": "{length}", "Connection": "close"},
    "routes": {"/api/config": {"body": '{"mac":"{mac}"}'}, "*": {"status": 404}},
    "tls": CERT,
}


class Client:
    """A TLS client on memory BIOs, its bytes carried by Scapy segments to and from the device."""

    def __init__(self, env: penv.Env, port: int, sport: int = 41000) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing)
        self.peer, self.port, self.sport = Peer(env), port, sport
        synack = connect(env, self.peer, port, sport)
        self.seq, self.ack = SCANNER_ISS + 1, synack[TCP].seq + 1
        self.flags: list[str] = []

    def pump(self) -> None:
        data = self.outgoing.read()
        if data:
            self.peer.send(
                TCP(sport=self.sport, dport=self.port, flags="PA", seq=self.seq, ack=self.ack, window=65535) / data
            )
            self.seq += len(data)
        for segment in self.peer.segments():
            payload = bytes(segment[TCP].payload)
            self.flags.append(str(segment[TCP].flags))
            self.ack += len(payload) + ("F" in str(segment[TCP].flags))
            self.incoming.write(payload)
        self.peer.send(TCP(sport=self.sport, dport=self.port, flags="A", seq=self.seq, ack=self.ack, window=65535))

    def handshake(self) -> None:
        for _ in range(6):
            try:
                self.tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                self.pump()
        raise AssertionError("no handshake")

    def request(self, text: bytes) -> bytes:
        self.tls.write(text)
        self.pump()
        out = b""
        while True:
            try:
                chunk = self.tls.read()
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                return out
            if not chunk:
                return out
            out += chunk


def setup(listen: list[dict[str, Any]]) -> penv.Env:
    return penv.started(tcp=LINUX, listen=listen)


def test_https_answers_inside_tls_with_the_vendor_named_certificate() -> None:
    env = setup([HTTPS])
    client = Client(env, 443)
    client.handshake()
    cert = x509.load_der_x509_certificate(client.tls.getpeercert(binary_form=True) or b"")
    mac12 = penv.MAC.replace(":", "")
    assert cert.subject.rfc4514_string() == f"CN={mac12[:6]}fffe{mac12[6:]},O=Philips Hue,C=NL"
    assert cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "root-bridge"
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    reply = client.request(b"GET /api/config HTTP/1.1\r\nHost: bridge\r\n\r\n")
    body = '{"mac":"' + penv.MAC + '"}'
    assert reply == f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode()
    assert "FA" in client.flags  # close_notify, then FIN, as the plain server closes after its answer


def test_devices_of_a_profile_share_the_key_and_get_their_own_subject() -> None:
    spec = tls_server.answers.ServerCertificate.model_validate(CERT)
    a = tls_server.certificate(spec, (("CN", "a"),), (("CN", "root-bridge"),))[0]
    b = tls_server.certificate(spec, (("CN", "b"),), (("CN", "root-bridge"),))[0]
    assert a.public_key() == b.public_key() and a.subject != b.subject and a.serial_number != b.serial_number
    first = tls_server.context_for(spec, {"mac_fffe": "x"})
    assert tls_server.context_for(spec, {"mac_fffe": "x"}) is first  # cached per rendered certificate
    for index in range(tls_server.MAX_CONTEXTS + 1):
        tls_server.context_for(spec, {"mac_fffe": str(index)})
    assert len(tls_server._CONTEXTS) <= tls_server.MAX_CONTEXTS


def test_a_plain_http_request_to_the_tls_port_is_closed_unanswered() -> None:
    env = setup([HTTPS])
    peer = Peer(env)
    synack = connect(env, peer, 443, 41001)
    peer.send(
        TCP(sport=41001, dport=443, flags="PA", seq=SCANNER_ISS + 1, ack=synack[TCP].seq + 1, window=65535)
        / b"GET / HTTP/1.0\r\n\r\n"
    )
    segments = peer.segments()
    data = b"".join(bytes(s[TCP].payload) for s in segments)
    assert data == b"" and any("F" in str(s[TCP].flags) for s in segments)  # OpenSSL sends no alert to HTTP
