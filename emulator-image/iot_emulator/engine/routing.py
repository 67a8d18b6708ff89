"""Which of a process's devices a frame is for: by destination MAC, and broadcasts by what they carry.

A frame's destination MAC picks the device (a dict lookup). Broadcasts and multicast are routed by
content: ARP by target address (and, during RFC 5227 address checking, by the address a device is
checking), multicast by group membership and mDNS/SSDP content (`multicast`), DHCP replies by
`chaddr`; IPv6 Neighbor Discovery by its target address (the solicited-node group's owner, or the
device checking that address with DAD), Router Advertisements and MLD queries to every IPv6 device.
The engine feeds the devices this returns; nothing here runs a device.

Each VLAN is a broadcast domain of its own: `Segments` keeps one Router per VLAN (and one for the
untagged LAN), so the same address on two VLANs, or a broadcast on one, never reaches the other's
devices.
"""

from __future__ import annotations

from iot_emulator.devices import device as device_mod
from iot_emulator.engine import multicast
from iot_emulator.protocols.link import dhcp_wire, ipv6, ndp, vlan_tag, wire


class Router:
    """The engine's address tables: MAC -> device, bound address -> device, checked address -> device."""

    def __init__(self) -> None:
        self.by_mac: dict[bytes, device_mod.Device] = {}
        self.by_ip: dict[bytes, device_mod.Device] = {}
        self.ip_of: dict[device_mod.Device, bytes] = {}  # the reverse, so an unbind is O(1)
        self.candidates: dict[bytes, device_mod.Device] = {}
        """Address -> the device checking it (RFC 5227) before use: who must see ARP about it."""
        self.candidate_of: dict[device_mod.Device, bytes] = {}
        self.multicast = multicast.Directory()
        self.by_ip6: dict[bytes, device_mod.Device] = {}
        """IPv6 address (tentative ones too) -> its device: who hears ND about it."""
        self.ip6_of: dict[device_mod.Device, frozenset[bytes]] = {}
        """The devices that speak IPv6 and their addresses (RAs and MLD queries go to all of them)."""

    # -- tables ---------------------------------------------------------------------------------

    def bind(self, dev: device_mod.Device, ip: bytes) -> None:
        self.by_ip[ip] = dev
        self.ip_of[dev] = ip

    def unbind(self, dev: device_mod.Device) -> None:
        ip = self.ip_of.pop(dev, None)
        if ip is not None and self.by_ip.get(ip) is dev:
            del self.by_ip[ip]

    def set_candidate(self, dev: device_mod.Device, address: bytes | None) -> None:
        previous = self.candidate_of.get(dev)
        if previous == address:
            return
        if previous is not None:
            self.candidate_of.pop(dev)
            if self.candidates.get(previous) is dev:
                del self.candidates[previous]
        if address is not None:
            self.candidate_of[dev] = address
            self.candidates[address] = dev

    def update(self, dev: device_mod.Device) -> None:
        """After a device ran: the address it checks, the groups it joined."""
        self.set_candidate(dev, dev.dhcp.candidate_address)
        self.multicast.update(dev)
        if dev.ipv6 is not None and self.ip6_of.get(dev) is not dev.ipv6.slaac.owned:
            self._move_ip6(dev, dev.ipv6.slaac.owned)

    def _move_ip6(self, dev: device_mod.Device, owned: frozenset[bytes] | None) -> None:
        before = self.ip6_of.pop(dev, frozenset())
        for address in before - (owned or frozenset()):
            if self.by_ip6.get(address) is dev:
                del self.by_ip6[address]
        if owned is not None:
            self.ip6_of[dev] = owned
            for address in owned - before:
                self.by_ip6[address] = dev

    def forget(self, dev: device_mod.Device) -> None:
        """A device that stops running (it may stay listed): no group, no address, no check."""
        self.multicast.remove(dev)
        self._move_ip6(dev, None)
        self.unbind(dev)
        self.set_candidate(dev, None)

    # -- frames ---------------------------------------------------------------------------------

    def broadcast_recipients(self, frame: bytes, exclude: device_mod.Device | None = None) -> list[device_mod.Device]:
        """The devices a broadcast or multicast frame is for, each once."""
        kind = wire.ethertype(frame)
        if kind == wire.ETH_P_ARP:
            packet = wire.parse_arp(frame)
            if packet is None:
                return []
            # The owner of the target address answers; a device checking an address must see
            # another host claiming it (sender) or probing for it (RFC 5227: sender 0.0.0.0).
            owner = self.by_ip.get(packet.target_ip)
            claimed = self.candidates.get(packet.sender_ip)
            probed = self.candidates.get(packet.target_ip) if packet.sender_ip == wire.ZERO_IP else None
            return [dev for dev in {owner, claimed, probed} - {None, exclude} if dev is not None]
        if kind == wire.ETH_P_IP and len(frame) >= 34:
            if self.multicast.joined(frame[30:34]):
                return [d for d in self.multicast.recipients(frame) if d is not exclude]
            heard = [d for d in self.multicast.broadcast_recipients(frame) if d is not exclude]
            chaddr = dhcp_wire.chaddr_of(frame)
            client = self.by_mac.get(chaddr) if chaddr else None
            if client is not None and client not in heard:
                heard.append(client)
            return heard
        if kind == ipv6.ETH_P_IPV6:
            return [dev for dev in self._ipv6_recipients(frame) if dev is not exclude]
        return []

    def _ipv6_recipients(self, frame: bytes) -> list[device_mod.Device]:
        """ND to a solicited-node group or all-nodes goes to the owner of its target; other ICMPv6 to
        all-nodes (Router Advertisements, MLD queries) to every IPv6 device; mDNS and SSDP by content
        (`multicast.recipients6`)."""
        if not self.ip6_of or len(frame) < 58:
            return []
        dst = frame[38:54]
        if dst in multicast.IPV4_OF:
            return self.multicast.recipients6(frame)
        if not (ipv6.is_solicited_node(dst) or dst == ipv6.ALL_NODES):
            return []
        packet = ipv6.parse(frame)
        if packet is None or packet.next_header != ipv6.IPPROTO_ICMPV6 or len(packet.payload) < 24:
            return [] if dst != ipv6.ALL_NODES or packet is None else list(self.ip6_of)
        if packet.payload[0] in (ndp.NEIGHBOR_SOLICITATION, ndp.NEIGHBOR_ADVERTISEMENT):
            owner = self.by_ip6.get(packet.payload[8:24])
            return [owner] if owner is not None else []
        return list(self.ip6_of) if dst == ipv6.ALL_NODES else []

    def heard_locally(self, frame: bytes) -> bool:
        """ARP broadcasts and multicast to a group some device of ours joined (not DHCP's broadcasts)."""
        kind = wire.ethertype(frame)
        if kind == wire.ETH_P_ARP and len(frame) >= 42:
            sender, target = frame[28:32], frame[38:42]
            return (
                target in self.by_ip
                or sender in self.candidates
                or (sender == wire.ZERO_IP and target in self.candidates)
            )
        if kind == ipv6.ETH_P_IPV6:
            return bool(self._ipv6_recipients(frame))
        return kind == wire.ETH_P_IP and len(frame) >= 34 and self.multicast.joined(frame[30:34])


class Segments:
    """One Router per broadcast domain: the untagged LAN and each VLAN (keyed by `vlan_tag.Key`)."""

    def __init__(self) -> None:
        self.untagged = Router()
        self.vlans: dict[vlan_tag.Key, Router] = {}

    def of(self, dev: device_mod.Device) -> Router:
        """The router of the device's VLAN (made on first use)."""
        tagging = dev.config.vlan
        if tagging is None:
            return self.untagged
        router = self.vlans.get(tagging.key)
        if router is None:
            router = self.vlans[tagging.key] = Router()
        return router

    def for_key(self, key: vlan_tag.Key | None) -> Router | None:
        """The router of a received frame's VLAN; None for a VLAN none of our devices is in."""
        return self.untagged if key is None else self.vlans.get(key)

    def owns_mac(self, mac: bytes) -> bool:
        return mac in self.untagged.by_mac or any(mac in r.by_mac for r in self.vlans.values())
