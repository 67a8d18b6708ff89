"""Kasa (TCP and UDP 9999), DICOM (104), miIO hello (54321) and HID discoveryd (4070), byte for byte.

Requests are built the way the real clients build them (python-kasa's XOR framing, nmap's
dicom.lua A-ASSOCIATE-RQ and dcmtk's C-ECHO-RQ layout, python-miio's hello, nmap's
broadcast-hid-discoveryd probe) and sent through a device's real TCP stack or UDP bindings.
"""

from __future__ import annotations

import json
import struct
from types import SimpleNamespace
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.engine import multicast
from iot_emulator.protocols import services
from iot_emulator.protocols.servers import dicom_server, kasa_server, udp_answers
from tests.unit import protocol_env as penv
from tests.unit.tcp_peer import Peer
from tests.unit.test_tcp_server import LINUX, exchange

SYSINFO = {"err_code": 0, "model": "HS110(EU)", "mac": "{MAC}", "alias": "{hostname}"}
KASA = {"kind": "kasa", "port": 9999, "replies": {"system.get_sysinfo": SYSINFO}}
DICOM = {"kind": "dicom", "port": 104, "implementation_class_uid": "1.2.3.4", "implementation_version": "ACME_1"}
DISCOVERYD = {"kind": "discoveryd", "port": 4070, "model": "V2000", "version": "2.2.7.568", "date": "03/05/2015"}


def setup(**fields: Any) -> penv.Env:
    return penv.started(tcp=LINUX, **fields)


def kasa_frame(request: dict[str, Any]) -> bytes:
    plain = json.dumps(request).encode()
    return struct.pack("!I", len(plain)) + kasa_server.encrypt(plain)


def test_xor_autokey_matches_the_published_example() -> None:
    # softScheck tplink_smartplug.py: the first bytes of encrypt('{"system":{"get_sysinfo":{}}}')
    assert kasa_server.encrypt(b'{"system"')[:4] == bytes([0xD0, 0xF2, 0x81, 0xF8])
    assert kasa_server.decrypt(kasa_server.encrypt(b'{"a":1}')) == b'{"a":1}'


def test_kasa_tcp_answers_sysinfo_with_device_values_and_errors_for_the_rest() -> None:
    env = setup(listen=[KASA])
    request = {"system": {"get_sysinfo": {}, "reboot": {}}, "cnCloud": {"get_info": {}}}
    data, flags = exchange(env, Peer(env), 9999, kasa_frame(request))
    (length,) = struct.unpack("!I", data[:4])
    assert length == len(data) - 4 and "F" not in "".join(flags)  # the connection stays open
    answer = json.loads(kasa_server.decrypt(data[4:]))
    assert answer == {
        "system": {
            "get_sysinfo": {"err_code": 0, "model": "HS110(EU)", "mac": penv.MAC.upper(), "alias": "widget-0a0b0c"},
            "reboot": {"err_code": -2, "err_msg": "member not support"},
        },
        "cnCloud": {"err_code": -1, "err_msg": "module not support"},
    }


def test_kasa_tcp_hangs_up_on_what_is_not_a_frame() -> None:
    env = setup(listen=[KASA])
    data, flags = exchange(env, Peer(env), 9999, b"GET / HTTP/1.0\r\n\r\n")
    assert data == b"" and "FA" in flags


def udp_ask(env: penv.Env, dport: int, payload: bytes, dst: str = penv.IP) -> list[Packet]:
    env.deliver(
        Ether(src=penv.GATEWAY_MAC, dst="ff:ff:ff:ff:ff:ff" if dst.endswith("255") else env.config.mac)
        / IP(src=penv.GATEWAY, dst=dst)
        / UDP(sport=5555, dport=dport)
        / payload
    )
    return penv.Env.udp(env.sent(), 5555)


def test_kasa_udp_discovery_answers_a_broadcast_get_sysinfo() -> None:
    env = setup(listen_udp=[KASA])
    [frame] = udp_ask(env, 9999, kasa_server.encrypt(b'{"system":{"get_sysinfo":{}}}'), dst="255.255.255.255")
    assert frame[IP].src == penv.IP and frame[UDP].sport == 9999
    assert json.loads(kasa_server.decrypt(bytes(frame[UDP].payload)))["system"]["get_sysinfo"]["model"] == "HS110(EU)"
    assert udp_ask(env, 9999, kasa_server.encrypt(b"not json")) == []


