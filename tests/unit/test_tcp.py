"""The device TCP against a peer scripted with Scapy: SYN shape, handshake, data, close, loss, windows.

Every segment the device sends is dissected by Scapy's TCP layer; every segment of the peer is
built with it. The clock is virtual (`Env.now`), so retransmission timing is checked exactly.
"""

from __future__ import annotations

from typing import Any

import pytest
from scapy.layers.inet import IP, TCP
from scapy.packet import Packet

from iot_emulator.protocols.transport import tcp
from tests.unit import protocol_env as penv
from tests.unit.tcp_peer import Peer, Recorder

SERVER_ISS = 7000
LINUX = {
    "window": 64240,
    "mss": 1460,
    "options": ["mss", "sackok", "ts", "nop", "wscale"],
    "window_scale": 7,
    "ip_id": "zero",
    "timestamp_hz": 1000,
}


def setup(shape: dict[str, Any] | None = None, *, seed: int = 1, ttl: int = 64) -> tuple[penv.Env, tcp.TcpStack, Peer]:
    env = penv.Env(penv.make_config(tcp=shape or LINUX, ip_ttl=ttl), seed=seed)
    return env, tcp.stack_of(env.host, env.rng), Peer(env)


def connect(env: penv.Env, stack: tcp.TcpStack, app: Recorder, port: int = 80) -> tcp.Connection:
    return stack.connect(penv.ip(penv.GATEWAY), port, app, env.now, "http")


def handshake(
    env: penv.Env,
    stack: tcp.TcpStack,
    peer: Peer,
    app: Recorder,
    *,
    mss: int = 1400,
    wscale: int | None = 7,
    ts: bool = True,
    window: int = 502,
) -> tuple[tcp.Connection, Packet]:
    """Connect, answer the SYN with a SYN-ACK; returns the connection and the device's SYN."""
    conn = connect(env, stack, app)
    [syn] = peer.segments()
    options: list[Any] = [("MSS", mss)]
    if ts:
        options.append(("Timestamp", (123456, dict(syn[TCP].options)["Timestamp"][0])))
    if wscale is not None:
        options += [("NOP", None), ("WScale", wscale)]
    peer.send(reply(syn, "SA", seq=SERVER_ISS, ack=syn[TCP].seq + 1, window=window, options=options))
    return conn, syn


def reply(
    to: Packet,
    flags: str,
    *,
    seq: int,
    ack: int,
    window: int = 502,
    payload: bytes = b"",
    options: list[Any] | None = None,
) -> Packet:
    seg = TCP(
        sport=to[TCP].dport, dport=to[TCP].sport, flags=flags, seq=seq, ack=ack, window=window, options=options or []
    )
    return seg / payload if payload else seg


def state(conn: tcp.Connection) -> tcp.TcpState:
    """The connection's state now (a call, so that type checkers do not pin it after a check)."""
    return conn.state


def ts_of(pkt: Packet) -> tuple[int, int] | None:
    value = dict(pkt[TCP].options).get("Timestamp")
    return None if value is None else (int(value[0]), int(value[1]))


# -- the SYN ------------------------------------------------------------------------------------


def test_syn_carries_the_profile_shape() -> None:
    env, stack, peer = setup(LINUX, ttl=64)
    env.now = 10.0
    connect(env, stack, Recorder())
    [syn] = peer.segments()
    assert str(syn[TCP].flags) == "S"
    assert syn[TCP].window == 64240
    assert [name for name, _ in syn[TCP].options] == ["MSS", "SAckOK", "Timestamp", "NOP", "WScale"]
    options = dict(syn[TCP].options)
    assert options["MSS"] == 1460 and options["WScale"] == 7 and options["Timestamp"][1] == 0
    assert syn[IP].ttl == 64 and syn[IP].flags == "DF" and syn[IP].id == 0
    assert syn[TCP].dataofs == 10 and len(syn[TCP].payload) == 0
    assert 32768 <= syn[TCP].sport < 61000 and syn[TCP].dport == 80
    raw = bytes(syn[TCP])
    rebuilt = TCP(raw)
    del rebuilt.chksum
    assert bytes(IP(src=syn[IP].src, dst=syn[IP].dst, proto=6) / rebuilt)[20:] == raw  # checksum as Scapy computes it


