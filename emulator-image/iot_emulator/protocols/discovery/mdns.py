"""The "mdns" service: a Multicast DNS responder (RFC 6762) for the device's DNS-SD services (RFC 6763).

On start it joins 224.0.0.251 and probes its unique names (three queries 250 ms apart, the
first asking for unicast answers, its proposed records in the authority section: 8.1), breaks
ties with a host probing the same name at the same time (8.2), renames on conflict (9), then
announces every record `announce_count` times, 1 s apart and doubling (8.3).

Then it answers queries: QU questions by unicast and the others by multicast (5.4), queries to
its own address by unicast (5.5), legacy queries from a port other than 5353 by unicast with
the query's ID and question and TTLs of at most 10 s (6.7); it leaves out what the querier
already knows (known-answer suppression, 7.1), adds the records a browser needs next (RFC 6763
12), delays answers that hold shared records by 20-120 ms, and multicasts no record more than
once a second except to defend a name against a probe (6). On stop it says goodbye: every record
with TTL 0 (10.1). Every packet leaves with IP TTL 255 (11) from port 5353.

Over IPv6 too when the device speaks it and its profile says so (`ipv6.discovery`, avahi's default):
probes, announcements and goodbyes go to both 224.0.0.251 and ff02::fb, a query is answered on the
family it came in (multicast to that family's group, or unicast to the asker), and the records carry
an AAAA per IPv6 address; when the addresses change (SLAAC after DHCPv4) they are announced again,
after a goodbye for the records of an address that went away (an expired prefix, a temporary address).

Records and names are built in `mdns_records`; what the records say comes from the profile.
"""

from __future__ import annotations

import enum
import random

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols import dns_wire, service_kit, services
from iot_emulator.protocols.discovery import mdns_records
from iot_emulator.protocols.link import ipv6

GROUP = bytes([224, 0, 0, 251])
GROUP6 = ipv6.MDNS_GROUP
PORT = 5353
IP_TTL = 255
PROBES = 3
PROBE_INTERVAL = 0.25
DEFER_AFTER_LOST_TIE = 1.0
LEGACY_TTL = 10
MAX_PAYLOAD = 1400
"""Bytes of DNS message per packet, under the Ethernet MTU with IP and UDP headers (RFC 6762 17)."""
RESPONSE_FLAGS = dns_wire.FLAG_RESPONSE | dns_wire.FLAG_AUTHORITATIVE
CONFLICT_STORM = (15, 10.0, 5.0)
"""RFC 6762 8.1: after 15 conflicts within 10 s, wait 5 s before probing again."""
HEARD_LIMIT = 64
CLASS_ANY = 255


class State(enum.Enum):
    STOPPED = "stopped"
    PROBING = "probing"
    RUNNING = "running"  # announced (or announcing): the names are ours and queries are answered


