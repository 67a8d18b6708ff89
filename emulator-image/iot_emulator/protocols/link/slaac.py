"""A device's IPv6 addresses as a sans-IO state machine: link-local, DAD, Router Solicitation, SLAAC.

RFC 4862 (stateless autoconfiguration, duplicate address detection), RFC 4861 (router
solicitation timing), RFC 7217 (stable-privacy identifiers), RFC 3810 (the MLDv2 reports that
join each address's solicited-node group before its DAD probe, as Linux sends them). Like the
DHCP client it reads no clock: `start`, `handle_*` and `on_timer` take `now` and return frames;
`next_deadline()` says when to call again; `pop_logs()` says what happened.

With the profile's `temporary_addresses`, each SLAAC prefix also gets RFC 8981 temporary addresses
(random identifiers, short lifetimes, a new one before the last stops being preferred: `temporary`).

Not done here: optimistic DAD.
"""

from __future__ import annotations

import enum
import hashlib
import math
import random

from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import ipv6, mld, ndp, temporary

RETRANS_TIMER = 1.0
"""RFC 4861 10: seconds between DAD probes, and after the last one before the address is used."""
MAX_START_DELAY = 1.0
"""RFC 4862 5.4.2 / RFC 4861 6.3.7: a random delay of up to 1 s before the first DAD probe and RS."""
IDGEN_RETRIES = 3
"""RFC 7217 6: stable-privacy addresses that collide are regenerated this many times."""
TWO_HOURS = 7200
INFINITY = 0xFFFFFFFF
MAX_ADDRESSES = 8
"""SLAAC addresses a device keeps (a router advertising more prefixes gets the first ones)."""


class State(enum.Enum):
    TENTATIVE = "tentative"
    PREFERRED = "preferred"
    DEPRECATED = "deprecated"


class Address:
    __slots__ = (
        "address",
        "counter",
        "created",
        "dad_due",
        "dad_left",
        "desync",
        "kind",
        "preferred_until",
        "prefix",
        "regenerated",
        "state",
        "valid_until",
    )

    def __init__(self, address: bytes, prefix: bytes, counter: int, dad_left: int, kind: str = "") -> None:
        self.address = address
        self.kind = kind or ("link-local" if prefix == ipv6.LINK_LOCAL_PREFIX else "SLAAC")
        """link-local, SLAAC, temporary or DHCPv6: how it was formed."""
        self.prefix = prefix
        self.counter = counter
        self.state = State.TENTATIVE
        self.dad_left = dad_left
        self.dad_due: float | None = None
        self.preferred_until = math.inf
        self.valid_until = math.inf
        self.created = 0.0
        self.desync = 0.0
        """A temporary address's DESYNC_FACTOR (RFC 8981 3.8)."""
        self.regenerated = False
        """A temporary address whose successor was formed (RFC 8981 3.5)."""


def lifetime_end(now: float, lifetime: int) -> float:
    """When an ND lifetime (seconds, all ones: infinity; RFC 4861 4.6.2, RFC 8106 5.1) given at `now` ends."""
    return math.inf if lifetime == INFINITY else now + lifetime


