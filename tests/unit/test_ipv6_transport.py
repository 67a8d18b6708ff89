"""UDP and TCP over IPv6 on a virtual clock: dual-stack ports, port unreachable, RST, SYN-ACK, the neighbour cache."""

from __future__ import annotations

import ipaddress
import random

import pytest
from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPerror6,
    IPv6,
    UDPerror,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import ipv6
from iot_emulator.protocols.transport import tcp, tcp_connection

from .test_ipv6 import EUI64_GLOBAL, EUI64_LL, GW_LL, GW_MAC, MAC, Device6, boot, checksum_ok, of, router_advert

GW_GLOBAL = "2001:db8:1::1"
FAR = "2001:db8:99::7"  # off-link: through the router


def slaac_device(dev: Device6 | None = None) -> Device6:
    """A device (`boot()`'s by default) with its link-local and SLAAC addresses, which knows the gateway's MAC
    (the RA's option)."""
    dev = dev or boot()
    dev.run(2.5)
    dev.feed(router_advert())
    dev.run(dev.now + 1.0)
    assert dev.addresses() == {EUI64_LL, EUI64_GLOBAL}
    return dev


def to_device(layer: Packet, src: str = GW_GLOBAL, dst: str = EUI64_GLOBAL, src_mac: str = GW_MAC) -> Packet:
    return Ether(src=src_mac, dst=MAC) / IPv6(src=src, dst=dst) / layer


def neighbour_solicitation_from(src: str, mac: str, target: str = EUI64_GLOBAL) -> Packet:
    group = ipaddress_group(target)
    return (
        Ether(src=mac, dst="33:33:ff:0a:0b:0c")
        / IPv6(src=src, dst=group, hlim=255)
        / ICMPv6ND_NS(tgt=target)
        / ICMPv6NDOptSrcLLAddr(lladdr=mac)
    )


def ipaddress_group(target: str) -> str:
    return str(ipaddress.IPv6Address(ipv6.solicited_node(ipaddress.IPv6Address(target).packed)))


def test_closed_udp_port_answers_port_unreachable_quoting_the_datagram() -> None:
    dev = slaac_device()
    dev.feed(neighbour_solicitation_from(GW_GLOBAL, GW_MAC))  # as the asker's kernel resolves us first
    [error] = dev.feed(to_device(UDP(sport=40000, dport=9) / Raw(b"probe")))
    assert error.dst == GW_MAC and error.src == MAC
    assert error[IPv6].src == EUI64_GLOBAL and error[IPv6].dst == GW_GLOBAL and error[IPv6].hlim == 64
    unreachable = error[ICMPv6DestUnreach]
    assert unreachable.type == 1 and unreachable.code == 4 and checksum_ok(error, ICMPv6DestUnreach)
    assert (
        error[IPerror6].src == GW_GLOBAL and error[UDPerror].dport == 9 and bytes(error[UDPerror].payload) == b"probe"
    )
    assert dev.dev.counters.protocols["icmpv6"] >= 1


def test_port_unreachable_is_rate_limited_per_peer_like_linux() -> None:
    dev = slaac_device()
    dev.feed(neighbour_solicitation_from(GW_GLOBAL, GW_MAC))
    burst = [dev.feed(to_device(UDP(sport=40000, dport=1000 + n))) for n in range(10)]
    assert sum(len(sent) for sent in burst) == 6  # a burst of 6 (XRLIM_BURST_FACTOR)
    dev.now += 0.25
    assert len(dev.feed(to_device(UDP(sport=40000, dport=2000)))) == 1  # then one per 250 ms for an on-link /64


def test_multicast_and_unknown_destinations_get_no_error() -> None:
    dev = slaac_device()
    to_all = Ether(src=GW_MAC, dst="33:33:00:00:00:01") / IPv6(src=GW_LL, dst="ff02::1") / UDP(dport=9)
    assert dev.feed(to_all) == []
    assert dev.feed(to_device(UDP(dport=9), dst="2001:db8:1::dead")) == []  # not one of its addresses


