"""The device's IP and TCP stack: TTL, the SYN (window, MSS, option layout, scale, DF), IP ID, TSval rate.

These are what p0f and NAC products read (p0f's `ver:ittl:olen:mss:wsize,scale:olayout:quirks`).
The SYN shape is the most common one among the device's SYNs; the IP ID policy is read from the
IDs of its addressed packets (all zero, counting up, or scattered); the timestamp clock rate from
TSval growth over time, snapped to the rates stacks use (RFC 7323 5.4: 1 ms to 1 s per tick).
"""

from __future__ import annotations

import collections
import itertools

from iot_emulator.learn import findings, packets
from iot_emulator.protocols.link import wire
from iot_emulator.protocols.transport import tcp_segment as ts

LAYOUT = {
    ts.OPT_MSS: "mss",
    ts.OPT_SACK_OK: "sackok",
    ts.OPT_TS: "ts",
    ts.OPT_NOP: "nop",
    ts.OPT_WSCALE: "wscale",
    ts.OPT_EOL: "eol",
}
"""TCP option kinds the profile's `tcp.options` can name, by kind."""
HZ = (1, 10, 100, 250, 300, 1000)
"""Timestamp clock rates of real stacks (Linux 1000, BSDs and old Linux 100, lwIP 1000...)."""


class Syn:
    """One SYN's shape: what p0f reads, from the IP and TCP headers."""

    def __init__(self, packet: packets.Packet) -> None:
        assert packet.ip is not None and packet.tcp is not None
        self.ttl = packet.ip.ttl
        self.df = packet.df
        self.window = packet.tcp.window
        self.mss = packet.tcp.options.mss
        self.wscale = packet.tcp.options.wscale
        self.layout = layout(packet.tcp_options)

    def key(self) -> tuple[object, ...]:
        return self.ttl, self.df, self.window, self.mss, self.wscale, tuple(self.layout or ())


def layout(raw: bytes) -> list[str] | None:
    """The option kinds in wire order (p0f's olayout), or None if one has no name in the profile model."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind not in LAYOUT:
            return None
        out.append(LAYOUT[kind])
        if kind == ts.OPT_EOL:
            break
        if kind == ts.OPT_NOP:
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2:
            return None
        i += raw[i + 1]
    return out


def learn(decoded: packets.Decoded) -> findings.Findings:
    out = findings.Findings()
    mine = [p for p in decoded.packets if p.outgoing and p.ip is not None and p.ip.src != wire.ZERO_IP]
    syns = [Syn(p) for p in mine if p.tcp is not None and p.tcp.flags & ts.SYN and not p.tcp.flags & ts.ACK]
    if syns:
        _syn(out, syns)
    elif mine:
        ttl = collections.Counter(p.ip.ttl for p in mine if p.ip is not None).most_common(1)[0][0]
        out.set("ip_ttl", ttl, f"most common IP TTL of the device's {len(mine)} addressed packets (no SYN seen)")
    synacks = [p.tcp.window for p in mine if p.tcp is not None and p.tcp.flags & ts.SYN and p.tcp.flags & ts.ACK]
    if synacks:
        window = collections.Counter(synacks).most_common(1)[0][0]
        out.set("tcp.synack_window", window, f"window of the device's {len(synacks)} SYN-ACKs")
    _ip_id(out, mine)
    _timestamps(out, mine)
    return out


def _syn(out: findings.Findings, syns: list[Syn]) -> None:
    shapes = collections.Counter(s.key() for s in syns)
    key, count = shapes.most_common(1)[0]
    syn = next(s for s in syns if s.key() == key)
    seen = f"the most common of the device's {len(syns)} SYNs ({count} alike)"
    out.set("ip_ttl", syn.ttl, f"IP TTL of {seen}")
    out.set("tcp.window", syn.window, f"window of {seen}")
    out.set("tcp.dont_fragment", syn.df, f"DF bit of {seen}")
    if syn.mss is not None and syn.mss >= 88:
        out.set("tcp.mss", syn.mss, f"MSS option of {seen}")
    if syn.wscale is not None:
        out.set("tcp.window_scale", syn.wscale, f"window scale of {seen}")
    if syn.layout is None:
        out.notes.append("the SYN carries a TCP option the profile model cannot name: tcp.options is the base's")
    else:
        out.set("tcp.options", syn.layout, f"option layout of {seen}: {','.join(syn.layout)}")
    if len(shapes) > 1:
        out.notes.append(f"{len(shapes)} different SYN shapes: the profile takes the most common")


def _ip_id(out: findings.Findings, mine: list[packets.Packet]) -> None:
    ids = [p.ip.ident for p in mine if p.ip is not None]
    if len(ids) < 3:
        return
    if not any(ids):
        policy, why = "zero", "all zero"
    else:
        nonzero = [i for i in ids if i]
        steps = [(b - a) & 0xFFFF for a, b in itertools.pairwise(nonzero)]
        small = sum(1 <= s <= 64 for s in steps)
        policy = "increment" if steps and small >= 0.8 * len(steps) else "random"
        why = f"{small} of {len(steps)} steps between non-zero IDs are 1-64"
    out.set("tcp.ip_id", policy, f"IP IDs of the device's {len(ids)} addressed packets: {why}")


def _timestamps(out: findings.Findings, mine: list[packets.Packet]) -> None:
    """The TSval rate within one connection (stacks may offset each connection's clock, RFC 7323 7.1)."""
    by_flow: dict[tuple[bytes, int, int], list[tuple[float, int]]] = {}
    for p in mine:
        if p.ip is not None and p.tcp is not None and p.tcp.options.ts is not None:
            by_flow.setdefault((p.ip.dst, p.tcp.sport, p.tcp.dport), []).append((p.time, p.tcp.options.ts[0]))
    spans = [(s[-1][0] - s[0][0], s) for s in by_flow.values() if len(s) >= 2]
    if not spans:
        return
    span, stamps = max(spans, key=lambda x: x[0])
    if span < 1.0:
        return
    (t0, v0), (t1, v1) = stamps[0], stamps[-1]
    rate = ((v1 - v0) & 0xFFFFFFFF) / (t1 - t0)
    nearest = min(HZ, key=lambda hz: abs(hz - rate))
    hz = nearest if abs(nearest - rate) <= 0.1 * nearest else max(1, min(1_000_000, round(rate)))
    out.set("tcp.timestamp_hz", hz, f"TSval grew {rate:.1f}/s over {span:.1f} s of one connection")
