"""UDP services over IPv6 on a device that speaks it: the SNMP agent and the profile's UDP listeners (SIP,
WS-Discovery) are dual-stack, as its TCP listeners are, and answer from the address that was asked.

The requests are Scapy's (SNMP) and nmap's (SIPOptions, the wsdd-discover script's Probe); the device
has its link-local and SLAAC addresses from an RA (`test_ipv6_transport.slaac_device`'s steps) and no
IPv4 lease at all.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from typing import Any

from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6
from scapy.layers.snmp import SNMP, SNMPget, SNMPresponse, SNMPvarbind
from scapy.packet import Packet, Raw

from iot_emulator.devices import host as host_mod
from iot_emulator.protocols import services
from iot_emulator.protocols.servers import snmp_agent, udp_listeners
from tests.unit import protocol_env as penv

from .test_ipv6 import EUI64_GLOBAL, EUI64_LL, GW_LL, GW_MAC, Device6
from .test_ipv6_transport import (
    GW_GLOBAL,
    neighbour_solicitation_from,
    slaac_device,
    to_device,
    transport_checksum_ok,
)
from .test_sip_server import NMAP_PROBE, SIP
from .test_snmp_agent import SNMP_DATA, SYS_DESCR
from .test_ws_discovery import NMAP_PROBE as NMAP_WS_PROBE
from .test_ws_discovery import NS
from .test_ws_discovery import SERVICE as ONVIF

PHONE = {"kind": "sip", "headers": {**SIP["headers"], "Contact": "<sip:{ip}:5060>"}}


def device(**profile: Any) -> tuple[Device6, list[host_mod.Service]]:
    """A device holding its SLAAC address, with the SNMP agent and UDP listeners of `profile` started."""
    dev = slaac_device(Device6(penv.make_config(("arp", "dhcp", "ipv6"), **profile)))
    context = services.Context(dev.dev.config, dev.dev.host, random.Random(3))
    prof = dev.dev.config.profile
    started: list[host_mod.Service] = [snmp_agent.SnmpAgent(context)] if prof.snmp else []
    started += [udp_listeners.UdpListeners(context)] if prof.listen_udp else []
    for service in started:
        service.start(dev.now)
    dev.feed(neighbour_solicitation_from(GW_GLOBAL, GW_MAC))
    dev.feed(neighbour_solicitation_from(GW_LL, GW_MAC, target=EUI64_LL))
    return dev, started


def snmp_get(community: str = "lab") -> Packet:
    return UDP(sport=5555, dport=161) / SNMP(
        version=1, community=community, PDU=SNMPget(varbindlist=[SNMPvarbind(oid=SYS_DESCR)])
    )


def test_the_snmp_agent_answers_over_ipv6_from_the_address_asked() -> None:
    dev, _ = device(snmp=SNMP_DATA, listen_udp=[PHONE])
    for src, dst in ((GW_GLOBAL, EUI64_GLOBAL), (GW_LL, EUI64_LL)):
        [reply] = dev.feed(to_device(snmp_get(), src=src, dst=dst))
        assert reply[IPv6].src == dst and reply[IPv6].dst == src and reply.dst == GW_MAC
        assert reply[UDP].sport == 161 and reply[UDP].dport == 5555 and transport_checksum_ok(reply, UDP)
        response = SNMP(bytes(reply[UDP].payload))
        assert isinstance(response.PDU, SNMPresponse)
        assert response.PDU.varbindlist[0].value.val.decode().startswith("Acme Laser 9 ")
    assert dev.dev.counters.protocols["snmp"] == 2


def test_multicast_and_a_wrong_community_get_nothing_and_a_closed_port_stays_closed() -> None:
    dev, _ = device(snmp=SNMP_DATA)
    assert dev.feed(to_device(snmp_get(), dst="ff02::1")) == []  # all-nodes: not for an agent
    assert dev.feed(to_device(snmp_get("public"))) == []  # SNMPv1/v2c: a wrong community is dropped
    [closed] = dev.feed(to_device(UDP(sport=5555, dport=5060) / Raw(NMAP_PROBE)))  # no SIP in this profile
    assert ICMPv6DestUnreach in closed


def test_sip_options_over_ipv6_gets_the_bracketed_address_in_received_and_contact() -> None:
    dev, _ = device(listen_udp=[PHONE])
    [reply] = dev.feed(to_device(UDP(sport=41234, dport=5060) / Raw(NMAP_PROBE)))
    assert reply[IPv6].src == EUI64_GLOBAL and reply[UDP].sport == 5060 and reply[UDP].dport == 41234
    lines = bytes(reply[UDP].payload).decode().split("\r\n")
    assert lines[0] == "SIP/2.0 200 OK"
    assert lines[1] == f"Via: SIP/2.0/UDP nm;branch=foo;rport=41234;received={GW_GLOBAL}"  # RFC 5118 4.5: no []
    assert f"Contact: <sip:[{EUI64_GLOBAL}]:5060>" in lines  # a SIP URI's IPv6 host is bracketed (RFC 3261 25.1)


def test_a_device_without_ipv6_keeps_its_udp_services_on_ipv4_only() -> None:
    env = penv.started(snmp=SNMP_DATA, listen_udp=[PHONE])
    assert env.host.ip6 is None
    assert env.host.udp6_handler(161) is None and env.host.udp6_handler(5060) is None
    assert env.host.udp_in_use(161) and env.host.udp_in_use(5060)


def test_a_ws_discovery_probe_over_ipv6_gets_xaddrs_on_the_asked_address() -> None:
    dev, _ = device(listen_udp=[ONVIF])
    [reply] = dev.feed(to_device(UDP(sport=50000, dport=3702) / Raw(NMAP_WS_PROBE.encode())))
    assert reply[IPv6].src == EUI64_GLOBAL and reply[UDP].sport == 3702 and reply[UDP].dport == 50000
    match = ET.fromstring(bytes(reply[UDP].payload)).find("env:Body/d:ProbeMatches/d:ProbeMatch", NS)
    assert match is not None
    assert match.findtext("d:XAddrs", namespaces=NS) == f"http://[{EUI64_GLOBAL}]/onvif/device_service"
