"""Run every protocol learner over one device's frames of a capture and collect what they found.

The order matters only where one learner needs another's result: DNS answers name the addresses
that TLS, MQTT and NTP sessions went to, and the DHCP host name becomes a placeholder in MQTT and
mDNS names. The session start times each learner saw feed `cadence`.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable

from iot_emulator.learn import cadence, capture, dhcp, dns, findings, http, link, mqtt, packets, ssdp, tcpip, tls
from iot_emulator.protocols import dns_wire
from iot_emulator.protocols.link import dhcp_wire


@dataclasses.dataclass
class Result:
    found: findings.Findings
    frames: int
    """Frames from or to the device."""
    skipped: collections.Counter[str]


def learn(frames: Iterable[capture.Frame], mac: bytes) -> Result:
    decoded = packets.decode(frames, mac)
    found = findings.Findings()
    found.merge(dhcp.learn(decoded, mac))
    found.merge(tcpip.learn(decoded))
    names = dns.resolved(decoded)
    found.merge(tls.learn(decoded, names))
    found.merge(http.learn(decoded))
    hostname = hostname_of(decoded)
    found.merge(mqtt.learn(decoded, names, mac, hostname))
    ntp_found, ntp_servers = dns.learn_ntp(decoded)
    found.merge(ntp_found)
    found.merge(dns.learn(decoded, names, ntp_servers))
    found.merge(dns.learn_mdns(decoded, mac, hostname))
    found.merge(ssdp.learn(decoded))
    found.merge(link.learn(decoded, mac, hostname))
    found.merge(cadence.learn(events(decoded, names)))
    skipped = decoded.skipped
    return Result(found, len(decoded.packets), skipped)


def hostname_of(decoded: packets.Decoded) -> str | None:
    for p in decoded.packets:
        if p.outgoing and (m := dhcp_wire.parse_request(p.frame)) and (name := m.options.get(dhcp_wire.OPT_HOSTNAME)):
            return name.rstrip(b"\x00").decode("utf-8", "replace")
    return None


def events(decoded: packets.Decoded, names: dns.Resolved) -> dict[str, dict[str, list[float]]]:
    """Schedule key -> target -> start times of the device's sessions of that protocol."""
    out: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    used: set[str] = set()
    for flow in decoded.flows:
        data = bytes(flow.sent)
        hello = tls.parse_client_hello(data)
        request = http.parse_request(data, flow.dport)
        target = names.name_for(flow.dst, flow.start) or ".".join(map(str, flow.dst))
        if hello is not None and flow.dport != tls.MQTT_TLS_PORT:
            out["cloud"][hello.server_name or target].append(flow.start)
            used.add((hello.server_name or target).lower())
        elif request is not None:
            host = str(request[0]["host"])
            out["http"][host].append(flow.start)
            used.add(host.lower())
        elif mqtt.parse_session(data) is not None:
            used.add(target.lower())
            publishes = [t for t, first in flow.segments if first >> 4 == mqtt.PUBLISH]
            out["mqtt"][target] += publishes
    ntp_times: dict[str, list[float]] = collections.defaultdict(list)
    for p in decoded.packets:
        if p.outgoing and p.ip is not None and p.udp is not None and p.udp[1] == dns.NTP_PORT:
            target = names.name_for(p.ip.dst, p.time) or ".".join(map(str, p.ip.dst))
            ntp_times[target].append(p.time)
            used.add(target.lower())
    if ntp_times:
        out["ntp"] = ntp_times
    for name, times in _queries(decoded).items():
        if name not in used:
            out["dns"][name] = times
    return {key: dict(value) for key, value in out.items()}


def _queries(decoded: packets.Decoded) -> dict[str, list[float]]:
    out: dict[str, list[float]] = collections.defaultdict(list)
    for p in decoded.packets:
        if p.outgoing and p.udp is not None and p.udp[1] == dns.DNS_PORT:
            message = dns_wire.parse(p.udp[2])
            for q in message.questions if message is not None and not message.is_response else []:
                if q.qtype == dns_wire.TYPE_A:
                    out[q.name.rstrip(".").lower()].append(p.time)
    return out
