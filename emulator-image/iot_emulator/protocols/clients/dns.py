"""A device's name resolution: its stub resolver (RFC 1035 A queries, RFC 3596 AAAA) and the periodic "dns" service.

`DnsResolver` is what `IpHost.resolver` is on every bound device (the always-built "resolver"
service of `protocols.services`): HTTP, MQTT, NTP, CoAP... ask it for their servers' addresses,
so the names a device resolves and the addresses it then talks to are those a real DNS server
gave it. It asks the first DHCP-given server (option 6) and moves to the next on a timeout, as
glibc's and BusyBox's resolvers do; each query gets a random ID and source port (RFC 5452);
answers are cached by TTL (the smallest of the A records and the CNAMEs leading to them,
RFC 1035 7.3 / RFC 2181 5.2), negative answers by the SOA's minimum (RFC 2308 5); callers asking
for a name already in flight wait for the same query instead of sending another.

A dual-stack device with an address wider than link-local asks A and AAAA together (`asks_aaaa`), also
from the DNS servers DHCPv6 gave and RAs named (`servers`); callers that connect over either family
(`resolve(ipv6=True)`) get the address RFC 6724 puts first (`link.addrselect`) and may ask for the
other family's after a failure (`alternative`). See docs/ipv6.md, "Sessions over IPv6".

The "dns" service resolves the profile's `dns_names` on the profile's schedule: devices look up
their clouds whether or not a session follows, and those names in a DNS log are part of what
identifies a device.
"""

from __future__ import annotations

import functools
import ipaddress
import random
from collections.abc import Callable
from typing import NamedTuple

from iot_emulator.devices import host as host_mod
from iot_emulator.protocols import dns_wire, schedule, service_kit, services
from iot_emulator.protocols.link import addrselect

Done = Callable[[bytes | None], None]
QUERY_TIMEOUTS = (1.0, 2.0)
"""How long each transmission of a query waits (the second goes to the next server): then it fails."""
CACHE_LIMIT = 256
"""Names kept at most: a device resolves a handful, but a profile could list many."""
MAX_CNAMES = 8


class _Query:
    __slots__ = ("a", "aaaa", "attempt", "deadline", "ident", "name", "port", "ttls", "unanswered", "waiters")

    def __init__(self, name: str, idents: dict[int, int], port: int, waiter: _Waiter) -> None:
        self.name = name
        self.ident = idents
        """qtype -> the ID of its question (A, and AAAA for a device that asks both)."""
        self.unanswered = set(idents)
        self.port = port
        self.attempt = 0
        self.deadline = 0.0
        self.waiters = [waiter]
        self.a: bytes | None = None
        self.aaaa: bytes | None = None
        self.ttls: list[int] = []


_Waiter = tuple[Done, bool]
"""A caller and whether it takes an IPv6 answer (`resolve(ipv6=True)`)."""


class Cached(NamedTuple):
    a: bytes | None
    aaaa: bytes | None
    expires: float
    asked_aaaa: bool
    """AAAA was asked too: the entry answers a dual-stack lookup."""


