"""Passive open and the listening services, against a scanner scripted with Scapy, on a virtual clock.

The scanner's segments are built by Scapy; what the device answers is dissected by Scapy: the
SYN-ACK's shape (window, options in the profile's order less what the SYN lacked, TTL), RST for
closed ports, the answers of the HTTP, RTSP, banner, printer and Modbus responders, and the
bounds (backlog, idle connections, oversized requests).
"""

from __future__ import annotations

import struct
from typing import Any

from scapy.layers.inet import IP, TCP
from scapy.packet import Packet

from iot_emulator.protocols.servers import listeners, printer_server, snmp_agent, tcp_server
from iot_emulator.protocols.transport import tcp
from tests.unit import protocol_env as penv
from tests.unit.tcp_peer import Peer

LINUX = {
    "window": 14600,
    "mss": 1460,
    "options": ["mss", "sackok", "ts", "nop", "wscale"],
    "window_scale": 4,
    "ip_id": "zero",
    "synack_window": 14480,
}
HTTP = {
    "kind": "http",
    "port": 80,
    "version": "HTTP/1.0",
    "headers": {"Date": "{date}", "Server": "App-webs/", "Content-Length": "{length}"},
    "routes": {
        "/": {"body": "<title>{model}</title>"},
        "/login": {"status": 401, "headers": {"WWW-Authenticate": 'Basic realm="{hostname}"'}},
        "*": {"status": 404},
    },
}
RTSP = {
    "kind": "rtsp",
    "port": 554,
    "version": "RTSP/1.0",
    "headers": {"CSeq": "{cseq}", "Public": "OPTIONS, DESCRIBE", "Server": "Acme Rtsp"},
    "routes": {
        "OPTIONS": {},
        "DESCRIBE": {"status": 401, "headers": {"CSeq": "{cseq}", "WWW-Authenticate": 'Basic realm="device"'}},
    },
}
SERVICES: list[dict[str, Any]] = [
    HTTP,
    RTSP,
    {"kind": "banner", "port": 23, "protocol": "telnet", "banner": "\xff\xfb\x01login: "},
    {"kind": "jetdirect", "port": 9100, "make_and_model": "Acme Laser 9"},
    {"kind": "lpd", "port": 515, "make_and_model": "Acme Laser 9", "queue": "BINARY_P1"},
    {"kind": "ipp", "port": 631, "make_and_model": "Acme Laser 9", "server": "Acme IPP"},
    {
        "kind": "modbus",
        "port": 502,
        "identification": {"vendor_name": "Acme", "product_code": "PLC 1", "revision": "V2.9"},
    },
]
SCANNER_ISS = 1000


def setup(listen: list[dict[str, Any]] = SERVICES) -> tuple[penv.Env, Peer]:
    env = penv.started(tcp=LINUX, ip_ttl=64, listen=listen)
    return env, Peer(env)


def syn(peer: Peer, dport: int, sport: int = 40000, options: list[Any] | None = None) -> Packet:
    opts = (
        options
        if options is not None
        else [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (555, 0)), ("NOP", None), ("WScale", 10)]
    )
    peer.send(TCP(sport=sport, dport=dport, flags="S", seq=SCANNER_ISS, window=1024, options=opts))
    [answer] = peer.segments()
    return answer


def connect(env: penv.Env, peer: Peer, dport: int, sport: int = 40000) -> Packet:
    synack = syn(peer, dport, sport)
    peer.send(TCP(sport=sport, dport=dport, flags="A", seq=SCANNER_ISS + 1, ack=synack[TCP].seq + 1, window=1024))
    return synack


def exchange(env: penv.Env, peer: Peer, dport: int, request: bytes, sport: int = 40000) -> tuple[bytes, list[str]]:
    """Connect, send `request`, return what the device sent back and the flags of its segments."""
    synack = connect(env, peer, dport, sport)
    greeting = b"".join(bytes(s[TCP].payload) for s in peer.segments())
    if request:
        peer.send(
            TCP(sport=sport, dport=dport, flags="PA", seq=SCANNER_ISS + 1, ack=synack[TCP].seq + 1, window=1024)
            / request
        )
    segments = peer.segments()
    return greeting + b"".join(bytes(s[TCP].payload) for s in segments), [str(s[TCP].flags) for s in segments]


