"""A TCP peer scripted with Scapy, for the TCP and application-protocol tests (on `protocol_env.Env`).

The device side is the real `IpHost` + `tcp.TcpStack`; the peer's segments are built with Scapy's
TCP layer and the device's frames are dissected with it, so the tests check our bytes against an
independent implementation of the format. `Server` answers like a small kernel-backed server
(SYN-ACK, ACKs, FIN after its reply) for the application protocol tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.protocols.transport import tcp
from tests.unit import protocol_env as penv


def env_with_log(config: Any = None, **kw: Any) -> tuple[penv.Env, list[tuple[str, str]]]:
    """An Env whose services log into the returned list."""
    env = penv.Env(config, **kw)
    log: list[tuple[str, str]] = []
    env.context = dataclasses.replace(env.context, log=lambda level, message: log.append((level, message)))
    return env, log


def step_until_sent(env: penv.Env, limit: int = 50) -> None:
    """Step through deadlines until the device has something to send (left in its outbox for a Server)."""
    for _ in range(limit):
        if env.host.outbox:
            return
        env.step()
    raise AssertionError(f"nothing sent after {limit} deadlines")


class Recorder:
    """A TcpApp that writes down what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.data = b""
        self.on_data_hook: Callable[[tcp.Connection, bytes, float], None] | None = None

    def on_connected(self, conn: tcp.Connection, now: float) -> None:
        self.events.append(("connected", now))

    def on_data(self, conn: tcp.Connection, data: bytes, now: float) -> None:
        self.data += data
        self.events.append(("data", data))
        if self.on_data_hook is not None:
            self.on_data_hook(conn, data, now)

    def on_closed(self, conn: tcp.Connection, reason: str, now: float) -> None:
        self.events.append(("closed", reason))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


class StubResolver:
    """Names to addresses, answered at once (or later, with `defer`); the real resolver is protocols.dns."""

    def __init__(self, names: dict[str, str], *, defer: bool = False) -> None:
        self.names = {name: penv.ip(address) for name, address in names.items()}
        self.defer = defer
        self.waiting: list[tuple[str, Callable[[bytes | None], None]]] = []
        self.asked: list[str] = []

    def resolve(self, name: str, now: float, done: Callable[[bytes | None], None], *, ipv6: bool = False) -> None:
        self.asked.append(name)
        if self.defer:
            self.waiting.append((name, done))
        else:
            done(self.names.get(name))

    def alternative(self, name: str, failed: bytes) -> bytes | None:
        return None

    def answer(self) -> None:
        """Give the deferred answers (as a DNS reply arriving later would)."""
        waiting, self.waiting = self.waiting, []
        for name, done in waiting:
            done(self.names.get(name))


class Peer:
    """The other end, one Scapy segment at a time."""

    def __init__(self, env: penv.Env) -> None:
        self.env = env

    def segments(self) -> list[Packet]:
        """The TCP segments the device sent since the last call, dissected by Scapy."""
        return [pkt for pkt in self.env.sent() if TCP in pkt]

    def send(self, segment: Packet, *, src: str = penv.GATEWAY) -> None:
        self.env.deliver(Ether(src=penv.GATEWAY_MAC, dst=self.env.config.mac) / IP(src=src, dst=penv.IP) / segment)


class Server:
    """A scripted server on the peer: SYN-ACK, ACKs what it gets, replies via `reply(data) -> bytes`.

    After a reply it closes when `close_after_reply` (HTTP with Connection: close), and it answers a
    FIN with its own. `received` collects the bytes the device sent, per connection in order.
    """

    def __init__(
        self, env: penv.Env, reply: Callable[[bytes], bytes | None], *, close_after_reply: bool = False, mss: int = 1460
    ) -> None:
        self.peer = Peer(env)
        self.reply = reply
        self.close_after_reply = close_after_reply
        self.mss = mss
        self.received: list[bytes] = []
        self.syns: list[Packet] = []
        self.seen: list[Packet] = []
        """Every segment the device sent, in order."""
        self._conns: dict[int, dict[str, Any]] = {}

    def run(self, rounds: int = 20) -> None:
        """Answer everything the device sent, until it goes quiet."""
        for _ in range(rounds):
            segments = self.peer.segments()
            if not segments:
                return
            for pkt in segments:
                self.seen.append(pkt)
                self._on(pkt)

    def _on(self, pkt: Packet) -> None:
        t = pkt[TCP]
        flags = str(t.flags)
        if "S" in flags:
            self.syns.append(pkt)
            fresh: dict[str, Any] = {"seq": 5000, "rcv": t.seq + 1, "index": len(self.received), "fin": False}
            self._conns[t.sport] = fresh
            self.received.append(b"")
            self._send(t, "SA", fresh, options=[("MSS", self.mss), ("NOP", None), ("WScale", 7)])
            fresh["seq"] += 1
            return
        found = self._conns.get(t.sport)
        if found is None or "R" in flags:
            return
        state = found
        data = bytes(t.payload)
        if data and t.seq == state["rcv"]:
            state["rcv"] += len(data)
            self.received[state["index"]] += data
            answer = self.reply(data)
            if answer:
                self._send(t, "PA", state, payload=answer)
                state["seq"] += len(answer)
            if self.close_after_reply and answer is not None and not state["fin"]:
                self._send(t, "FA", state)
                state["seq"] += 1
                state["fin"] = True
            elif not answer:
                self._send(t, "A", state)
        if "F" in flags:
            state["rcv"] = t.seq + len(data) + 1
            if not state["fin"]:
                self._send(t, "FA", state)
                state["seq"] += 1
                state["fin"] = True
            else:
                self._send(t, "A", state)

    def _send(
        self, t: Packet, flags: str, state: dict[str, Any], *, payload: bytes = b"", options: list[Any] | None = None
    ) -> None:
        seg = TCP(
            sport=t.dport,
            dport=t.sport,
            flags=flags,
            seq=state["seq"],
            ack=state["rcv"],
            window=502,
            options=options or [],
        )
        self.peer.send(seg / payload if payload else seg)
