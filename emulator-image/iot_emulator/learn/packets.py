"""The device's frames, decoded once: Ethernet (802.1Q tags removed), IPv4, UDP or TCP, and TCP flows.

Every protocol learner reads these instead of raw bytes. Frames that are neither from nor to the
device's MAC are not kept; the ones that do not decode (not IPv4, fragments, bad headers) are
counted by kind, so the written profile can say how much of the capture was used.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable

from iot_emulator.learn import capture
from iot_emulator.protocols.link import dhcp_wire, wire
from iot_emulator.protocols.transport import tcp_segment

ETH_P_8021Q = (0x8100, 0x88A8)
FLOW_BYTES = 16_384
"""Bytes of a TCP flow's client side kept: enough for a ClientHello, an HTTP head, an MQTT CONNECT."""
MAX_FLOWS = 100_000


@dataclasses.dataclass(frozen=True)
class Packet:
    """One frame from or to the device, with its IPv4 and transport parts when they decode."""

    time: float
    frame: bytes
    outgoing: bool
    """Sent by the device (its MAC is the source)."""
    ip: wire.Ipv4 | None = None
    df: bool = False
    udp: tuple[int, int, bytes] | None = None
    tcp: tcp_segment.Segment | None = None
    tcp_options: bytes = b""
    """The SYN's raw option bytes: their order is the fingerprint, which `tcp_segment.parse_options` does not keep."""


@dataclasses.dataclass
class Flow:
    """A TCP connection the device opened: its SYN and the first bytes it sent."""

    syn: Packet
    dst: bytes
    dport: int
    sent: bytearray = dataclasses.field(default_factory=bytearray)
    segments: list[tuple[float, int]] = dataclasses.field(default_factory=list)
    """(time, first byte) of each in-order data segment kept: when the device's MQTT PUBLISHes went."""
    _next_seq: int | None = None

    @property
    def start(self) -> float:
        return self.syn.time


@dataclasses.dataclass
class Decoded:
    packets: list[Packet]
    flows: list[Flow]
    skipped: collections.Counter[str]


def decode(frames: Iterable[capture.Frame], mac: bytes) -> Decoded:
    """The device's packets and the TCP flows it opened, in capture order."""
    packets: list[Packet] = []
    skipped: collections.Counter[str] = collections.Counter()
    addresses: set[bytes] = set()  # the device's IPv4 addresses: cooked captures name no destination MAC
    for frame in frames:
        data = _untagged(frame.data)
        if len(data) < 14:
            skipped["short frame"] += 1
            continue
        src, dst = data[6:12], data[:6]
        reply = dhcp_wire.chaddr_of(data) == mac and src != mac  # broadcast DHCP replies name the device in chaddr
        if src != mac and dst != mac and not reply and not (dst == capture.UNKNOWN_MAC and _to(data, addresses)):
            continue
        packet = _decode(frame.time, data, src == mac)
        if packet.ip is None and wire.ethertype(data) == wire.ETH_P_IP:
            skipped["bad or fragmented IPv4"] += 1
        if packet.outgoing and packet.ip is not None and packet.ip.src != wire.ZERO_IP:
            addresses.add(packet.ip.src)
        if reply and (message := dhcp_wire.parse(data)) is not None and message.yiaddr != wire.ZERO_IP:
            addresses.add(message.yiaddr)
        packets.append(packet)
    return Decoded(packets, _flows(packets, skipped), skipped)


def _to(data: bytes, addresses: set[bytes]) -> bool:
    ip = wire.parse_ipv4(data)
    return ip is not None and ip.dst in addresses


def _untagged(data: bytes) -> bytes:
    while len(data) >= 18 and (data[12] << 8 | data[13]) in ETH_P_8021Q:
        data = data[:12] + data[16:]
    return data


def _decode(time: float, data: bytes, outgoing: bool) -> Packet:
    if wire.ethertype(data) != wire.ETH_P_IP:
        return Packet(time, data, outgoing)
    ip = wire.parse_ipv4(data)
    if ip is None:
        return Packet(time, data, outgoing)
    df = len(ip.header) >= 7 and bool(ip.header[6] & 0x40)
    if ip.proto == wire.IPPROTO_UDP:
        return Packet(time, data, outgoing, ip, df, udp=wire.parse_udp(ip.payload))
    if ip.proto == wire.IPPROTO_TCP:
        segment = tcp_segment.parse(ip.payload)
        options = ip.payload[20 : (ip.payload[12] >> 4) * 4] if segment is not None else b""
        return Packet(time, data, outgoing, ip, df, tcp=segment, tcp_options=options)
    return Packet(time, data, outgoing, ip, df)


def _flows(packets: list[Packet], skipped: collections.Counter[str]) -> list[Flow]:
    """Connections the device opened (its SYN seen), with the bytes it sent in sequence order (no reordering)."""
    flows: list[Flow] = []
    open_: dict[tuple[bytes, int, bytes, int], Flow] = {}
    for packet in packets:
        seg, ip = packet.tcp, packet.ip
        if seg is None or ip is None or not packet.outgoing:
            continue
        key = (ip.src, seg.sport, ip.dst, seg.dport)
        if seg.flags & tcp_segment.SYN and not seg.flags & tcp_segment.ACK:
            if key not in open_ and len(flows) < MAX_FLOWS:
                opened = open_[key] = Flow(packet, ip.dst, seg.dport, _next_seq=(seg.seq + 1) & 0xFFFFFFFF)
                flows.append(opened)
            continue
        flow = open_.get(key)
        if flow is None or not seg.payload:
            if seg.flags & (tcp_segment.FIN | tcp_segment.RST) and flow is not None:
                del open_[key]
            continue
        if seg.seq == flow._next_seq and len(flow.sent) < FLOW_BYTES:
            flow.sent += seg.payload[: FLOW_BYTES - len(flow.sent)]
            flow.segments.append((packet.time, seg.payload[0]))
            flow._next_seq = (seg.seq + len(seg.payload)) & 0xFFFFFFFF
        elif seg.seq != flow._next_seq and tcp_segment.seq_diff(seg.seq, flow._next_seq or 0) > 0:
            skipped["TCP segment after a gap"] += 1
        if seg.flags & (tcp_segment.FIN | tcp_segment.RST):
            del open_[key]
    return flows
