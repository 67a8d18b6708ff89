"""The DHCP client of one device as a sans-IO state machine (RFC 2131, options RFC 2132, RFC 5227).

Like aioquic's connection it reads no clock, sleeps nowhere and owns no socket: every entry point
takes `now` (monotonic seconds) and returns the frames to send; `next_deadline()` tells the
engine when to call `on_timer()`. What happened is queued as seed-style events (`pop_events()`),
so one engine can drive thousands of clients on one raw socket and tests can drive one on a
virtual clock.

RFC 2131 sections 3.1-3.2 and 4.4 give the states and timers; the address check between DHCPACK
and BOUND follows RFC 5227 (ARP probes from 0.0.0.0, then announcements) with each device's
probe timing from its fingerprint, since udhcpc, Windows and Apple stacks differ there.
"""

from __future__ import annotations

import enum
import math
import random
from typing import Any

from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import dhcp_lease, dhcp_wire, wire

Event = tuple[str, dict[str, Any]]
Lease = dhcp_lease.Lease  # the engine names it `dhcp.Lease`
_ip, _mac, _xid = dhcp_lease.ip_text, dhcp_lease.mac_text, dhcp_lease.xid_text


class DhcpState(enum.Enum):
    INIT = "init"
    SELECTING = "selecting"
    REQUESTING = "requesting"
    CHECKING = "checking"  # RFC 5227 ARP probe of the ACKed address, before using it
    BOUND = "bound"
    RENEWING = "renewing"
    REBINDING = "rebinding"
    INIT_REBOOT = "init-reboot"
    REBOOTING = "rebooting"
    STOPPED = "stopped"


_IN_FLIGHT = frozenset({DhcpState.SELECTING, DhcpState.REQUESTING, DhcpState.REBOOTING, DhcpState.CHECKING})
_LEASED = frozenset({DhcpState.BOUND, DhcpState.RENEWING, DhcpState.REBINDING})
_AWAIT_ACK = frozenset({DhcpState.REQUESTING, DhcpState.REBOOTING, DhcpState.RENEWING, DhcpState.REBINDING})


_MASK64 = (1 << 64) - 1


