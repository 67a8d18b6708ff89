"""The TCP connection state machine (RFC 9293 3.3.2, 3.10), active and passive open; used through `tcp.TcpStack`.

One object per connection: apps call `send`, `close`, `abort`; the stack feeds it segments and
timer calls. Sending respects the peer's window (scaled, RFC 7323) and MSS and a congestion
window (RFC 5681 slow start and congestion avoidance, RFC 6928 initial window); what was not
acknowledged in time is sent again from the first unacknowledged byte (`tcp_timer`, RFC 6298).
Received data is delivered in order, with a few out-of-order segments kept for reassembly, and
every segment carrying data or FIN is acknowledged at once (no delayed ACK). In-window RST and
SYN get an RFC 5961 challenge ACK. A passive open (`accept`) answers a listener's SYN with a
SYN-ACK in the profile's option order, keeping only the options the peer offered (RFC 7323 1.3,
RFC 2018 2), and reaches ESTABLISHED on the ACK of it; a RST in SYN-RECEIVED (a SYN scan) just
forgets the connection.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import TYPE_CHECKING, Protocol

from iot_emulator.protocols.transport import tcp_segment as seg_mod
from iot_emulator.protocols.transport import tcp_timer
from iot_emulator.protocols.transport.tcp_segment import ACK, CWR, ECE, FIN, PSH, RST, SYN

if TYPE_CHECKING:
    from iot_emulator.profiles import catalog

_MOD = 1 << 32
_diff = seg_mod.seq_diff


class TcpState(enum.Enum):
    SYN_SENT = "syn-sent"
    SYN_RECEIVED = "syn-received"
    ESTABLISHED = "established"
    FIN_WAIT_1 = "fin-wait-1"
    FIN_WAIT_2 = "fin-wait-2"
    CLOSING = "closing"
    TIME_WAIT = "time-wait"
    CLOSE_WAIT = "close-wait"
    LAST_ACK = "last-ack"
    CLOSED = "closed"


_SENDING = frozenset({TcpState.SYN_SENT, TcpState.ESTABLISHED, TcpState.CLOSE_WAIT})
_RECEIVING = frozenset({TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2})


class Stream(Protocol):
    """What an application writes to: a TCP connection, or TLS over one (`tls_stream.TlsStream`)."""

    def send(self, data: bytes, now: float) -> object: ...
    def close(self, now: float) -> None: ...


class TcpApp(Protocol):
    """What a connection tells its application. `on_closed` comes once, after the last `on_data`."""

    def on_connected(self, conn: Connection, now: float) -> None: ...
    def on_data(self, conn: Connection, data: bytes, now: float) -> None: ...
    def on_closed(self, conn: Connection, reason: str, now: float) -> None: ...


class Stack(Protocol):
    """What a connection uses of its stack (`tcp.TcpStack`): named here, so that this module does not
    import the stack that imports it."""

    profile_tcp: catalog.TcpSyn

    def shape_for(self, remote: bytes) -> catalog.TcpSyn: ...
    def tsval(self, now: float) -> int: ...
    def send_segment(
        self, conn: Connection, seq: int, ack: int, flags: int, window: int, options: bytes, payload: bytes
    ) -> None: ...
    def send_reset(self, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int) -> None: ...
    def forget(self, conn: Connection) -> None: ...
    def trace(self, conn: Connection, old: TcpState, new: TcpState) -> None: ...


class Connection:
    """One TCP connection (RFC 9293 3.3.2 state machine). Apps call `send`,
    `close`, `abort`; the stack feeds it segments and timer calls."""

    SYN_TRIES = 5
    """SYNs sent before giving up (1+2+4+8+16 s); Linux sends 7, too long for an emulation."""
    SYNACK_TRIES = 3
    """SYN-ACKs sent for one SYN (1+2 s apart); Linux's tcp_synack_retries is 5, which holds a
    half-open slot 63 s: too long when a scanner leaves thousands of them."""
    DATA_RETRIES = 8
    """Retransmissions of the same data before the connection is reset and reported as timed out."""
    TIME_WAIT = 1.0
    """Seconds in TIME_WAIT: 2 MSL (minutes) shortened for emulation, long enough to re-ACK a lost FIN."""
    FIN_WAIT_2_TIMEOUT = 10.0
    """Like Linux's tcp_fin_timeout (60 s): a peer that never sends its FIN is forgotten."""
    OUT_OF_ORDER = 8
    """Out-of-order segments kept for reassembly; later ones are dropped and the peer resends."""

    def __init__(
        self,
        stack: Stack,
        remote: bytes,
        remote_port: int,
        local_port: int,
        app: TcpApp,
        protocol: str,
        iss: int,
        now: float,
    ) -> None:
        self.stack = stack
        self.remote = remote
        self.remote_port = remote_port
        self.local_port = local_port
        self.app = app
        self.protocol = protocol
        self.state = TcpState.SYN_SENT
        self.bytes_sent = 0
        self.bytes_received = 0
        shape = self.shape = stack.shape_for(remote)
        """The profile's SYN shape for this peer's family (MSS, window, options)."""
        self.iss = iss
        self.snd_una = self.snd_nxt = self.snd_max = iss
        self.snd_wnd = 0
        self.snd_wl1 = self.snd_wl2 = 0
        self.rcv_nxt = 0
        self.rcv_wnd = shape.window
        self.send_mss = 536
        self._our_ws = shape.window_scale if "wscale" in shape.options else 0
        self._rcv_shift = 0
        self._snd_shift = 0
        self._ts_ok = False
        self._ts_recent = 0
        self._buf = bytearray()  # data from snd_una on: in flight, then not yet sent
        self._fin_wanted = False
        self._fin_acked = False
        self._ooo: dict[int, tuple[bytes, bool]] = {}
        self._cwnd = 0
        self._ssthresh = 1 << 30
        self._rtx = tcp_timer.RetransmitTimer()
        self._syn_lost = False
        self._peer_sack = True
        self._ws_ok = False
        self._synack_flags = SYN | ACK
        self._close_at: float | None = None
        self.expire_at: float | None = None
        """When set (servers do), the connection is reset at that time unless moved on: an idle peer."""
        self._acked_upto = 0  # the ACK number of the last segment sent
        self._sent = 0  # segments sent: tells whether a reply already carried our ACK
        self._reported = False

    def __repr__(self) -> str:
        peer = str(ipaddress.ip_address(self.remote))
        return f"<Connection {self.protocol} :{self.local_port} -> {peer}:{self.remote_port} {self.state.value}>"

    # -- the application's side ---------------------------------------------------------------

    @property
    def established(self) -> bool:
        return self.state is TcpState.ESTABLISHED

    @property
    def closed(self) -> bool:
        return self.state is TcpState.CLOSED

    def send(self, data: bytes, now: float) -> bool:
        """Queue data (sent once the handshake is done). False once the connection is closing."""
        if self.state not in _SENDING or self._fin_wanted:
            return False
        self._buf += data
        if self.state is not TcpState.SYN_SENT:
            self._push(now)
        return True

    def close(self, now: float) -> None:
        """Send FIN after the queued data; before the handshake ends, just forget the connection."""
        if self.state is TcpState.SYN_SENT:
            self._reported = True  # the app asked for it: nothing to report
            self._set_state(TcpState.CLOSED)
            return
        if self._fin_wanted or self.state not in (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT):
            return
        self._fin_wanted = True
        self._set_state(TcpState.FIN_WAIT_1 if self.state is TcpState.ESTABLISHED else TcpState.LAST_ACK)
        self._push(now)

    def abort(self, now: float) -> None:
        """RST the peer (when synchronized) and forget the connection; `on_closed` is not called."""
        self._reported = True
        self._reset(now)

    # -- the stack's side ---------------------------------------------------------------------

    def open(self, now: float) -> None:
        self._send_syn(now)

    def deadline(self) -> float | None:
        times = [t for t in (self._rtx.due, self._close_at, self.expire_at) if t is not None]
        return min(times) if times else None

    def on_segment(self, seg: seg_mod.Segment, now: float) -> None:
        if self.state is TcpState.SYN_SENT:
            self._on_syn_sent(seg, now)
            return
        if self.state is TcpState.SYN_RECEIVED and not self._on_syn_received(seg, now):
            return
        if not self._acceptable(seg):
            if not seg.flags & RST:
                if self.state is TcpState.TIME_WAIT and seg.flags & FIN:
                    self._close_at = now + self.TIME_WAIT  # the peer lost our ACK of its FIN
                self._send_ack(now)
            return
        if seg.flags & RST:
            if seg.seq == self.rcv_nxt:
                self._report("reset", now)
                self._set_state(TcpState.CLOSED)
            else:
                self._send_ack(now)  # RFC 5961 3.2: challenge ACK
            return
        if seg.flags & SYN:
            self._send_ack(now)  # RFC 5961 4.2 (a retransmitted SYN-ACK lands here too)
            return
        if not seg.flags & ACK:
            return
        if seg.options.ts is not None and self._ts_ok and _diff(seg.seq, self._acked_upto) <= 0:
            self._ts_recent = seg.options.ts[0]  # RFC 7323 4.3
        mark = self._sent
        self._on_ack(seg, now)
        if self.closed:
            return
        self._on_payload(seg, now)
        if self.closed:  # the application aborted from a callback
            return
        if seg.length and (self._sent == mark or self._acked_upto != self.rcv_nxt):
            self._send_ack(now)

    def on_timer(self, now: float) -> None:
        if self.expire_at is not None and now >= self.expire_at:
            self.expire_at = None
            self._report("idle", now)
            self._reset(now)
            return
        if self._close_at is not None and now >= self._close_at:
            self._report("closed", now)
            self._set_state(TcpState.CLOSED)
            return
        if self._rtx.due is None or now < self._rtx.due:
            return
        retries = self._rtx.backoff()
        limit = {TcpState.SYN_SENT: self.SYN_TRIES, TcpState.SYN_RECEIVED: self.SYNACK_TRIES}.get(self.state)
        if retries > (self.DATA_RETRIES if limit is None else limit - 1):
            if self.state is TcpState.SYN_RECEIVED:  # the peer never completed the handshake: drop quietly
                self._reported = True
                self._set_state(TcpState.CLOSED)
                return
            self._report("timeout", now)
            self._reset(now)
            return
        if self.state in (TcpState.SYN_SENT, TcpState.SYN_RECEIVED):
            self._syn_lost = True
            self._send_syn(now)
            return
        flight = _diff(self.snd_nxt, self.snd_una)
        if flight > 0:  # RFC 5681 3.1 (eq. 4) then go back to the first unacknowledged byte
            self._ssthresh = max(flight // 2, 2 * self.send_mss)
            self._cwnd = self.send_mss
            self.snd_nxt = self.snd_una
            self._rtx.stop()
            self._push(now)
        else:  # zero window: probe with one byte (RFC 9293 3.8.6.1)
            self._rtx.stop()
            self._push(now, probe=True)
        self._rtx.start(now)

    def kill(self, now: float) -> None:
        """The host loses its address: RST what is open, drop what is already closing."""
        self._report("aborted", now)
        if not self._fin_wanted and self.state in (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT):
            self._reset(now)
        else:
            self._set_state(TcpState.CLOSED)

    # -- receive path -------------------------------------------------------------------------

    def _on_syn_sent(self, seg: seg_mod.Segment, now: float) -> None:
        """RFC 9293 3.10.7.3: only a SYN-ACK (or a RST) acknowledging our SYN moves us on."""
        if seg.flags & ACK and seg.ack != (self.iss + 1) % _MOD:
            if not seg.flags & RST:
                self.stack.send_reset(self.remote, self.local_port, self.remote_port, seg.ack, 0, RST)
            return
        if seg.flags & RST:
            if seg.flags & ACK:
                self._report("refused", now)
                self._set_state(TcpState.CLOSED)
            return
        if not (seg.flags & SYN and seg.flags & ACK):
            return  # a bare SYN (simultaneous open) is not supported: the peer's SYN times out
        self._negotiate(seg)
        self.snd_una = seg.ack
        self._rtx.syn_acked(self.snd_una, now, syn_retransmitted=self._syn_lost)
        self._set_state(TcpState.ESTABLISHED)
        self._send_ack(now)
        self.app.on_connected(self, now)
        if self.state is TcpState.ESTABLISHED and self._buf:
            self._push(now)

    def accept(self, syn: seg_mod.Segment, now: float) -> None:
        """Passive open: take the peer's SYN (RFC 9293 3.10.7.2) and answer with our SYN-ACK."""
        self._negotiate(syn)
        ecn_setup = syn.flags & (ECE | CWR) == ECE | CWR
        self._synack_flags = SYN | ACK | (ECE if ecn_setup and self.shape.ecn else 0)
        self._set_state(TcpState.SYN_RECEIVED)
        self._send_syn(now)

    def _negotiate(self, seg: seg_mod.Segment) -> None:
        """What the peer's SYN or SYN-ACK settles: its ISN, window, MSS, and RFC 7323 options both offered."""
        shape = self.shape
        opts = seg.options
        self.rcv_nxt = (seg.seq + 1) % _MOD
        self.snd_wnd = seg.window  # never scaled in a SYN (RFC 7323 2.2)
        self.snd_wl1, self.snd_wl2 = seg.seq, seg.ack
        self._ws_ok = opts.wscale is not None and "wscale" in shape.options
        if self._ws_ok:
            self._snd_shift, self._rcv_shift = opts.wscale or 0, self._our_ws
        if opts.ts is not None and "ts" in shape.options:
            self._ts_ok = True
            self._ts_recent = opts.ts[0]
        self._peer_sack = opts.sack_ok
        self.send_mss = min(opts.mss or 536, shape.mss) - (12 if self._ts_ok else 0)
        self._cwnd = 10 * self.send_mss  # RFC 6928

    def _on_syn_received(self, seg: seg_mod.Segment, now: float) -> bool:
        """RFC 9293 3.10.7.4 in SYN-RECEIVED: True when the segment goes on through the ESTABLISHED path."""
        if seg.flags & RST:
            if _diff(seg.seq, self.rcv_nxt) == 0 or self._acceptable(seg):
                self._reported = True  # never reported as open: nothing to tell the app
                self._set_state(TcpState.CLOSED)
            return False
        if seg.flags & SYN:
            if (seg.seq + 1) % _MOD == self.rcv_nxt:
                self._send_syn(now)  # the peer lost our SYN-ACK and sent its SYN again
            return False
        if not seg.flags & ACK:
            return False
        if seg.ack != (self.iss + 1) % _MOD:
            self.stack.send_reset(self.remote, self.local_port, self.remote_port, seg.ack, 0, RST)
            return False
        self.snd_una = seg.ack
        self._rtx.syn_acked(self.snd_una, now, syn_retransmitted=self._syn_lost)
        self._set_state(TcpState.ESTABLISHED)
        self.app.on_connected(self, now)
        return self.state is TcpState.ESTABLISHED

    def _acceptable(self, seg: seg_mod.Segment) -> bool:
        """RFC 9293 3.10.7.4, first check: does the segment fall in our receive window?"""
        start = _diff(seg.seq, self.rcv_nxt)
        window = self.rcv_wnd
        if seg.length == 0:
            return 0 <= start < max(window, 1)
        end = start + seg.length - 1
        return 0 <= start < window or 0 <= end < window

    def _on_ack(self, seg: seg_mod.Segment, now: float) -> None:
        ack = seg.ack
        advance = _diff(ack, self.snd_una)
        if _diff(ack, self.snd_max) > 0:
            self._send_ack(now)  # acknowledges what we never sent
            return
        if advance > 0:
            self._acked(advance, now)
            if _diff(ack, self.snd_nxt) > 0:
                self.snd_nxt = ack  # the peer got a segment we were about to resend
        fresher = _diff(self.snd_wl1, seg.seq) < 0 or (self.snd_wl1 == seg.seq and _diff(self.snd_wl2, ack) <= 0)
        if advance >= 0 and fresher:  # RFC 9293 3.10.7.4: window updates come from current segments
            self.snd_wnd = seg.window << self._snd_shift
            self.snd_wl1, self.snd_wl2 = seg.seq, ack
        if self._fin_acked:
            if self.state is TcpState.FIN_WAIT_1:
                self._set_state(TcpState.FIN_WAIT_2)
                self._close_at = now + self.FIN_WAIT_2_TIMEOUT
            elif self.state is TcpState.CLOSING:
                self._enter_time_wait(now)
            elif self.state is TcpState.LAST_ACK:
                self._report("closed", now)
                self._set_state(TcpState.CLOSED)
                return
        self._push(now)

    def _acked(self, advance: int, now: float) -> None:
        data = min(advance, len(self._buf))
        if self._fin_wanted and advance > len(self._buf):
            self._fin_acked = True
        del self._buf[:data]
        self.snd_una = (self.snd_una + advance) % _MOD
        self._rtx.acked(self.snd_una, now)
        if self._cwnd < self._ssthresh:  # RFC 5681 3.1: slow start, then congestion avoidance
            self._cwnd += min(advance, self.send_mss)
        else:
            self._cwnd += max(1, self.send_mss * self.send_mss // self._cwnd)
        if _diff(self.snd_max, self.snd_una) > 0:
            self._rtx.restart(now)
        else:
            self._rtx.stop()

    def _on_payload(self, seg: seg_mod.Segment, now: float) -> None:
        if self.state not in _RECEIVING:
            return  # after the peer's FIN, nothing more is data
        data, fin, seq = seg.payload, bool(seg.flags & FIN), seg.seq
        if not data and not fin:
            return
        old = _diff(self.rcv_nxt, seq)
        if old > 0:
            data, seq = data[old:], self.rcv_nxt
        if seq != self.rcv_nxt:
            if len(self._ooo) < self.OUT_OF_ORDER:
                self._ooo[seq] = (data, fin)
            return
        self._deliver(data, fin, now)
        while self.state in _RECEIVING and self._ooo:
            found = next((s for s in self._ooo if _diff(s, self.rcv_nxt) <= 0), None)
            if found is None:
                break
            data, fin = self._ooo.pop(found)
            skip = _diff(self.rcv_nxt, found)
            if skip < len(data) or (fin and skip == len(data)):
                self._deliver(data[skip:], fin, now)

    def _deliver(self, data: bytes, fin: bool, now: float) -> None:
        if data:
            self.rcv_nxt = (self.rcv_nxt + len(data)) % _MOD
            self.bytes_received += len(data)
            self.app.on_data(self, data, now)
        if fin and self.state in _RECEIVING:
            self.rcv_nxt = (self.rcv_nxt + 1) % _MOD
            self._ooo.clear()
            self._on_fin(now)

    def _on_fin(self, now: float) -> None:
        if self.state is TcpState.ESTABLISHED:
            self._set_state(TcpState.CLOSE_WAIT)
            self._report("peer closed", now)
            self.close(now)  # our clients never half-close: answer the FIN with ours
        elif self.state is TcpState.FIN_WAIT_1:
            self._report("closed", now)
            self._set_state(TcpState.CLOSING)
        elif self.state is TcpState.FIN_WAIT_2:
            self._report("closed", now)
            self._enter_time_wait(now)

    def _enter_time_wait(self, now: float) -> None:
        self._set_state(TcpState.TIME_WAIT)
        self._rtx.stop()
        self._close_at = now + self.TIME_WAIT

    # -- send path ----------------------------------------------------------------------------

    def _push(self, now: float, probe: bool = False) -> None:
        """Send what the peer's window and the congestion window allow, then the FIN."""
        if self.state in (TcpState.SYN_SENT, TcpState.SYN_RECEIVED, TcpState.CLOSED, TcpState.TIME_WAIT):
            return
        while True:
            sent = _diff(self.snd_nxt, self.snd_una)
            if sent < len(self._buf):
                room = min(self.snd_wnd, self._cwnd) - sent
                if room <= 0:
                    if not probe:
                        break
                    room = 1
                probe = False
                size = min(self.send_mss, len(self._buf) - sent, room)
                chunk = bytes(self._buf[sent : sent + size])
                flags = ACK | (PSH if sent + size == len(self._buf) else 0)
                self._emit(self.snd_nxt, flags, chunk, now)
                self.snd_nxt = (self.snd_nxt + size) % _MOD
            elif self._fin_wanted and not self._fin_acked and sent == len(self._buf):
                self._emit(self.snd_nxt, FIN | ACK, b"", now)
                self.snd_nxt = (self.snd_nxt + 1) % _MOD
            else:
                break
            if _diff(self.snd_nxt, self.snd_max) > 0:
                self.snd_max = self.snd_nxt
                self._rtx.time(self.snd_nxt, now)
            self._rtx.start(now)
        if len(self._buf) > _diff(self.snd_nxt, self.snd_una) and self.snd_wnd == 0:
            self._rtx.start(now)  # the persist timer

    def _send_syn(self, now: float) -> None:
        """Our SYN, or in SYN-RECEIVED our SYN-ACK (the profile's layout less what the peer did not offer)."""
        shape = self.shape
        tsval = self.stack.tsval(now)
        if self.state is TcpState.SYN_RECEIVED:
            layout = seg_mod.answer_layout(shape.options, ts=self._ts_ok, wscale=self._ws_ok, sackok=self._peer_sack)
            options = seg_mod.syn_options(
                layout, mss=shape.mss, wscale=self._our_ws, tsval=tsval, tsecr=self._ts_recent
            )
            window = shape.synack_window if shape.synack_window is not None else self._linux_synack_window()
            self.stack.send_segment(self, self.iss, self.rcv_nxt, self._synack_flags, window, options, b"")
        else:
            options = seg_mod.syn_options(shape.options, mss=shape.mss, wscale=self._our_ws, tsval=tsval)
            self.stack.send_segment(self, self.iss, 0, SYN, shape.window, options, b"")
        self.snd_nxt = self.snd_max = (self.iss + 1) % _MOD
        if self._rtx.retries == 0:  # Karn: a retransmitted SYN is not timed
            self._rtx.time(self.snd_nxt, now)
        self._rtx.restart(now)

    def _linux_synack_window(self) -> int:
        """The SYN's window, and for Linux's layout in MSS units of the negotiated MSS: Linux offers N
        segments of what the peer will send (20 x 1448 = 28960 with timestamps, 29200 without)."""
        shape = self.shape
        if tuple(shape.options) != seg_mod.LINUX_LAYOUT or not self._ts_ok:
            return shape.window
        return shape.window // shape.mss * (shape.mss - 12)

    def _send_ack(self, now: float) -> None:
        self._emit(self.snd_nxt, ACK, b"", now)

    def _emit(self, seq: int, flags: int, payload: bytes, now: float) -> None:
        options = seg_mod.timestamp_option(self.stack.tsval(now), self._ts_recent) if self._ts_ok else b""
        window = min(self.rcv_wnd >> self._rcv_shift, 0xFFFF)
        self.stack.send_segment(self, seq, self.rcv_nxt, flags, window, options, payload)
        self._acked_upto = self.rcv_nxt
        self._sent += 1
        self.bytes_sent += len(payload)

    def _reset(self, now: float) -> None:
        if self.state not in (TcpState.SYN_SENT, TcpState.CLOSED, TcpState.TIME_WAIT):
            self.stack.send_reset(self.remote, self.local_port, self.remote_port, self.snd_nxt, 0, RST)
        self._set_state(TcpState.CLOSED)

    # -- bookkeeping --------------------------------------------------------------------------

    def _report(self, reason: str, now: float) -> None:
        if not self._reported:
            self._reported = True
            self.app.on_closed(self, reason, now)

    def _set_state(self, state: TcpState) -> None:
        if state is self.state:
            return
        self.stack.trace(self, self.state, state)
        self.state = state
        if state is TcpState.CLOSED:
            self._rtx.stop()
            self._close_at = self.expire_at = None
            self.stack.forget(self)
