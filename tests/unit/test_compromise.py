"""The compromise behaviours on a virtual clock: what each sends (dissected by Scapy), its bounds, its refusals.

Each service runs on a bound device's real IpHost and TCP stack (`protocol_env.Env`); the other end
is scripted with Scapy (`tcp_peer`). The SSH transport is checked against a real sshd in
tests/lab/test_compromise.py; here only its framing and refusals.
"""

from __future__ import annotations

import base64
import itertools
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
from scapy.layers.dns import DNS
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.devices import host
from iot_emulator.protocols.clients import http
from iot_emulator.scenarios import (
    beacon,
    compromise,
    credentials,
    lab_bounds,
    port_scan,
    ssh_cipher,
    ssh_transport,
    telnet,
)
from tests.unit import protocol_env as penv
from tests.unit.openssl_peer import OpenSslPeer
from tests.unit.tcp_peer import Peer, Server, StubResolver, env_with_log

LABEL = "demo"
ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(compromise.CompromiseBehaviour)


def run(
    spec: dict[str, Any],
    names: dict[str, str] | None = None,
    **env_kw: Any,
) -> tuple[penv.Env, list[tuple[str, str]], host.Service]:
    """The behaviour of `spec` built and started on a bound device (names resolved by a stub)."""
    env, log = env_with_log(**env_kw)
    env.host.resolver = StubResolver(names or {})
    service = compromise.build_service(ADAPTER.validate_python(spec), env.context, LABEL)
    env.host.services = [service]
    service.start(env.now)
    return env, log, service


def labelled(log: list[tuple[str, str]], kind: str) -> list[str]:
    prefix = f"[scenario {LABEL}] {kind}: "
    assert all(message.startswith(prefix) for _, message in log), log
    return [message.removeprefix(prefix) for _, message in log]


# -- safety: the specs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "login.lab.test",
        "c2.lab",
        "x.example",
        "a.invalid",
        "localhost",
        "10.1.2.3",
        "192.168.7.1",
        "198.51.100.2",
        "203.0.113.9",
    ],
)
def test_lab_targets_are_accepted(target: str) -> None:
    assert ADAPTER.validate_python({"kind": "brute_force", "target": target}).target == target