def test_unresolved_peer_is_solicited_and_the_reply_waits_for_its_advertisement() -> None:
    dev = slaac_device()
    [ns] = dev.feed(to_device(UDP(sport=40000, dport=9), src_mac="02:00:00:00:00:09"))
    assert ns[ICMPv6ND_NS].tgt == GW_GLOBAL and ns[IPv6].src == EUI64_GLOBAL and ns[IPv6].dst == "ff02::1:ff00:1"
    assert ns[ICMPv6NDOptSrcLLAddr].lladdr == MAC and checksum_ok(ns, ICMPv6ND_NS)
    advert = (
        Ether(src="02:00:00:00:00:09", dst=MAC)
        / IPv6(src=GW_GLOBAL, dst=EUI64_GLOBAL, hlim=255)
        / ICMPv6ND_NA(tgt=GW_GLOBAL, S=1, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:09")
    )
    [error] = dev.feed(advert)
    assert error.dst == "02:00:00:00:00:09" and ICMPv6DestUnreach in error


def test_unanswered_solicitation_is_sent_three_times_then_the_packet_dropped() -> None:
    dev = slaac_device()
    dev.feed(to_device(UDP(dport=9), src="2001:db8:1::5", src_mac="02:00:00:00:00:05"))
    later = dev.run(dev.now + 10)
    asks = [f for f in of(dev.frames, ICMPv6ND_NS) if f[ICMPv6ND_NS].tgt == "2001:db8:1::5"]
    assert len(asks) == 3 and not of(later, ICMPv6DestUnreach)


def test_off_link_destination_goes_to_the_default_router() -> None:
    dev = slaac_device()
    [error] = dev.feed(to_device(UDP(dport=9), src=FAR))
    assert error.dst == GW_MAC and error[IPv6].dst == FAR  # the RA's source link-layer option


def test_dual_stack_port_gets_ipv6_datagrams_and_replies_over_ipv6() -> None:
    dev = slaac_device()
    dev.feed(neighbour_solicitation_from(GW_GLOBAL, GW_MAC))
    heard: list[tuple[bytes, int, bytes, bytes]] = []

    def echo(src: bytes, sport: int, dst: bytes, data: bytes, now: float) -> None:
        heard.append((src, sport, dst, data))
        dev.dev.host.send_udp("echo", src, 7, sport, data.upper())

    dev.dev.host.bind_udp(7, echo, ipv6=True)
    dev.dev.host.bind_udp(8, echo)  # IPv4 only: closed over IPv6
    [reply] = dev.feed(to_device(UDP(sport=40001, dport=7) / Raw(b"hello")))
    assert heard == [(_b(GW_GLOBAL), 40001, _b(EUI64_GLOBAL), b"hello")]
    assert reply[IPv6].src == EUI64_GLOBAL and reply[UDP].sport == 7 and reply[UDP].dport == 40001
    assert bytes(reply[UDP].payload) == b"HELLO" and transport_checksum_ok(reply, UDP)
    assert dev.dev.counters.protocols["echo"] == 1
    [closed] = dev.feed(to_device(UDP(sport=40001, dport=8)))
    assert ICMPv6DestUnreach in closed and len(heard) == 1


def test_link_local_peer_gets_answers_from_the_link_local_address() -> None:
    dev = slaac_device()
    [error] = dev.feed(to_device(UDP(dport=9), src=GW_LL, dst=EUI64_LL))
    assert error[IPv6].src == EUI64_LL and error[IPv6].dst == GW_LL and error.dst == GW_MAC


def test_tcp_to_a_closed_port_gets_a_reset() -> None:
    dev = slaac_device()
    dev.feed(neighbour_solicitation_from(GW_GLOBAL, GW_MAC))
    [reset] = dev.feed(to_device(TCP(sport=40002, dport=23, flags="S", seq=1000)))
    assert reset[IPv6].src == EUI64_GLOBAL and reset[TCP].flags == "RA" and reset[TCP].ack == 1001
    assert transport_checksum_ok(reset, TCP) and dev.dev.counters.protocols["tcp"] == 1


class _Quiet:
    def on_connected(self, conn: tcp_connection.Connection, now: float) -> None:
        conn.send(b"hi\r\n", now)

    def on_data(self, conn: tcp_connection.Connection, data: bytes, now: float) -> None:
        pass

    def on_closed(self, conn: tcp_connection.Connection, reason: str, now: float) -> None:
        pass


def test_tcp_listening_port_answers_syn_ack_and_serves_over_ipv6() -> None:
    dev = slaac_device()
    dev.feed(neighbour_solicitation_from(GW_GLOBAL, GW_MAC))
    stack = tcp.stack_of(dev.dev.host, random.Random(1))
    stack.listen(80, "http", _Quiet)
    [syn_ack] = dev.feed(to_device(TCP(sport=40003, dport=80, flags="S", seq=5, options=[("MSS", 1440)])))
    assert syn_ack[TCP].flags == "SA" and syn_ack[TCP].ack == 6 and transport_checksum_ok(syn_ack, TCP)
    assert syn_ack[IPv6].src == EUI64_GLOBAL and syn_ack.dst == GW_MAC
    [data] = dev.feed(to_device(TCP(sport=40003, dport=80, flags="A", seq=6, ack=syn_ack[TCP].seq + 1)))
    assert bytes(data[TCP].payload) == b"hi\r\n" and transport_checksum_ok(data, TCP)
    [reset] = dev.feed(to_device(TCP(sport=40004, dport=81, flags="S", seq=9)))
    assert reset[TCP].flags == "RA"


def test_the_syn_over_ipv6_has_the_mss_of_the_same_link_and_its_window_in_those_units() -> None:
    """A current Linux on Ethernet: SYN window 64240 and MSS 1460 over IPv4; over IPv6 MSS 1440 and window
    64800 (the largest multiple of 1440 under 64 KiB), SYN-ACK window 64260 (45 x 1428, timestamps on), the
    `win 64800` and `win 64260` tcpdump shows of such a host."""
    dev = slaac_device()
    dev.feed(neighbour_solicitation_from(GW_GLOBAL, GW_MAC))
    assert (dev.dev.config.profile.tcp.window, dev.dev.config.profile.tcp.mss) == (64240, 1460)
    stack = tcp.stack_of(dev.dev.host, random.Random(1))
    stack.connect(_b(GW_GLOBAL), 80, _Quiet(), dev.now, "http")
    [syn] = [f for f in dev._keep(dev.dev.host.drain()) if TCP in f]
    assert dict(syn[TCP].options)["MSS"] == 1440 and syn[TCP].window == 64800
    stack.listen(80, "http", _Quiet)
    [syn_ack] = dev.feed(
        to_device(TCP(sport=40005, dport=80, flags="S", seq=5, options=[("MSS", 1440), ("Timestamp", (1, 0))]))
    )
    assert dict(syn_ack[TCP].options)["MSS"] == 1440 and syn_ack[TCP].window == 64260


@pytest.mark.parametrize(
    ("window", "mss", "expected"),
    [
        (29200, 1460, (28800, 1440)),  # 20 x MSS (Linux 3.x, p0f mss*20)
        (14600, 1460, (14400, 1440)),  # 10 x MSS
        (5840, 1460, (5760, 1440)),  # 4 x MSS (Linux 2.6)
        (64240, 1460, (64800, 1440)),  # the largest multiple under 64 KiB (Linux 4.x and later)
        (65535, 1460, (65535, 1440)),  # a fixed window (Android) stays
        (8192, 1460, (8192, 1440)),  # an RTOS's fixed window
        (2144, 536, (2064, 516)),
    ],
)
def test_the_ipv6_shape_of_a_profile_syn(window: int, mss: int, expected: tuple[int, int]) -> None:
    shape = tcp.ipv6_shape(catalog.TcpSyn(window=window, mss=mss))
    assert (shape.window, shape.mss) == expected


def transport_checksum_ok(packet: Packet, layer: type[Packet]) -> bool:
    """Scapy's UDP/TCP checksum over the IPv6 pseudo-header equals the one on the wire."""
    sent = packet[layer].chksum
    copy = Ether(bytes(packet))
    del copy[layer].chksum
    return bool(Ether(bytes(copy))[layer].chksum == sent)


def _b(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed
