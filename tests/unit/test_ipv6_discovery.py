"""mDNS and SSDP over IPv6 on a virtual clock: a device bound over DHCPv4 with SLAAC addresses announces on
ff02::fb and ff02::c, answers queries on the family they came in, publishes AAAA records; the engine's
router hands IPv6 queries to the devices that answer them, read once per packet."""

from __future__ import annotations

import ipaddress

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from iot_emulator.engine import routing
from iot_emulator.protocols import dns_wire
from iot_emulator.protocols.discovery import ssdp

from .protocol_env import make_config
from .test_ipv6 import EUI64_GLOBAL, EUI64_LL, GW_MAC, MAC, Device6, router_advert
from .test_ipv6_transport import neighbour_solicitation_from, transport_checksum_ok
from .test_mdns import HOST, MDNS
from .test_ssdp import SSDP

DEV_IP = "10.77.0.10"
PEER6, PEER6_MAC = "fe80::50", "02:00:00:00:00:50"


def bound(discovery: list[str] | None = None, mac: str = MAC, hostname: str = "widget-0a0b0c") -> Device6:
    """A device speaking mDNS and SSDP, bound over DHCPv4 and holding its SLAAC address, its announcements over."""
    ipv6_section = {"discovery": discovery} if discovery is not None else None
    config = make_config(
        ("arp", "dhcp", "ipv6", "mdns", "ssdp"), mac=mac, hostname=hostname, mdns=MDNS, ssdp=SSDP, ipv6=ipv6_section
    )
    dev = Device6(config)
    dev.run(2.5)
    dev.feed(router_advert())
    dev.run(dev.now + 1.0)
    bind_ipv4(dev, mac)
    dev.run(dev.now + 10)
    assert dev.dev.ip is not None
    return dev


def bind_ipv4(dev: Device6, mac: str) -> None:
    """OFFER and ACK for the device's DISCOVER, as a DHCPv4 server sends them: its services start."""
    xid = dev.dev.dhcp._xid
    for kind in ("offer", "ack"):
        reply = (
            Ether(src=GW_MAC, dst="ff:ff:ff:ff:ff:ff")
            / IP(src="10.77.0.1", dst="255.255.255.255")
            / UDP(sport=67, dport=68)
            / BOOTP(op=2, xid=xid, yiaddr=DEV_IP, chaddr=bytes.fromhex(mac.replace(":", "")))
            / DHCP(options=[("message-type", kind), ("server_id", "10.77.0.1"), ("lease_time", 3600), "end"])
        )
        dev.dev.handle(bytes(reply), dev.now)


def v6_udp(frames: list[Packet], dport: int) -> list[Packet]:
    return [f for f in frames if IPv6 in f and UDP in f and f[UDP].dport == dport]


def from_peer6(payload: Packet | bytes, dport: int, *, dst: str = "ff02::fb", sport: int | None = None) -> Packet:
    dst_mac = "33:33:" + ":".join(f"{b:02x}" for b in ipaddress.IPv6Address(dst).packed[12:])
    return (
        Ether(src=PEER6_MAC, dst=dst_mac if dst.startswith("ff") else MAC)
        / IPv6(src=PEER6, dst=dst, hlim=255)
        / UDP(sport=sport or dport, dport=dport)
        / payload
    )


def aaaa(packet: Packet) -> set[str]:
    dns = packet[DNS]
    records = [dns.an[i] for i in range(dns.ancount)] + [dns.ar[i] for i in range(dns.arcount)]
    return {r.rdata for r in records if isinstance(r, DNSRR) and r.type == 28}


def test_mdns_announces_on_both_families_with_aaaa_records() -> None:
    dev = bound()
    announced = [f for f in v6_udp(dev.frames, 5353) if f[DNS].qr == 1]
    assert announced, "no mDNS announcement on ff02::fb"
    last = announced[-1]
    assert last[IPv6].dst == "ff02::fb" and last[IPv6].src == EUI64_LL and last[IPv6].hlim == 255
    assert last.dst == "33:33:00:00:00:fb" and transport_checksum_ok(last, UDP)
    assert aaaa(last) == {EUI64_LL, EUI64_GLOBAL}
    probes = [f for f in v6_udp(dev.frames, 5353) if f[DNS].qr == 0]
    assert probes and probes[0][DNSQR].qname == HOST.encode()  # names are probed on IPv6 too