@pytest.mark.parametrize(
    "target", ["example.com", "c2.evil.net", "lab.test.com", "8.8.8.8", "1.1.1.1", "100.64.0.1", "bad_name.test", ""]
)
@pytest.mark.parametrize("kind", ["brute_force", "c2_beacon", "exfiltration"])
def test_public_targets_are_refused_naming_the_field(kind: str, target: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        ADAPTER.validate_python({"kind": kind, "target": target})
    assert caught.value.errors()[0]["loc"][-1] == "target"


def test_tunnel_domain_must_be_reserved_and_names_must_fit() -> None:
    with pytest.raises(pydantic.ValidationError, match="domain"):
        ADAPTER.validate_python({"kind": "dns_tunnel", "domain": "tunnel.example.com"})
    with pytest.raises(pydantic.ValidationError, match="longer than 253"):
        long_domain = ".".join(["a" * 60, "b" * 60, "c" * 60, "d" * 40, "test"])
        ADAPTER.validate_python({"kind": "dns_tunnel", "domain": long_domain, "label_length": 63})
    with pytest.raises(pydantic.ValidationError, match="path"):
        ADAPTER.validate_python({"kind": "c2_beacon", "path": "/x y\r\nHost: evil"})


def test_allowed_addresses() -> None:
    assert lab_bounds.allowed(penv.ip("10.0.0.1")) and lab_bounds.allowed(penv.ip("198.51.100.2"))
    assert not lab_bounds.allowed(penv.ip("8.8.8.8")) and not lab_bounds.allowed(penv.ip("127.0.0.1"))


# -- port scan --------------------------------------------------------------------------------------


def test_subnet_hosts_stay_in_the_subnet_and_skip_the_device() -> None:
    hosts = port_scan.subnet_hosts(penv.ip("192.168.5.2"), penv.ip("255.255.255.252"), 100)
    assert hosts == [penv.ip("192.168.5.1")]  # a /30: two hosts, one is the device
    assert len(port_scan.subnet_hosts(penv.ip("10.77.0.10"), penv.ip("255.255.240.0"), 100_000)) == 4093
    assert port_scan.subnet_hosts(penv.ip("10.77.0.10"), penv.ip("255.255.255.0"), 3) == [
        penv.ip(f"10.77.0.{n}") for n in (1, 2, 3)
    ]


def test_port_scan_sends_mirai_syns_at_its_rate_resets_open_ports_and_sums_up() -> None:
    env, log, _ = run({"kind": "port_scan", "ports": [23, 80], "rate": 10, "max_hosts": 3})
    for n in (2, 3):  # on-link hosts that answered ARP already
        env.host.neighbours.learn(penv.ip(f"10.77.0.{n}"), bytes.fromhex(f"0200000000{n:02x}"))
    probes: list[tuple[float, Packet]] = []
    for _ in range(6):
        env.step()
        probes += [(env.now, p) for p in env.sent() if TCP in p]
    assert [(p[IP].dst, p[TCP].dport) for _, p in probes] == [
        ("10.77.0.1", 23),
        ("10.77.0.1", 80),
        ("10.77.0.2", 23),
        ("10.77.0.2", 80),
        ("10.77.0.3", 23),
        ("10.77.0.3", 80),
    ]
    assert [t for t, _ in probes] == pytest.approx([100.0 + i / 10 for i in range(6)])
    for _, p in probes:
        assert str(p[TCP].flags) == "S" and p[TCP].options == [] and p[TCP].seq == int.from_bytes(penv.ip(p[IP].dst))
    assert len({p[TCP].sport for _, p in probes}) == 1 and env.counters.protocols["scan"] == 6
    peer = Peer(env)
    isn = {(p[IP].dst, p[TCP].dport): p[TCP].seq for _, p in probes}
    sport = probes[0][1][TCP].sport
    peer.send(TCP(sport=23, dport=sport, flags="SA", seq=777, ack=isn[("10.77.0.2", 23)] + 1), src="10.77.0.2")
    [reset] = peer.segments()
    assert (
        str(reset[TCP].flags) == "R" and reset[TCP].seq == isn[("10.77.0.2", 23)] + 1 and reset[IP].dst == "10.77.0.2"
    )
    peer.send(TCP(sport=80, dport=sport, flags="RA", seq=0, ack=isn[("10.77.0.3", 80)] + 1), src="10.77.0.3")
    peer.send(TCP(sport=80, dport=sport, flags="SA", seq=1, ack=12345), src="10.77.0.3")  # not our probe's ack
    assert [str(p[TCP].flags) for p in peer.segments()] == ["R"]  # the stack's closed-port answer, not the scan's
    env.advance(port_scan.REPLY_WAIT + 1)
    assert labelled(log, "port_scan")[-1] == ("6 probes to 3 hosts, 2 answered, open ports: 10.77.0.2:23")
    assert env.host.next_deadline() is None, "the scan ended"


def test_port_scan_of_a_public_subnet_sends_nothing() -> None:
    env, log, service = run({"kind": "port_scan"}, address="8.8.8.10")
    assert service.next_deadline() is None and env.host.drain() == []
    assert "outside the lab's ranges" in labelled(log, "port_scan")[0]


def test_port_scan_stopped_early_still_sums_up() -> None:
    env, log, service = run({"kind": "port_scan", "rate": 1, "max_hosts": 254})
    env.advance(2.5)
    service.stop(env.now)
    assert labelled(log, "port_scan")[-1].startswith("3 probes to 1 hosts")


# -- brute force over telnet ------------------------------------------------------------------------


class TelnetServer(Server):
    """A telnet login server: negotiation and prompt on connect, then Password:, then Login incorrect and FIN."""

    GREETING = bytes((telnet.IAC, telnet.DO, telnet.NAWS, telnet.IAC, telnet.WILL, 1)) + b"\r\nlab login: "

    def __init__(self, env: penv.Env) -> None:
        self.lines: list[bytes] = []
        self.expect = "user"
        super().__init__(env, self._answer, close_after_reply=False)
        self.greeted: set[int] = set()

    def _answer(self, data: bytes) -> bytes | None:
        self.lines.append(data)
        if data.startswith(bytes((telnet.IAC,))):
            return None
        self.expect = "password" if self.expect == "user" else "user"
        return b"Password: " if self.expect == "password" else b"\r\nLogin incorrect\r\n\r\nlab login: "

    def _on(self, pkt: Packet) -> None:
        super()._on(pkt)
        t = pkt[TCP]
        state = self._conns.get(t.sport)
        if state is not None and str(t.flags) == "A" and t.sport not in self.greeted:
            self.greeted.add(t.sport)
            self.expect = "user"
            self._send(t, "PA", state, payload=self.GREETING)
            state["seq"] += len(self.GREETING)


def test_telnet_attempt_negotiates_like_mirai_and_logs_the_rejection() -> None:
    env, log, _service = run(
        {"kind": "brute_force", "target": "login.lab.test", "attempts": 1}, {"login.lab.test": penv.GATEWAY}
    )
    env.step()
    server = TelnetServer(env)
    server.run(40)
    assert server.syns[0][TCP].dport == 23
    negotiation, user, password = server.lines
    assert negotiation == bytes((telnet.IAC, telnet.WILL, telnet.NAWS)) + telnet.WINDOW_SIZE + bytes(
        (telnet.IAC, telnet.DO, 1)
    )
    assert (user, password) == (b"root\r\n", b"xc3511\r\n")  # Mirai's first pair
    env.advance(1)
    server.run()
    messages = labelled(log, "brute_force")
    assert "telnet root/xc3511 at login.lab.test:23: rejected" in messages
    assert messages[-1] == "1 telnet attempts at login.lab.test: 1 rejected"
    assert env.counters.protocols["telnet"] >= 4 and env.host.next_deadline() is None


def test_brute_force_walks_the_list_at_its_interval_and_stops() -> None:
    env, _, _service = run({"kind": "brute_force", "attempts": 3, "interval": 5}, {"login.lab.test": penv.GATEWAY})
    server = TelnetServer(env)
    times = []
    env.step()  # the first attempt, at once
    for _ in range(60):
        seen = len(server.syns)
        server.run(40)
        if len(server.syns) > seen:
            times.append(env.now)
        env.advance(0.5)
    assert times == [100.0, 105.0, 110.0] and len(server.syns) == 3
    users = [line for line in server.lines if line.endswith(b"\r\n") and b"assword" not in line]
    assert users[0::2] == [f"{u}\r\n".encode() for u, _ in credentials.MIRAI[:3]]


def test_brute_force_refuses_a_name_that_resolves_outside_the_lab() -> None:
    env, log, _ = run({"kind": "brute_force", "attempts": 1}, {"login.lab.test": "8.8.4.4"})
    env.advance(5)
    assert env.host.drain() == []
    assert any("outside the lab's ranges" in m for m in labelled(log, "brute_force"))


def test_telnet_split_keeps_an_incomplete_command_for_later() -> None:
    text, replies, tail = telnet.split(b"ab" + bytes((telnet.IAC, telnet.IAC)) + b"c" + bytes((telnet.IAC, telnet.DO)))
    assert (text, replies, tail) == (b"ab\xffc", b"", bytes((telnet.IAC, telnet.DO)))
    text, replies, tail = telnet.split(
        tail + bytes((24,)) + bytes((telnet.IAC, telnet.SB, 24, 1, telnet.IAC, telnet.SE))
    )
    assert (text, replies, tail) == (b"", bytes((telnet.IAC, telnet.WONT, 24)), b"")


# -- SSH framing --------------------------------------------------------------------------------------


def test_ssh_client_opens_with_its_version_and_kexinit() -> None:
    import random

    client = ssh_transport.SshClient(random.Random(3))
    out = client.data_to_send()
    version, packet = out.split(b"\r\n", 1)
    assert version == ssh_transport.CLIENT_ID
    length, padding = int.from_bytes(packet[:4]), packet[4]
    assert len(packet) == 4 + length and (4 + length) % 8 == 0 and padding >= 4
    payload = packet[5 : 4 + length - padding]
    reader = ssh_transport.Reader(payload[17:])
    assert payload[0] == ssh_transport.KEXINIT
    assert [reader.names() for _ in range(6)] == [
        list(ssh_transport.KEX),
        list(ssh_transport.HOST_KEYS),
        list(ssh_transport.CIPHERS),
        list(ssh_transport.CIPHERS),
        [b"hmac-sha2-256"],
        [b"hmac-sha2-256"],
    ]


def sealed_pair(kind: str) -> tuple[ssh_cipher.Direction, ssh_cipher.Direction]:
    """A sending and a receiving side sharing keys."""
    if kind == "chacha":
        return ssh_cipher.ChaChaPoly(bytes(range(64))), ssh_cipher.ChaChaPoly(bytes(range(64)))
    keys = (bytes(range(16)), bytes(16), bytes(range(32)))
    return ssh_cipher.AesCtrHmac(*keys, decrypt=False), ssh_cipher.AesCtrHmac(*keys, decrypt=True)


def padded(payload: bytes, protect: ssh_cipher.Direction) -> bytes:
    body = 1 + len(payload)
    padding = protect.block - (body + (0 if protect.aad else 4)) % protect.block
    padding += protect.block if padding < 4 else 0
    return (body + padding).to_bytes(4, "big") + bytes((padding,)) + payload + bytes(padding)


@pytest.mark.parametrize("kind", ["chacha", "aes-ctr"])
def test_ssh_packet_protection_round_trips_and_refuses_a_changed_byte(kind: str) -> None:
    sender, receiver = sealed_pair(kind)
    packets = [padded(b"hello", sender), padded(bytes(range(40)), sender)]
    wire = bytearray(sender.seal(3, packets[0]) + sender.seal(4, packets[1]))
    assert b"hello" not in wire
    arriving = bytearray(wire[:10])
    assert receiver.open(3, arriving) is None  # not all there yet
    arriving += wire[10:]
    assert receiver.open(3, arriving) == packets[0] and receiver.open(4, arriving) == packets[1] and not arriving
    sender, receiver = sealed_pair(kind)
    bad = bytearray(sender.seal(3, packets[0]))
    bad[-1] ^= 1  # in the MAC or tag
    with pytest.raises(ssh_cipher.CipherError):
        receiver.open(3, bad)


def test_chacha20_poly1305_keystream_is_the_64_bit_counter_layout() -> None:
    """RFC 7539 2.4.2's test keystream comes from counter 1 and a 96-bit nonce 0:0:4a:0: in the original layout
    (64-bit counter, 64-bit nonce) that is the same 16-byte block input, as OpenSSH's variant requires."""
    cipher = ssh_cipher.ChaChaPoly(bytes(64))
    stream = cipher._stream(bytes(32), 0, 0, bytes(64))
    assert stream[:16].hex() == "76b8e0ada0f13d90405d6ae55386bd28"  # RFC 7539 A.1 test vector #1 (all zero)


def test_ssh_client_refuses_ssh1_and_oversized_packets() -> None:
    import random

    old = ssh_transport.SshClient(random.Random(1))
    old.receive(b"SSH-1.5-ancient\r\n")
    assert old.state == "failed" and "not SSH 2" in (old.failure or "")
    big = ssh_transport.SshClient(random.Random(1))
    big.receive(b"SSH-2.0-OpenSSH_9.2\r\n" + (1 << 20).to_bytes(4, "big") + bytes(8))
    assert big.state == "failed" and "bad packet length" in (big.failure or "")


def test_mpint_encoding_rfc4251_examples() -> None:
    assert ssh_transport.mpint(bytes.fromhex("09a378f9b2e332a7")) == bytes.fromhex("0000000809a378f9b2e332a7")
    assert ssh_transport.mpint(bytes.fromhex("0080")) == bytes.fromhex("000000020080")
    assert ssh_transport.mpint(b"\x00") == bytes(4)


# -- C2 beacon ------------------------------------------------------------------------------------------


def test_http_beacon_checks_in_at_its_period_with_the_bot_id() -> None:
    env, log, _ = run({"kind": "c2_beacon", "period": 30, "target": "c2.lab.test"}, {"c2.lab.test": penv.GATEWAY})
    server = Server(env, lambda data: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", close_after_reply=True)
    starts = []
    for _ in range(3):
        env.step()
        starts.append(env.now)
        server.run()
        env.advance(1)
        server.run()
        env.now = starts[-1] + 1
    bot = beacon.bot_id(penv.MAC)
    assert starts == [100.0, 130.0, 160.0]
    assert [r.split(b"\r\n")[:2] for r in server.received] == [
        [f"GET /gate.php?id={bot} HTTP/1.1".encode(), b"Host: c2.lab.test"]
    ] * 3
    assert env.counters.protocols["c2"] > 0
    assert "check-in http GET c2.lab.test/gate.php -> 200 OK" in labelled(log, "c2_beacon")


def test_dns_beacon_queries_the_devices_server() -> None:
    env, _log, _ = run({"kind": "c2_beacon", "protocol": "dns", "period": 10, "target": "c2.lab.test"})
    env.step()
    [query] = env.udp(env.sent(), 53)
    assert (
        query[IP].dst == penv.GATEWAY and query[DNS].qd[0].qname.decode() == f"{beacon.bot_id(penv.MAC)}.c2.lab.test."
    )
    assert query[DNS].qd[0].qtype == 16
    env.step()
    assert env.now == 110.0 and env.udp(env.sent(), 53)[0][DNS].qd[0].qtype == 1


# -- DNS tunnel ---------------------------------------------------------------------------------------------


def test_dns_tunnel_sends_high_entropy_labels_at_its_rate_and_counts_answers() -> None:
    env, log, service = run({"kind": "dns_tunnel", "rate": 20, "label_length": 52, "record": "TXT"})
    env.advance(0.99)
    queries = env.udp(env.sent(), 53)
    assert len(queries) == 20 and len({q[UDP].sport for q in queries}) == 1
    labels = [q[DNS].qd[0].qname.decode().split(".", 1) for q in queries]
    assert {rest for _, rest in labels} == {"t.lab.test."} and all(len(label) == 52 for label, _ in labels)
    joined = "".join(label for label, _ in labels)
    assert set(joined) <= set("abcdefghijklmnopqrstuvwxyz234567") and len(set(joined)) == 32
    assert len({label for label, _ in labels}) == 20 and all(q[DNS].qd[0].qtype == 16 for q in queries)
    base64.b32decode(labels[0][0][:48].upper())  # valid base32
    answer = queries[0]
    reply = (
        Ether(src=penv.GATEWAY_MAC, dst=penv.MAC)
        / IP(src=penv.GATEWAY, dst=penv.IP)
        / UDP(sport=53, dport=answer[UDP].sport)
        / DNS(id=answer[DNS].id, qr=1, qd=answer[DNS].qd)
    )
    env.deliver(reply)
    service.stop(env.now)
    assert labelled(log, "dns_tunnel")[-1] == "20 queries under t.lab.test, 1 answered"
    assert env.counters.protocols["dns"] == 20


# -- exfiltration ---------------------------------------------------------------------------------------------


def http_answer(reply: bytes, requests: list[bytes] | None = None) -> Callable[[bytes], bytes | None]:
    """A server's side of HTTP/1.1: `reply` to each whole request (kept in `requests`), None until one is whole."""
    pending = bytearray()

    def answer(data: bytes) -> bytes | None:
        pending.extend(data)
        if http.message_length(pending) is None:
            return None
        if requests is not None:
            requests.append(bytes(pending))
        pending.clear()
        return reply

    return answer


def test_exfiltration_posts_its_chunks_then_stops() -> None:
    env, log, _service = run(
        {"kind": "exfiltration", "protocol": "http", "total_bytes": 10_000, "chunk_bytes": 4000},
        {"drop.lab.test": penv.GATEWAY},
    )
    server = Server(env, http_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"), close_after_reply=True)
    for _ in range(30):
        if env.host.next_deadline() is None:
            break
        env.step()
        server.run(200)
    lengths = [http.headers_of(r)["content-length"] for r in server.received]
    assert lengths == ["4000", "4000", "2000"]
    assert all(len(r) - r.index(b"\r\n\r\n") - 4 == int(n) for r, n in zip(server.received, lengths, strict=True))
    assert server.received[0].startswith(b"POST /upload HTTP/1.1\r\nHost: drop.lab.test\r\n")
    assert labelled(log, "exfiltration")[-1].startswith("10000 of 10000 bytes uploaded to drop.lab.test in 3 POSTs")
    assert env.host.next_deadline() is None and env.counters.protocols["exfil"] > 10


def test_exfiltration_never_sends_beyond_the_servers_window() -> None:
    env, _, _ = run(
        {"kind": "exfiltration", "protocol": "http", "total_bytes": 20_000, "chunk_bytes": 20_000},
        {"drop.lab.test": penv.GATEWAY},
    )
    peer = Peer(env)
    env.step()
    [syn] = peer.segments()
    window = 3000
    peer.send(
        TCP(
            sport=80,
            dport=syn[TCP].sport,
            flags="SA",
            seq=9,
            ack=syn[TCP].seq + 1,
            window=window,
            options=[("MSS", 1000)],
        )
    )
    got, rounds = 0, 0
    while got < 20_000 and rounds < 50:
        rounds += 1
        flight = [p for p in peer.segments() if bytes(p[TCP].payload)]
        assert sum(len(bytes(p[TCP].payload)) for p in flight) <= window, "sent beyond the advertised window"
        assert all(len(bytes(p[TCP].payload)) <= 1000 for p in flight), "a segment beyond the peer's MSS"
        got += sum(len(bytes(p[TCP].payload)) for p in flight)
        peer.send(TCP(sport=80, dport=syn[TCP].sport, flags="A", seq=10, ack=syn[TCP].seq + 1 + got, window=window))
    assert got > 20_000 and rounds > 20_000 // window


def test_ed25519_host_key_signature_is_verified_and_a_bad_one_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    blob = ssh_transport.string(b"ssh-ed25519") + ssh_transport.string(key.public_key().public_bytes_raw())
    h = bytes(range(32))
    signature = ssh_transport.string(b"ssh-ed25519") + ssh_transport.string(key.sign(h))
    assert ssh_transport.verify_ed25519(blob, signature, h) is True
    with pytest.raises(ssh_transport.SshError, match="does not verify"):
        ssh_transport.verify_ed25519(blob, signature, bytes(32))
    rsa = ssh_transport.string(b"rsa-sha2-256") + ssh_transport.string(b"...")
    assert ssh_transport.verify_ed25519(rsa, rsa, h) is None


class DrainingPeer(OpenSslPeer):
    """OpenSslPeer reading every record that came in (a bulk upload brings several per segment)."""

    def answer(self, data: bytes) -> bytes:
        self.incoming.write(data)
        try:
            self.tls.do_handshake()
            while True:
                chunk = self.tls.read(65536)
                if not chunk:
                    self.closed = True
                    break
                self.plaintext.append(chunk)
                reply = self.app(chunk)
                if reply:
                    self.tls.write(reply)
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            pass
        return self.outgoing.read()


def test_https_exfiltration_through_a_real_openssl_server(tmp_path: Path) -> None:
    env, log, _ = run(
        {"kind": "exfiltration", "protocol": "https", "total_bytes": 50_000, "chunk_bytes": 20_000},
        {"drop.lab.test": penv.GATEWAY},
    )
    requests: list[bytes] = []
    answer = http_answer(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", requests)

    peers: list[DrainingPeer] = []

    def per_connection(data: bytes) -> bytes | None:
        if data[:1] == b"\x16" and data[5:6] == b"\x01":  # a ClientHello: a new connection, a new server session
            peers.append(DrainingPeer(tmp_path, answer, "drop.lab.test"))
        return peers[-1].answer(data)

    server = Server(env, per_connection)
    for _ in range(40):
        if env.host.next_deadline() is None:
            break
        env.step()
        server.run(400)
    assert [len(r) - r.index(b"\r\n\r\n") - 4 for r in requests] == [20_000, 20_000, 10_000]
    assert all(p.closed for p in peers) and len(peers) == 3
    assert labelled(log, "exfiltration")[-1].startswith("50000 of 50000 bytes uploaded to drop.lab.test in 3 POSTs")


def test_exfiltration_to_a_name_resolving_outside_the_lab_uploads_nothing() -> None:
    env, log, _ = run({"kind": "exfiltration", "protocol": "http"}, {"drop.lab.test": "203.0.114.1"})
    env.advance(5)
    assert env.host.drain() == [] and env.host.next_deadline() is None
    messages = labelled(log, "exfiltration")
    assert "outside the lab's ranges: nothing uploaded" in messages[1]
    assert messages[-1].endswith("(stopped: target outside the lab)")


def test_beacon_jitter_stays_within_its_fraction_of_the_period() -> None:
    env, _, _ = run({"kind": "c2_beacon", "protocol": "dns", "period": 60, "jitter": 0.2})
    times = []
    for _ in range(40):
        env.step()
        if env.udp(env.sent(), 53):
            times.append(env.now)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 30 and all(48 <= g <= 72 for g in gaps) and len({round(g, 3) for g in gaps}) > 10


def test_exfiltration_rate_cap_paces_the_chunks() -> None:
    env, log, _ = run(
        {"kind": "exfiltration", "protocol": "http", "total_bytes": 30_000, "chunk_bytes": 10_000, "max_mbps": 0.08},
        {"drop.lab.test": penv.GATEWAY},
    )  # 10 kB/s: a chunk a second
    server = Server(env, http_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), close_after_reply=True)
    starts = []
    for _ in range(60):
        if env.host.next_deadline() is None:
            break
        env.step()
        seen = len(server.syns)
        server.run(200)
        if len(server.syns) > seen:
            starts.append(env.now)
    assert starts == pytest.approx([100.0, 101.0, 102.0])
    assert labelled(log, "exfiltration")[-1].startswith("30000 of 30000 bytes uploaded")
