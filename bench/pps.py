"""Frames per second from one process: the raw link's ceiling, the device machinery, Scapy's sendp.

    sudo .venv/bin/python bench/pps.py [--seconds 5] [--devices 2000] [--repeat 3]

Everything runs on a bare veth pair between two network namespaces made here (and always
removed); the peer end only absorbs frames. Measured, each `--seconds`:

- raw link ceiling: frames cached in advance (a mix built by the engine's own builders: ARP
  who-has of the gateway, DHCP REQUEST in RENEWING, ICMP echo reply, NTP-sized UDP query), sent
  in a tight loop with `socket.send`, and with `rawsock.RawLink.send` (the engine's send path);
- device machinery, periodic: `engine.Engine` with `--devices` devices on a `RawLink`, each
  refreshing its gateway's ARP entry every second (the shortest traffic interval) and renewing
  an 8-15 s lease at T1; an in-process DHCP responder answers at the link (OFFER/ACK templates
  patched per request, handed to the engine's receive callback): frames/s, and frames per
  CPU-second (what one core would sustain at that mix);
- device machinery, saturated: the same engine while the benchmark also feeds it, as fast as
  the loop takes them, ICMP echo requests and ARP who-has for the devices' addresses (the
  receive callback is called directly: the recv syscall is not counted); every one is answered;
- baseline: Scapy `sendp(frame)` per packet, and `sendp(list)` of the cached mix.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import struct
import time
from collections.abc import Callable, Sequence

import common

from iot_emulator.config import manifests
from iot_emulator.devices import macs
from iot_emulator.engine import engine, rawsock
from iot_emulator.lab import netns
from iot_emulator.protocols.link import arp, dhcp_wire, icmp, wire

GW_IP, GW_MAC = bytes([10, 99, 0, 1]), bytes.fromhex("02aa00000001")
LEASES = range(8, 16)  # lease times given out in turn, so that renewals at T1 do not come in one burst
MTYPE_OFFSET = 282  # the first option, 53 in every profile's order
_BOOTP = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s4s")


def address_of(index: int) -> bytes:
    return bytes([10, 99, 1 + index // 250, 1 + index % 250])


def server_reply(kind: int, mac: bytes, yiaddr: bytes, lease: int) -> bytes:
    """A broadcast OFFER or ACK for `mac` with xid 0 (patched at offset 46 per request)."""
    options = bytes(
        [53, 1, kind, 54, 4, *GW_IP, 51, 4, *lease.to_bytes(4, "big"), 1, 4, 255, 255, 0, 0, 3, 4, *GW_IP, 255]
    )
    bootp = _BOOTP.pack(
        2, 1, 6, 0, 0, 0, 0x8000, wire.ZERO_IP, yiaddr, GW_IP, wire.ZERO_IP, mac, b"", b"", dhcp_wire.MAGIC_COOKIE
    )
    return wire.udp_frame(GW_MAC, wire.BROADCAST_MAC, GW_IP, wire.BROADCAST_IP, 67, 68, bootp + options)


def echo_request(mac: bytes, ip: bytes, seq: int, src_mac: bytes = GW_MAC, src_ip: bytes = GW_IP) -> bytes:
    body = struct.pack("!BBHHH", icmp.ECHO_REQUEST, 0, 0, 0x4242, seq) + bytes(56)
    body = body[:2] + wire.checksum(body).to_bytes(2, "big") + body[4:]
    return wire.ethernet(mac, src_mac, wire.ETH_P_IP, wire.ipv4(src_ip, ip, wire.IPPROTO_ICMP, body))


def cached_mix(configs: list[manifests.DeviceConfig]) -> list[bytes]:
    """Four frames per device, as its periodic traffic would carry them, built once."""
    frames = []
    for i, c in enumerate(configs):
        mac, ip = macs.parse(c.mac), address_of(i)
        dhcp = dhcp_wire.ClientFrames(mac, c.hostname, c.profile.dhcp)
        request = wire.parse_ipv4(echo_request(mac, ip, i))
        assert request is not None
        frames += [
            arp.who_has(mac, ip, GW_IP),
            dhcp.request_renewing(i, 0, ip, GW_IP, GW_MAC),
            icmp.echo_reply(request, mac, GW_MAC, ttl=64, ident=0) or b"",
            wire.udp_frame(mac, GW_MAC, ip, GW_IP, 40000 + i % 1000, 123, bytes(48)),
        ]
    return frames


class ServedLink:
    """The engine's link: frames go out on a RawLink; DHCP requests are answered in-process."""

    def __init__(self, raw: rawsock.RawLink, configs: list[manifests.DeviceConfig]) -> None:
        self.raw = raw
        self.replies = {}
        for i, c in enumerate(configs):
            mac = macs.parse(c.mac)
            lease = LEASES[i % len(LEASES)]
            self.replies[mac] = {
                t: server_reply(t, mac, address_of(i), lease) for t in (dhcp_wire.OFFER, dhcp_wire.ACK)
            }
        self.on_frame: Callable[[bytes], None] = lambda frame: None
        self.served = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop, on_frame: Callable[[bytes], None]) -> None:
        self._loop, self.on_frame = loop, on_frame
        self.raw.start(loop, on_frame)  # the real receive loop: it also reads back our own frames

    def send(self, frame: bytes) -> None:
        self.raw.send(frame)
        if frame[23] == wire.IPPROTO_UDP and frame[36:38] == b"\x00\x43" and frame[12:14] == b"\x08\x00":
            kind = {dhcp_wire.DISCOVER: dhcp_wire.OFFER, dhcp_wire.REQUEST: dhcp_wire.ACK}.get(frame[MTYPE_OFFSET + 2])
            if kind is not None and self._loop is not None:
                reply = bytearray(self.replies[frame[6:12]][kind])
                reply[46:50] = frame[46:50]  # xid
                self.served += 1
                self._loop.call_soon(self.on_frame, bytes(reply))

    def flush(self, timeout: float = 1.0) -> None:
        self.raw.flush(timeout)

    def close(self) -> None:
        self.raw.close()

    def read_vlan_tags(self) -> None:
        self.raw.read_vlan_tags()