def test_mdns_query_over_ipv6_is_answered_over_ipv6() -> None:
    dev = bound()
    dev.frames.clear()
    before = dev.dev.counters.protocols["mdns"]
    query = DNS(rd=0, qd=DNSQR(qname=HOST, qtype="AAAA"))
    dev.feed(from_peer6(query, 5353))
    dev.run(dev.now + 1)
    [answer] = [f for f in v6_udp(dev.frames, 5353) if f[DNS].qr == 1]
    assert answer[IPv6].dst == "ff02::fb" and aaaa(answer) == {EUI64_LL, EUI64_GLOBAL}
    assert dev.dev.counters.protocols["mdns"] == before + 1  # not on IPv4 too: the query came over IPv6
    dev.feed(neighbour_solicitation_from(PEER6, PEER6_MAC, EUI64_LL))  # the peer resolved us first
    dev.frames.clear()
    legacy = DNS(id=77, rd=0, qd=DNSQR(qname=HOST, qtype="AAAA"))  # from an ephemeral port: unicast (6.7)
    sent = dev.feed(from_peer6(legacy, 5353, sport=40000))
    [reply] = v6_udp(sent, 40000)
    assert reply[IPv6].dst == PEER6 and reply.dst == PEER6_MAC and reply[DNS].id == 77


def test_ssdp_notifies_on_ff02_c_and_answers_msearch_over_ipv6() -> None:
    dev = bound(discovery=["mdns", "ssdp"])
    notifies = v6_udp(dev.frames, 1900)
    assert notifies and all(f[IPv6].dst == "ff02::c" and f[IPv6].src == EUI64_LL for f in notifies)
    line, headers = ssdp.parse_request(bytes(notifies[0][UDP].payload))
    assert line == "NOTIFY * HTTP/1.1" and headers["HOST"] == "[FF02::C]:1900"
    assert headers["LOCATION"] == f"http://[{EUI64_GLOBAL}]:80/description.xml"
    search = (
        b'M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: upnp:rootdevice\r\n\r\n'
    )
    dev.feed(neighbour_solicitation_from(PEER6, PEER6_MAC, EUI64_LL))
    dev.frames.clear()
    dev.feed(from_peer6(Raw(search), 1900, dst="ff02::c", sport=40001))
    dev.run(dev.now + 2)
    [answer] = v6_udp(dev.frames, 40001)
    assert answer[IPv6].dst == PEER6 and answer[UDP].sport == 1900 and transport_checksum_ok(answer, UDP)
    line, headers = ssdp.parse_request(bytes(answer[UDP].payload))
    assert line == "HTTP/1.1 200 OK" and headers["ST"] == "upnp:rootdevice"
    assert headers["LOCATION"].startswith(f"http://[{EUI64_GLOBAL}]:80/")


def test_ssdp_stays_ipv4_only_unless_the_profile_says_its_stack_does_ipv6() -> None:
    dev = bound()  # the default: mDNS only (avahi), not SSDP
    assert v6_udp(dev.frames, 1900) == []
    search = b'M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n'
    router = routing.Router()
    router.update(dev.dev)
    assert router.broadcast_recipients(bytes(from_peer6(Raw(search), 1900, dst="ff02::c"))) == []
    to_unicast = from_peer6(Raw(search), 1900, dst=EUI64_LL, sport=40002)
    dev.feed(neighbour_solicitation_from(PEER6, PEER6_MAC, EUI64_LL))
    [unreachable] = dev.feed(to_unicast)  # the IPv4-only socket: port unreachable over IPv6
    assert unreachable[IPv6].dst == PEER6 and unreachable[IPv6].nh == 58


def test_router_hands_ipv6_queries_to_the_devices_that_answer_them() -> None:
    one, two = bound(discovery=["mdns", "ssdp"]), bound(mac="44:19:b6:0a:0b:0d", hostname="widget-0a0b0d")
    router = routing.Router()
    for dev in (one, two):
        router.by_mac[dev.dev.mac] = dev.dev
        router.update(dev.dev)
    name = one.dev.host.mdns_names
    assert HOST.rstrip(".").lower() in name
    query = from_peer6(DNS(rd=0, qd=DNSQR(qname="widget-0a0b0c.local", qtype="AAAA")), 5353)
    assert router.broadcast_recipients(bytes(query)) == [one.dev]
    search = b'M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n'
    assert router.broadcast_recipients(bytes(from_peer6(Raw(search), 1900, dst="ff02::c"))) == [one.dev]
    assert router.heard_locally(bytes(query))
    router.forget(one.dev)
    assert router.broadcast_recipients(bytes(query)) == []


