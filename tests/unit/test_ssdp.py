"""SSDP: NOTIFY alive/byebye, M-SEARCH answered within MX by unicast, search-target matching, on a virtual clock."""

from __future__ import annotations

import re
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.protocols.discovery import ssdp
from tests.unit.protocol_env import IP as DEV_IP
from tests.unit.protocol_env import MAC, Env, make_config

PEER_IP, PEER_MAC = "10.77.0.50", "02:00:00:00:00:50"
DEVICE_TYPE = "urn:schemas-upnp-org:device:Basic:1"
SSDP: dict[str, Any] = {
    "server": "Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0",
    "device_type": DEVICE_TYPE,
    "location_port": 80,
    "location_path": "/description.xml",
    "max_age": 100,
}
UUID = re.compile(r"^uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-4419b60a0b0c$")


def ssdp_env(**overrides: Any) -> tuple[Env, ssdp.SsdpDevice]:
    env = Env(make_config(protocols=("ssdp",), ssdp={**SSDP, **overrides}))
    env.host.neighbours.learn(bytes(int(x) for x in PEER_IP.split(".")), bytes.fromhex(PEER_MAC.replace(":", "")))
    [_, device] = env.build()
    assert isinstance(device, ssdp.SsdpDevice)
    env.start()
    return env, device


def http(packet: Packet) -> tuple[str, dict[str, str]]:
    return ssdp.parse_request(bytes(packet[UDP].payload))


def search(st: str, mx: int | None = 3, dst: str = "239.255.255.250", sport: int = 50000) -> Packet:
    lines = ["M-SEARCH * HTTP/1.1", "HOST: 239.255.255.250:1900", 'MAN: "ssdp:discover"', f"ST: {st}"]
    if mx is not None:
        lines.append(f"MX: {mx}")
    dst_mac = "01:00:5e:7f:ff:fa" if dst.startswith("239.") else MAC
    return (
        Ether(src=PEER_MAC, dst=dst_mac)
        / IP(src=PEER_IP, dst=dst)
        / UDP(sport=sport, dport=1900)
        / ("\r\n".join(lines) + "\r\n\r\n").encode()
    )


def test_alive_notify_for_root_uuid_and_type_sent_twice_then_under_half_max_age() -> None:
    env, device = ssdp_env()
    first = env.first_frames()
    assert len(first) == 3
    start = env.now
    for frame in first:
        assert frame[Ether].dst == "01:00:5e:7f:ff:fa" and frame[IP].dst == "239.255.255.250"
        assert frame[IP].ttl == 4 and frame[UDP].sport == frame[UDP].dport == 1900  # UPnP/1.0: TTL 4
    parsed = [http(f) for f in first]
    assert {line for line, _ in parsed} == {"NOTIFY * HTTP/1.1"}
    headers = [h for _, h in parsed]
    assert [h["NT"] for h in headers] == ["upnp:rootdevice", device.usn, DEVICE_TYPE]
    assert UUID.match(device.usn) and headers[0]["USN"] == f"{device.usn}::upnp:rootdevice"
    assert headers[2]["USN"] == f"{device.usn}::{DEVICE_TYPE}"
    for h in headers:
        assert h["NTS"] == "ssdp:alive" and h["CACHE-CONTROL"] == "max-age=100" and h["HOST"] == "239.255.255.250:1900"
        assert h["LOCATION"] == f"http://{DEV_IP}:80/description.xml" and h["SERVER"] == SSDP["server"]
    assert len(env.first_frames()) == 3 and env.now - start <= 0.5  # the repeat
    env.first_frames()
    assert 40 <= env.now - start <= 50  # max_age 100: under half


def test_uuid_is_stable_and_holds_the_mac() -> None:
    _, one = ssdp_env()
    _, two = ssdp_env()
    assert one.usn == two.usn and one.usn.endswith("4419b60a0b0c")


@pytest.mark.parametrize(
    ("st", "expected"),
    [
        ("ssdp:all", ["upnp:rootdevice", "uuid", DEVICE_TYPE]),
        ("upnp:rootdevice", ["upnp:rootdevice"]),
        ("uuid", ["uuid"]),
        (DEVICE_TYPE, [DEVICE_TYPE]),
        ("urn:schemas-upnp-org:device:Basic:2", []),  # newer than ours
        ("urn:schemas-upnp-org:device:MediaRenderer:1", []),
        ("urn:dial-multiscreen-org:service:dial:1", []),
    ],
)
def test_m_search_is_answered_by_unicast_within_mx(st: str, expected: list[str]) -> None:
    env, device = ssdp_env()
    env.advance(1)
    env.sent()
    st = device.usn if st == "uuid" else st
    env.deliver(search(st, mx=3))
    asked_at = env.now
    env.advance(3.0)
    answers = [f for f in env.sent() if f[UDP].dport == 50000]
    wanted = sorted(device.usn if e == "uuid" else e for e in expected)
    assert sorted(http(a)[1]["ST"] for a in answers) == wanted  # each after its own random delay
    for answer in answers:
        line, headers = http(answer)
        assert line == "HTTP/1.1 200 OK" and answer[IP].dst == "10.77.0.50" and answer[Ether].dst == PEER_MAC
        assert answer[UDP].sport == 1900 and "EXT" in headers and headers["LOCATION"].startswith("http://10.77.0.10:")
        assert headers["USN"].startswith(device.usn)
    assert env.now - asked_at <= 3.0


def test_answers_are_spread_over_mx_and_mx_is_capped_at_5() -> None:
    env, _ = ssdp_env()
    env.advance(1)
    env.sent()
    times = []
    for _ in range(20):
        env.deliver(search("upnp:rootdevice", mx=120))
        asked = env.now
        env.first_frames()
        times.append(env.now - asked)
        env.advance(60)
        env.sent()
    assert max(times) <= 5.0 and max(times) - min(times) > 1.0


def test_search_without_mx_or_man_is_ignored_unless_unicast() -> None:
    env, _ = ssdp_env()
    env.advance(1)
    env.sent()
    env.deliver(search("ssdp:all", mx=None))
    env.advance(6)
    assert [f for f in env.sent() if f[UDP].dport == 50000] == []
    env.deliver(search("upnp:rootdevice", mx=None, dst=DEV_IP))  # unicast M-SEARCH: answered at once
    [answer] = [f for f in env.sent() if f[UDP].dport == 50000]
    assert http(answer)[1]["ST"] == "upnp:rootdevice"


def test_upnp_11_uses_ttl_2_and_bootid_configid() -> None:
    env, _ = ssdp_env(server="Linux/4.9 UPnP/1.1 Roku/12.5")
    [notify, *_] = env.first_frames()
    assert notify[IP].ttl == 2 and http(notify)[1]["BOOTID.UPNP.ORG"] == "1"


def test_byebye_on_stop() -> None:
    env, device = ssdp_env()
    env.advance(1)
    env.sent()
    device.stop(env.now)
    byes = env.sent()
    assert [http(b)[1]["NTS"] for b in byes] == ["ssdp:byebye"] * 3
    assert [http(b)[1]["NT"] for b in byes] == ["upnp:rootdevice", device.usn, DEVICE_TYPE]
    assert env.counters.protocols["ssdp"] == 9 and not env.host.udp_in_use(1900)