def test_miio_hello_gives_device_id_and_uptime_and_hides_the_token() -> None:
    env = setup(listen_udp=[{"kind": "miio"}])
    env.advance(42)
    [frame] = udp_ask(env, 54321, udp_answers.MIIO_HELLO)
    magic, length, unknown, device_id, stamp = struct.unpack("!HHIII", bytes(frame[UDP].payload)[:16])
    assert (magic, length, unknown, device_id) == (0x2131, 32, 0, int(penv.MAC.replace(":", "")[-8:], 16))
    assert 42 <= stamp <= 43 and bytes(frame[UDP].payload)[16:] == b"\xff" * 16
    assert udp_ask(env, 54321, bytes.fromhex("21310040") + bytes(60)) == []  # a command without the token


def test_discoveryd_answer_has_the_ten_fields_nmap_checks() -> None:
    env = setup(listen_udp=[DISCOVERYD])
    [frame] = udp_ask(env, 4070, b"discover;013;", dst="255.255.255.255")
    text = bytes(frame[UDP].payload).decode()
    fields = text.split(";")
    assert len(fields) == 10 and fields[0] == "discovered" and int(fields[1]) == len(text)
    assert fields[2:9] == [penv.MAC.upper(), "widget-0a0b0c", penv.IP, "1", "V2000", "2.2.7.568", "03/05/2015"]


def associate_rq(called: bytes = b"ANY-SCP", abstract: bytes = dicom_server.VERIFICATION) -> bytes:
    """nmap dicom.lua `associate`: one presentation context (id 1), implicit VR LE, dcmtk's user info."""
    ctx = dicom_server.item(0x30, abstract) + dicom_server.item(0x40, dicom_server.IMPLICIT_LE)
    body = (
        struct.pack("!HH", 1, 0)
        + called.ljust(16)
        + b"ECHOSCU".ljust(16)
        + bytes(32)
        + dicom_server.item(0x10, dicom_server.APPLICATION_CONTEXT)
        + dicom_server.item(0x20, bytes([1, 0, 0, 0]) + ctx)
        + dicom_server.item(0x50, dicom_server.item(0x51, struct.pack("!I", 16384)))
    )
    return dicom_server.pdu(dicom_server.ASSOCIATE_RQ, body)


def test_dicom_accepts_verification_and_echoes_the_ae_titles() -> None:
    env = setup(listen=[DICOM])
    data, flags = exchange(env, Peer(env), 104, associate_rq())
    kind, length = dicom_server.HEADER.unpack_from(data)
    assert kind == dicom_server.ASSOCIATE_AC and length == len(data) - 6 and "F" not in "".join(flags)
    body = data[6:]
    assert body[4:20] == b"ANY-SCP".ljust(16) and body[20:36] == b"ECHOSCU".ljust(16)
    found = dict(dicom_server.items(body[68:]))
    assert found[0x10] == dicom_server.APPLICATION_CONTEXT
    assert found[0x21][:4] == bytes([1, 0, 0, 0]) and found[0x21][4:] == dicom_server.item(
        0x40, dicom_server.IMPLICIT_LE
    )
    user = dict(dicom_server.items(found[0x50]))
    assert user[0x52] == b"1.2.3.4" and user[0x55] == b"ACME_1"


@pytest.mark.parametrize(("abstract", "result"), [(b"1.2.840.10008.5.1.4.1.1.2", 3)])
def test_dicom_refuses_other_abstract_syntaxes(abstract: bytes, result: int) -> None:
    env = setup(listen=[DICOM])
    data, _ = exchange(env, Peer(env), 104, associate_rq(abstract=abstract))
    assert dict(dicom_server.items(data[6 + 68 :]))[0x21][2] == result


def test_dicom_with_an_ae_title_rejects_other_called_titles() -> None:
    env = setup(listen=[{**DICOM, "ae_title": "AGW"}])
    data, flags = exchange(env, Peer(env), 104, associate_rq(called=b"ANY-SCP"))
    assert data == bytes([3, 0, 0, 0, 0, 4, 0, 1, 1, 7]) and "F" in "".join(flags)