def test_windows_like_layout_is_kept_in_order_and_padded() -> None:
    shape = {
        "window": 8192,
        "mss": 1460,
        "options": ["mss", "nop", "wscale", "nop", "nop", "sackok"],
        "window_scale": 8,
        "dont_fragment": True,
        "ip_id": "increment",
    }
    env, stack, peer = setup(shape, ttl=128)
    connect(env, stack, Recorder())
    [syn] = peer.segments()
    assert [name for name, _ in syn[TCP].options] == ["MSS", "NOP", "WScale", "NOP", "NOP", "SAckOK"]
    assert syn[TCP].window == 8192 and syn[IP].ttl == 128 and syn[IP].id != 0
    assert bytes(syn[TCP])[20:32] == bytes.fromhex("020405b4 01030308 01010402".replace(" ", ""))


def test_unaligned_layout_is_padded_with_eol() -> None:
    env, stack, peer = setup({"options": ["mss", "sackok", "eol"], "window": 5840})
    connect(env, stack, Recorder())
    [syn] = peer.segments()
    assert bytes(syn[TCP])[20:] == bytes.fromhex("020405b4040200" + "00")


def test_timestamp_clock_is_one_per_device_and_isn_random_per_connection() -> None:
    env, stack, peer = setup(LINUX)
    env.now = 100.0
    connect(env, stack, Recorder())
    env.now = 102.5
    connect(env, stack, Recorder())
    first, second = peer.segments()
    ts1, ts2 = ts_of(first), ts_of(second)
    assert ts1 is not None and ts2 is not None
    assert (ts2[0] - ts1[0]) % 2**32 == 2500  # 1 kHz, same offset for both connections
    assert first[TCP].seq != second[TCP].seq and first[TCP].sport != second[TCP].sport
    other_env, other_stack, other_peer = setup(LINUX, seed=2)
    other_env.now = 100.0
    connect(other_env, other_stack, Recorder())
    [other] = other_peer.segments()
    other_ts = ts_of(other)
    assert other_ts is not None and other_ts[0] != ts1[0]  # another device, another clock


def test_timestamp_clock_never_goes_back() -> None:
    _env, stack, _ = setup(LINUX)
    assert stack.tsval(50.0) <= stack.tsval(49.0) == stack.tsval(50.0)


# -- handshake, data, close ---------------------------------------------------------------------


def test_handshake_data_and_peer_close() -> None:
    env, stack, peer = setup(LINUX)
    app = Recorder()
    conn, syn = handshake(env, stack, peer, app)
    iss = syn[TCP].seq
    [ack] = peer.segments()
    assert str(ack[TCP].flags) == "A" and ack[TCP].seq == iss + 1 and ack[TCP].ack == SERVER_ISS + 1
    assert ts_of(ack) == (ts_of(syn)[0], 123456)  # type: ignore[index]
    assert ack[TCP].window == 64240 >> 7
    assert app.kinds() == ["connected"] and conn.established

    assert conn.send(b"GET / HTTP/1.1\r\n\r\n", env.now)
    [data] = peer.segments()
    assert str(data[TCP].flags) == "PA" and bytes(data[TCP].payload) == b"GET / HTTP/1.1\r\n\r\n"
    peer.send(reply(data, "A", seq=SERVER_ISS + 1, ack=iss + 1 + 18))
    assert peer.segments() == []  # a pure ACK is not answered

    peer.send(reply(data, "PA", seq=SERVER_ISS + 1, ack=iss + 19, payload=b"HTTP/1.1 200 OK\r\n\r\n"))
    [ack] = peer.segments()
    assert ack[TCP].ack == SERVER_ISS + 1 + 19 and app.data == b"HTTP/1.1 200 OK\r\n\r\n"

    peer.send(reply(data, "FA", seq=SERVER_ISS + 20, ack=iss + 19))
    [fin] = peer.segments()
    assert str(fin[TCP].flags) == "FA" and fin[TCP].ack == SERVER_ISS + 21 and fin[TCP].seq == iss + 19
    assert app.events[-1] == ("closed", "peer closed") and state(conn) is tcp.TcpState.LAST_ACK
    peer.send(reply(data, "A", seq=SERVER_ISS + 21, ack=iss + 20))
    assert conn.closed and stack.connections == {} and peer.segments() == []
    assert [kind for kind in app.kinds()].count("closed") == 1


