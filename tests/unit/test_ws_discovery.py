"""ONVIF WS-Discovery: nmap's own Probe (nselib/wsdd.lua, "general") and an ONVIF client's typed Probe,
multicast to 239.255.255.250:3702, answered unicast with a ProbeMatch a SOAP parser reads back."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.protocols.discovery import ssdp, ws_discovery
from tests.unit import protocol_env as penv

SERVICE = {
    "kind": "ws-discovery",
    "scopes": ["onvif://www.onvif.org/hardware/{model}", "onvif://www.onvif.org/name/Acme"],
}
NMAP_PROBE = (
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery"><env:Header>'
    '<wsd:AppSequence InstanceId="1285624958737" MessageNumber="1" SequenceId="urn:uuid:1-2"/>'
    "<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>"
    "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>"
    "<wsa:MessageID>urn:uuid:0f5d0a8e-1111-4222-8333-444455556666</wsa:MessageID>"
    "</env:Header><env:Body><wsd:Probe/></env:Body></env:Envelope>"
)
NS = {"env": ws_discovery.SOAP, "wsa": ws_discovery.WSA, "d": ws_discovery.WSD}


def typed_probe(types: str) -> str:
    return NMAP_PROBE.replace(
        "<wsd:Probe/>",
        f'<wsd:Probe><wsd:Types xmlns:dn="http://www.onvif.org/ver10/network/wsdl">{types}</wsd:Types></wsd:Probe>',
    )


def setup() -> penv.Env:
    return penv.started(listen_udp=[SERVICE])


def multicast(env: penv.Env, payload: str) -> list[Packet]:
    env.deliver(
        Ether(src=penv.GATEWAY_MAC, dst="01:00:5e:7f:ff:fa")
        / IP(src=penv.GATEWAY, dst="239.255.255.250")
        / UDP(sport=50000, dport=3702)
        / payload.encode()
    )
    return penv.Env.udp(env.sent(), 50000)


def test_nmap_probe_gets_a_probe_match_with_types_scopes_and_xaddrs() -> None:
    env = setup()
    assert ssdp.GROUP in env.host.groups
    [frame] = multicast(env, NMAP_PROBE)
    assert frame[IP].dst == penv.GATEWAY and frame[UDP].sport == 3702
    root = ET.fromstring(bytes(frame[UDP].payload))
    header = root.find("env:Header", NS)
    assert header is not None
    assert header.findtext("wsa:RelatesTo", namespaces=NS) == "urn:uuid:0f5d0a8e-1111-4222-8333-444455556666"
    assert header.findtext("wsa:Action", namespaces=NS) == f"{ws_discovery.WSD}/ProbeMatches"
    match = root.find("env:Body/d:ProbeMatches/d:ProbeMatch", NS)
    assert match is not None
    assert match.findtext("d:Types", namespaces=NS) == "dn:NetworkVideoTransmitter tds:Device"
    model = env.config.profile.model
    assert match.findtext("d:Scopes", namespaces=NS) == (
        f"onvif://www.onvif.org/hardware/{model} onvif://www.onvif.org/name/Acme"
    )
    assert match.findtext("d:XAddrs", namespaces=NS) == f"http://{penv.IP}/onvif/device_service"
    address = match.findtext("wsa:EndpointReference/wsa:Address", namespaces=NS) or ""
    assert address.startswith("urn:uuid:") and len(address) == len("urn:uuid:") + 36


def test_typed_probes_are_answered_only_when_every_type_matches() -> None:
    env = setup()
    assert len(multicast(env, typed_probe("dn:NetworkVideoTransmitter"))) == 1
    assert multicast(env, typed_probe("dn:NetworkVideoTransmitter dn:Printer")) == []


def test_what_is_not_a_2005_probe_is_dropped() -> None:
    env = setup()
    assert multicast(env, NMAP_PROBE.replace("2005/04/discovery/Probe", "2005/04/discovery/Resolve")) == []
    assert multicast(env, '<!DOCTYPE x [<!ENTITY a "b">]>' + NMAP_PROBE) == []
    assert multicast(env, "M-SEARCH * HTTP/1.1\r\n\r\n") == []
