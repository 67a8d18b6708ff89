"""What a device publishes over Multicast DNS (RFC 6762) and DNS-SD (RFC 6763): its names and records.

From the profile's `mdns` section and the device's host name: `<hostname>.local` A (and the
reverse PTR in in-addr.arpa that avahi and Apple responders publish too), an AAAA and an ip6.arpa
reverse PTR per IPv6 address for a device that speaks IPv6 (avahi publishes every address of the
interface, link-local too, on both families: `publish-aaaa-on-ipv4=yes`), and per service the
PTR `_type._tcp.local` -> instance, SRV instance -> host:port, TXT, and the service-type
enumeration PTR `_services._dns-sd._udp.local` -> `_type._tcp.local` (RFC 6763 9).

TTLs follow RFC 6762 10: 120 s for records that hold a host name (A, SRV, reverse PTR), 4500 s
for the others. Records only this device may own (A, SRV, TXT, reverse PTR) carry the
cache-flush bit (10.2); the shared PTRs do not. Names can change after a probing conflict
(RFC 6762 9): `rename()` gives the next candidate, "host-2" or "Instance (2)".
"""

from __future__ import annotations

import dataclasses

from iot_emulator.config import manifests
from iot_emulator.profiles import catalog
from iot_emulator.protocols import dns_wire, service_kit

HOST_TTL = 120
OTHER_TTL = 4500
DOMAIN = "local"
SERVICE_TYPES = "_services._dns-sd._udp.local"
FLUSH = dns_wire.CLASS_IN | dns_wire.TOP_BIT
SHARED = dns_wire.CLASS_IN


def _label(text: str, limit: int = 63) -> str:
    """At most 63 bytes of UTF-8 (RFC 1035 2.3.4), cut on a character boundary."""
    return text.encode()[:limit].decode("utf-8", "ignore")


@dataclasses.dataclass
class Published:
    """The device's current names (they change on conflicts) and the records they make."""

    config: manifests.DeviceConfig
    address: bytes
    addresses6: tuple[bytes, ...] = ()
    host_label: str = ""
    instances: list[str] = dataclasses.field(default_factory=list)
    _conflicts: dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        mdns = self.config.profile.mdns
        host = service_kit.fill(mdns.host, self.config) if mdns is not None and mdns.host else self.config.hostname
        self.host_label = self.host_label or _label(host)
        self.instances = self.instances or [_label(service_kit.fill(s.instance, self.config)) for s in self.services]

    @property
    def services(self) -> list[catalog.MdnsService]:
        mdns = self.config.profile.mdns
        return list(mdns.services) if mdns is not None else []

    @property
    def host_name(self) -> str:
        return f"{self.host_label}.{DOMAIN}"

    def instance_name(self, i: int) -> str:
        return f"{dns_wire.join_labels([self.instances[i]])}.{self.services[i].type}.{DOMAIN}"

    def unique_names(self) -> list[str]:
        """The names probed before use (RFC 6762 8.1): the host name and every instance name."""
        return [self.host_name] + [self.instance_name(i) for i in range(len(self.services))]

    def records(self) -> list[dns_wire.Record]:
        """Everything published, unique records first."""
        reverse = reverse_name(self.address)
        out = [
            dns_wire.Record(self.host_name, dns_wire.TYPE_A, HOST_TTL, self.address, FLUSH),
            dns_wire.Record(reverse, dns_wire.TYPE_PTR, HOST_TTL, self.host_name, FLUSH),
        ]
        for address in self.addresses6:
            out.append(dns_wire.Record(self.host_name, dns_wire.TYPE_AAAA, HOST_TTL, address, FLUSH))
            out.append(dns_wire.Record(reverse_name(address), dns_wire.TYPE_PTR, HOST_TTL, self.host_name, FLUSH))
        shared = []
        for i, service in enumerate(self.services):
            instance, kind = self.instance_name(i), f"{service.type}.{DOMAIN}"
            txt = tuple(f"{k}={service_kit.fill(v, self.config)}".encode()[:255] for k, v in service.txt.items())
            out.append(
                dns_wire.Record(
                    instance, dns_wire.TYPE_SRV, HOST_TTL, dns_wire.Srv(0, 0, service.port, self.host_name), FLUSH
                )
            )
            out.append(dns_wire.Record(instance, dns_wire.TYPE_TXT, OTHER_TTL, txt, FLUSH))
            shared.append(dns_wire.Record(kind, dns_wire.TYPE_PTR, OTHER_TTL, instance, SHARED))
            enumeration = dns_wire.Record(SERVICE_TYPES, dns_wire.TYPE_PTR, OTHER_TTL, kind, SHARED)
            if enumeration not in shared:
                shared.append(enumeration)
        return out + shared

    def additional_for(self, answers: list[dns_wire.Record]) -> list[dns_wire.Record]:
        """RFC 6763 12: a PTR answer brings the instance's SRV and TXT, an SRV brings the host's address."""
        records, wanted, extra = self.records(), set(), []
        for answer in answers:
            if answer.rtype == dns_wire.TYPE_PTR and isinstance(answer.data, str):
                wanted.add(answer.data.lower())
            if answer.rtype in (dns_wire.TYPE_PTR, dns_wire.TYPE_SRV) and not answer.name.endswith(".arpa"):
                wanted.add(self.host_name.lower())
        keys = {a.key() for a in answers}
        for record in records:
            if record.name.lower() in wanted and record.key() not in keys and record.rtype != dns_wire.TYPE_PTR:
                extra.append(record)
        return extra

    def owns(self, name: str) -> bool:
        return any(dns_wire.same_name(name, own) for own in self.unique_names())

    def rename(self, name: str) -> None:
        """The next name after a conflict on `name`: "host-2", "host-3"... or "Instance (2)"... (RFC 6762 9)."""
        if dns_wire.same_name(name, self.host_name):
            count = self._conflicts["host"] = self._conflicts.get("host", 1) + 1
            suffix = f"-{count}"
            self.host_label = _label(self.config.hostname, 63 - len(suffix)) + suffix
            return
        for i in range(len(self.services)):
            if dns_wire.same_name(name, self.instance_name(i)):
                count = self._conflicts[str(i)] = self._conflicts.get(str(i), 1) + 1
                suffix = f" ({count})"
                self.instances[i] = (
                    _label(service_kit.fill(self.services[i].instance, self.config), 63 - len(suffix)) + suffix
                )
                return


def reverse_name(address: bytes) -> str:
    """in-addr.arpa for IPv4 (RFC 1035 3.5), ip6.arpa nibbles for IPv6 (RFC 3596 2.5)."""
    if len(address) == 16:
        return ".".join(reversed(address.hex())) + ".ip6.arpa"
    return ".".join(str(b) for b in reversed(address)) + ".in-addr.arpa"
