"""ARP for one device (RFC 826): answer who-has for its address, resolve neighbours, announce.

The address-conflict check after DHCPACK (RFC 5227 probes) belongs to the DHCP client, which
owns the candidate address; this module serves a device that already has one.
"""

from __future__ import annotations

from iot_emulator.protocols.link import wire

REQUEST = 1
REPLY = 2


class ArpTable:
    """Neighbour MACs a device has learned, bounded: an IoT stack talks to a handful of hosts."""

    __slots__ = ("_entries", "limit")

    def __init__(self, limit: int = 16) -> None:
        self._entries: dict[bytes, bytes] = {}
        self.limit = limit

    def get(self, ip: bytes) -> bytes | None:
        return self._entries.get(ip)

    def learn(self, ip: bytes, mac: bytes) -> None:
        if ip not in self._entries and len(self._entries) >= self.limit:
            del self._entries[next(iter(self._entries))]
        self._entries[ip] = mac

    def forget(self) -> None:
        self._entries.clear()


def reply_to(request: wire.Arp, my_mac: bytes, requester_mac: bytes) -> bytes:
    """The is-at answer to a who-has for our address, sent unicast to the asker."""
    answer = wire.Arp(REPLY, my_mac, request.target_ip, request.sender_mac, request.sender_ip)
    return wire.arp_frame(my_mac, requester_mac, answer)


def who_has(my_mac: bytes, my_ip: bytes, target_ip: bytes) -> bytes:
    return wire.arp_frame(my_mac, wire.BROADCAST_MAC, wire.Arp(REQUEST, my_mac, my_ip, b"\x00" * 6, target_ip))


def announcement(my_mac: bytes, my_ip: bytes) -> bytes:
    """Gratuitous ARP (RFC 5227 announce form: a request with sender = target = our address)."""
    return wire.arp_frame(my_mac, wire.BROADCAST_MAC, wire.Arp(REQUEST, my_mac, my_ip, b"\x00" * 6, my_ip))
