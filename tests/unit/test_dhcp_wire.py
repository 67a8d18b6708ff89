"""DHCP client frames against Scapy: byte-exact builds, dissection, and parsing of server replies."""

from __future__ import annotations

from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import dhcp_wire, wire

MAC = bytes.fromhex("001234567801")
MAC_S = "00:12:34:56:78:01"
SERVER_MAC = "02:00:0a:4d:00:01"
SERVER = "10.77.0.1"
ADDR = "10.77.0.50"
XID = 0x3BBFF79E

# A BusyBox udhcpc camera (Satori "udhcp" style): 57 and 61 early, no broadcast bit, TTL 64.
CAMERA = catalog.DhcpFingerprint(
    options=[53, 61, 57, 50, 54, 12, 55, 60],
    parameter_request_list=[1, 3, 6, 12, 15, 28, 42],
    vendor_class_id="udhcp 1.19.4",
    max_message_size=576,
)
# A Windows-like stack: 116 in DISCOVER only, 81 in REQUEST only, 51 listed, broadcast bit, TTL 128.
WINDOWS = catalog.DhcpFingerprint(
    options=[53, 116, 61, 51, 50, 54, 12, 81, 60, 55],
    parameter_request_list=[1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252],
    vendor_class_id="MSFT 5.0",
    broadcast_flag=True,
    ip_ttl=128,
    secs=False,
)
NO_CLIENT_ID = catalog.DhcpFingerprint(
    options=[53, 55, 61, 12], parameter_request_list=[1, 3, 6], client_id=catalog.ClientIdKind.none
)