class MdnsResponder:
    name = "mdns"

    def __init__(self, context: services.Context, settings: catalog.Mdns) -> None:
        self.host = context.host
        self.config = context.config
        self.log = context.log
        self.rng: random.Random = context.rng
        self.settings = settings
        self.state = State.STOPPED
        self.published = mdns_records.Published(context.config, b"\x00" * 4)
        self.timers = service_kit.Timers()
        self.heard: list[dns_wire.Record] = []
        """Records other hosts sent in responses (the latest HEARD_LIMIT), for tests and debugging."""
        self.answers_sent = 0
        self.groups: tuple[bytes, ...] = (GROUP,)
        """Where multicast goes: 224.0.0.251, and ff02::fb when it runs over IPv6 too."""
        self._last_multicast: dict[tuple[bytes, tuple[str, int, dns_wire.RData]], float] = {}
        self._conflict_times: list[float] = []
        self._last_sent: tuple[dns_wire.Message, list[bytes]] | None = None
        """The last message sent and its packets: probes 2 and 3, the second announcement and each message's
        copy for the other family repeat it (encoding each again was a third of a boot storm's mDNS cost).
        Dropped after the last announcement; an answer to a query stays until the next message."""

    # -- host.Service -------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        assert self.host.address is not None, "services start once the device has an address"
        dual = self.host.speaks_ipv6("mdns")
        self.groups = (GROUP, GROUP6) if dual else (GROUP,)
        addresses6 = tuple(self.host.ipv6_addresses()) if dual else ()
        self.published = mdns_records.Published(self.config, self.host.address, addresses6)
        self._publish_names()
        self.host.join(GROUP)
        self.host.bind_udp(PORT, self._on_datagram, ipv6=dual)
        if dual:
            self.host.watch_addresses(self._addresses_changed)
        self._begin_probing(now, self.rng.uniform(0, PROBE_INTERVAL))

    def on_timer(self, now: float) -> None:
        self.timers.run(now)

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def stop(self, now: float) -> None:
        """Goodbye packets (TTL 0) for everything announced, then silence."""
        if self.state is State.RUNNING:
            self._multicast([r._replace(ttl=0) for r in self.published.records()], now, rate_limit=False)
        self.timers.clear()
        self.host.unwatch_addresses(self._addresses_changed)
        self.host.unbind_udp(PORT)
        self.host.leave(GROUP)
        self.host.mdns_names = self.host.mdns_unique = frozenset()
        self._set_state(State.STOPPED)

    # -- probing and announcing ---------------------------------------------------------------------

    def _publish_names(self) -> None:
        """Tell the engine which names we answer for, so only queries and conflicts about them reach us."""
        records = self.published.records()
        self.host.mdns_names = frozenset(r.name.lower() for r in records)
        self.host.mdns_unique = frozenset(r.name.lower() for r in records if r.cache_flush)

    def _addresses_changed(self, now: float) -> None:
        """New or lost IPv6 addresses: a goodbye (TTL 0, RFC 6762 10.1) for the records of an address that
        is gone, as avahi sends when an address is removed, then the records that are now true, announced."""
        addresses6 = tuple(self.host.ipv6_addresses())
        if addresses6 == self.published.addresses6:
            return
        before = self.published.records()
        self.published.addresses6 = addresses6
        self._publish_names()
        if self.state is State.RUNNING:
            now_true = set(self.published.records())
            gone = [r._replace(ttl=0) for r in before if r not in now_true]
            if gone:
                self._multicast(gone, now, rate_limit=False)
            self._announce(now, 0)

    def _set_state(self, state: State) -> None:
        if state is not self.state:
            self.log("debug", f"mDNS {self.state.value} -> {state.value}")
            self.state = state

    def _begin_probing(self, now: float, delay: float) -> None:
        self.timers.clear()
        self._set_state(State.PROBING)
        self.timers.at(now + delay, lambda t: self._probe(t, 0))

    def _proposed(self) -> list[dns_wire.Record]:
        names = {n.lower() for n in self.published.unique_names()}
        return [r for r in self.published.records() if r.name.lower() in names]

    def _probe(self, now: float, n: int) -> None:
        qclass = dns_wire.CLASS_IN | (dns_wire.TOP_BIT if n == 0 else 0)
        questions = [dns_wire.Question(name, dns_wire.TYPE_ANY, qclass) for name in self.published.unique_names()]
        probe = dns_wire.Message(0, 0, questions, authority=self._proposed())
        for group in self.groups:
            self._send(probe, group, PORT)
        if n + 1 < PROBES:
            self.timers.at(now + PROBE_INTERVAL, lambda t: self._probe(t, n + 1))
        else:
            self.timers.at(now + PROBE_INTERVAL, lambda t: self._announce(t, 0))

    def _announce(self, now: float, k: int) -> None:
        self._set_state(State.RUNNING)
        self._multicast(self.published.records(), now, rate_limit=False)
        if k + 1 < self.settings.announce_count:
            self.timers.at(now + 2.0**k, lambda t: self._announce(t, k + 1))
        else:
            self._last_sent = None  # nothing repeats it now: the device keeps no packets while it idles

    def _conflict(self, name: str, now: float) -> None:
        old = name
        self.published.rename(name)
        self._publish_names()
        self.log("info", f"mDNS name conflict on {old}: now {', '.join(self.published.unique_names())}")
        limit, window, pause = CONFLICT_STORM
        self._conflict_times = [t for t in self._conflict_times if now - t < window] + [now]
        self._begin_probing(now, pause if len(self._conflict_times) >= limit else self.rng.uniform(0, PROBE_INTERVAL))

    # -- receiving ----------------------------------------------------------------------------------

    def _on_datagram(self, src: bytes, sport: int, dst: bytes, data: bytes, now: float) -> None:
        if src == self.host.address or self.state is State.STOPPED:
            return
        message = dns_wire.parse(data)
        if message is None:
            return
        if message.is_response:
            if sport == PORT:  # RFC 6762 6: responses from any other port are ignored
                self._on_response(message, now)
        else:
            self._on_query(message, src, sport, dst, now)

    def _on_response(self, message: dns_wire.Message, now: float) -> None:
        records = message.answers + message.additional
        self.heard = (self.heard + records)[-HEARD_LIMIT:]
        ours = {r.key() for r in self.published.records()}
        for record in records:
            if not self.published.owns(record.name) or record.key() in ours:
                continue  # not our name, or the very record we publish
            if self.state is State.PROBING:
                self._conflict(record.name, now)
                return
            if record.cache_flush and record.ttl > 0:  # another host claims a unique record of ours (9)
                self._begin_probing(now, 0.0)
                return

    def _on_query(self, message: dns_wire.Message, src: bytes, sport: int, dst: bytes, now: float) -> None:
        if self.state is State.PROBING:
            if message.authority:
                self._break_tie(message, now)
            return
        if self.state is not State.RUNNING:
            return
        legacy = sport != PORT
        unicast: list[dns_wire.Record] = []
        multicast: list[dns_wire.Record] = []
        for question in message.questions:
            direct = legacy or question.unicast_response or dst == self.host.address or _unicast6(dst)
            for record in self._answers_to(question, message.answers):
                target = unicast if direct else multicast
                if record not in target:
                    target.append(record)
        if legacy and unicast:
            capped = [r._replace(ttl=min(r.ttl, LEGACY_TTL), rclass=dns_wire.CLASS_IN) for r in unicast]
            reply = dns_wire.Message(message.id, RESPONSE_FLAGS, message.questions, capped)
            self._send(reply, src, sport)
        elif unicast:
            self._send(self._response(unicast), src, sport)
        if multicast:  # on the family the query came in
            group = GROUP6 if len(src) == 16 else GROUP
            self._multicast_later(multicast, now, probe=bool(message.authority), group=group)

    def _answers_to(self, question: dns_wire.Question, known: list[dns_wire.Record]) -> list[dns_wire.Record]:
        """Our records that answer `question`, less those the querier listed with at least half our TTL (7.1)."""
        if question.qclass & ~dns_wire.TOP_BIT not in (dns_wire.CLASS_IN, CLASS_ANY):
            return []
        known_ttl = {k.key(): k.ttl for k in known}
        return [
            r
            for r in self.published.records()
            if dns_wire.same_name(r.name, question.name)
            and question.qtype in (r.rtype, dns_wire.TYPE_ANY)
            and known_ttl.get(r.key(), 0) < r.ttl / 2
        ]

    def _break_tie(self, message: dns_wire.Message, now: float) -> None:
        """RFC 6762 8.2: another host probes one of our names too; the lexicographically later data wins."""
        for name in self.published.unique_names():
            theirs = sorted(_tie_key(r) for r in message.authority if dns_wire.same_name(r.name, name))
            if not theirs:
                continue
            ours = sorted(_tie_key(r) for r in self._proposed() if dns_wire.same_name(r.name, name))
            if ours < theirs:  # we lose: wait a second, then probe again (and meet the winner's answers)
                self._begin_probing(now, DEFER_AFTER_LOST_TIE)
                return

    # -- sending ------------------------------------------------------------------------------------

    def _response(self, answers: list[dns_wire.Record]) -> dns_wire.Message:
        return dns_wire.Message(0, RESPONSE_FLAGS, [], answers, [], self.published.additional_for(answers))

    def _multicast_later(self, records: list[dns_wire.Record], now: float, *, probe: bool, group: bytes) -> None:
        """Unique answers go at once; answers with shared records wait 20-120 ms (RFC 6762 6)."""
        only = (group,)
        if all(r.cache_flush for r in records):
            self._multicast(records, now, rate_limit=not probe, groups=only)
        else:
            delay = self.rng.uniform(0.020, 0.120)
            self.timers.at(now + delay, lambda t: self._multicast(records, t, rate_limit=not probe, groups=only))

    def _multicast(
        self, records: list[dns_wire.Record], now: float, *, rate_limit: bool, groups: tuple[bytes, ...] = ()
    ) -> None:
        """To each of `groups` (default: every family it runs on), no record more than once a second per group."""
        if self.state is not State.RUNNING:
            return
        for group in groups or self.groups:
            chosen = records
            if rate_limit:
                chosen = [r for r in records if now - self._last_multicast.get((group, r.key()), -1e9) >= 1.0]
            if not chosen:
                continue
            for record in chosen:
                self._last_multicast[(group, record.key())] = now
            self._send(self._response(chosen), group, PORT)

    def _send(self, message: dns_wire.Message, dst: bytes, dport: int) -> None:
        """One packet, or several if the answers do not fit in MAX_PAYLOAD (additional records go last, if room)."""
        if message.is_response:
            self.answers_sent += 1
        if self._last_sent is None or self._last_sent[0] != message:
            self._last_sent = (message, _split(message))
        for payload in self._last_sent[1]:
            self.host.send_udp("mdns", dst, PORT, dport, payload, ttl=IP_TTL)