def test_a_clean_stop_says_goodbye_on_ff02_fb_too() -> None:
    dev = bound()
    dev.frames.clear()
    dev._keep(dev.dev.stop(dev.now))
    [goodbye] = [f for f in v6_udp(dev.frames, 5353) if f[DNS].qr == 1]
    assert goodbye[IPv6].src == EUI64_LL and {goodbye[DNS].an[i].ttl for i in range(goodbye[DNS].ancount)} == {0}


def test_an_ipv6_query_is_read_once_whatever_the_number_of_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = [bound(mac=f"44:19:b6:0a:1b:{n:02x}", hostname=f"widget-{n}") for n in range(12)]
    router = routing.Router()
    for dev in devices:
        router.by_mac[dev.dev.mac] = dev.dev
        router.update(dev.dev)
    reads = []
    parse = dns_wire.parse
    monkeypatch.setattr(dns_wire, "parse", lambda data: reads.append(data) or parse(data))
    query = from_peer6(DNS(rd=0, qd=DNSQR(qname="widget-7.local", qtype="AAAA")), 5353)
    assert router.broadcast_recipients(bytes(query)) == [devices[7].dev]
    assert len(reads) == 1  # the engine's one read; the device reads it once more itself


def test_ssdp_advertises_over_ipv6_once_the_addresses_arrive_after_the_dhcpv4_bind() -> None:
    config = make_config(("arp", "dhcp", "ipv6", "ssdp"), ssdp=SSDP, ipv6={"discovery": ["ssdp"]})
    dev = Device6(config)
    bind_ipv4(dev, MAC)  # at once: no IPv6 address yet
    dev.run(0.6)
    assert v6_udp(dev.frames, 1900) == []  # the first NOTIFYs went out over IPv4 only
    dev.run(2.5)
    link_local_notifies = v6_udp(dev.frames, 1900)
    assert link_local_notifies and ssdp.parse_request(bytes(link_local_notifies[-1][UDP].payload))[1][
        "LOCATION"
    ].startswith(f"http://[{EUI64_LL}]:")
    dev.feed(router_advert())
    dev.run(dev.now + 1.0)
    latest = ssdp.parse_request(bytes(v6_udp(dev.frames, 1900)[-1][UDP].payload))[1]
    assert latest["LOCATION"].startswith(f"http://[{EUI64_GLOBAL}]:")  # again, with the global address


def test_an_address_that_expires_gets_a_goodbye_then_the_rest_is_announced() -> None:
    """RFC 6762 10.1: when the prefix's valid lifetime ends, the AAAA and ip6.arpa PTR of that address go out
    with TTL 0 (as avahi withdraws a removed address), so browsers drop it at once; then the records still
    true are announced."""
    config = make_config(("arp", "dhcp", "ipv6", "mdns"), mdns=MDNS)
    dev = Device6(config)
    dev.run(2.5)
    dev.feed(router_advert(valid=120, preferred=60))
    dev.run(dev.now + 1.0)
    bind_ipv4(dev, MAC)
    dev.run(dev.now + 10)
    assert EUI64_GLOBAL in dev.addresses()
    dev.frames.clear()
    dev.run(dev.now + 120)
    assert EUI64_GLOBAL not in dev.addresses()
    goodbye, announcement = [f for f in v6_udp(dev.frames, 5353) if f[DNS].qr == 1][:2]
    reverse = ipaddress.IPv6Address(EUI64_GLOBAL).reverse_pointer + "."
    assert {(r.rrname.decode(), r.type, r.ttl, _text(r.rdata)) for r in _answers(goodbye[DNS])} == {
        (HOST, 28, 0, EUI64_GLOBAL),  # only what went away, with TTL 0
        (reverse, 12, 0, HOST),
    }
    assert aaaa(announcement) == {EUI64_LL} and all(r.ttl > 0 for r in _answers(announcement[DNS]))


def _answers(dns: DNS) -> list[DNSRR]:
    return [dns.an[i] for i in range(dns.ancount)]


def _text(rdata: bytes | str) -> str:
    return rdata.decode() if isinstance(rdata, bytes) else rdata
