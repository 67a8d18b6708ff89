"""Who of a process's devices hears a multicast frame: group membership, and mDNS/SSDP by content.

On a real LAN every host receives every mDNS and SSDP packet and each spends its own CPU
throwing most of them away. Here one process holds all the hosts, so delivering each packet to
each member is O(n^2): 200 mDNS devices cost 141,000 parses while they announced themselves,
and 2,000 never finished. The directory reads each packet once and hands it only to the devices
it concerns, which is what each device would have concluded on its own:

- mDNS (RFC 6762): a query goes to the devices that answer for one of its names; a response goes
  to the devices whose unique (cache-flush) names it carries, who must defend or rename. Shared
  records (a service type's PTR) do not fan responses out to every device of that type.
- SSDP (UPnP 1.1): devices answer M-SEARCH and ignore other devices' NOTIFYs; WS-Discovery
  (port 3702 of the same group) goes to the devices bound to 3702.
- Any other group: every member.
- The same over IPv6 (ff02::fb, ff02::c): to the devices above whose service binds its port for IPv6
  (`host.udp6_handler`), read once per packet as for IPv4.
- UDP to 255.255.255.255 (discovery: Kasa, HID discoveryd, miIO): the devices bound to its port
  for broadcasts (`host.broadcast_ports`), not every device of the process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from iot_emulator.protocols import dns_wire
from iot_emulator.protocols.link import ipv6, wire

if TYPE_CHECKING:
    from iot_emulator.devices.device import Device

MDNS_GROUP = bytes([224, 0, 0, 251])
SSDP_GROUP = bytes([239, 255, 255, 250])
WS_DISCOVERY_PORT = 3702
IPV4_OF = {ipv6.MDNS_GROUP: MDNS_GROUP, ipv6.SSDP_GROUP: SSDP_GROUP}
"""The IPv6 groups of the discovery protocols, and the IPv4 group under which their members are kept."""


class Directory:
    def __init__(self) -> None:
        self.members: dict[bytes, set[Device]] = {}
        self._groups_of: dict[Device, frozenset[bytes]] = {}
        self._owners: dict[str, set[Device]] = {}  # mDNS name -> devices answering for it
        self._unique_owners: dict[str, set[Device]] = {}
        self._names_of: dict[Device, tuple[frozenset[str], frozenset[str]]] = {}
        self._port_listeners: dict[int, set[Device]] = {}
        self._ports_of: dict[Device, frozenset[int]] = {}

    def update(self, dev: Device) -> None:
        """Follow a device's groups and mDNS names after it ran (cheap when nothing changed)."""
        groups = frozenset(dev.host.groups)
        if self._groups_of.get(dev, frozenset()) != groups:
            self._move(self.members, self._groups_of.get(dev, frozenset()), groups, dev)
            self._groups_of[dev] = groups
        ports = dev.host.broadcast_ports
        old_ports = self._ports_of.get(dev)
        if old_ports is not ports and (old_ports is not None or ports):  # only devices with ports are stored
            self._move(self._port_listeners, old_ports or frozenset(), ports, dev)
            if ports:
                self._ports_of[dev] = ports
            else:
                self._ports_of.pop(dev, None)
        names = (dev.host.mdns_names, dev.host.mdns_unique)
        old = self._names_of.get(dev)
        if old is None and not names[0] and not names[1]:
            return  # no names, none before: nothing to store (most devices)
        if old is None or old[0] is not names[0] or old[1] is not names[1]:
            before = old or (frozenset(), frozenset())
            self._move(self._owners, before[0], names[0], dev)
            self._move(self._unique_owners, before[1], names[1], dev)
            if names[0] or names[1]:
                self._names_of[dev] = names
            else:
                self._names_of.pop(dev, None)

    def remove(self, dev: Device) -> None:
        self._move(self.members, self._groups_of.pop(dev, frozenset()), frozenset(), dev)
        self._move(self._port_listeners, self._ports_of.pop(dev, frozenset()), frozenset(), dev)
        before = self._names_of.pop(dev, (frozenset(), frozenset()))
        self._move(self._owners, before[0], frozenset(), dev)
        self._move(self._unique_owners, before[1], frozenset(), dev)

    def joined(self, group: bytes) -> bool:
        return group in self.members

    def broadcast_recipients(self, frame: bytes) -> Iterable[Device]:
        """The devices bound to the UDP port of a frame to 255.255.255.255 (none for other frames)."""
        if not self._port_listeners or frame[30:34] != wire.BROADCAST_IP:
            return ()
        packet = wire.parse_ipv4(frame)
        if packet is None or packet.proto != wire.IPPROTO_UDP or len(packet.payload) < 4:
            return ()
        return list(self._port_listeners.get(int.from_bytes(packet.payload[2:4], "big"), ()))

    def recipients(self, frame: bytes) -> Iterable[Device]:
        """The devices that should receive this IPv4 multicast frame."""
        group = frame[30:34]
        members = self.members.get(group)
        if not members:
            return ()
        if group not in (MDNS_GROUP, SSDP_GROUP):
            return list(members)
        packet = wire.parse_ipv4(frame)
        return self._discovery(group, members, wire.parse_udp(packet.payload) if packet else None)

    def recipients6(self, frame: bytes) -> list[Device]:
        """The devices that should receive this IPv6 frame to ff02::fb or ff02::c (none for other groups)."""
        group = IPV4_OF.get(frame[38:54])
        members = self.members.get(group) if group is not None else None
        if group is None or not members:
            return []
        packet = ipv6.parse(frame)
        if packet is None or packet.next_header != ipv6.IPPROTO_UDP:
            return []
        datagram = wire.parse_udp(packet.payload)
        if datagram is None:
            return []
        port = datagram[1]
        return [d for d in self._discovery(group, members, datagram) if d.host.udp6_handler(port) is not None]

    def _discovery(
        self, group: bytes, members: set[Device], datagram: tuple[int, int, bytes] | None
    ) -> Iterable[Device]:
        if group == MDNS_GROUP:
            return self._mdns(datagram)
        if datagram and datagram[1] == WS_DISCOVERY_PORT:  # WS-Discovery shares the group: its responders only
            return list(self._port_listeners.get(WS_DISCOVERY_PORT, ()))
        return list(members) if datagram and datagram[2].startswith(b"M-SEARCH") else ()

    def _mdns(self, datagram: tuple[int, int, bytes] | None) -> set[Device]:
        message = dns_wire.parse(datagram[2]) if datagram else None
        if message is None:
            return set()
        out: set[Device] = set()
        if message.is_response:
            for record in (*message.answers, *message.additional):
                out |= self._unique_owners.get(record.name.lower(), set())
        else:
            for question in message.questions:
                out |= self._owners.get(question.name.lower(), set())
        return out

    @staticmethod
    def _move(index: dict, before: frozenset, after: frozenset, dev: Device) -> None:  # type: ignore[type-arg]
        for key in before - after:
            holders = index.get(key)
            if holders is not None:
                holders.discard(dev)
                if not holders:
                    del index[key]
        for key in after - before:
            index.setdefault(key, set()).add(dev)