def test_active_close_goes_through_time_wait() -> None:
    env, stack, peer = setup(LINUX)
    app = Recorder()
    conn, syn = handshake(env, stack, peer, app)
    iss = syn[TCP].seq
    peer.segments()
    conn.close(env.now)
    [fin] = peer.segments()
    assert str(fin[TCP].flags) == "FA" and state(conn) is tcp.TcpState.FIN_WAIT_1
    peer.send(reply(fin, "A", seq=SERVER_ISS + 1, ack=iss + 2))
    assert state(conn) is tcp.TcpState.FIN_WAIT_2
    peer.send(reply(fin, "FA", seq=SERVER_ISS + 1, ack=iss + 2))
    [ack] = peer.segments()
    assert ack[TCP].ack == SERVER_ISS + 2 and state(conn) is tcp.TcpState.TIME_WAIT
    assert app.events[-1] == ("closed", "closed")
    env.now += 0.5
    peer.send(reply(fin, "FA", seq=SERVER_ISS + 1, ack=iss + 2))  # our ACK was lost: the FIN comes again
    [again] = peer.segments()
    assert again[TCP].ack == SERVER_ISS + 2
    assert stack.next_deadline() == pytest.approx(env.now + tcp.Connection.TIME_WAIT)
    env.advance(tcp.Connection.TIME_WAIT)
    assert stack.connections == {} and stack.next_deadline() is None


def test_simultaneous_fin_goes_through_closing() -> None:
    env, stack, peer = setup(LINUX)
    conn, syn = handshake(env, stack, peer, Recorder())
    iss = syn[TCP].seq
    peer.segments()
    conn.close(env.now)
    [fin] = peer.segments()
    peer.send(reply(fin, "FA", seq=SERVER_ISS + 1, ack=iss + 1))  # crosses ours: does not ACK it
    [ack] = peer.segments()
    assert ack[TCP].ack == SERVER_ISS + 2 and state(conn) is tcp.TcpState.CLOSING
    peer.send(reply(fin, "A", seq=SERVER_ISS + 2, ack=iss + 2))
    assert state(conn) is tcp.TcpState.TIME_WAIT


def test_data_and_fin_in_one_segment_while_the_app_closes_from_on_data() -> None:
    env, stack, peer = setup(LINUX)
    app = Recorder()
    app.on_data_hook = lambda conn, data, now: conn.close(now)
    conn, syn = handshake(env, stack, peer, app)
    iss = syn[TCP].seq
    peer.segments()
    peer.send(reply(syn, "FPA", seq=SERVER_ISS + 1, ack=iss + 1, payload=b"bye"))
    segments = peer.segments()
    assert segments[-1][TCP].ack == SERVER_ISS + 1 + 3 + 1  # the FIN is acknowledged
    assert state(conn) is tcp.TcpState.CLOSING and app.events[-1] == ("closed", "closed")


# -- resets -------------------------------------------------------------------------------------


def test_peer_reset_closes_and_in_window_reset_gets_a_challenge_ack() -> None:
    env, stack, peer = setup(LINUX)
    app = Recorder()
    conn, syn = handshake(env, stack, peer, app)
    peer.segments()
    peer.send(reply(syn, "R", seq=SERVER_ISS + 100, ack=0))
    [challenge] = peer.segments()
    assert str(challenge[TCP].flags) == "A" and challenge[TCP].ack == SERVER_ISS + 1 and conn.established
    peer.send(reply(syn, "R", seq=SERVER_ISS + 1, ack=0))
    assert app.events[-1] == ("closed", "reset") and conn.closed and stack.connections == {}
    assert peer.segments() == []


def test_refused_connection() -> None:
    env, stack, peer = setup(LINUX)
    app = Recorder()
    conn = connect(env, stack, app)
    [syn] = peer.segments()
    peer.send(reply(syn, "RA", seq=0, ack=syn[TCP].seq + 1))
    assert app.kinds() == ["closed"] and app.events[0][1] == "refused" and conn.closed
    assert stack.next_deadline() is None