def test_syn_ack_has_the_profile_shape_and_echoes_the_timestamp() -> None:
    _env, peer = setup()
    answer = syn(peer, 80)
    assert str(answer[TCP].flags) == "SA" and answer[TCP].ack == SCANNER_ISS + 1
    assert answer[TCP].window == 14480 and answer[IP].ttl == 64 and answer[IP].flags == "DF"
    assert [name for name, _ in answer[TCP].options] == ["MSS", "SAckOK", "Timestamp", "NOP", "WScale"]
    options = dict(answer[TCP].options)
    assert options["MSS"] == 1460 and options["WScale"] == 4 and options["Timestamp"][1] == 555


def test_syn_ack_leaves_out_what_the_syn_did_not_offer() -> None:
    _env, peer = setup()
    answer = syn(peer, 80, options=[("MSS", 1400)])
    assert [name for name, _ in answer[TCP].options] == ["MSS"]  # no TS, no WS, no SACK-permitted, and no NOP


def test_closed_port_answers_rst_ack_with_window_zero_and_the_profile_ttl() -> None:
    _env, peer = setup()
    answer = syn(peer, 8080)
    assert str(answer[TCP].flags) == "RA" and answer[TCP].ack == SCANNER_ISS + 1 and answer[TCP].seq == 0
    assert answer[TCP].window == 0 and answer[IP].ttl == 64


def test_a_syn_scan_reset_forgets_the_half_open_connection() -> None:
    env, peer = setup()
    synack = syn(peer, 80)
    stack = env.host.tcp
    assert isinstance(stack, tcp.TcpStack) and len(stack.connections) == 1
    peer.send(TCP(sport=40000, dport=80, flags="R", seq=SCANNER_ISS + 1, window=0))
    assert stack.connections == {} and peer.segments() == []
    assert synack[TCP].seq != 0


def test_syn_ack_is_sent_again_then_the_half_open_connection_is_dropped() -> None:
    env, peer = setup()
    first = syn(peer, 80)
    env.advance(10)
    again = peer.segments()
    assert [str(s[TCP].flags) for s in again] == ["SA", "SA"] and {s[TCP].seq for s in again} == {first[TCP].seq}
    assert isinstance(env.host.tcp, tcp.TcpStack) and env.host.tcp.connections == {}