def ip(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def scapy_request(
    fp: catalog.DhcpFingerprint,
    options: list[Any],
    *,
    xid: int = XID,
    secs: int = 0,
    flags: int = 0,
    ciaddr: str = "0.0.0.0",
    src: str = "0.0.0.0",
    dst: str = "255.255.255.255",
    dst_mac: str = "ff:ff:ff:ff:ff:ff",
) -> bytes:
    """The reference frame, Scapy defaults pinned: IP id 0, no DF, the fingerprint's TTL, 300-byte pad."""
    bootp = BOOTP(op=1, xid=xid, secs=secs, flags=flags, ciaddr=ciaddr, chaddr=MAC)
    dhcp = DHCP(options=[*options, "end"])
    pad = max(0, 300 - len(bytes(bootp / dhcp)))
    dhcp = DHCP(options=[*options, "end", *["pad"] * pad])
    pkt = Ether(src=MAC_S, dst=dst_mac) / IP(src=src, dst=dst, ttl=fp.ip_ttl, id=0, flags=0) / UDP(sport=68, dport=67)
    return bytes(pkt / bootp / dhcp)


def option_names(frame: bytes) -> list[str]:
    return [opt[0] for opt in Ether(frame)[DHCP].options if isinstance(opt, tuple)]


def options_of(frame: bytes) -> dict[str, Any]:
    return {opt[0]: opt[1] for opt in Ether(frame)[DHCP].options if isinstance(opt, tuple)}


CAM_FIXED = [("client_id", b"\x01" + MAC), ("max_dhcp_size", 576)]
CAM_TAIL = [
    ("hostname", b"cam-567801"),
    ("param_req_list", [1, 3, 6, 12, 15, 28, 42]),
    ("vendor_class_id", b"udhcp 1.19.4"),
]
WIN_PRL = ("param_req_list", WINDOWS.parameter_request_list)


@pytest.fixture
def cam() -> dhcp_wire.ClientFrames:
    return dhcp_wire.ClientFrames(MAC, "cam-567801", CAMERA)


@pytest.fixture
def win() -> dhcp_wire.ClientFrames:
    return dhcp_wire.ClientFrames(MAC, "DESKTOP-1", WINDOWS)


def test_camera_discover_matches_scapy(cam: dhcp_wire.ClientFrames) -> None:
    assert cam.discover(XID, 3) == scapy_request(CAMERA, [("message-type", "discover"), *CAM_FIXED, *CAM_TAIL], secs=3)
    with_50 = [("message-type", "discover"), *CAM_FIXED, ("requested_addr", ADDR), *CAM_TAIL]
    assert cam.discover(XID, 3, ip(ADDR)) == scapy_request(CAMERA, with_50, secs=3)


def test_camera_requests_match_scapy(cam: dhcp_wire.ClientFrames) -> None:
    selecting = [("message-type", "request"), *CAM_FIXED, ("requested_addr", ADDR), ("server_id", SERVER), *CAM_TAIL]
    assert cam.request_selecting(XID, 5, ip(ADDR), ip(SERVER)) == scapy_request(CAMERA, selecting, secs=5)
    reboot = [("message-type", "request"), *CAM_FIXED, ("requested_addr", ADDR), *CAM_TAIL]
    assert cam.request_init_reboot(XID, 0, ip(ADDR)) == scapy_request(CAMERA, reboot)
    bound = [("message-type", "request"), *CAM_FIXED, *CAM_TAIL]
    renewing = scapy_request(CAMERA, bound, secs=1, ciaddr=ADDR, src=ADDR, dst=SERVER, dst_mac=SERVER_MAC)
    assert cam.request_renewing(XID, 1, ip(ADDR), ip(SERVER), bytes.fromhex(SERVER_MAC.replace(":", ""))) == renewing
    rebinding = scapy_request(CAMERA, bound, secs=2, ciaddr=ADDR, src=ADDR)
    assert cam.request_rebinding(XID, 2, ip(ADDR)) == rebinding


def test_camera_decline_and_release_match_scapy(cam: dhcp_wire.ClientFrames) -> None:
    decline = [("message-type", "decline"), CAM_FIXED[0], ("requested_addr", ADDR), ("server_id", SERVER)]
    assert cam.decline(XID, ip(ADDR), ip(SERVER)) == scapy_request(CAMERA, decline)
    release = [("message-type", "release"), CAM_FIXED[0], ("server_id", SERVER)]
    server_mac = bytes.fromhex(SERVER_MAC.replace(":", ""))
    expected = scapy_request(CAMERA, release, ciaddr=ADDR, src=ADDR, dst=SERVER, dst_mac=SERVER_MAC)
    assert cam.release(XID, ip(ADDR), ip(SERVER), server_mac) == expected


def test_windows_frames_match_scapy(win: dhcp_wire.ClientFrames) -> None:
    lease = ("lease_time", 0xFFFFFFFF)
    cid, host, vendor = ("client_id", b"\x01" + MAC), ("hostname", b"DESKTOP-1"), ("vendor_class_id", b"MSFT 5.0")
    discover = [
        ("message-type", "discover"),
        ("auto-config", 1),
        cid,
        lease,
        ("requested_addr", ADDR),
        host,
        vendor,
        WIN_PRL,
    ]
    assert win.discover(XID, 9, ip(ADDR)) == scapy_request(WINDOWS, discover, flags=0x8000)  # secs: False
    fqdn = ("client_FQDN", b"\x00\x00\x00DESKTOP-1")
    request = [
        ("message-type", "request"),
        cid,
        lease,
        ("requested_addr", ADDR),
        ("server_id", SERVER),
        host,
        fqdn,
        vendor,
        WIN_PRL,
    ]
    assert win.request_selecting(XID, 9, ip(ADDR), ip(SERVER)) == scapy_request(WINDOWS, request, flags=0x8000)
    # DECLINE: only 53, 61, 50, 54 (RFC 2131 table 5) and no broadcast bit
    decline = [("message-type", "decline"), cid, ("requested_addr", ADDR), ("server_id", SERVER)]
    assert win.decline(XID, ip(ADDR), ip(SERVER)) == scapy_request(WINDOWS, decline)


def test_option_order_follows_each_fingerprint(cam: dhcp_wire.ClientFrames, win: dhcp_wire.ClientFrames) -> None:
    assert option_names(cam.request_selecting(1, 0, ip(ADDR), ip(SERVER))) == [
        "message-type",
        "client_id",
        "max_dhcp_size",
        "requested_addr",
        "server_id",
        "hostname",
        "param_req_list",
        "vendor_class_id",
    ]
    assert option_names(win.request_selecting(1, 0, ip(ADDR), ip(SERVER))) == [
        "message-type",
        "client_id",
        "lease_time",
        "requested_addr",
        "server_id",
        "hostname",
        "client_FQDN",
        "vendor_class_id",
        "param_req_list",
    ]
    assert option_names(win.discover(1, 0)) == [
        "message-type",
        "auto-config",
        "client_id",
        "lease_time",
        "hostname",
        "vendor_class_id",
        "param_req_list",
    ]


def test_table5_rules() -> None:
    """No 61 without a client id; 50/54 appended when required but not listed; RELEASE without 55."""
    frames = dhcp_wire.ClientFrames(MAC, "plug", NO_CLIENT_ID)
    assert option_names(frames.discover(1, 0, ip(ADDR))) == ["message-type", "param_req_list", "hostname"]
    assert option_names(frames.discover(1, 0, ip(ADDR), insist=True))[-1] == "requested_addr"
    selecting = option_names(frames.request_selecting(1, 0, ip(ADDR), ip(SERVER)))
    assert selecting == ["message-type", "param_req_list", "hostname", "requested_addr", "server_id"]
    assert option_names(frames.release(1, ip(ADDR), ip(SERVER), b"\x02" * 6)) == ["message-type", "server_id"]
    bootp = Ether(frames.release(1, ip(ADDR), ip(SERVER), b"\x02" * 6))[BOOTP]
    assert (bootp.ciaddr, bootp.secs, bootp.flags) == (ADDR, 0, 0)


def test_patching_leaves_the_template_intact(cam: dhcp_wire.ClientFrames) -> None:
    first = cam.request_selecting(1, 1, ip(ADDR), ip(SERVER))
    cam.request_selecting(2, 2, ip("10.77.0.99"), ip("10.77.0.2"))
    assert cam.request_selecting(1, 1, ip(ADDR), ip(SERVER)) == first
    opts = options_of(cam.request_selecting(7, 70000, ip("10.77.0.99"), ip("10.77.0.2")))
    assert (opts["requested_addr"], opts["server_id"]) == ("10.77.0.99", "10.77.0.2")
    assert Ether(cam.request_selecting(7, 70000, ip(ADDR), ip(SERVER)))[BOOTP].secs == 0xFFFF


def test_checksums_are_valid(cam: dhcp_wire.ClientFrames) -> None:
    frame = cam.discover(XID, 0)
    pkt = Ether(frame)
    ip_sum, udp_sum = pkt[IP].chksum, pkt[UDP].chksum
    del pkt[IP].chksum, pkt[UDP].chksum
    rebuilt = Ether(bytes(pkt))
    assert (rebuilt[IP].chksum, rebuilt[UDP].chksum) == (ip_sum, udp_sum)
    assert len(frame) == 14 + 20 + 8 + 300


# -- parsing server replies ---------------------------------------------------------------------


def server_reply(
    opts: list[Any],
    *,
    xid: int = XID,
    chaddr: bytes = MAC,
    yiaddr: str = ADDR,
    sport: int = 67,
    dport: int = 68,
    op: int = 2,
    ip_options: bytes = b"",
    **bootp: Any,
) -> Packet:
    ip_layer = (
        IP(src=SERVER, dst="255.255.255.255", options=ip_options)
        if ip_options
        else IP(src=SERVER, dst="255.255.255.255")
    )
    return (
        Ether(src=SERVER_MAC, dst="ff:ff:ff:ff:ff:ff")
        / ip_layer
        / UDP(sport=sport, dport=dport)
        / BOOTP(op=op, xid=xid, yiaddr=yiaddr, chaddr=chaddr, **bootp)
        / DHCP(options=[*opts, "end"])
    )


OFFER_OPTIONS = [
    ("message-type", "offer"),
    ("server_id", SERVER),
    ("lease_time", 43200),
    ("renewal_time", 21600),
    ("rebinding_time", 37800),
    ("subnet_mask", "255.255.255.0"),
    ("router", "10.77.0.1"),
    ("name_server", "10.77.0.1", "10.77.0.2"),
    ("NTP_server", "10.77.0.3"),
    ("domain", b"lab.example"),
]


def test_parse_offer() -> None:
    msg = dhcp_wire.parse(bytes(server_reply(OFFER_OPTIONS)))
    assert msg is not None
    assert (msg.op, msg.xid, msg.msg_type, msg.yiaddr, msg.chaddr) == (2, XID, dhcp_wire.OFFER, ip(ADDR), MAC)
    assert (msg.server_id, msg.lease_time, msg.renewal_time, msg.rebinding_time) == (ip(SERVER), 43200, 21600, 37800)
    assert msg.subnet_mask == ip("255.255.255.0")
    assert msg.routers == [ip("10.77.0.1")]
    assert msg.dns_servers == [ip("10.77.0.1"), ip("10.77.0.2")]
    assert msg.ntp_servers == [ip("10.77.0.3")]
    assert msg.domain_name == "lab.example"
    assert (msg.src_mac, msg.src_ip) == (bytes.fromhex("02000a4d0001"), ip(SERVER))


def test_parse_ack_and_nak() -> None:
    ack = dhcp_wire.parse(bytes(server_reply([("message-type", "ack"), ("server_id", SERVER), ("lease_time", 60)])))
    assert ack is not None and ack.msg_type == dhcp_wire.ACK and ack.lease_time == 60
    assert ack.renewal_time is None and ack.routers == [] and ack.domain_name is None
    nak_frame = server_reply(
        [("message-type", "nak"), ("server_id", SERVER), ("error_message", b"wrong network")], yiaddr="0.0.0.0"
    )
    nak = dhcp_wire.parse(bytes(nak_frame))
    assert nak is not None and nak.msg_type == dhcp_wire.NAK and nak.message == "wrong network"


def test_parse_accepts_bad_udp_checksum_and_ethernet_padding() -> None:
    pkt = server_reply(OFFER_OPTIONS)
    pkt[UDP].chksum = 0x1234  # partial checksum from veth offload
    msg = dhcp_wire.parse(bytes(pkt) + b"\x00" * 20)
    assert msg is not None and msg.domain_name == "lab.example"


def test_parse_option_overload() -> None:
    """RFC 2131 4.1: option 52 moves options into `file` (and `sname`)."""
    in_file = bytes([3, 4, *ip("10.77.0.254"), 255])
    pkt = server_reply([("message-type", "ack"), ("dhcp-option-overload", 1), ("lease_time", 60)], file=in_file)
    msg = dhcp_wire.parse(bytes(pkt))
    assert msg is not None and msg.routers == [ip("10.77.0.254")]


def test_parse_with_ip_options() -> None:
    pkt = server_reply(OFFER_OPTIONS, ip_options=b"\x01\x01\x01\x00")  # NOP NOP NOP EOL: IHL 6
    raw = bytes(pkt)
    assert raw[14] == 0x46
    msg = dhcp_wire.parse(raw)
    assert msg is not None and msg.chaddr == MAC
    assert dhcp_wire.chaddr_of(raw) == MAC


@pytest.mark.parametrize(
    "pkt",
    [
        server_reply(OFFER_OPTIONS, dport=67),  # to a server
        server_reply(OFFER_OPTIONS, op=1),  # BOOTREQUEST
        server_reply(OFFER_OPTIONS, options=b"\x00\x00\x00\x00"),  # no magic cookie
        server_reply([]),  # plain BOOTP: no option 53
    ],
)
def test_parse_rejects(pkt: Packet) -> None:
    assert dhcp_wire.parse(bytes(pkt)) is None


def test_parse_rejects_non_dhcp_frames() -> None:
    arp = wire.arp_frame(MAC, wire.BROADCAST_MAC, wire.Arp(1, MAC, wire.ZERO_IP, b"\x00" * 6, ip(ADDR)))
    assert dhcp_wire.parse(arp) is None and dhcp_wire.chaddr_of(arp) is None
    raw = bytes(server_reply(OFFER_OPTIONS))
    assert dhcp_wire.parse(raw[:200]) is None
    truncated_option = raw[: 14 + 20 + 8 + 240] + b"\x35\x01\x02\x33\x04\x00"
    msg = dhcp_wire.parse(truncated_option)
    assert msg is not None and msg.lease_time is None  # the cut option is dropped, not misread


def test_chaddr_of() -> None:
    assert dhcp_wire.chaddr_of(bytes(server_reply(OFFER_OPTIONS))) == MAC
    assert dhcp_wire.chaddr_of(bytes(server_reply(OFFER_OPTIONS, dport=67))) is None
