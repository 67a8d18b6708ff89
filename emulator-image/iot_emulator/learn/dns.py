"""Names: the DNS names the device resolves (and what they resolved to), its mDNS services, its NTP version.

DNS (RFC 1035) and mDNS/DNS-SD (RFC 6762, RFC 6763) messages are read with `protocols.dns_wire`.
The answers the device received map server addresses back to names, so a TLS session without SNI
or an MQTT broker reached by address is still named in the profile. mDNS services are what the
device itself announced or answered: PTR `_type._proto.local` -> instance, its SRV port and TXT.
NTP (RFC 5905 7.3): the version field of the device's client-mode requests.
"""

from __future__ import annotations

import dataclasses

from iot_emulator.learn import findings, packets
from iot_emulator.protocols import dns_wire

DNS_PORT, MDNS_PORT, NTP_PORT = 53, 5353, 123
MAX_NAMES = 64
SERVICE_TYPES = "_services._dns-sd._udp.local"


@dataclasses.dataclass
class Resolved:
    names: list[str]
    """Names the device asked for (A/AAAA), in the order first asked."""
    answers: dict[bytes, list[tuple[float, str]]]
    """IPv4 address -> (when, name) of each answer that gave it: several names may share an address."""

    def name_for(self, address: bytes, when: float) -> str | None:
        """The name last resolved to `address` before `when` (a device resolves, then connects)."""
        before = [name for t, name in self.answers.get(address, []) if t <= when]
        return before[-1] if before else None


def resolved(decoded: packets.Decoded) -> Resolved:
    names: list[str] = []
    answers: dict[bytes, list[tuple[float, str]]] = {}
    for p in decoded.packets:
        if p.udp is None:
            continue
        sport, dport, data = p.udp
        if p.outgoing and dport == DNS_PORT:
            message = dns_wire.parse(data)
            for q in message.questions if message is not None and not message.is_response else []:
                name = q.name.rstrip(".")  # as asked: the case a device writes is part of what it shows
                fresh = name.lower() not in {n.lower() for n in names}
                if q.qtype in (dns_wire.TYPE_A, dns_wire.TYPE_AAAA) and fresh and len(names) < MAX_NAMES:
                    names.append(name)
        elif not p.outgoing and sport == DNS_PORT:
            message = dns_wire.parse(data)
            if message is None or not message.is_response or not message.questions:
                continue
            asked = message.questions[0].name.rstrip(".")
            for record in message.answers:
                if record.rtype == dns_wire.TYPE_A and isinstance(record.data, bytes):
                    answers.setdefault(record.data, []).append((p.time, asked))
    return Resolved(names, answers)


def learn(decoded: packets.Decoded, names: Resolved, ntp_to: list[tuple[float, bytes]]) -> findings.Findings:
    """`dns_names` are the clouds: the names of NTP servers go to `ntp_servers` instead (the NTP client
    resolves those itself, as the shipped profiles have it)."""
    out = findings.Findings()
    servers = list(dict.fromkeys(name for t, a in ntp_to if (name := names.name_for(a, t))))
    if servers:
        out.set("ntp_servers", servers, "names whose DNS answers gave the NTP servers' addresses")
    clouds = [n for n in names.names if n not in servers]
    if clouds:
        out.set("dns_names", clouds, f"A/AAAA queries of the device ({len(clouds)} names, NTP servers' aside)")
    if names.names:
        out.speaks("dns")
    return out


def learn_ntp(decoded: packets.Decoded) -> tuple[findings.Findings, list[tuple[float, bytes]]]:
    """The version of the device's NTP requests, and (when, server) of each."""
    out = findings.Findings()
    servers: list[tuple[float, bytes]] = []
    versions: list[int] = []
    for p in decoded.packets:
        if p.outgoing and p.ip is not None and p.udp is not None and p.udp[1] == NTP_PORT and p.udp[2]:
            first = p.udp[2][0]
            if first & 0x07 == 3:  # client mode
                versions.append((first >> 3) & 0x07)
                servers.append((p.time, p.ip.dst))
    if versions and 1 <= versions[0] <= 4:
        out.set("ntp_version", versions[0], f"version field of {len(versions)} NTP client requests")
        out.speaks("ntp")
    return out, servers


def learn_mdns(decoded: packets.Decoded, mac: bytes, hostname: str | None) -> findings.Findings:
    """The services of the device's own mDNS responses (answers and additionals)."""
    out = findings.Findings()
    records: list[dns_wire.Record] = []
    responses = 0
    for p in decoded.packets:
        if p.outgoing and p.udp is not None and p.udp[1] == MDNS_PORT:
            message = dns_wire.parse(p.udp[2])
            if message is not None and message.is_response:
                responses += 1
                records += [*message.answers, *message.additional]
    services = _services(records, mac, hostname)
    if services:
        out.set("mdns.services", services, f"PTR/SRV/TXT records of the device's {responses} mDNS responses")
        out.speaks("mdns")
    host = _host_label(records)
    if host is not None and host.lower() != (hostname or "").lower():
        out.set("mdns.host", _mark(host, mac, hostname), "the SRV target of the device's mDNS responses")
    return out


def _host_label(records: list[dns_wire.Record]) -> str | None:
    """The host its services point at (their SRV target's first label), when it is a .local name."""
    for r in records:
        if r.rtype == dns_wire.TYPE_SRV and isinstance(r.data, dns_wire.Srv):
            labels = dns_wire.split_name(r.data.target.rstrip("."))
            if len(labels) == 2 and labels[1].lower() == "local":
                return labels[0]
    return None


def _services(records: list[dns_wire.Record], mac: bytes, hostname: str | None) -> list[dict[str, object]]:
    services: list[dict[str, object]] = []
    instances: list[str] = []
    for r in records:
        if r.rtype != dns_wire.TYPE_PTR or not isinstance(r.data, str) or r.name.endswith(".arpa"):
            continue
        if dns_wire.same_name(r.name, SERVICE_TYPES) or r.data.lower() in instances:
            continue
        kind = r.name.rstrip(".").removesuffix(".local")
        labels = dns_wire.split_name(r.data.rstrip("."))
        if len(labels) < 3 or not kind.startswith("_") or len(services) >= 32:
            continue
        instances.append(r.data.lower())
        srv = next(
            (
                x.data
                for x in records
                if x.rtype == dns_wire.TYPE_SRV
                and dns_wire.same_name(x.name, r.data)
                and isinstance(x.data, dns_wire.Srv)
            ),
            None,
        )
        txt = next(
            (
                x.data
                for x in records
                if x.rtype == dns_wire.TYPE_TXT
                and dns_wire.same_name(x.name, r.data)
                and isinstance(x.data, tuple)
                and not isinstance(x.data, dns_wire.Srv)
            ),
            (),
        )
        pairs = {}
        for entry in txt:
            if not isinstance(entry, bytes):
                continue
            key, _, value = entry.decode("utf-8", "replace").partition("=")
            if key:
                pairs[key] = _mark(value, mac, hostname)
        instance = _mark(labels[0], mac, hostname)
        services.append({"type": kind, "instance": instance, "port": srv.port if srv else 0, "txt": pairs})
    return services


def _mark(text: str, mac: bytes, hostname: str | None) -> str:
    return findings.as_format(findings.mac_placeholders(text, mac, hostname, mac12=False))