class DnsResolver:
    """host.Resolver and host.Service: sends the queries, retransmits, caches. Counted under "dns"."""

    name = "resolver"

    def __init__(self, host: host_mod.IpHost, rng: random.Random) -> None:
        self.host = host
        self.rng = rng
        self.cache: dict[str, Cached] = {}
        self.queries_sent = 0
        self._queries: dict[str, _Query] = {}

    # -- host.Resolver ------------------------------------------------------------------------------

    def resolve(self, name: str, now: float, done: Done, *, ipv6: bool = False) -> None:
        """Call `done(address)` for `name`, or `done(None)`: at once or later. The address is IPv4, or with
        `ipv6` (a caller that connects over either family) the first of the name's A and AAAA addresses by
        RFC 6724 (`addrselect`) when the device asks AAAA (`asks_aaaa`)."""
        key = name.rstrip(".").lower()
        literal = _literal(key, ipv6)
        if literal is not None:
            done(literal)
            return
        dual = self.asks_aaaa()
        cached = self.cache.get(key)
        if cached is not None and cached.expires > now and (cached.asked_aaaa or not dual):
            done(self._pick(cached.a, cached.aaaa, ipv6))
            return
        pending = self._queries.get(key)
        if pending is not None:
            pending.waiters.append((done, ipv6))
            return
        servers = self.servers()
        if self.host.address is None or not servers:
            done(None)
            return
        idents = {dns_wire.TYPE_A: self.rng.getrandbits(16)}
        if dual:  # glibc sends both from one socket, A first, each with its own ID
            idents[dns_wire.TYPE_AAAA] = (idents[dns_wire.TYPE_A] + 1 + self.rng.getrandbits(15)) & 0xFFFF
        query = _Query(key, idents, service_kit.random_port(self.host, self.rng), (done, ipv6))
        self._queries[key] = query
        over_ipv6 = any(len(server) == 16 for server in servers)
        self.host.bind_udp(query.port, functools.partial(self._on_datagram, query), ipv6=over_ipv6)
        self._transmit(query, now)

    def servers(self) -> list[bytes]:
        """DHCPv4's DNS servers (option 6), then DHCPv6's (option 23) and the RAs' (RDNSS, profiles with
        `ipv6.rdnss`) once the device has a global address to ask them from, in the order a resolv.conf
        written by dhcpcd or ConnMan lists them (IPv4 lease first)."""
        ip6 = self.host.ip6
        extra = ip6.dns_servers() if ip6 is not None and self.asks_aaaa() else ()
        return [*self.host.dns_servers, *extra] if extra else self.host.dns_servers

    def asks_aaaa(self) -> bool:
        """The device asks AAAA beside A: it speaks IPv6 and holds an address wider than link-local, as
        getaddrinfo's AI_ADDRCONFIG (RFC 3493 6.1) decides (Android's bionic always applies it). A device
        without IPv6, or in a lab without an IPv6 router, asks A only, as before."""
        ip6 = self.host.ip6
        return ip6 is not None and any(addrselect.scope(a) != addrselect.SCOPE_LINK for a in ip6.addresses())

    def alternative(self, name: str, failed: bytes) -> bytes | None:
        """The name's address of the other family, after a connection to `failed` did not open: clients
        without Happy Eyeballs (RFC 8305) try getaddrinfo's next address once the first one fails."""
        cached = self.cache.get(name.rstrip(".").lower())
        if cached is None:
            return None
        other = cached.a if len(failed) == 16 else cached.aaaa
        return other if other is not None and self.host.source_for(other) is not None else None

    def _pick(self, a: bytes | None, aaaa: bytes | None, ipv6: bool) -> bytes | None:
        if not ipv6 or aaaa is None:
            return a
        if a is None:
            return aaaa if self.host.source_for(aaaa) is not None else None
        return addrselect.order([aaaa, a], self.host.source_for)[0]

    # -- host.Service -------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        pass

    def on_timer(self, now: float) -> None:
        for query in [q for q in self._queries.values() if q.deadline <= now]:
            self._next_attempt(query, now)

    def next_deadline(self) -> float | None:
        return min((q.deadline for q in self._queries.values()), default=None)

    def stop(self, now: float) -> None:
        """The address is gone: drop queries in flight (their callers are stopping too)."""
        for query in self._queries.values():
            self.host.unbind_udp(query.port)
        self._queries.clear()

    # -- internals ----------------------------------------------------------------------------------

    def _transmit(self, query: _Query, now: float) -> None:
        servers = self.servers()
        server = servers[query.attempt % len(servers)]
        query.deadline = now + QUERY_TIMEOUTS[query.attempt]
        for qtype in sorted(query.unanswered):
            self.queries_sent += 1
            message = dns_wire.query(query.ident[qtype], query.name, qtype)
            self.host.send_udp("dns", server, query.port, 53, message)

    def _next_attempt(self, query: _Query, now: float) -> None:
        query.attempt += 1
        if query.attempt < len(QUERY_TIMEOUTS) and self.servers():
            self._transmit(query, now)
        else:
            self._finish(query, now)

    def _on_datagram(self, query: _Query, src: bytes, sport: int, dst: bytes, data: bytes, now: float) -> None:
        if self._queries.get(query.name) is not query or sport != 53 or src not in self.servers():
            return
        message = dns_wire.parse(data)
        if message is None or not message.is_response:
            return
        qtype = next((t for t in query.unanswered if query.ident[t] == message.id), None)
        if qtype is None:
            return
        if message.questions and not dns_wire.same_name(message.questions[0].name, query.name):
            return
        if message.rcode not in (0, dns_wire.RCODE_NXDOMAIN):  # SERVFAIL, REFUSED: ask the next server now
            self._next_attempt(query, now)
            return
        address, ttl = answer(message, query.name, qtype)
        query.unanswered.discard(qtype)
        if qtype == dns_wire.TYPE_AAAA:
            query.aaaa = address
        else:
            query.a = address
        if ttl is not None:
            query.ttls.append(ttl)
        if not query.unanswered:
            self._finish(query, now)

    def _finish(self, query: _Query, now: float) -> None:
        self.host.unbind_udp(query.port)
        del self._queries[query.name]
        ttl = min(query.ttls, default=0)
        if ttl and not query.unanswered:
            if len(self.cache) >= CACHE_LIMIT:
                self.cache = {k: v for k, v in self.cache.items() if v.expires > now}
            if len(self.cache) < CACHE_LIMIT:
                asked = dns_wire.TYPE_AAAA in query.ident
                self.cache[query.name] = Cached(query.a, query.aaaa, now + ttl, asked)
        for done, ipv6 in query.waiters:
            done(self._pick(query.a, query.aaaa, ipv6))


