"""ONVIF WS-Discovery target service (WS-Discovery 2005/04, ONVIF Core Specification 7.3): Probe -> ProbeMatches.

Video management software, NAC products and `nmap --script wsdd-discover` find cameras and NVRs
by multicasting a SOAP Probe to 239.255.255.250:3702; each ONVIF device answers unicast with a
ProbeMatch naming its endpoint (urn:uuid), its Types (`dn:NetworkVideoTransmitter tds:Device`),
its Scopes (vendor name, hardware model, profile) and the XAddrs of its device service. A pure
function of the request and the device's facts: parsing is bounded (size, no DTD), a Probe whose
Types the device does not all have is left unanswered, as the specification says.
"""

from __future__ import annotations

import hashlib
import re
import uuid
import xml.etree.ElementTree as ET

from iot_emulator.profiles import answers
from iot_emulator.protocols.servers import tcp_server

PORT = 3702
MAX_PROBE = 8192
SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
PROBE_ACTION = f"{WSD}/Probe"
_NAMESPACES = {"dn": "http://www.onvif.org/ver10/network/wsdl", "tds": "http://www.onvif.org/ver10/device/wsdl"}
_LOCAL = re.compile(r"^(?:[^:]+:)?(.+)$")


def probe(data: bytes) -> tuple[str, set[str]] | None:
    """(MessageID, local names of the requested Types) of a 2005/04 Probe, or None when it is not one."""
    if len(data) > MAX_PROBE or b"<!" in data:  # no DTD, no entities
        return None
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    action = root.findtext(f"{{{SOAP}}}Header/{{{WSA}}}Action", "").strip()
    body = root.find(f"{{{SOAP}}}Body/{{{WSD}}}Probe")
    if action != PROBE_ACTION or body is None:
        return None
    message_id = root.findtext(f"{{{SOAP}}}Header/{{{WSA}}}MessageID", "").strip()
    types = {_LOCAL.sub(r"\1", t) for t in body.findtext(f"{{{WSD}}}Types", "").split()}
    return message_id, types


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def answer(service: answers.WsDiscoveryService, data: bytes, facts: dict[str, str]) -> bytes | None:
    """The ProbeMatches for a Probe this device matches, else None."""
    request = probe(data)
    if request is None:
        return None
    message_id, wanted = request
    if not wanted <= {_LOCAL.sub(r"\1", t) for t in service.types}:
        return None
    reply_id = uuid.UUID(bytes=hashlib.sha256(f"{facts['uuid']}{message_id}".encode()).digest()[:16], version=4)
    scopes = " ".join(tcp_server.render(s, facts) for s in service.scopes)
    xaddrs = tcp_server.render(service.xaddrs, facts)
    xmlns = " ".join(f'xmlns:{prefix}="{url}"' for prefix, url in _NAMESPACES.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope xmlns:env="{SOAP}" xmlns:wsa="{WSA}" '
        f'xmlns:d="{WSD}" {xmlns}><env:Header><wsa:MessageID>urn:uuid:{reply_id}</wsa:MessageID>'
        f"<wsa:RelatesTo>{_escape(message_id)}</wsa:RelatesTo>"
        "<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>"
        f"<wsa:Action>{WSD}/ProbeMatches</wsa:Action>"
        '<d:AppSequence InstanceId="1" MessageNumber="1"/></env:Header><env:Body><d:ProbeMatches>'
        f"<d:ProbeMatch><wsa:EndpointReference><wsa:Address>urn:uuid:{facts['uuid']}</wsa:Address>"
        f"</wsa:EndpointReference><d:Types>{' '.join(service.types)}</d:Types><d:Scopes>{_escape(scopes)}</d:Scopes>"
        f"<d:XAddrs>{_escape(xaddrs)}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch>"
        "</d:ProbeMatches></env:Body></env:Envelope>"
    ).encode()