def _unicast6(address: bytes) -> bool:
    return len(address) == 16 and address[0] != 0xFF


def _tie_key(record: dns_wire.Record) -> tuple[int, int, bytes]:
    return record.rclass & ~dns_wire.TOP_BIT, record.rtype, dns_wire.rdata(record)


def _split(message: dns_wire.Message) -> list[bytes]:
    whole = dns_wire.encode(message)
    if len(whole) <= MAX_PAYLOAD or len(message.answers) <= 1:
        return [whole]
    packets, batch = [], list[dns_wire.Record]()
    for record in message.answers:
        trial = dns_wire.Message(message.id, message.flags, message.questions, [*batch, record])
        if batch and len(dns_wire.encode(trial)) > MAX_PAYLOAD:
            packets.append(dns_wire.encode(dns_wire.Message(message.id, message.flags, message.questions, batch)))
            batch = [record]
        else:
            batch.append(record)
    last = dns_wire.Message(message.id, message.flags, message.questions, batch, [], message.additional)
    encoded = dns_wire.encode(last)
    if len(encoded) > MAX_PAYLOAD:
        encoded = dns_wire.encode(dns_wire.Message(message.id, message.flags, message.questions, batch))
    return [*packets, encoded]


@services.register("mdns")
def _mdns(context: services.Context) -> host_mod.Service | None:
    settings = context.config.profile.mdns
    return MdnsResponder(context, settings) if settings is not None else None