def test_segments_for_no_connection_get_a_reset() -> None:
    env, _stack, peer = setup(LINUX)
    peer.send(TCP(sport=40000, dport=22, flags="S", seq=1000))
    [rst] = peer.segments()
    assert str(rst[TCP].flags) == "RA" and rst[TCP].seq == 0 and rst[TCP].ack == 1001 and rst[TCP].sport == 22
    assert rst[IP].ttl == 64 and env.counters.protocols["tcp"] == 1
    peer.send(TCP(sport=40000, dport=22, flags="A", seq=1000, ack=555))
    [rst] = peer.segments()
    assert str(rst[TCP].flags) == "R" and rst[TCP].seq == 555
    peer.send(TCP(sport=40000, dport=22, flags="R", seq=1000))
    assert peer.segments() == []


def test_a_bad_ack_to_our_syn_is_reset() -> None:
    env, stack, peer = setup(LINUX)
    conn = connect(env, stack, Recorder())
    [syn] = peer.segments()
    peer.send(reply(syn, "SA", seq=SERVER_ISS, ack=syn[TCP].seq + 99))
    [rst] = peer.segments()
    assert str(rst[TCP].flags) == "R" and rst[TCP].seq == syn[TCP].seq + 99
    assert state(conn) is tcp.TcpState.SYN_SENT


def test_abort_and_close_all() -> None:
    env, stack, peer = setup(LINUX)
    app = Recorder()
    conn, syn = handshake(env, stack, peer, app)
    peer.segments()
    conn.abort(env.now)
    [rst] = peer.segments()
    assert str(rst[TCP].flags) == "R" and rst[TCP].seq == syn[TCP].seq + 1 and app.kinds() == ["connected"]
    other = Recorder()
    handshake(env, stack, peer, other)
    peer.segments()
    stack.close_all(env.now)
    assert [str(s[TCP].flags) for s in peer.segments()] == ["R"] and other.events[-1] == ("closed", "aborted")
    assert stack.connections == {}


# -- loss and timers ----------------------------------------------------------------------------


def test_syn_retransmission_backs_off_then_times_out() -> None:
    env, stack, peer = setup(LINUX)
    app = Recorder()
    start = env.now
    connect(env, stack, app)
    [first] = peer.segments()
    times, seqs = [0.0], [first[TCP].seq]
    for _ in range(10):
        if stack.next_deadline() is None:
            break
        env.step()
        for syn in peer.segments():
            times.append(env.now - start)
            seqs.append(syn[TCP].seq)
    assert times == [0.0, 1.0, 3.0, 7.0, 15.0]  # RTO 1 s, doubling (RFC 6298 5.5)
    assert len(set(seqs)) == 1
    assert app.events == [("closed", "timeout")] and stack.connections == {}
    assert env.now - start == 31.0


def test_retransmitted_syn_carries_a_fresh_timestamp_and_rto_restarts_at_3s() -> None:
    env, stack, peer = setup(LINUX)
    conn = connect(env, stack, Recorder())
    [first] = peer.segments()
    env.step()
    [second] = peer.segments()
    assert ts_of(second)[0] - ts_of(first)[0] == 1000  # type: ignore[index]
    peer.send(reply(second, "SA", seq=SERVER_ISS, ack=second[TCP].seq + 1, options=[("MSS", 1460)]))
    peer.segments()
    conn.send(b"x", env.now)
    peer.segments()
    assert stack.next_deadline() == pytest.approx(env.now + 3.0)  # RFC 6298 5.7


def test_data_retransmission_backs_off_and_recovers() -> None:
    env, stack, peer = setup(LINUX)
    conn, syn = handshake(env, stack, peer, Recorder())
    iss = syn[TCP].seq
    peer.segments()
    sent_at = env.now
    conn.send(b"hello", env.now)
    [first] = peer.segments()
    retransmits = []
    for _ in range(3):
        env.step()
        [again] = peer.segments()
        retransmits.append(env.now - sent_at)
        assert bytes(again[TCP].payload) == b"hello" and again[TCP].seq == iss + 1
    assert retransmits == [1.0, 3.0, 7.0]
    peer.send(reply(first, "A", seq=SERVER_ISS + 1, ack=iss + 6))
    assert stack.next_deadline() is None and conn.established


def test_data_retransmission_gives_up_with_a_reset() -> None:
    env, stack, peer = setup(LINUX)
    app = Recorder()
    conn, _ = handshake(env, stack, peer, app)
    peer.segments()
    conn.send(b"hello", env.now)
    peer.segments()
    flags = []
    while stack.next_deadline() is not None:
        env.step()
        flags += [str(s[TCP].flags) for s in peer.segments()]
    assert flags == ["PA"] * tcp.Connection.DATA_RETRIES + ["R"]  # the first send was before the loop
    assert app.events[-1] == ("closed", "timeout") and conn.closed


