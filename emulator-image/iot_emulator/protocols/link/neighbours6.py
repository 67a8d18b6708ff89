"""A device's IPv6 neighbour cache (RFC 4861 7.2-7.3), sans-IO: next-hop MACs for the packets it originates.

What ARP's `ArpTable` plus `IpHost`'s queue do for IPv4: packets to an unresolved next hop wait
(`PENDING_LIMIT` of them) while multicast Neighbor Solicitations ask for it, `SOLICITS` of them
`RETRANS_TIMER` s apart (MAX_MULTICAST_SOLICIT, RetransTimer); then what waited is dropped. Entries
come from Neighbor Advertisements answering us, and from the source link-layer option of the
solicitations and router advertisements the device receives (RFC 4861 7.2.3, 6.3.4: a STALE entry,
used at once). Not done: NUD (REACHABLE/DELAY/PROBE timers, unicast probes of stale entries), so an
entry lasts until the cache is full or the device stops.
"""

from __future__ import annotations

from iot_emulator.protocols.link import ipv6, ndp

SOLICITS = 3
RETRANS_TIMER = 1.0
PENDING_LIMIT = 32
LIMIT = 16
"""Entries kept: an IoT stack talks to a handful of hosts (the oldest goes first)."""

Frame = tuple[str, bytes]
"""(the protocol it counts under, an Ethernet frame)"""


class Neighbours:
    __slots__ = ("_due", "_entries", "_pending", "mac")

    def __init__(self, mac: bytes) -> None:
        self.mac = mac
        self._entries: dict[bytes, bytes] = {}
        self._pending: dict[bytes, list[tuple[str, bytes]]] = {}
        """next hop -> (protocol, IPv6 packet) waiting for its MAC"""
        self._due: dict[bytes, tuple[float, int, bytes]] = {}
        """next hop -> (next solicitation, solicitations sent, the source address to send them from)"""

    def get(self, address: bytes) -> bytes | None:
        return self._entries.get(address)

    def learn(self, address: bytes, mac: bytes, *, create: bool = True) -> list[Frame]:
        """A neighbour's MAC; the packets that waited for it, as frames. `create` False: only update an
        entry that exists or is wanted (an unsolicited advertisement creates none, RFC 4861 7.2.5)."""
        if not create and address not in self._entries and address not in self._due:
            return []
        if address not in self._entries and len(self._entries) >= LIMIT:
            del self._entries[next(iter(self._entries))]
        self._entries[address] = mac
        self._due.pop(address, None)
        return [(protocol, ipv6.frame(self.mac, mac, packet)) for protocol, packet in self._pending.pop(address, [])]

    def send(self, protocol: str, hop: bytes, packet: bytes, src: bytes, now: float) -> list[Frame]:
        """`packet` to `hop`: a frame now if its MAC is known, else queued and a solicitation for it."""
        mac = self._entries.get(hop)
        if mac is not None:
            return [(protocol, ipv6.frame(self.mac, mac, packet))]
        queue = self._pending.setdefault(hop, [])
        if len(queue) < PENDING_LIMIT:
            queue.append((protocol, packet))
        if hop in self._due:
            return []
        return self._solicit(hop, src, now, 0)

    def on_timer(self, now: float) -> list[Frame]:
        out: list[Frame] = []
        for hop, (due, sent, src) in list(self._due.items()):
            if due > now:
                continue
            if sent >= SOLICITS:  # unreachable: drop what waited, as a kernel does
                del self._due[hop]
                self._pending.pop(hop, None)
            else:
                out += self._solicit(hop, src, now, sent)
        return out

    def next_deadline(self) -> float | None:
        return min((due for due, _, _ in self._due.values()), default=None)

    def forget(self) -> None:
        self._entries.clear()
        self._pending.clear()
        self._due.clear()

    def _solicit(self, hop: bytes, src: bytes, now: float, sent: int) -> list[Frame]:
        self._due[hop] = (now + RETRANS_TIMER, sent + 1, src)
        return [("ndp", ndp.neighbor_solicitation(self.mac, src, hop))]