class Slaac:
    """Link-local at start, global addresses from Router Advertisements, each checked by DAD first."""

    __slots__ = (
        "_extra_groups",
        "_logs",
        "_mld_due",
        "_mld_repeat",
        "_rng",
        "_rs_due",
        "_rs_left",
        "_secret",
        "addresses",
        "mac",
        "owned",
        "router",
        "settings",
        "stopped",
    )

    def __init__(
        self, mac: bytes, settings: catalog.Ipv6, rng: random.Random, extra_groups: frozenset[bytes] = frozenset()
    ) -> None:
        self.mac = mac
        self.settings = settings
        self._rng = rng
        self._secret = hashlib.sha256(b"iotemu stable-privacy secret" + mac).digest()[:16]
        """RFC 7217's secret_key: a device keeps it in flash, so it is derived from what stays the same, its MAC."""
        self._extra_groups = extra_groups
        self.addresses: dict[bytes, Address] = {}
        self.owned: frozenset[bytes] = frozenset()
        """Every address, tentative ones too (replaced on change): the engine routes ND traffic about them here."""
        self.router: tuple[bytes, bytes | None, float] | None = None
        """The default router: (link-local address, MAC, valid until)."""
        self._rs_left = 0
        self._rs_due: float | None = None
        self._mld_due: float | None = None
        self._mld_repeat: frozenset[bytes] = frozenset()
        self._logs: list[tuple[str, str]] = []
        self.stopped = False

    # -- entry points ---------------------------------------------------------------------------

    def start(self, now: float) -> list[bytes]:
        """Form the link-local address; its DAD starts after a random delay (frames come from on_timer)."""
        self._add(ipv6.LINK_LOCAL_PREFIX, 0, now + self._rng.uniform(0, MAX_START_DELAY))
        return []

    def stop(self) -> None:
        self.addresses.clear()
        self.owned = frozenset()
        self.stopped = True
        self._rs_due = self._mld_due = None

    @property
    def link_local(self) -> bytes | None:
        return next(
            (a.address for a in self.addresses.values() if a.kind == "link-local" and a.state is not State.TENTATIVE),
            None,
        )

    def usable(self) -> list[bytes]:
        return [a.address for a in self.addresses.values() if a.state is not State.TENTATIVE]

    def groups(self) -> frozenset[bytes]:
        """The groups the device has joined: its addresses' solicited-node groups and its services' groups."""
        return frozenset(ipv6.solicited_node(a) for a in self.addresses) | self._extra_groups

    def handle_router_advert(self, advert: ndp.RouterAdvert, src: bytes, now: float) -> list[bytes]:
        """RFC 4862 5.5.3: a Prefix Information option with the A flag forms (or refreshes) an address."""
        if self.stopped:
            return []
        self._rs_left, self._rs_due = 0, None  # RFC 4861 6.3.7: a valid RA ends solicitation
        self.router = (src, advert.source_mac, now + advert.router_lifetime) if advert.router_lifetime else None
        for info in advert.prefixes:
            if not info.autonomous or info.prefix[:8] == ipv6.LINK_LOCAL_PREFIX or info.preferred > info.valid:
                continue
            if info.length != 64:
                self._log("warning", f"IPv6 prefix {ipv6.text(info.prefix)}/{info.length} ignored: SLAAC needs /64")
                continue
            self._prefix(info, now)
        return self.on_timer(now)

    def add_leased(self, address: bytes, preferred: int, valid: int, now: float) -> list[bytes]:
        """An address a DHCPv6 server leased (IA_NA): checked by DAD before use, as RFC 8415 18.2.10.1 asks;
        a renewed one takes its new lifetimes."""
        known = self.addresses.get(address)
        if known is not None and known.kind == "DHCPv6":
            known.preferred_until, known.valid_until = lifetime_end(now, preferred), lifetime_end(now, valid)
            if known.state is State.DEPRECATED and preferred > 0:
                known.state = State.PREFERRED
            return []
        if self.stopped or known is not None or valid == 0:
            return []
        entry = Address(address, address[:8], IDGEN_RETRIES, self.settings.dad_transmits, "DHCPv6")
        entry.preferred_until, entry.valid_until = lifetime_end(now, preferred), lifetime_end(now, valid)
        entry.dad_due = now
        self.addresses[address] = entry
        self._owned_changed()
        return self.on_timer(now)

    def log(self, level: str, message: str) -> None:
        """A message of the device's IPv6 stack (its DHCPv6 client's too), returned by `pop_logs`."""
        self._log(level, message)

    def conflict(self, target: bytes, now: float) -> list[bytes]:
        """Another host uses (NA) or probes for (NS from ::) our tentative `target` (RFC 4862 5.4.3-4)."""
        entry = self.addresses.get(target)
        if entry is None or entry.state is not State.TENTATIVE:
            return []
        del self.addresses[target]
        self._log("warning", f"IPv6 DAD: {ipv6.text(target)} ({entry.kind}) is in use by another host")
        if entry.kind == "temporary":
            if entry.counter < temporary.IDGEN_RETRIES:  # RFC 8981 3.4 step 7: another random identifier
                self._temporary(entry.prefix, now, entry.counter + 1)
            else:
                self._log("error", "IPv6 DAD failed: no temporary address")
        elif self.settings.interface_id is catalog.InterfaceId.stable_privacy and entry.counter < IDGEN_RETRIES:
            self._add(entry.prefix, entry.counter + 1, now, entry)
        else:
            self._log("error", f"IPv6 DAD failed: no {entry.kind} address")
        self._owned_changed()
        return self.on_timer(now)

    def query(self, now: float) -> list[bytes]:
        """An MLD query: report every group (RFC 3810 6.2; at once rather than within Maximum Response Delay)."""
        groups = self.groups()
        if self.stopped or not groups:
            return []
        return [mld.report(self.mac, self.link_local or ipv6.UNSPECIFIED, groups, mld.MODE_IS_EXCLUDE)]

    def on_timer(self, now: float) -> list[bytes]:
        if self.stopped:
            return []
        out: list[bytes] = []
        joined: set[bytes] = set()
        probes: list[bytes] = []
        for entry in list(self.addresses.values()):
            if entry.dad_due is not None and entry.dad_due <= now:
                if entry.dad_left > 0:
                    if entry.dad_left == self.settings.dad_transmits:  # the first probe: join its group first
                        joined.add(ipv6.solicited_node(entry.address))
                    entry.dad_left -= 1
                    entry.dad_due = now + RETRANS_TIMER
                    probes.append(entry.address)
                else:
                    entry.dad_due = None
                    self._assigned(entry, now)
            if entry.kind == "temporary" and self._regen_due(entry) <= now:
                entry.regenerated = True  # RFC 8981 3.5: the successor, before this one is deprecated
                self._temporary(entry.prefix, now)
            self._age(entry, now)
        source = self.link_local or ipv6.UNSPECIFIED
        if joined and self._extra_groups and not self._mld_repeat:  # the services' groups with the first join
            joined |= self._extra_groups
        if joined:
            out.append(mld.report(self.mac, source, joined, mld.CHANGE_TO_EXCLUDE))
            self._mld_repeat = self._mld_repeat | joined
            self._mld_due = now + self._rng.uniform(0, 1.0)  # robustness 2: once more, soon
        elif self._mld_due is not None and self._mld_due <= now:
            repeat, self._mld_due, self._mld_repeat = self._mld_repeat & self.groups(), None, frozenset()
            if repeat:
                out.append(mld.report(self.mac, source, repeat, mld.CHANGE_TO_EXCLUDE))
        out += [ndp.neighbor_solicitation(self.mac, ipv6.UNSPECIFIED, target) for target in probes]
        if self._rs_due is not None and self._rs_due <= now:
            out += self._solicit(now)
        return out

    def next_deadline(self) -> float | None:
        due = [self._rs_due, self._mld_due]
        for entry in self.addresses.values():
            due += [entry.dad_due, entry.preferred_until if entry.state is State.PREFERRED else None, entry.valid_until]
            if entry.kind == "temporary":
                due.append(self._regen_due(entry))
        present = [d for d in due if d is not None and d != math.inf]
        return min(present) if present else None

    def pop_logs(self) -> list[tuple[str, str]]:
        out, self._logs = self._logs, []
        return out

    # -- internals ------------------------------------------------------------------------------

    def _iid(self, prefix: bytes, counter: int) -> bytes:
        if self.settings.interface_id is catalog.InterfaceId.stable_privacy:
            return ipv6.stable_iid(prefix, self.mac, self._secret, counter)
        return ipv6.eui64(self.mac)

    def _add(self, prefix: bytes, counter: int, dad_at: float, like: Address | None = None) -> None:
        entry = Address(prefix[:8] + self._iid(prefix, counter), prefix[:8], counter, self.settings.dad_transmits)
        if like is not None:
            entry.preferred_until, entry.valid_until = like.preferred_until, like.valid_until
        entry.dad_due = dad_at
        self.addresses[entry.address] = entry
        self._owned_changed()

    def _prefix(self, info: ndp.Prefix, now: float) -> None:
        entry = next((a for a in self.addresses.values() if a.prefix == info.prefix[:8] and a.kind == "SLAAC"), None)
        if entry is None:
            slaac = sum(1 for a in self.addresses.values() if a.kind == "SLAAC")
            if info.valid == 0 or slaac >= MAX_ADDRESSES:
                return
            self._add(info.prefix, 0, now)
            entry = self.addresses[info.prefix[:8] + self._iid(info.prefix, 0)]
            entry.preferred_until, entry.valid_until = lifetime_end(now, info.preferred), lifetime_end(now, info.valid)
            self._temporary(entry.prefix, now)
            return
        entry.preferred_until = lifetime_end(now, info.preferred)
        if entry.state is State.DEPRECATED and info.preferred > 0:
            entry.state = State.PREFERRED
        remaining = entry.valid_until - now
        if info.valid > TWO_HOURS or info.valid > remaining:  # RFC 4862 5.5.3 e), the two-hour rule
            entry.valid_until = lifetime_end(now, info.valid)
        elif remaining > TWO_HOURS:
            entry.valid_until = now + TWO_HOURS
        self._refresh_temporaries(entry, now)

    # -- temporary addresses (RFC 8981) -----------------------------------------------------------

    def _public(self, prefix: bytes) -> Address | None:
        return next((a for a in self.addresses.values() if a.prefix == prefix and a.kind == "SLAAC"), None)

    def _temporary(self, prefix: bytes, now: float, counter: int = 0) -> None:
        """A new temporary address for `prefix`, bounded by its public address's lifetimes (3.4), DAD first."""
        public = self._public(prefix)
        if not self.settings.temporary_addresses or public is None or self.stopped:
            return
        desync = temporary.desync(self.settings, self._rng)
        valid, preferred = temporary.lifetimes(
            self.settings, now, desync, now, public.valid_until, public.preferred_until
        )
        if not temporary.worth_forming(self.settings, now, preferred):
            return
        temporaries = [a for a in self.addresses.values() if a.kind == "temporary"]
        if len(temporaries) >= temporary.MAX_TEMPORARY:  # the oldest goes, deprecated ones first
            oldest = min(temporaries, key=lambda a: (a.state is not State.DEPRECATED, a.created))
            del self.addresses[oldest.address]
        address = prefix + temporary.interface_id(self._rng)
        entry = Address(address, prefix, counter, self.settings.dad_transmits, "temporary")
        entry.created, entry.desync = now, desync
        entry.valid_until, entry.preferred_until = valid, preferred
        entry.dad_due = now
        self.addresses[entry.address] = entry
        self._owned_changed()

    def _refresh_temporaries(self, public: Address, now: float) -> None:
        """An RA refreshed the prefix: its temporary addresses follow, within their own limits (3.4); a
        prefix with none that is current gets one."""
        current = False
        for entry in self.addresses.values():
            if entry.kind != "temporary" or entry.prefix != public.prefix:
                continue
            entry.valid_until, entry.preferred_until = temporary.lifetimes(
                self.settings, entry.created, entry.desync, now, public.valid_until, public.preferred_until
            )
            current = current or not (entry.regenerated or entry.state is State.DEPRECATED)
        if not current:
            self._temporary(public.prefix, now)

    def _regen_due(self, entry: Address) -> float:
        if entry.regenerated or entry.state is not State.PREFERRED:
            return math.inf
        return entry.preferred_until - temporary.regen_advance(self.settings)

    def _assigned(self, entry: Address, now: float) -> None:
        entry.state = State.PREFERRED
        self._log("info", f"IPv6 {entry.kind} address {ipv6.text(entry.address)} preferred")
        if entry.kind == "link-local" and self.settings.router_solicitations:
            self._rs_left = self.settings.router_solicitations
            self._rs_due = now

    def _age(self, entry: Address, now: float) -> None:
        if entry.valid_until <= now:
            del self.addresses[entry.address]
            self._owned_changed()
            self._log("info", f"IPv6 address {ipv6.text(entry.address)} expired")
        elif entry.state is State.PREFERRED and entry.preferred_until <= now:
            entry.state = State.DEPRECATED
            self._log("info", f"IPv6 address {ipv6.text(entry.address)} deprecated")

    def _solicit(self, now: float) -> list[bytes]:
        self._rs_left -= 1
        self._rs_due = now + self.settings.solicitation_interval if self._rs_left > 0 else None
        return [ndp.router_solicitation(self.mac, self.link_local or ipv6.UNSPECIFIED)]

    def _owned_changed(self) -> None:
        self.owned = frozenset(self.addresses)

    def _log(self, level: str, message: str) -> None:
        self._logs.append((level, message))
