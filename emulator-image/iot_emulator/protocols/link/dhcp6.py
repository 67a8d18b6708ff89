"""The DHCPv6 client of one device (RFC 8415), sans-IO: stateful IA_NA or stateless information-request.

A Router Advertisement decides which (RFC 4861 4.2): M set, SOLICIT -> ADVERTISE -> REQUEST ->
REPLY for one address (IA_NA); O set alone, INFORMATION-REQUEST -> REPLY for the options. The
client's identity is what Fingerbank reads: its DUID type, its option request list (ORO) and its
vendor class's enterprise number, from the profile's `ipv6.dhcpv6`. Messages go from the device's
link-local address, port 546, to All_DHCP_Relay_Agents_and_Servers (ff02::1:2) port 547, with the
retransmission timers of RFC 8415 15 and 7.6 (randomized by +-10 %).

A lease is renewed at T1 (RENEW to its server), rebound at T2 (REBIND to any), dropped at the end of its
valid lifetime (SOLICIT again) and released when the device stops (one RELEASE, not retransmitted).

A leased address that fails DAD is declined (DECLINE, RFC 8415 18.2.8) before soliciting again.

Not done: rapid commit, IA_PD, reconfigure.
"""

from __future__ import annotations

import enum
import hashlib
import random
import struct
from typing import NamedTuple

from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import ipv6

CLIENT_PORT, SERVER_PORT = 546, 547
ALL_SERVERS = bytes.fromhex("ff020000000000000000000000010002")
SOLICIT, ADVERTISE, REQUEST, RENEW, REBIND, REPLY, RELEASE, DECLINE, INFORMATION_REQUEST = 1, 2, 3, 5, 6, 7, 8, 9, 11
OPT_CLIENTID, OPT_SERVERID, OPT_IA_NA, OPT_IAADDR, OPT_ORO = 1, 2, 3, 5, 6
OPT_ELAPSED_TIME, OPT_STATUS_CODE, OPT_VENDOR_CLASS, OPT_DNS_SERVERS = 8, 13, 16, 23
DUID_LLT, DUID_EN, DUID_LL = 1, 2, 3
HW_ETHERNET = 1
_DUID_CODES = {catalog.DuidType.llt: DUID_LLT, catalog.DuidType.en: DUID_EN, catalog.DuidType.ll: DUID_LL}
SOL_MAX_DELAY = INF_MAX_DELAY = 1.0
SOL_TIMEOUT, SOL_MAX_RT = 1.0, 3600.0
REQ_TIMEOUT, REQ_MAX_RT, REQ_MAX_RC = 1.0, 30.0, 10
INF_TIMEOUT, INF_MAX_RT = 1.0, 3600.0
REN_TIMEOUT, REN_MAX_RT = 10.0, 600.0
REB_TIMEOUT, REB_MAX_RT = 10.0, 600.0
DEC_TIMEOUT, DEC_MAX_RC = 1.0, 4
_MAX_OPTIONS = 64
_EPOCH_2000 = 946684800


class State(enum.Enum):
    IDLE = "idle"
    SOLICITING = "soliciting"
    REQUESTING = "requesting"
    BOUND = "bound"
    RELEASING = "releasing"
    DECLINING = "declining"
    RENEWING = "renewing"
    REBINDING = "rebinding"
    INFORMING = "informing"
    INFORMED = "informed"


MAX_DNS_SERVERS = 3
"""DNS servers kept from a REPLY (glibc's MAXNS)."""


class Lease(NamedTuple):
    address: bytes
    preferred: int
    valid: int
    dns_servers: tuple[bytes, ...]


def options(data: bytes) -> list[tuple[int, bytes]]:
    """(code, body) of each option; stops at a truncated one."""
    out: list[tuple[int, bytes]] = []
    while len(data) >= 4 and len(out) < _MAX_OPTIONS:
        code, length = struct.unpack_from("!HH", data)
        if 4 + length > len(data):
            break
        out.append((code, data[4 : 4 + length]))
        data = data[4 + length :]
    return out


def _option(code: int, body: bytes) -> bytes:
    return struct.pack("!HH", code, len(body)) + body