class DhcpClient:
    """RFC 2131 client: INIT-REBOOT or DORA, ARP check, renew/rebind, expiry, decline, release."""

    __slots__ = (
        "_announce_at",
        "_announces",
        "_candidate",
        "_deadline",
        "_discover_secs",
        "_events",
        "_fp",
        "_frames",
        "_fuzz",
        "_offer",
        "_probes",
        "_reboot",
        "_requested",
        "_rng",
        "_sent_at",
        "_started",
        "_static",
        "_timer_state",
        "_tries",
        "_xid",
        "lease",
        "mac",
        "state",
    )

    BACKOFF_BASE = 4.0
    """First retransmission delay in SELECTING/REQUESTING; doubles per try (RFC 2131 4.1)."""
    BACKOFF_CAP = 64.0
    BACKOFF_JITTER = 1.0
    """Each delay is randomized by uniform(-1, +1) s, so thousands of clients do not retry in step."""
    REQUEST_TRIES = 4
    """REQUESTs sent in REQUESTING before starting over with a DISCOVER."""
    REBOOT_DELAYS = (2.0, 4.0)
    """INIT-REBOOT waits (each +-0.5 s) before falling back to DISCOVER: dnsmasq stays silent for
    clients it does not know unless it is authoritative, so waiting long only delays the start."""
    NAK_DELAY = (0.5, 2.0)
    """Uniform wait after a NAK: concurrent dnsmasq clients can be offered the same address."""
    DECLINE_DELAY = (10.0, 12.0)
    """Uniform wait after a DECLINE: "a minimum of ten seconds" (RFC 2131 3.1.5)."""
    RETRANSMIT_FLOOR = 1.0
    """Shortest RENEWING/REBINDING retransmission. RFC 2131 4.4.5 says 60 s, which leaves a lab
    lease of a few seconds a single try before T2; with long leases the halving only adds a few
    requests in the last minute before T2 or expiry."""
    TIMER_FUZZ = 0.05
    """RFC 2131 4.4.5: T1 and T2 "SHOULD be chosen with some random fuzz": each moves by up to
    +-5 % of the lease (+-90 s of an hour, +-1.5 s of a lab's 60 s), so a fleet started together
    does not renew in the same second forever."""
    RETRANSMIT_JITTER = 0.1
    """RENEWING/REBINDING retransmissions wait their half of the time left, minus up to 10 %."""
    ANNOUNCE_COUNT = 2
    ANNOUNCE_INTERVAL = 2.0
    """RFC 5227 2.3: two gratuitous ARP announcements, two seconds apart, once bound."""
    DEFAULT_LEASE_TIME = 3600
    """Used when an ACK lacks option 51 (RFC 2131 makes it a MUST; not every server obeys)."""

    def __init__(
        self,
        *,
        mac: bytes,
        hostname: str,
        fingerprint: catalog.DhcpFingerprint,
        rng: random.Random,
        remembered: bytes | None = None,
        remembered_valid: bool = False,
        static_address: bytes | None = None,
        fuzz: float = 1.0,
        timer_seed: int | None = None,
    ) -> None:
        self.mac = mac
        self.state = DhcpState.INIT
        self.lease: Lease | None = None
        self._fp = fingerprint
        self._rng = rng
        self._fuzz = fuzz  # 0: RFC timers without their random parts (tests of the fixed values)
        # The timers' own generator, 8 bytes (a Random per device costs 2.5 KB): seeded per device,
        # so a device's renewals are the same whatever the others do or the order they start in.
        self._timer_state = (rng.getrandbits(64) if timer_seed is None else timer_seed) & _MASK64
        self._frames = dhcp_wire.ClientFrames(mac, hostname, fingerprint)
        self._static = static_address
        self._requested = static_address or remembered  # option 50 of the next DISCOVER
        self._reboot = remembered_valid and remembered is not None and static_address in (None, remembered)
        self._xid = 0
        self._tries = 0
        self._started = 0.0  # when the current exchange began: the `secs` field
        self._discover_secs = 0  # `secs` of the last DISCOVER, repeated in the REQUEST
        self._sent_at = 0.0  # when the last REQUEST left: leases count from it
        self._deadline: float | None = None
        self._offer: tuple[bytes, bytes, int | None] | None = None  # address, server id, lease time
        self._candidate: Lease | None = None  # ACKed, under ARP check
        self._probes = 0
        self._announce_at: float | None = None
        self._announces = 0
        self._events: list[Event] = []

    # -- entry points -------------------------------------------------------------------------

    @property
    def binding(self) -> bool:
        """An exchange is in flight: the engine keeps a window of these to spare the server."""
        return self.state in _IN_FLIGHT

    def start(self, now: float) -> list[bytes]:
        """INIT-REBOOT with a remembered valid lease (RFC 2131 3.2), else DISCOVER."""
        self.lease = self._candidate = None
        self._set_state(DhcpState.INIT)
        if self._reboot and self._requested is not None:
            self._set_state(DhcpState.INIT_REBOOT)
            self._new_exchange(now)
            self._set_state(DhcpState.REBOOTING)
            return [self._send_request(now)]
        return self._discover(now)

    def handle(self, msg: dhcp_wire.DhcpMessage, now: float) -> list[bytes]:
        """A parsed reply; anything not answering our current exchange is ignored."""
        if msg.op != dhcp_wire.BOOTREPLY or msg.xid != self._xid or msg.chaddr != self.mac:
            return []
        if msg.msg_type == dhcp_wire.OFFER and self.state is DhcpState.SELECTING:
            return self._on_offer(msg, now)
        if msg.msg_type == dhcp_wire.ACK and self.state in _AWAIT_ACK:
            return self._on_ack(msg, now)
        if msg.msg_type == dhcp_wire.NAK and self.state in _AWAIT_ACK:
            return self._on_nak(msg, now)
        return []

    @property
    def candidate_address(self) -> bytes | None:
        """The ACKed address under the RFC 5227 check: ARP about it must reach this client."""
        return self._candidate.address if self.state is DhcpState.CHECKING and self._candidate else None

    def handle_arp(self, arp: wire.Arp, now: float) -> list[bytes]:
        """RFC 5227 2.1.1: while checking, any ARP from another host that claims the address, or
        another host's probe for it, is a conflict: DECLINE it and start over."""
        lease = self._candidate
        if self.state is not DhcpState.CHECKING or lease is None or arp.sender_mac == self.mac:
            return []
        claims = arp.sender_ip == lease.address
        probes = arp.op == 1 and arp.sender_ip == wire.ZERO_IP and arp.target_ip == lease.address
        if not (claims or probes):
            return []
        reason = f"address in use by {_mac(arp.sender_mac)}"
        self._emit("dhcp_decline", address=_ip(lease.address), reason=reason)
        self._log("warning", f"DHCP DECLINE {_ip(lease.address)}: {reason}")
        frame = self._frames.decline(self._xid, lease.address, lease.server_id)
        self._candidate = None
        if self._static is None:
            self._requested = None  # do not ask for it again
        self._set_state(DhcpState.INIT)
        self._deadline = now + self._rng.uniform(*self.DECLINE_DELAY)
        return [frame]

    def on_timer(self, now: float) -> list[bytes]:
        out: list[bytes] = []
        for _ in range(4):  # a late call can cross several deadlines; each step moves the deadline
            if self._deadline is None or self._deadline > now:
                break
            self._deadline = None
            out += self._expired(now)
        if self._announce_at is not None and self._announce_at <= now:  # cleared if the lease went
            out.append(self._announce(now))
        return out

    def next_deadline(self) -> float | None:
        due = [t for t in (self._deadline, self._announce_at) if t is not None and t != math.inf]
        return min(due) if due else None

    def release(self, now: float) -> list[bytes]:
        """DHCPRELEASE of the held (or ACKed, under check) lease, unicast to its server; then stop."""
        lease = self.lease if self.state in _LEASED else self._candidate
        out: list[bytes] = []
        if lease is not None:
            out.append(
                self._frames.release(self._rng.getrandbits(32), lease.address, lease.server_id, lease.server_mac)
            )
            self._emit("dhcp_release", address=_ip(lease.address), server_id=_ip(lease.server_id))
            self._log("info", f"DHCP RELEASE {_ip(lease.address)} to {_ip(lease.server_id)}")
        self.lease = self._candidate = None
        self._set_state(DhcpState.STOPPED)
        self._deadline = None
        return out

    def pop_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    # -- exchanges ----------------------------------------------------------------------------

    def _new_exchange(self, now: float) -> None:
        self._xid = self._rng.getrandbits(32)
        self._tries = 0
        self._started = now

    def _secs(self, now: float) -> int:
        return int(now - self._started)

    def _backoff(self) -> float:
        """RFC 2131 4.1: 4 s, 8 s, ... up to 64 s, each +-1 s, for the try just sent."""
        base = min(self.BACKOFF_BASE * (1 << (self._tries - 1)), self.BACKOFF_CAP)
        return base + self._rng.uniform(-self.BACKOFF_JITTER, self.BACKOFF_JITTER)

    def _discover(self, now: float) -> list[bytes]:
        self._new_exchange(now)
        self._set_state(DhcpState.SELECTING)
        return [self._send_discover(now)]

    def _send_discover(self, now: float) -> bytes:
        self._discover_secs = self._secs(now)
        frame = self._frames.discover(self._xid, self._discover_secs, self._requested, insist=self._static is not None)
        self._tries += 1
        self._deadline = now + self._backoff()
        xid, mac = _xid(self._xid), _mac(self.mac)
        asked = self._requested if self._frames.requests_address(insist=self._static is not None) else None
        self._emit("dhcp_discover", xid=xid, mac=mac, requested_ip=_ip(asked) if asked else None)
        self._log("info", f"Sending DHCP DISCOVER (xid: {xid}, MAC: {mac})")
        return frame

    def _send_request(self, now: float) -> bytes:
        """The REQUEST of the current state (RFC 2131 table 4 and 5), with its retransmission timer."""
        state, xid, secs = self.state, self._xid, self._secs(now)
        self._tries += 1
        self._sent_at = now
        if state is DhcpState.REQUESTING:
            assert self._offer is not None
            address, server_id, _ = self._offer
            # RFC 2131 4.4.1: "the same value in the 'secs' field ... as the original DHCPDISCOVER"
            frame = self._frames.request_selecting(xid, self._discover_secs, address, server_id)
            self._deadline = now + self._backoff()
            kind, server = dhcp_wire.Kind.SELECTING, _ip(server_id)
        elif state is DhcpState.REBOOTING:
            assert self._requested is not None
            address = self._requested
            frame = self._frames.request_init_reboot(xid, secs, address)
            delay = self.REBOOT_DELAYS[min(self._tries, len(self.REBOOT_DELAYS)) - 1]
            self._deadline = now + delay + self._rng.uniform(-0.5, 0.5)
            kind, server = dhcp_wire.Kind.INIT_REBOOT, None
        else:
            lease = self.lease
            assert lease is not None
            address = lease.address
            if state is DhcpState.RENEWING:
                frame = self._frames.request_renewing(xid, secs, address, lease.server_id, lease.server_mac)
                kind, server, limit = dhcp_wire.Kind.RENEWING, _ip(lease.server_id), lease.t2
            else:
                frame = self._frames.request_rebinding(xid, secs, address)
                kind, server, limit = dhcp_wire.Kind.REBINDING, None, lease.expiry
            # RFC 2131 4.4.5: half the time left, with a floor (see RETRANSMIT_FLOOR), randomised
            jitter = self.RETRANSMIT_JITTER * self._fuzz * self._timer_random() if self._fuzz else 0.0
            wait = max((limit - now) / 2 * (1 - jitter), self.RETRANSMIT_FLOOR)
            self._deadline = min(now + wait, limit)
        self._emit("dhcp_request", xid=_xid(xid), requested_ip=_ip(address), server_id=server, state=kind.value)
        return frame

    def _on_offer(self, msg: dhcp_wire.DhcpMessage, now: float) -> list[bytes]:
        if msg.yiaddr == wire.ZERO_IP:
            return []
        server_id = msg.server_id or msg.src_ip
        if self._static is not None and msg.yiaddr != self._static:
            # Static mode never uses another address: keep asking (with backoff) for ours.
            self._log(
                "error",
                f"DHCP server {_ip(server_id)} offered {_ip(msg.yiaddr)}, static address is {_ip(self._static)}",
            )
            return []
        xid = _xid(self._xid)
        self._emit(
            "dhcp_offer", xid=xid, server_id=_ip(server_id), offered_ip=_ip(msg.yiaddr), lease_time=msg.lease_time
        )
        self._offer = (msg.yiaddr, server_id, msg.lease_time)
        self._tries = 0
        self._set_state(DhcpState.REQUESTING)
        return [self._send_request(now)]

    def _on_ack(self, msg: dhcp_wire.DhcpMessage, now: float) -> list[bytes]:
        if msg.yiaddr == wire.ZERO_IP:
            return []
        lease = self._lease_from(msg)
        self._emit("dhcp_ack", **lease.ack_fields(msg.xid))
        old = self.lease
        if old is not None and self.state in _LEASED:
            if old.address == lease.address:
                self.lease = lease
                self._set_state(DhcpState.BOUND)
                self._deadline = lease.t1
                self._log("info", f"DHCP lease of {_ip(lease.address)} extended ({lease.lease_time} s)")
                return []
            self.lease = None  # the server moved us: check and bind the new address
            self._emit("unbound")
        self._candidate = lease
        self._probes = 0
        self._set_state(DhcpState.CHECKING)
        return self._check(now)

    def _lease_from(self, msg: dhcp_wire.DhcpMessage) -> Lease:
        lease_time = msg.lease_time
        if lease_time is None:
            offered = self._offer[2] if self._offer is not None else None
            lease_time = offered or self.DEFAULT_LEASE_TIME
            self._log("warning", f"DHCP ACK without lease time, assuming {lease_time} s")
        return self._fuzzed(Lease.from_ack(msg, self._sent_at, lease_time))

    def _timer_random(self) -> float:
        """Uniform in [0, 1) from splitmix64 (Steele et al. 2014) on the device's 64-bit state."""
        self._timer_state = (self._timer_state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._timer_state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return ((z ^ (z >> 31)) >> 11) / (1 << 53)

    def _fuzzed(self, lease: Lease) -> Lease:
        """T1 and T2 each moved by +-TIMER_FUZZ of the lease, kept in acquired < T1 < T2 < expiry."""
        if lease.expiry == math.inf:
            return lease
        span = self.TIMER_FUZZ * self._fuzz * lease.lease_time
        if not span:
            return lease
        t1 = lease.t1 + span * (2 * self._timer_random() - 1)
        t2 = lease.t2 + span * (2 * self._timer_random() - 1)
        room = lease.lease_time * 0.01
        lease.t2 = min(max(t2, lease.acquired + 2 * room), lease.expiry - room)
        lease.t1 = min(max(t1, lease.acquired + room), lease.t2 - room)
        return lease

    def _on_nak(self, msg: dhcp_wire.DhcpMessage, now: float) -> list[bytes]:
        server = msg.server_id or msg.src_ip
        text = msg.message or ""
        self._emit("dhcp_nak", xid=_xid(msg.xid), server_id=_ip(server), message=text)
        self._log("warning", f"DHCP NAK from {_ip(server)} in {self.state.value}: {text or 'no reason given'}")
        if self.lease is not None:
            self.lease = None
            self._emit("unbound")
        if self._static is None:
            self._requested = None  # refused: let the server choose
        self._set_state(DhcpState.INIT)
        self._deadline = now + self._rng.uniform(*self.NAK_DELAY)
        return []

    # -- timers -------------------------------------------------------------------------------

    def _expired(self, now: float) -> list[bytes]:
        state = self.state
        if state is DhcpState.INIT:
            return self._discover(now)
        if state is DhcpState.SELECTING:
            self._log("warning", "DHCP sequence error: timeout waiting for OFFER, retrying")
            return [self._send_discover(now)]
        if state is DhcpState.REQUESTING or state is DhcpState.REBOOTING:
            limit = self.REQUEST_TRIES if state is DhcpState.REQUESTING else len(self.REBOOT_DELAYS)
            if self._tries < limit:
                self._log("warning", f"DHCP sequence error: timeout waiting for ACK ({state.value}), retrying")
                return [self._send_request(now)]
            self._log("warning", f"DHCP sequence error: no ACK after {self._tries} REQUESTs, back to DISCOVER")
            self._set_state(DhcpState.INIT)
            return self._discover(now)
        if state is DhcpState.CHECKING:
            return self._check(now)
        if state in _LEASED:
            return self._lease_timer(now)
        return []

    def _lease_timer(self, now: float) -> list[bytes]:
        """T1 -> RENEWING, T2 -> REBINDING, expiry -> INIT (RFC 2131 4.4.5), else retransmit."""
        lease = self.lease
        assert lease is not None
        if now >= lease.expiry:
            self._emit("dhcp_expire", address=_ip(lease.address))
            self._emit("unbound")
            self._log("warning", f"DHCP lease of {_ip(lease.address)} expired")
            self.lease = None
            self._requested = self._static or lease.address
            self._set_state(DhcpState.INIT)
            return self._discover(now)
        fields = {"assigned_ip": _ip(lease.address), "server_id": _ip(lease.server_id)}
        if now >= lease.t2 and self.state is not DhcpState.REBINDING:
            self._new_exchange(now)
            self._set_state(DhcpState.REBINDING)
            self._emit("dhcp_rebind", **fields)
        elif self.state is DhcpState.BOUND:
            self._new_exchange(now)
            self._set_state(DhcpState.RENEWING)
            self._emit("dhcp_renew", **fields)
        else:
            self._log("debug", f"DHCP no answer while {self.state.value}, retrying")
        return [self._send_request(now)]

    def _check(self, now: float) -> list[bytes]:
        """RFC 5227 2.1.1 probes, `count` of them `interval` apart, then `wait` before binding."""
        lease = self._candidate
        assert lease is not None
        probe = self._fp.arp_probe
        if self._probes >= probe.count:
            return self._bind(lease, now)
        self._probes += 1
        self._deadline = now + (probe.interval if self._probes < probe.count else probe.wait)
        arp = wire.Arp(1, self.mac, wire.ZERO_IP, b"\x00" * 6, lease.address)
        return [wire.arp_frame(self.mac, wire.BROADCAST_MAC, arp)]

    def _bind(self, lease: Lease, now: float) -> list[bytes]:
        self.lease, self._candidate = lease, None
        self._set_state(DhcpState.BOUND)
        self._deadline = lease.t1
        self._emit("bound", address=_ip(lease.address))
        self._log("info", f"DHCP bound to {_ip(lease.address)} (lease {lease.lease_time} s)")
        self._announces = self.ANNOUNCE_COUNT
        return [self._announce(now)] if self._announces else []

    def _announce(self, now: float) -> bytes:
        """RFC 5227 2.3 announcement: a request with our address as sender and target."""
        assert self.lease is not None
        address = self.lease.address
        self._announces -= 1
        self._announce_at = now + self.ANNOUNCE_INTERVAL if self._announces > 0 else None
        arp = wire.Arp(1, self.mac, address, b"\x00" * 6, address)
        return wire.arp_frame(self.mac, wire.BROADCAST_MAC, arp)

    # -- bookkeeping --------------------------------------------------------------------------

    def _set_state(self, new: DhcpState) -> None:
        old = self.state
        if new is old:
            return
        self.state = new
        if new not in _LEASED:
            self._announce_at = None
        if new is DhcpState.BOUND:
            self._frames.forget()  # until the renewal at T1
        self._log("debug", f"DHCP state {old.name} -> {new.name}")

    def _emit(self, type_: str, **fields: Any) -> None:
        self._events.append((type_, fields))

    def _log(self, level: str, message: str) -> None:
        self._events.append(("log", {"level": level, "message": message}))