def send_loop(send: Callable[[bytes], object], frames: list[bytes], seconds: float) -> float:
    """Frames/s of `send` over the cached frames, in chunks between clock reads."""
    sent, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for frame in frames:
            send(frame)
        sent += len(frames)
    return sent / elapsed


async def phases(
    raw: rawsock.RawLink,
    eng: engine.Engine,
    feed: Callable[[bytes], None],
    stimuli: list[bytes],
    seconds: float,
    names: Sequence[str],
) -> dict[str, object]:
    """Each phase for `seconds`: frames/s sent, CPU in share of one core (`<name>_cpu`) and frames/s by
    protocol (`<name>_mix`). "saturated" also hands `stimuli` to `feed` as fast as the loop takes them
    (the recv syscall is not counted); the other phases only let the devices' own traffic run."""
    out: dict[str, object] = {}
    for phase in names:
        frames, cpu, protocols = raw.frames_sent, time.process_time(), protocol_totals(eng)
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            if phase != "saturated":
                await asyncio.sleep(0.1)
                continue
            for at in range(0, len(stimuli), 512):
                for frame in stimuli[at : at + 512]:
                    feed(frame)
                await asyncio.sleep(0)  # the engine's timers and receive loop get their turn
        out[phase] = (raw.frames_sent - frames) / elapsed
        out[f"{phase}_cpu"] = (time.process_time() - cpu) / elapsed
        mix = {k: v - protocols.get(k, 0) for k, v in protocol_totals(eng).items()}
        out[f"{phase}_mix"] = ", ".join(
            f"{k} {v / elapsed:,.0f}/s" for k, v in sorted(mix.items(), key=lambda kv: -kv[1]) if v
        )
    return out


def protocol_totals(eng: engine.Engine) -> dict[str, int]:
    totals: dict[str, int] = {}
    for dev in eng.devices:
        for name, count in dev.counters.protocols.items():
            totals[name] = totals.get(name, 0) + count
    return totals


async def machinery(ns: str, iface: str, configs: list[manifests.DeviceConfig], seconds: float) -> dict[str, object]:
    raw = rawsock.RawLink(iface, netns=ns)
    raw.open()
    link = ServedLink(raw, configs)
    eng = engine.Engine(link, configs, stats_interval=3600, window=256, seed=1, log_level="error")
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    out: dict[str, object] = {}
    try:
        deadline = time.monotonic() + 30
        while eng.bound_count < len(configs) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.5)  # the RFC 5227 announcements (2 s apart) are over
        stimuli = []
        for i, c in enumerate(configs):
            mac, ip = macs.parse(c.mac), address_of(i)
            stimuli += [echo_request(mac, ip, i), arp.who_has(GW_MAC, GW_IP, ip)]
        out.update(await phases(raw, eng, link.on_frame, stimuli, seconds, ("periodic", "saturated")))
    finally:
        stop.set()
        await task
    return out