def duid(settings: catalog.Dhcpv6, mac: bytes) -> bytes:
    """The client's DUID (RFC 8415 11.2-11.4). DUID-LLT's time is when the device first booted: derived
    from its MAC (between 2015 and 2023), so every run of the same device sends the same DUID."""
    if settings.duid_type is catalog.DuidType.ll:
        return struct.pack("!HH", DUID_LL, HW_ETHERNET) + mac
    if settings.duid_type is catalog.DuidType.en:
        assert settings.enterprise_number is not None  # the profile model requires it
        return struct.pack("!HI", DUID_EN, settings.enterprise_number) + hashlib.sha256(mac).digest()[:8]
    first_boot = 473_299_200 + int.from_bytes(hashlib.sha256(b"duid-llt" + mac).digest()[:4], "big") % 252_460_800
    return struct.pack("!HHI", DUID_LLT, HW_ETHERNET, first_boot) + mac


class Dhcp6Client:
    """One exchange at a time; `start_*` begins it after RFC 8415's random initial delay."""

    __slots__ = (
        "_deadline",
        "_duid",
        "_expires_at",
        "_hop_limit",
        "_logs",
        "_rng",
        "_rt",
        "_sent",
        "_server",
        "_settings",
        "_started",
        "_t2_at",
        "_xid",
        "dns_servers",
        "iaid",
        "lease",
        "mac",
        "state",
    )

    def __init__(self, mac: bytes, settings: catalog.Dhcpv6, rng: random.Random, *, hop_limit: int = 1) -> None:
        self.mac = mac
        self._settings = settings
        self._rng = rng
        self._hop_limit = hop_limit
        self._duid = duid(settings, mac)
        self.iaid = int.from_bytes(mac[2:], "big")  # the MAC's low 32 bits, as odhcp6c and dhcpcd do
        self.state = State.IDLE
        self.lease: Lease | None = None
        self.dns_servers: tuple[bytes, ...] = ()
        """Option 23 of the last REPLY (stateful or information-request): the resolver asks them after DHCPv4's."""
        self._server: tuple[bytes, bytes] | None = None  # server DUID, advertised IA_NA body
        self._xid = 0
        self._rt = 0.0
        self._sent = 0
        self._started = 0.0
        self._deadline: float | None = None
        self._t2_at = self._expires_at = 0.0
        self._logs: list[tuple[str, str]] = []

    # -- entry points ---------------------------------------------------------------------------

    def start_stateful(self, now: float) -> None:
        if self.state in (State.IDLE, State.INFORMED):
            self._begin(State.SOLICITING, now, SOL_MAX_DELAY)

    def start_stateless(self, now: float) -> None:
        if self.state is State.IDLE:
            self._begin(State.INFORMING, now, INF_MAX_DELAY)

    def on_timer(self, now: float, source: bytes) -> list[bytes]:
        """Send (or resend) the exchange's message from `source` (the link-local address)."""
        if self._deadline is None or self._deadline > now:
            return []
        if self.state is State.REQUESTING and self._sent >= REQ_MAX_RC:
            self._log("warning", "DHCPv6 REQUEST unanswered: soliciting again")
            self._begin(State.SOLICITING, now, 0.0)
            return []
        if self.state is State.DECLINING and self._sent >= DEC_MAX_RC:
            self._begin(State.SOLICITING, now, 0.0)
            return []
        if self.state in (State.RENEWING, State.REBINDING) and now >= self._expires_at:
            self._log("warning", "DHCPv6 lease expired without a REPLY: soliciting again")
            self.lease = None
            self._begin(State.SOLICITING, now, 0.0)
            return []
        if self.state is State.BOUND or (self.state is State.RENEWING and now >= self._t2_at):
            self._begin(State.RENEWING if self.state is State.BOUND else State.REBINDING, now, 0.0)
        initial, ceiling = {
            State.SOLICITING: (SOL_TIMEOUT, SOL_MAX_RT),
            State.REQUESTING: (REQ_TIMEOUT, REQ_MAX_RT),
            State.INFORMING: (INF_TIMEOUT, INF_MAX_RT),
            State.RENEWING: (REN_TIMEOUT, REN_MAX_RT),
            State.REBINDING: (REB_TIMEOUT, REB_MAX_RT),
            State.DECLINING: (DEC_TIMEOUT, 1e9),
        }.get(self.state, (0.0, 0.0))
        if not initial:
            self._deadline = None
            return []
        # RFC 8415 15: RT = IRT + RAND*IRT, then 2*RTprev + RAND*RTprev, capped at MRT (RAND in -0.1..0.1;
        # the first SOLICIT's RAND is positive)
        jitter = self._rng.uniform(0.0 if self.state is State.SOLICITING and not self._sent else -0.1, 0.1)
        self._rt = initial * (1 + jitter) if not self._sent else min(2 * self._rt + jitter * self._rt, ceiling)
        self._deadline = now + self._rt
        if self.state is State.RENEWING:  # RFC 8415 18.2.4: until T2, then REBIND
            self._deadline = min(self._deadline, self._t2_at)
        elif self.state is State.REBINDING:  # until the valid lifetime ends
            self._deadline = min(self._deadline, self._expires_at)
        self._sent += 1
        return [self._frame(source, self._message(now))]

    def decline(self, now: float) -> None:
        """The leased address failed DAD: tell the server (DECLINE, retransmitted) and then solicit again."""
        if self.lease is None or self._server is None:
            return
        self._log("warning", f"DHCPv6 DECLINE {ipv6.text(self.lease.address)}: in use by another host")
        self.lease = None
        self._begin(State.DECLINING, now, 0.0)

    def release(self, source: bytes | None) -> list[bytes]:
        """One RELEASE of the held lease to its server (RFC 8415 18.2.7), from `source`; then idle."""
        out: list[bytes] = []
        if self.lease is not None and self._server is not None and source is not None:
            self._xid = self._rng.getrandbits(24)
            self.state, self._sent = State.RELEASING, 1
            out.append(self._frame(source, self._message(self._started)))
            self._log("info", f"DHCPv6 RELEASE {ipv6.text(self.lease.address)}")
        self.lease = None
        self._finish(State.IDLE)
        return out

    def handle(self, data: bytes, now: float) -> Lease | None:
        """A message from a server (UDP payload to port 546); the lease once a REPLY gives an address."""
        if len(data) < 4 or int.from_bytes(data[1:4], "big") != self._xid:
            return None
        found = dict(options(data[4:]))
        if found.get(OPT_CLIENTID) != self._duid or OPT_SERVERID not in found:
            return None
        status = found.get(OPT_STATUS_CODE)
        if status is not None and len(status) >= 2 and int.from_bytes(status[:2], "big") != 0:
            self._log(
                "warning",
                f"DHCPv6 server status {int.from_bytes(status[:2], 'big')}: "
                f"{status[2:].decode('utf-8', 'replace')[:80]}",
            )
            return None
        if data[0] == ADVERTISE and self.state is State.SOLICITING:
            ia = found.get(OPT_IA_NA)
            if ia is None or _address_of(ia) is None:
                return None
            self._server = (found[OPT_SERVERID], ia)
            self._log("info", f"DHCPv6 ADVERTISE of {ipv6.text(_address_of(ia) or ipv6.UNSPECIFIED)}")
            self._begin(State.REQUESTING, now, 0.0)
            return None
        if data[0] != REPLY:
            return None
        if self.state is State.DECLINING:
            self._begin(State.SOLICITING, now, 0.0)
            return None
        dns = _addresses(found.get(OPT_DNS_SERVERS, b""))
        if dns:
            self.dns_servers = tuple(dns[:MAX_DNS_SERVERS])
        if self.state is State.INFORMING:
            self._finish(State.INFORMED)
            self._log("info", "DHCPv6 information REPLY: DNS " + (", ".join(map(ipv6.text, dns)) or "none"))
            return None
        if self.state not in (State.REQUESTING, State.RENEWING, State.REBINDING):
            return None
        ia = found.get(OPT_IA_NA)
        leased = _address_of(ia) if ia else None
        if leased is None or ia is None:
            return None
        address, preferred, valid = leased, *_lifetimes(ia)
        renewed = self.state is not State.REQUESTING
        self.lease = Lease(address, preferred, valid, tuple(dns))
        self._server = (found[OPT_SERVERID], ia[:4] + bytes(8) + ia[12:])  # T1/T2 are the server's to choose
        self._finish(State.BOUND)
        self._log("info", f"DHCPv6 REPLY: {ipv6.text(address)} {'renewed' if renewed else 'leased'} for {valid} s")
        t1, t2 = struct.unpack_from("!II", ia, 4)
        if preferred == 0xFFFFFFFF and not t1:
            return self.lease  # infinite: never renewed
        t1 = t1 or preferred // 2  # RFC 8415 21.4: 0 leaves the times to the client (0.5 and 0.8)
        t2 = max(t2 or preferred * 8 // 10, t1)
        self._deadline, self._t2_at, self._expires_at = now + t1, now + t2, now + valid
        return self.lease

    def next_deadline(self) -> float | None:
        return self._deadline

    def pop_logs(self) -> list[tuple[str, str]]:
        out, self._logs = self._logs, []
        return out

    # -- internals ------------------------------------------------------------------------------

    def _begin(self, state: State, now: float, max_delay: float) -> None:
        self.state = state
        self._xid = self._rng.getrandbits(24)
        self._sent = 0
        self._started = now
        self._deadline = now + self._rng.uniform(0, max_delay)

    def _finish(self, state: State) -> None:
        self.state = state
        self._deadline = None

    def _message(self, now: float) -> bytes:
        kind = {
            State.SOLICITING: SOLICIT,
            State.REQUESTING: REQUEST,
            State.RENEWING: RENEW,
            State.REBINDING: REBIND,
            State.RELEASING: RELEASE,
            State.DECLINING: DECLINE,
        }.get(self.state, INFORMATION_REQUEST)
        elapsed = 0 if self._sent == 1 else min(int((now - self._started) * 100), 0xFFFF)
        body = _option(OPT_CLIENTID, self._duid)
        if kind in (REQUEST, RENEW, RELEASE, DECLINE):
            assert self._server is not None
            body += _option(OPT_SERVERID, self._server[0])
        body += _option(OPT_ELAPSED_TIME, struct.pack("!H", elapsed))
        if kind not in (RELEASE, DECLINE):  # RFC 8415 appendix B: no Option Request option in these
            body += _option(OPT_ORO, b"".join(struct.pack("!H", code) for code in self._settings.option_request))
        if (
            kind not in (RELEASE, DECLINE)
            and self._settings.vendor_class is not None
            and self._settings.enterprise_number is not None
        ):
            data = self._settings.vendor_class.encode()
            body += _option(OPT_VENDOR_CLASS, struct.pack("!IH", self._settings.enterprise_number, len(data)) + data)
        if kind == SOLICIT:
            body += _option(OPT_IA_NA, struct.pack("!III", self.iaid, 0, 0))
        elif kind != INFORMATION_REQUEST:
            assert self._server is not None
            body += _option(OPT_IA_NA, self._server[1])  # the advertised or leased IA_NA, address included
        return bytes([kind]) + self._xid.to_bytes(3, "big") + body

    def _frame(self, source: bytes, message: bytes) -> bytes:
        data = ipv6.udp(source, ALL_SERVERS, CLIENT_PORT, SERVER_PORT, message, hop_limit=self._hop_limit)
        return ipv6.frame(self.mac, ipv6.multicast_mac(ALL_SERVERS), data)

    def _log(self, level: str, message: str) -> None:
        self._logs.append((level, message))


def _address_of(ia: bytes) -> bytes | None:
    """The first IAADDR of an IA_NA body (IAID, T1, T2, options)."""
    found = dict(options(ia[12:]))
    address = found.get(OPT_IAADDR)
    return address[:16] if address is not None and len(address) >= 24 else None


def _lifetimes(ia: bytes) -> tuple[int, int]:
    address = dict(options(ia[12:]))[OPT_IAADDR]
    preferred, valid = struct.unpack_from("!II", address, 16)
    return min(preferred, valid), valid


def _addresses(data: bytes) -> list[bytes]:
    return [data[i : i + 16] for i in range(0, len(data) - 15, 16)][:8]