def answer(message: dns_wire.Message, name: str, qtype: int = dns_wire.TYPE_A) -> tuple[bytes | None, int | None]:
    """(address, TTL to cache it for) from a response: CNAMEs followed, negative answers per RFC 2308."""
    target, ttls = name, []
    for _ in range(MAX_CNAMES):
        cname = next(
            (r for r in message.answers if r.rtype == dns_wire.TYPE_CNAME and dns_wire.same_name(r.name, target)), None
        )
        if cname is None or not isinstance(cname.data, str):
            break
        target = cname.data
        ttls.append(cname.ttl)
    size = 16 if qtype == dns_wire.TYPE_AAAA else 4
    records = [r for r in message.answers if r.rtype == qtype and dns_wire.same_name(r.name, target)]
    addresses = [r.data for r in records if isinstance(r.data, bytes) and len(r.data) == size]
    if addresses:
        return addresses[0], min(ttls + [r.ttl for r in records])
    soa = next((r for r in message.authority if r.rtype == dns_wire.TYPE_SOA), None)
    if soa is not None and isinstance(soa.data, dns_wire.Soa):
        return None, min(soa.ttl, soa.data.minimum)
    return None, None


def _literal(name: str, ipv6: bool) -> bytes | None:
    """An address literal: IPv4 always, IPv6 for a caller that takes one."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None
    return address.packed if address.version == 4 or ipv6 else None


class DnsNames:
    """The "dns" service: resolves the profile's cloud names on its schedule, through the resolver."""

    name = "dns"

    def __init__(self, context: services.Context, owned: DnsResolver | None = None) -> None:
        self.host = context.host
        self._owned = owned
        """A resolver this service installed itself (no always-on one was built): it drives its timers."""
        self.names = list(context.config.profile.dns_names)
        self.ticker = schedule.Ticker(
            context.config.profile.schedule.get("dns"), context.config.traffic_interval, context.rng
        )
        self.answers: dict[str, bytes | None] = {}
        """The last answer per name (None: no address), for stats and tests."""

    def start(self, now: float) -> None:
        self.ticker.start(now)

    def on_timer(self, now: float) -> None:
        if self._owned is not None:
            self._owned.on_timer(now)
        if self.ticker.fire(now):
            for name in self.names:
                self.host.resolver.resolve(name, now, functools.partial(self.answers.__setitem__, name), ipv6=True)

    def next_deadline(self) -> float | None:
        owned = self._owned.next_deadline() if self._owned is not None else None
        return min((d for d in (self.ticker.due, owned) if d is not None), default=None)

    def stop(self, now: float) -> None:
        self.ticker.stop()
        if self._owned is not None:
            self._owned.stop(now)


def install(context: services.Context) -> DnsResolver:
    """A fresh resolver for a device that just got its address (new servers, empty cache)."""
    resolver = DnsResolver(context.host, context.rng)
    context.host.resolver = resolver
    return resolver


@services.register("resolver")
def _resolver(context: services.Context) -> host_mod.Service:
    return install(context)


@services.register("dns")
def _dns(context: services.Context) -> host_mod.Service | None:
    owned = None if isinstance(context.host.resolver, DnsResolver) else install(context)
    if not context.config.profile.dns_names and owned is None:
        return None
    return DnsNames(context, owned)
