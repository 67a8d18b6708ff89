"""The retransmission timer of one TCP connection (RFC 6298), apart from the state machine that uses it.

Kept separate because it is the part whose numbers matter: the RTO estimate from RTT samples
(SRTT/RTTVAR, section 2), the 1 s initial and minimum RTO, exponential backoff (5.5), Karn's rule
(no sample from a retransmitted segment, section 3), and the 3 s restart after a lost SYN (5.7).
"""

from __future__ import annotations

from iot_emulator.protocols.transport import tcp_segment


class RetransmitTimer:
    INITIAL = 1.0
    MIN = 1.0
    MAX = 60.0
    AFTER_SYN_LOSS = 3.0
    GRANULARITY = 0.001
    """The clock granularity G of section 2: the engine's clock is far finer than a millisecond."""

    __slots__ = ("_timed", "due", "retries", "rto", "rttvar", "srtt")

    def __init__(self) -> None:
        self.rto = self.INITIAL
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.retries = 0
        """Timeouts since the last acknowledgment of new data."""
        self.due: float | None = None
        self._timed: tuple[int, float] | None = None  # (end sequence number, sent at) being timed

    def time(self, end_seq: int, now: float) -> None:
        """A new segment left: measure its RTT, unless one is being measured already."""
        if self._timed is None:
            self._timed = (end_seq, now)

    def acked(self, snd_una: int, now: float) -> None:
        """New data was acknowledged up to `snd_una`: take the sample if it covers the timed segment."""
        if self._timed is not None and tcp_segment.seq_diff(snd_una, self._timed[0]) >= 0:
            self._sample(now - self._timed[1])
            self._timed = None
        self.retries = 0

    def syn_acked(self, iss_next: int, now: float, *, syn_retransmitted: bool) -> None:
        if syn_retransmitted:
            self.rto = self.AFTER_SYN_LOSS  # and no sample: Karn's rule
        self.acked(iss_next, now)
        self._timed = None
        self.due = None

    def backoff(self) -> int:
        """The timer expired: double the RTO, forget the measurement; returns the timeouts so far."""
        self.retries += 1
        self.rto = min(self.rto * 2, self.MAX)
        self._timed = None
        return self.retries

    def restart(self, now: float) -> None:
        self.due = now + self.rto

    def start(self, now: float) -> None:
        """Arm the timer unless it runs already (section 5.1)."""
        if self.due is None:
            self.due = now + self.rto

    def stop(self) -> None:
        self.due = None

    def _sample(self, rtt: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.rto = min(max(self.srtt + max(self.GRANULARITY, 4 * self.rttvar), self.MIN), self.MAX)
