"""A small user-space TCP for one device: active and passive open, data, retransmission, close (RFC 9293).

Application sessions (HTTP, TLS, RTSP, MQTT) must complete against real servers, and the kernel
of the emulator's namespace owns none of the devices' addresses, so each device carries its own
TCP. It is sans-IO like the rest of the device: segments go out through `IpHost.send_ip` (which
adds the profile's TTL, DF and IP ID), every entry point takes `now`, `next_deadline()` says when
to call `on_timer()`.

What a fingerprinting product reads is shaped by the profile (`profile.tcp`): the SYN's window,
MSS, options in order and window scale, and a timestamp clock per device (RFC 7323) so that
p0f sees one host across connections. What is implemented:

- active open, with the SYN's shape from the profile; ISN random per connection;
- passive open on the ports the device listens on (`listen`): the SYN-ACK carries the profile's
  window (`synack_window`), MSS and option order, less what the peer did not offer; half-open and
  open server connections are capped per device (`HALF_OPEN`, `SERVED`), and a SYN beyond the cap
  is dropped, as a kernel with a full backlog does;
- RFC 7323 window scaling and timestamps when both ends offer them; SACK-permitted is offered
  when the profile says so, but no SACK blocks are sent (RFC 2018 makes them optional);
- retransmission with RFC 6298 timers (initial RTO 1 s, exponential backoff, Karn's rule),
  go-back-N after a timeout, RFC 5681 slow start / congestion avoidance, zero-window probes;
- in-order delivery with a small out-of-order store; every segment with data is ACKed at once
  (no delayed ACK);
- FIN and RST both ways, RFC 5961 challenge ACKs for in-window RST/SYN, RST for segments of
  unknown connections (a closed port, as a real device answers);
- TIME_WAIT of `Connection.TIME_WAIT` s instead of 2 MSL, so a long emulation does not pile up
  closed connections (a device connects to the same few servers from fresh ports anyway).

Over IPv6 the same stack serves: addresses are 16 bytes, the checksum's pseudo-header sums the same
(`tcp_segment.build`), and `IpHost.send_ip` hands 16-byte destinations to the IPv6 endpoint. The
profile's SYN shape is the IPv4 one; over IPv6 the MSS is 20 smaller and a window counted in MSS is
counted again (`ipv6_shape`), as the same kernel's SYN on the same link would be.

Not implemented: SYN cookies, simultaneous open, urgent data, PMTU discovery,
SACK-based recovery, fast retransmit.

Modules: this one (the stack of a device: demultiplexing, ports, the timestamp clock, RST for
unknown connections), `tcp_connection` (the state machine), `tcp_timer` (RFC 6298),
`tcp_segment` (the wire format).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog, derived
from iot_emulator.protocols.link import wire
from iot_emulator.protocols.transport import tcp_connection, tcp_segment
from iot_emulator.protocols.transport.tcp_segment import ACK, FIN, RST, SYN

Connection = tcp_connection.Connection
TcpApp = tcp_connection.TcpApp
TcpState = tcp_connection.TcpState
_MOD = 1 << 32

Key = tuple[bytes, int, int]
"""(remote address, remote port, local port)"""
IPV6_HEADER_GROWTH = 20
"""An IPv6 header is 40 bytes, IPv4's 20: on the same link a stack's MSS over IPv6 is 20 smaller."""
Trace = Callable[[Connection, TcpState, TcpState], None]
AppFactory = Callable[[], TcpApp]
"""Makes the application of one accepted connection (a server's per-connection state)."""


class Ports(Protocol):
    """Listening ports served from a table shared by a profile's devices (`protocols.listeners`): a
    device then holds no entry per port, only this object."""

    def protocol_of(self, port: int) -> str | None: ...
    def app(self, port: int) -> TcpApp: ...


Tap = Callable[[bytes, tcp_segment.Segment, float], bool]
"""Sees a segment no connection owns, (source address, segment, now); True when it took it (no RST is sent)."""


@derived.PerObject
def ipv6_shape(shape: catalog.TcpSyn) -> catalog.TcpSyn:
    """The same stack's SYN over IPv6 (profiles give the IPv4 one): the MSS 20 smaller (Linux on Ethernet:
    1440), and a window that is a multiple of the MSS counted again in the new MSS, as Linux's
    tcp_select_initial_window does (20 x MSS: 29200 -> 28800; the largest multiple under 64 KiB:
    64240 -> 64800); a fixed window (Android's 65535, an RTOS's 8192) stays. Made once per profile."""
    mss = max(shape.mss - IPV6_HEADER_GROWTH, 88)
    window = shape.window
    if window and window % shape.mss == 0:
        window = 0xFFFF // mss * mss if window + shape.mss > 0xFFFF else window // shape.mss * mss
    return shape.model_copy(update={"mss": mss, "window": window})


class TcpStack:
    """The connections of one device, installed as `host.tcp` (see `stack_of`)."""

    HALF_OPEN = 16
    """SYN-RECEIVED connections at once per device (a small embedded backlog); more SYNs are dropped."""
    SERVED = 32
    """Accepted connections at once per device: a scan cannot make a device hold unbounded state."""

    def __init__(self, host: host_mod.IpHost, rng: random.Random) -> None:
        self.host = host
        self.rng = rng
        self.profile_tcp = host.profile.tcp
        self.connections: dict[Key, Connection] = {}
        self.on_trace: Trace | None = None
        """Called on every state change (`conn, old, new`): tests and debugging."""
        self._ts_offset = rng.getrandbits(32)
        self._ts_last: int | None = None
        self.listeners: dict[int, tuple[str, AppFactory]] = {}
        self.ports: Ports | None = None
        """The profile's listening ports (looked up after `listeners`)."""
        self._served: dict[Key, None] = {}  # a set, as a dict: 64 bytes empty instead of 216
        self.taps: list[Tap] = []
        """Raw observers of segments that belong to no connection: a SYN scan reads its replies here."""

    def listen(self, port: int, protocol: str, make_app: AppFactory) -> None:
        """Accept connections on `port`; their segments are counted under `protocol`."""
        self.listeners[port] = (protocol, make_app)

    def connect(self, dst: bytes, dport: int, app: TcpApp, now: float, protocol: str) -> Connection:
        """Open a connection (the SYN leaves now); its segments are counted under `protocol`."""
        port = self.host.ephemeral_port()
        while (dst, dport, port) in self.connections:
            port = self.host.ephemeral_port()
        conn = Connection(self, dst, dport, port, app, protocol, self.rng.getrandbits(32), now)
        self.connections[(dst, dport, port)] = conn
        conn.open(now)
        return conn

    def shape_for(self, remote: bytes) -> catalog.TcpSyn:
        """The profile's SYN shape for a peer of this family (`ipv6_shape` for a 16-byte address)."""
        return self.profile_tcp if len(remote) == 4 else ipv6_shape(self.profile_tcp)

    def tsval(self, now: float) -> int:
        """RFC 7323 TSval: one clock per device (random offset + `timestamp_hz` ticks), never going back."""
        value = (self._ts_offset + int(now * self.profile_tcp.timestamp_hz)) % _MOD
        if self._ts_last is not None and tcp_segment.seq_diff(value, self._ts_last) < 0:
            value = self._ts_last
        self._ts_last = value
        return value

    # -- host.TcpHandler ----------------------------------------------------------------------

    def handle(self, packet: host_mod.Packet, now: float) -> None:
        """A segment to one of the device's addresses, over IPv4 or IPv6 (the address length tells)."""
        segment = tcp_segment.parse(packet.payload)
        if segment is None:
            return
        key = (packet.src, segment.sport, segment.dport)
        conn = self.connections.get(key)
        if conn is not None:
            conn.on_segment(segment, now)
        elif any(tap(packet.src, segment, now) for tap in self.taps):
            return
        elif self._listening(segment.dport) and not segment.flags & (ACK | RST):
            if segment.flags & (SYN | FIN) == SYN:  # LISTEN (RFC 9293 3.10.7.2); Linux drops SYN+FIN
                self._accept(key, segment, now)  # and, as the RFC says, any segment without SYN or ACK
        else:  # a closed port
            reset = tcp_segment.reset_for(packet.dst, packet.src, packet.payload)
            if reset is not None:
                self.host.send_ip("tcp", packet.src, wire.IPPROTO_TCP, reset, unconnected=True)

    def _accept(self, key: Key, syn: tcp_segment.Segment, now: float) -> None:
        served = [self.connections[k] for k in self._served]
        if len(served) >= self.SERVED or sum(c.state is TcpState.SYN_RECEIVED for c in served) >= self.HALF_OPEN:
            return  # backlog full: the peer retries its SYN, as against a loaded kernel
        entry = self.listeners.get(syn.dport)
        if entry is not None:
            protocol, app = entry[0], entry[1]()
        else:
            assert self.ports is not None
            protocol, app = self.ports.protocol_of(syn.dport) or "tcp", self.ports.app(syn.dport)
        conn = Connection(self, key[0], key[1], key[2], app, protocol, self.rng.getrandbits(32), now)
        self.connections[key] = conn
        self._served[key] = None
        conn.accept(syn, now)

    def _listening(self, port: int) -> bool:
        return port in self.listeners or (self.ports is not None and self.ports.protocol_of(port) is not None)

    def on_timer(self, now: float) -> None:
        for conn in list(self.connections.values()):
            deadline = conn.deadline()
            if deadline is not None and deadline <= now:
                conn.on_timer(now)

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (c.deadline() for c in self.connections.values()) if d is not None]
        return min(deadlines) if deadlines else None

    def close_all(self, now: float) -> None:
        for conn in list(self.connections.values()):
            conn.kill(now)

    # -- used by connections ------------------------------------------------------------------

    def send_segment(
        self, conn: Connection, seq: int, ack: int, flags: int, window: int, options: bytes, payload: bytes
    ) -> None:
        src = self.host.source_for(conn.remote)
        if src is None:
            return
        segment = tcp_segment.build(
            src, conn.remote, conn.local_port, conn.remote_port, seq, ack, flags, window, options, payload
        )
        syn_ack = flags & (SYN | ACK) == SYN | ACK
        self.host.send_ip(conn.protocol, conn.remote, wire.IPPROTO_TCP, segment, unconnected=syn_ack)

    def send_reset(self, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int) -> None:
        src = self.host.source_for(dst)
        if src is None:
            return
        segment = tcp_segment.build(src, dst, sport, dport, seq, ack, flags, 0)
        self.host.send_ip("tcp", dst, wire.IPPROTO_TCP, segment, unconnected=True)

    def forget(self, conn: Connection) -> None:
        key = (conn.remote, conn.remote_port, conn.local_port)
        if self.connections.get(key) is conn:
            del self.connections[key]
            self._served.pop(key, None)

    def trace(self, conn: Connection, old: TcpState, new: TcpState) -> None:
        if self.on_trace is not None:
            self.on_trace(conn, old, new)


def stack_of(host: host_mod.IpHost, rng: random.Random) -> TcpStack:
    """The device's TCP stack, created and installed as `host.tcp` on first use."""
    if isinstance(host.tcp, TcpStack):
        return host.tcp
    stack = TcpStack(host, rng)
    host.tcp = stack
    return stack
