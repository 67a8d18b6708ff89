"""A device's name resolution: its stub resolver (RFC 1035 A queries) and the periodic "dns" service.

`DnsResolver` is what `IpHost.resolver` is on every bound device (the always-built "resolver"
service of `protocols.services`): HTTP, MQTT, NTP, CoAP... ask it for their servers' addresses,
so the names a device resolves and the addresses it then talks to are those a real DNS server
gave it. It asks the first DHCP-given server (option 6) and moves to the next on a timeout, as
glibc's and BusyBox's resolvers do; each query gets a random ID and source port (RFC 5452);
answers are cached by TTL (the smallest of the A records and the CNAMEs leading to them,
RFC 1035 7.3 / RFC 2181 5.2), negative answers by the SOA's minimum (RFC 2308 5); callers asking
for a name already in flight wait for the same query instead of sending another.

The "dns" service resolves the profile's `dns_names` on the profile's schedule: devices look up
their clouds whether or not a session follows, and those names in a DNS log are part of what
identifies a device.
"""

from __future__ import annotations

import functools
import ipaddress
import random
from collections.abc import Callable

from iot_emulator.devices import host as host_mod
from iot_emulator.protocols import dns_wire, schedule, service_kit, services

Done = Callable[[bytes | None], None]
QUERY_TIMEOUTS = (1.0, 2.0)
"""How long each transmission of a query waits (the second goes to the next server): then it fails."""
CACHE_LIMIT = 256
"""Names kept at most: a device resolves a handful, but a profile could list many."""
MAX_CNAMES = 8


class _Query:
    __slots__ = ("attempt", "deadline", "ident", "name", "port", "waiters")

    def __init__(self, name: str, ident: int, port: int, done: Done) -> None:
        self.name = name
        self.ident = ident
        self.port = port
        self.attempt = 0
        self.deadline = 0.0
        self.waiters = [done]


class DnsResolver:
    """host.Resolver and host.Service: sends the queries, retransmits, caches. Counted under "dns"."""

    name = "resolver"

    def __init__(self, host: host_mod.IpHost, rng: random.Random) -> None:
        self.host = host
        self.rng = rng
        self.cache: dict[str, tuple[bytes | None, float]] = {}
        """name -> (address, or None for a negative answer; when it expires)"""
        self.queries_sent = 0
        self._queries: dict[str, _Query] = {}

    # -- host.Resolver ------------------------------------------------------------------------------

    def resolve(self, name: str, now: float, done: Done) -> None:
        """Call `done(address)` with an IPv4 address for `name`, or `done(None)`: at once or later."""
        key = name.rstrip(".").lower()
        literal = _ipv4_literal(key)
        if literal is not None:
            done(literal)
            return
        cached = self.cache.get(key)
        if cached is not None and cached[1] > now:
            done(cached[0])
            return
        pending = self._queries.get(key)
        if pending is not None:
            pending.waiters.append(done)
            return
        if self.host.address is None or not self.host.dns_servers:
            done(None)
            return
        query = _Query(key, self.rng.getrandbits(16), service_kit.random_port(self.host, self.rng), done)
        self._queries[key] = query
        self.host.bind_udp(query.port, functools.partial(self._on_datagram, query))
        self._transmit(query, now)

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
        servers = self.host.dns_servers
        server = servers[query.attempt % len(servers)]
        query.deadline = now + QUERY_TIMEOUTS[query.attempt]
        self.queries_sent += 1
        self.host.send_udp("dns", server, query.port, 53, dns_wire.query(query.ident, query.name))

    def _next_attempt(self, query: _Query, now: float) -> None:
        query.attempt += 1
        if query.attempt < len(QUERY_TIMEOUTS) and self.host.dns_servers:
            self._transmit(query, now)
        else:
            self._finish(query, None, None, now)

    def _on_datagram(self, query: _Query, src: bytes, sport: int, dst: bytes, data: bytes, now: float) -> None:
        if self._queries.get(query.name) is not query or sport != 53 or src not in self.host.dns_servers:
            return
        message = dns_wire.parse(data)
        if message is None or not message.is_response or message.id != query.ident:
            return
        if message.questions and not dns_wire.same_name(message.questions[0].name, query.name):
            return
        if message.rcode not in (0, dns_wire.RCODE_NXDOMAIN):  # SERVFAIL, REFUSED: ask the next server now
            self._next_attempt(query, now)
            return
        address, ttl = answer(message, query.name)
        self._finish(query, address, ttl, now)

    def _finish(self, query: _Query, address: bytes | None, ttl: int | None, now: float) -> None:
        self.host.unbind_udp(query.port)
        del self._queries[query.name]
        if ttl:
            if len(self.cache) >= CACHE_LIMIT:
                self.cache = {k: v for k, v in self.cache.items() if v[1] > now}
            if len(self.cache) < CACHE_LIMIT:
                self.cache[query.name] = (address, now + ttl)
        for done in query.waiters:
            done(address)


def answer(message: dns_wire.Message, name: str) -> tuple[bytes | None, int | None]:
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
    records = [r for r in message.answers if r.rtype == dns_wire.TYPE_A and dns_wire.same_name(r.name, target)]
    addresses = [r.data for r in records if isinstance(r.data, bytes)]
    if addresses:
        return addresses[0], min(ttls + [r.ttl for r in records])
    soa = next((r for r in message.authority if r.rtype == dns_wire.TYPE_SOA), None)
    if soa is not None and isinstance(soa.data, dns_wire.Soa):
        return None, min(soa.ttl, soa.data.minimum)
    return None, None


def _ipv4_literal(name: str) -> bytes | None:
    try:
        return ipaddress.IPv4Address(name).packed
    except ValueError:
        return None


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
                self.host.resolver.resolve(name, now, functools.partial(self.answers.__setitem__, name))

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
