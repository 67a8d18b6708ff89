"""The "ntp" service: an SNTP client (RFC 4330; packet format and on-wire maths of RFC 5905 7.3, 8).

Servers come from DHCP option 42 when the lease has them, else from the profile's `ntp_servers`
names through the device's resolver, tried in order, the next one after a reply timeout (as
BusyBox ntpd and ESP-IDF's SNTP do). A name's AAAA goes first when RFC 6724 says so (a dual-stack
device with a global address, `protocols.clients.dns`), over IPv6, with its A record next if it stays
silent. Requests are client mode 3, version `profile.ntp_version` (default 4: BusyBox ntpd, lwIP,
chrony all send 4), with every field zero but the transmit timestamp, as RFC 4330 5 has SNTP clients
send them.

A device's clock: a camera or plug without a battery-backed clock boots at the Unix epoch and
learns the time from its first NTP answer, so the client keeps such a clock, `now + offset`,
starting at 1970-01-01 when the service starts and stepped by the offset of each answer. Its
first request says 1970, as a freshly booted device's does; the offset and delay of each answer
(RFC 5905 8) are kept in `last` for stats and tests. No wall clock is read anywhere.

Answers are checked as RFC 4330 5 asks: server mode, origin timestamp equal to our transmit
timestamp, a synchronized leap indicator, a non-zero stratum; a stratum-0 answer is a kiss of
death (RFC 5905 7.4): DENY and RSTR retire that server, RATE waits for the next round.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import struct
from typing import NamedTuple

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols import schedule, service_kit, services

PORT = 123
VERSION = 4
MODE_CLIENT = 3
MODE_SERVER = 4
LEAP_UNSYNCHRONIZED = 3
UNIX_EPOCH = 2_208_988_800
"""Seconds from the NTP epoch (1900) to the Unix epoch (1970): where an unset device clock stands."""
REPLY_TIMEOUT = 3.0
"""Seconds to wait for an answer before trying the next server."""
DEFAULT_SCHEDULE = catalog.Schedule(interval=3600, jitter=0.1)
"""Once an hour (BusyBox ntpd settles at 2^11-2^12 s polls), the first soon after the address comes."""
_PACKET = struct.Struct("!BBbbII4sQQQQ")


class Sample(NamedTuple):
    """One answered request (RFC 5905 8): how far off the device's clock was, and the round trip."""

    server: bytes
    stratum: int
    offset: float
    delay: float
    at: float


def to_ntp(seconds: float) -> int:
    """NTP 64-bit timestamp (32.32 fixed point) of a time in seconds since 1900."""
    whole = int(seconds)
    return (whole & 0xFFFFFFFF) << 32 | int((seconds - whole) * 2**32)


def from_ntp(stamp: int) -> float:
    return (stamp >> 32) + (stamp & 0xFFFFFFFF) / 2**32


def request(transmit: int, version: int = VERSION) -> bytes:
    """An SNTP client request: LI 0, the version, mode 3, every field zero but the transmit timestamp."""
    return _PACKET.pack(version << 3 | MODE_CLIENT, 0, 0, 0, 0, 0, b"\x00" * 4, 0, 0, 0, transmit)


def offset_and_delay(t1: float, t2: float, t3: float, t4: float) -> tuple[float, float]:
    """RFC 5905 8: offset = ((T2 - T1) + (T3 - T4)) / 2, delay = (T4 - T1) - (T3 - T2)."""
    return ((t2 - t1) + (t3 - t4)) / 2, (t4 - t1) - (t3 - t2)