def test_lost_fin_is_retransmitted() -> None:
    env, stack, peer = setup(LINUX)
    conn, _syn = handshake(env, stack, peer, Recorder())
    peer.segments()
    conn.close(env.now)
    [fin] = peer.segments()
    env.step()
    [again] = peer.segments()
    assert str(again[TCP].flags) == "FA" and again[TCP].seq == fin[TCP].seq


# -- windows, MSS, reassembly -------------------------------------------------------------------


def test_peer_mss_and_window_limit_what_is_in_flight() -> None:
    env, stack, peer = setup(LINUX)
    conn, syn = handshake(env, stack, peer, Recorder(), mss=536, wscale=None, window=1000)
    iss = syn[TCP].seq
    peer.segments()
    conn.send(bytes(3000), env.now)
    first = peer.segments()
    assert [len(s[TCP].payload) for s in first] == [524, 476]  # MSS 536 - 12 (timestamps); window 1000
    peer.send(reply(first[0], "A", seq=SERVER_ISS + 1, ack=iss + 1 + 524, window=1000))
    assert [len(s[TCP].payload) for s in peer.segments()] == [524]
    peer.send(reply(first[0], "A", seq=SERVER_ISS + 1, ack=iss + 1 + 1524, window=1000))
    assert [len(s[TCP].payload) for s in peer.segments()] == [524, 476]


def test_peer_window_is_scaled() -> None:
    env, stack, peer = setup(LINUX)
    conn, syn = handshake(env, stack, peer, Recorder(), mss=1000, wscale=2, ts=False, window=1000)
    peer.segments()
    peer.send(reply(syn, "A", seq=SERVER_ISS + 1, ack=syn[TCP].seq + 1, window=500))  # 500 << 2
    conn.send(bytes(5000), env.now)
    assert sum(len(s[TCP].payload) for s in peer.segments()) == 2000


def test_zero_window_is_probed() -> None:
    env, stack, peer = setup(LINUX)
    conn, _syn = handshake(env, stack, peer, Recorder(), window=0)
    peer.segments()
    conn.send(b"abc", env.now)
    assert peer.segments() == []
    env.step()
    [probe] = peer.segments()
    assert bytes(probe[TCP].payload) == b"a"


def test_out_of_order_data_is_reassembled_and_duplicates_acked() -> None:
    env, stack, peer = setup(LINUX)
    app = Recorder()
    conn, syn = handshake(env, stack, peer, app)
    iss = syn[TCP].seq
    peer.segments()
    base = SERVER_ISS + 1
    peer.send(reply(syn, "PA", seq=base + 5, ack=iss + 1, payload=b"world"))
    [dup] = peer.segments()
    assert dup[TCP].ack == base and app.data == b""
    peer.send(reply(syn, "PA", seq=base, ack=iss + 1, payload=b"hello"))
    [ack] = peer.segments()
    assert ack[TCP].ack == base + 10 and app.data == b"helloworld"
    peer.send(reply(syn, "PA", seq=base, ack=iss + 1, payload=b"hello"))  # a retransmission we already have
    [again] = peer.segments()
    assert again[TCP].ack == base + 10 and app.data == b"helloworld"
    peer.send(reply(syn, "PA", seq=base + 7, ack=iss + 1, payload=b"rld!!"))  # overlaps the end
    [ack] = peer.segments()
    assert ack[TCP].ack == base + 12 and app.data == b"helloworld!!"
    assert conn.bytes_received == 12


def test_retransmitted_syn_ack_is_acked_again() -> None:
    env, stack, peer = setup(LINUX)
    conn, syn = handshake(env, stack, peer, Recorder())
    peer.segments()
    peer.send(reply(syn, "SA", seq=SERVER_ISS, ack=syn[TCP].seq + 1, options=[("MSS", 1400)]))
    [ack] = peer.segments()
    assert str(ack[TCP].flags) == "A" and ack[TCP].ack == SERVER_ISS + 1 and conn.established


def test_segments_are_counted_under_the_connection_protocol() -> None:
    env, stack, peer = setup(LINUX)
    handshake(env, stack, peer, Recorder())
    assert env.counters.protocols == {"http": 2}
