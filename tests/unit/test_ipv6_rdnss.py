"""RFC 8106 RDNSS on a virtual clock: the RA's DNS servers, read by a profile whose OS uses them (`ipv6.rdnss`),
kept for their lifetime, dropped at lifetime 0, asked after DHCPv4's; a profile without it ignores them."""

from __future__ import annotations

import ipaddress
import random

from scapy.layers.inet6 import ICMPv6NDOptRDNSS
from scapy.packet import Packet

from iot_emulator.protocols.clients import dns
from iot_emulator.protocols.link import ipv6, ndp

from .protocol_env import make_config
from .test_ipv6 import EUI64_GLOBAL, Device6, router_advert

SERVER, OTHER = "2001:db8:1::53", "2001:db8:1::54"


def advert_naming(*servers: str, lifetime: int = 600) -> Packet:
    return router_advert() / ICMPv6NDOptRDNSS(dns=list(servers), lifetime=lifetime)


def device(rdnss: bool) -> Device6:
    dev = Device6(make_config(("arp", "dhcp", "ipv6"), ipv6={"rdnss": rdnss}))
    dev.run(2.5)
    return dev


def servers(dev: Device6) -> list[str]:
    assert dev.dev.ipv6 is not None
    dev.dev.ipv6.clock = dev.now
    return [ipv6.text(a) for a in dev.dev.ipv6.dns_servers()]


def test_the_ra_option_is_read_with_its_lifetime() -> None:
    raw = bytes(advert_naming(SERVER, OTHER, lifetime=900))
    packet = ipv6.parse(raw)
    assert packet is not None
    advert = ndp.parse_router_advert(packet)
    assert advert is not None
    named = [(ipv6.text(a), t) for a, t in advert.dns_servers]
    assert named == [(SERVER, 900), (OTHER, 900)]


def test_a_profile_that_reads_rdnss_uses_the_servers_for_their_lifetime() -> None:
    dev = device(rdnss=True)
    dev.feed(advert_naming(SERVER, lifetime=600))
    dev.run(dev.now + 1.0)
    assert servers(dev) == [SERVER]
    dev.now += 590.0  # 591 s after the RA
    assert servers(dev) == [SERVER]
    dev.now += 10.0
    assert servers(dev) == []  # expired: RFC 8106 5.3.1


def test_lifetime_zero_drops_a_server_and_the_newest_come_first() -> None:
    dev = device(rdnss=True)
    dev.feed(advert_naming(SERVER))
    dev.feed(advert_naming(OTHER))
    assert servers(dev) == [OTHER, SERVER]
    dev.feed(advert_naming(SERVER, lifetime=0))
    assert servers(dev) == [OTHER]


def test_a_profile_without_rdnss_ignores_the_option() -> None:
    dev = device(rdnss=False)
    dev.feed(advert_naming(SERVER))
    dev.run(dev.now + 1.0)
    assert servers(dev) == []


def test_the_resolver_asks_the_lease_s_servers_first_then_the_ra_s() -> None:
    dev = device(rdnss=True)
    dev.feed(advert_naming(SERVER))
    dev.run(dev.now + 1.0)
    assert EUI64_GLOBAL in dev.addresses()
    host = dev.dev.host
    host.configure(bytes([10, 77, 0, 9]), bytes([255, 255, 0, 0]), None, [bytes([10, 77, 0, 1])], [], None)
    resolver = dns.DnsResolver(host, random.Random(1))
    assert [str(ipaddress.ip_address(a)) for a in resolver.servers()] == ["10.77.0.1", SERVER]