def test_dicom_c_echo_gets_success_and_release_gets_rp() -> None:
    responder = dicom_server.Dicom(dicom_server.answers.DicomService.model_validate(DICOM))
    uid = dicom_server.VERIFICATION + b"\0"
    elements = (
        struct.pack("<HHI", 0, 2, len(uid))
        + uid
        + struct.pack("<HHIH", 0, 0x100, 2, 0x30)
        + struct.pack("<HHIH", 0, 0x110, 2, 7)
        + struct.pack("<HHIH", 0, 0x800, 2, 0x0101)
    )
    command = struct.pack("<HHII", 0, 0, 4, len(elements)) + elements
    p_data = dicom_server.pdu(dicom_server.P_DATA, struct.pack("!IBB", len(command) + 2, 1, 3) + command)
    reply = responder.respond(None, p_data, 0.0)  # type: ignore[arg-type]  # facts are not read
    assert reply is not None and not reply.close and reply.consumed == len(p_data)
    assert reply.data[6:12] == struct.pack("!IBB", len(reply.data) - 10, 1, 3)
    fields = dicom_server.command(reply.data[12:])
    assert fields[0x0100] == struct.pack("<H", 0x8030) and fields[0x0120] == struct.pack("<H", 7)
    assert fields[0x0900] == b"\0\0" and fields[0x0002] == uid
    assert struct.unpack("<I", fields[0x0000])[0] == len(reply.data) - 12 - 12
    release = responder.respond(None, dicom_server.pdu(dicom_server.RELEASE_RQ, bytes(4)), 0.0)  # type: ignore[arg-type]
    assert release is not None and release.data == bytes([6, 0, 0, 0, 0, 4, 0, 0, 0, 0]) and release.close
    http = responder.respond(None, b"GET / HTTP/1.0\r\n\r\n", 0.0)  # type: ignore[arg-type]
    assert http is not None and http.data == bytes([7, 0, 0, 0, 0, 4, 0, 0, 0, 0]) and http.close


def test_a_device_that_never_used_tcp_still_resets_syns() -> None:
    env = setup()  # no listeners, no connection: no stack is created, yet a closed port is not silent
    peer = Peer(env)
    peer.send(TCP(sport=40000, dport=80, flags="S", seq=1000, window=1024))
    [rst] = peer.segments()
    assert str(rst[TCP].flags) == "RA" and rst[TCP].ack == 1001 and rst[TCP].window == 0
    assert env.host.tcp is None


def test_broadcasts_go_only_to_devices_bound_to_their_port() -> None:
    class Dev:  # what the directory reads of a device: its host's groups, mDNS names and broadcast ports
        def __init__(self, ports: frozenset[int]) -> None:
            self.host = SimpleNamespace(
                groups=set(), mdns_names=frozenset(), mdns_unique=frozenset(), broadcast_ports=ports
            )

    def device(ports: frozenset[int]) -> Any:
        return Dev(ports)

    kasa, other = device(frozenset({9999})), device(frozenset())
    directory = multicast.Directory()
    for dev in (kasa, other):
        directory.update(dev)

    def frame(dst: str, dport: int) -> bytes:
        return bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src=penv.GATEWAY, dst=dst) / UDP(sport=5555, dport=dport))

    assert directory.broadcast_recipients(frame("255.255.255.255", 9999)) == [kasa]
    assert directory.broadcast_recipients(frame("255.255.255.255", 68)) == []
    assert directory.broadcast_recipients(frame("10.77.0.255", 9999)) == ()
    kasa.host.broadcast_ports = frozenset()
    directory.update(kasa)
    assert directory.broadcast_recipients(frame("255.255.255.255", 9999)) == ()


def test_icmp_timestamp_is_answered_when_the_profile_says_so() -> None:
    def ask(env: penv.Env) -> list[Packet]:
        env.deliver(
            Ether(src=penv.GATEWAY_MAC, dst=env.config.mac)
            / IP(src=penv.GATEWAY, dst=penv.IP)
            / ICMP(type=13, id=0x1234, seq=7, ts_ori=555)
        )
        return [f for f in env.sent() if ICMP in f]

    linux = setup(icmp_timestamp=True)
    linux.advance(90_061.5)  # over a day after "boot" (no NTP: the device's clock started at 1970)
    [reply] = ask(linux)
    assert (reply[ICMP].type, reply[ICMP].id, reply[ICMP].seq, reply[ICMP].ts_ori) == (14, 0x1234, 7, 555)
    assert linux.now > 86_400 and reply[ICMP].ts_rx == reply[ICMP].ts_tx == int(linux.now % 86_400 * 1000)
    assert ask(setup()) == []  # lwIP, Windows: no answer


def test_the_protocols_no_service_implements_are_named_once() -> None:
    """What the engine logs as "not yet supported" when a device starts (`services.unsupported`)."""
    assert services.unsupported(("arp", "dhcp", "dns", "ntp", "gopher", "lldp")) == ("gopher",)