def scapy_baseline(ns: str, iface: str, frames: list[bytes], seconds: float) -> tuple[float, float]:
    """(sendp per packet, sendp of a list) in packets/s."""
    from scapy.layers.l2 import Ether
    from scapy.sendrecv import sendp

    def run() -> tuple[float, float]:
        packets = [Ether(f) for f in frames[:4000]]
        sent, started = 0, time.perf_counter()
        while time.perf_counter() - started < min(seconds, 3.0):
            sendp(packets[sent % len(packets)], iface=iface, verbose=False)
            sent += 1
        one = sent / (time.perf_counter() - started)
        started = time.perf_counter()
        sendp(packets, iface=iface, verbose=False)
        return one, len(packets) / (time.perf_counter() - started)

    return netns.call_in(ns, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    configs = common.fleet(args.devices, arp_check=False, traffic_interval=1.0)
    frames = cached_mix(configs)
    results: dict[str, list[float]] = {}
    mixes: dict[str, str] = {}
    with netns.veth_pair(f"iotbench-pps-{secrets.token_hex(3)}", "pps0", "pps1") as (ns_a, _):
        for run in range(1, args.repeat + 1):
            sock = netns.socket_in(ns_a, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(rawsock.ETH_P_ALL))
            sock.bind(("pps0", 0))
            results.setdefault("socket", []).append(send_loop(sock.send, frames, args.seconds))
            sock.close()
            raw = rawsock.RawLink("pps0", netns=ns_a)
            raw.open()
            results.setdefault("rawlink", []).append(send_loop(raw.send, frames, args.seconds))
            raw.close()
            got = asyncio.run(machinery(ns_a, "pps0", configs, args.seconds))
            for key, value in got.items():
                if key.endswith("_mix"):
                    mixes[key] = str(value)
                else:
                    results.setdefault(key, []).append(float(value))  # type: ignore[arg-type]
            one, listed = scapy_baseline(ns_a, "pps0", frames, args.seconds)
            results.setdefault("sendp", []).append(one)
            results.setdefault("sendp_list", []).append(listed)
            print(f"run {run}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in results.items()), flush=True)
    med = {k: common.median(v) for k, v in results.items()}
    base = med["sendp"]

    def row(what: str, key: str, cpu: str = "") -> list[str]:
        per_cpu = f"{med[key] / med[cpu]:,.0f}" if cpu else ""
        return [what, common.spread(results[key], "{:,.0f}"), per_cpu, f"{med[key] / base:,.0f}x"]

    rows = [
        row("raw link ceiling: socket.send, cached mix", "socket"),
        row("raw link ceiling: RawLink.send, cached mix", "rawlink"),
        row(f"engine, {args.devices} devices, periodic mix", "periodic", "periodic_cpu"),
        row("engine, periodic + echo/ARP answered (saturated)", "saturated", "saturated_cpu"),
        row("baseline: Scapy sendp(frame) per packet", "sendp"),
        row("baseline: Scapy sendp(list of 4,000)", "sendp_list"),
    ]
    print(f"\npps: one process, veth, {args.seconds:g} s per measurement; median (min-max) of {args.repeat} runs")
    print(common.table(["what", "frames/s", "per CPU-s", "vs sendp"], rows))
    print(f"periodic mix: {mixes['periodic_mix']} (CPU {med['periodic_cpu']:.0%} of a core)")
    print(f"saturated mix: {mixes['saturated_mix']} (CPU {med['saturated_cpu']:.0%} of a core)")
    targets = [
        [">= 100,000 pps: raw link (cached frames)", f"{med['rawlink']:,.0f}", common.verdict(med["rawlink"] >= 1e5)],
        [">= 100,000 pps: device machinery", f"{med['saturated']:,.0f}", common.verdict(med["saturated"] >= 1e5)],
    ]
    print(common.table(["target (information, not a test)", "measured", ""], targets))


if __name__ == "__main__":
    main()