class NtpClient:
    """Asks one server per round; the next after a timeout; steps the device clock on each answer."""

    name = "ntp"

    def __init__(self, context: services.Context, sched: catalog.Schedule) -> None:
        self.host = context.host
        self.log = context.log
        self.rng: random.Random = context.rng
        self.names = list(context.config.profile.ntp_servers)
        self.version = context.config.profile.ntp_version
        self.ticker = schedule.Ticker(sched, context.config.traffic_interval, context.rng)
        self.clock_offset = 0.0
        """Device clock = now + clock_offset (NTP seconds); set at start so that it reads 1970."""
        self.last: Sample | None = None
        self.kiss: str | None = None
        self.requests_sent = 0
        self._denied: set[bytes] = set()
        self._round: list[str | bytes] = []
        self._round_id = 0
        self._port: int | None = None
        self._server: bytes | None = None
        self._transmit = 0
        self._deadline: float | None = None
        self._ready: bytes | None = None
        """A server the resolver just gave: sent at the next timer call, which knows the time."""

    def clock(self, now: float) -> float:
        """The device's idea of the time, in seconds since 1900."""
        return now + self.clock_offset

    # -- host.Service -------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self.clock_offset = UNIX_EPOCH - now
        self.ticker.start(now)

    def on_timer(self, now: float) -> None:
        if self._ready is not None:
            server, self._ready = self._ready, None
            self._send(server, now)
        elif self._deadline is not None and self._deadline <= now:
            self._give_up_on_server(now)
        if self.ticker.fire(now):
            self._abandon()
            self._round = list(self.host.ntp_servers) or list(self.names)
            self._round_id += 1
            self._next_server(now)

    def next_deadline(self) -> float | None:
        return min((d for d in (self.ticker.due, self._deadline) if d is not None), default=None)

    def stop(self, now: float) -> None:
        self.ticker.stop()
        self._abandon()
        self._round = []
        self._round_id += 1

    # -- internals ----------------------------------------------------------------------------------

    def _next_server(self, now: float) -> None:
        while self._round:
            candidate = self._round.pop(0)
            if isinstance(candidate, bytes):
                if candidate not in self._denied:
                    self._send(candidate, now)
                    return
            else:
                done = functools.partial(self._resolved, name=candidate, round_id=self._round_id, asked=now)
                self.host.resolver.resolve(candidate, now, done, ipv6=True)
                return

    def _resolved(self, address: bytes | None, *, name: str, round_id: int, asked: float) -> None:
        """The resolver's answer. It carries no time, and T1 must be exact: send at the next timer call."""
        if round_id != self._round_id:
            return  # a later round (or stop) overtook this lookup
        if address is None or address in self._denied:
            if address is None:
                self.log("warning", f"NTP server {name} did not resolve")
            self._next_server(asked)  # the name did not resolve: the next one, at once
        else:
            if len(address) == 16 and (other := self.host.resolver.alternative(name, address)) is not None:
                self._round.insert(0, other)  # no answer over IPv6: the name's IPv4 address next
            self._ready = address
            self._deadline = 0.0  # due at once

    def _send(self, server: bytes, now: float) -> None:
        self._abandon()
        self._port = service_kit.random_port(self.host, self.rng)
        self._server = server
        self._transmit = to_ntp(self.clock(now))
        self._deadline = now + REPLY_TIMEOUT
        self.host.bind_udp(self._port, self._on_datagram, ipv6=len(server) == 16)
        self.requests_sent += 1
        self.host.send_udp("ntp", server, self._port, PORT, request(self._transmit, self.version))

    def _give_up_on_server(self, now: float) -> None:
        if self._server is not None:
            self.log("warning", f"NTP server {_text(self._server)} did not answer in {REPLY_TIMEOUT:g} s")
        self._abandon()
        self._next_server(now)

    def _abandon(self) -> None:
        if self._port is not None:
            self.host.unbind_udp(self._port)
        self._port = self._server = self._deadline = self._ready = None

    def _on_datagram(self, src: bytes, sport: int, dst: bytes, data: bytes, now: float) -> None:
        if src != self._server or sport != PORT or len(data) < _PACKET.size:
            return
        first, stratum, _poll, _prec, _delay, _disp, ref_id, _ref, origin, receive, transmit = _PACKET.unpack_from(data)
        if first & 0x07 != MODE_SERVER or origin != self._transmit or transmit == 0:
            return  # not an answer to our request (RFC 4330 5: the origin check stops spoofed ones)
        server = self._server
        self._abandon()
        self._round = []
        if stratum == 0:  # kiss of death
            self.kiss = ref_id.decode("ascii", "replace")
            self.log("warning", f"NTP server {_text(server)} sent a kiss of death ({self.kiss})")
            if self.kiss in ("DENY", "RSTR"):
                self._denied.add(server)
            return
        if first >> 6 == LEAP_UNSYNCHRONIZED:
            return
        t1, t4 = from_ntp(origin), self.clock(now)
        offset, delay = offset_and_delay(t1, from_ntp(receive), from_ntp(transmit), t4)
        self.last = Sample(server, stratum, offset, delay, now)
        self.clock_offset += offset  # step the clock, as an SNTP client does


def _text(address: bytes) -> str:
    return str(ipaddress.ip_address(address))


@services.register("ntp")
def _ntp(context: services.Context) -> host_mod.Service | None:
    """Needs servers: the lease's option 42 (known only once bound, so checked here) or the profile's names."""
    prof = context.config.profile
    if not context.host.ntp_servers and not prof.ntp_servers:
        return None
    return NtpClient(context, prof.schedule.get("ntp", DEFAULT_SCHEDULE))