def test_http_answers_in_the_profile_header_order_and_closes() -> None:
    env, peer = setup()
    data, flags = exchange(env, peer, 80, b"GET / HTTP/1.0\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.0 200 OK" and lines[1].startswith("Date: Thu, 01 Jan 1970 00:0")
    assert lines[2:] == ["Server: App-webs/", f"Content-Length: {len(body)}"] and body == b"<title>Widget 2</title>"
    assert "FA" in flags or "FPA" in flags


def test_http_routes_per_path_with_device_placeholders() -> None:
    env, peer = setup()
    data, _ = exchange(env, peer, 80, b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b'HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm="widget-0a0b0c"\r\n\r\n')
    data, _ = exchange(env, peer, 80, b"GET /nothing HTTP/1.0\r\n\r\n", sport=40001)
    assert data.startswith(b"HTTP/1.0 404 Not Found\r\n")


def test_rtsp_echoes_cseq_and_leaves_it_out_when_the_request_has_none() -> None:
    env, peer = setup()
    data, _ = exchange(env, peer, 554, b"OPTIONS rtsp://10.77.0.10/ch1 RTSP/1.0\r\nCSeq: 7\r\n\r\n")
    assert data == b"RTSP/1.0 200 OK\r\nCSeq: 7\r\nPublic: OPTIONS, DESCRIBE\r\nServer: Acme Rtsp\r\n\r\n"
    data, _ = exchange(env, peer, 554, b"OPTIONS / RTSP/1.0\r\n\r\n", sport=40001)  # nmap's RTSPRequest probe
    assert data == b"RTSP/1.0 200 OK\r\nPublic: OPTIONS, DESCRIBE\r\nServer: Acme Rtsp\r\n\r\n"
    data, _ = exchange(env, peer, 554, b"DESCRIBE rtsp://10.77.0.10/ch1 RTSP/1.0\r\nCSeq: 2\r\n\r\n", sport=40002)
    assert data == b'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Basic realm="device"\r\n\r\n'


def test_banner_comes_first() -> None:
    env, peer = setup()
    data, _ = exchange(env, peer, 23, b"")
    assert data == b"\xff\xfb\x01login: "


def test_pjl_info_id_names_the_model_and_print_data_is_swallowed() -> None:
    env, peer = setup()
    data, _ = exchange(env, peer, 9100, b"\x1b%-12345X@PJL INFO ID\r\n")
    assert data == b'@PJL INFO ID\r\n"Acme Laser 9"\r\n\x0c'


def test_lpd_lists_the_queue_and_refuses_jobs() -> None:
    env, peer = setup()
    assert exchange(env, peer, 515, b"\x03BINARY_P1\n")[0] == b"BINARY_P1: no entries\n"
    assert exchange(env, peer, 515, b"\x02BINARY_P1\n", sport=40001)[0] == b"\x01"


def ipp_request(operation: int) -> bytes:
    body = (
        struct.pack("!BBHI", 1, 1, operation, 42)
        + b"\x01"
        + printer_server.attribute(0x47, "attributes-charset", b"utf-8")
        + b"\x03"
    )
    return (
        f"POST /ipp/print HTTP/1.1\r\nContent-Type: application/ipp\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def test_ipp_get_printer_attributes_gives_make_and_model() -> None:
    env, peer = setup()
    data, _ = exchange(env, peer, 631, ipp_request(printer_server.GET_PRINTER_ATTRIBUTES))
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\nServer: Acme IPP\r\nContent-Type: application/ipp")
    assert body[:8] == struct.pack("!BBHI", 1, 1, 0, 42)
    assert printer_server.attribute(0x41, "printer-make-and-model", b"Acme Laser 9") in body
    assert b"ipp://10.77.0.10:631/lp" in body
    data, _ = exchange(env, peer, 631, ipp_request(0x0002), sport=40001)
    assert data.partition(b"\r\n\r\n")[2][:4] == struct.pack("!BBH", 1, 1, printer_server.OPERATION_NOT_SUPPORTED)


def test_modbus_read_device_identification_and_illegal_function() -> None:
    env, peer = setup()
    ident = struct.pack("!HHHB", 9, 0, 5, 1) + bytes([0x2B, 0x0E, 0x01, 0x00])
    data, flags = exchange(env, peer, 502, ident)
    assert data == (
        struct.pack("!HHHB", 9, 0, 27, 1)
        + bytes([0x2B, 0x0E, 1, 1, 0, 0, 3])
        + b"\x00\x04Acme"
        + b"\x01\x05PLC 1"
        + b"\x02\x04V2.9"
    )
    assert "FA" not in flags  # Modbus connections stay open
    data, _ = exchange(env, peer, 502, struct.pack("!HHHB", 10, 0, 6, 1) + bytes([3, 0, 0, 0, 2]), sport=40001)
    assert data == struct.pack("!HHHB", 10, 0, 7, 1) + bytes([3, 4, 0, 0, 0, 0])  # two holding registers
    data, _ = exchange(env, peer, 502, struct.pack("!HHHB", 11, 0, 2, 1) + bytes([0x08]), sport=40002)
    assert data == struct.pack("!HHHB", 11, 0, 3, 1) + bytes([0x88, 0x01])  # diagnostics: illegal function


def test_idle_and_oversized_connections_are_reset() -> None:
    env, peer = setup()
    connect(env, peer, 23)
    peer.segments()
    env.advance(tcp_server.IDLE + 1)  # the banner is sent again (never ACKed), then the idle peer is reset
    assert [str(s[TCP].flags) for s in peer.segments()][-1] == "R"
    assert isinstance(env.host.tcp, tcp.TcpStack) and env.host.tcp.connections == {}
    synack = connect(env, peer, 80, sport=40001)
    peer.send(
        TCP(sport=40001, dport=80, flags="PA", seq=SCANNER_ISS + 1, ack=synack[TCP].seq + 1, window=60000)
        / (b"GET /" + b"a" * (tcp_server.MAX_REQUEST + 10))
    )
    assert "R" in [str(s[TCP].flags) for s in peer.segments()]


def test_half_open_connections_are_capped() -> None:
    _env, peer = setup()
    for i in range(tcp.TcpStack.HALF_OPEN):
        syn(peer, 80, sport=41000 + i)
    peer.send(TCP(sport=42000, dport=80, flags="S", seq=SCANNER_ISS, window=1024, options=[("MSS", 1460)]))
    assert peer.segments() == []  # dropped, as by a full backlog


def test_a_device_without_listeners_has_no_tcp_stack_until_it_connects() -> None:
    env, _ = setup(listen=[])
    assert env.host.tcp is None


def test_modbus_refuses_a_text_probe_as_nmap_expects() -> None:
    env, peer = setup()
    data, _ = exchange(env, peer, 502, b"GET / HTTP/1.0\r\n\r\n")
    assert data == b"GET \x00\x03H\xd4\x01"  # nmap: match modbus m|^GET [\0/]\x03H\xd4[\x01-\x03]|


def test_what_is_not_a_request_gets_400_at_once() -> None:
    env, peer = setup()
    data, _ = exchange(env, peer, 80, b"\x16\x03\x00\x00S\x01\x00\x00O\x03\x00")  # nmap's SSLSessionReq, no CRLF
    assert data.startswith(b"HTTP/1.0 400 Bad Request\r\nDate: ")
    data, _ = exchange(env, peer, 80, b"\r\n\r\n", sport=40001)  # nmap's GenericLines
    assert data.startswith(b"HTTP/1.0 400 Bad Request\r\n")


def test_options_star_is_routed_by_its_method() -> None:
    env, peer = setup()
    data, _ = exchange(env, peer, 554, b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")  # what curl sends
    assert data.startswith(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: ")


LINUX_RANDOM_ID = {**LINUX, "ip_id": "random", "synack_window": None, "ecn": True}


def setup_linux() -> tuple[penv.Env, Peer]:
    env = penv.started(tcp=LINUX_RANDOM_ID, listen=[HTTP])
    return env, Peer(env)


def test_linux_synack_window_counts_segments_of_the_agreed_mss_and_id_is_zero() -> None:
    _env, peer = setup_linux()
    with_ts = syn(peer, 80)
    assert with_ts[TCP].window == 10 * 1448 and with_ts[IP].id == 0  # nmap -O: W=3890, TI=Z
    without_ts = syn(peer, 80, sport=40001, options=[("MSS", 1460), ("SAckOK", b""), ("WScale", 10)])
    assert without_ts[TCP].window == 14600
    assert [name for name, _ in without_ts[TCP].options] == ["MSS", "NOP", "NOP", "SAckOK", "NOP", "WScale"]
    closed = syn(peer, 81, sport=40002)
    assert str(closed[TCP].flags) == "RA" and closed[IP].id == 0


def test_listen_drops_segments_without_syn_or_ack_and_syn_fin() -> None:
    _env, peer = setup_linux()
    peer.send(TCP(sport=40000, dport=80, flags="", seq=SCANNER_ISS, window=128))  # nmap -O T2
    peer.send(TCP(sport=40001, dport=80, flags="SFUP", seq=SCANNER_ISS, window=256))  # T3
    assert peer.segments() == []


def test_ecn_setup_syn_gets_ece_when_the_profile_says_so() -> None:
    _env, peer = setup_linux()
    peer.send(TCP(sport=40000, dport=80, flags="SEC", seq=SCANNER_ISS, window=3, options=[("MSS", 1460)]))
    [answer] = peer.segments()
    assert str(answer[TCP].flags) == "SAE"
    _env, peer = setup()  # ecn off
    peer.send(TCP(sport=40000, dport=80, flags="SEC", seq=SCANNER_ISS, window=3, options=[("MSS", 1460)]))
    assert str(peer.segments()[0][TCP].flags) == "SA"


def test_responders_and_mib_are_built_once_per_profile() -> None:
    config = penv.make_config(protocols=(), listen=[HTTP], snmp={"sys_descr": "x", "sys_object_id": "1.3.6.1.4.1.9"})
    first, second = penv.Env(config), penv.Env(config, address="10.77.0.11")
    built = [env.build() for env in (first, second)]
    tables = [next(s for s in services if isinstance(s, listeners.Listeners)).table for services in built]
    mibs = [next(s for s in services if isinstance(s, snmp_agent.SnmpAgent)).mib for services in built]
    assert tables[0] is tables[1] and mibs[0] is mibs[1]
