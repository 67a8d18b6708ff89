"""How fast a fleet binds: the engine against a real DHCP server, the server's ceiling, the seed's way.

    sudo .venv/bin/python bench/dhcp_bind.py --devices 2000 [--server dnsmasq|kea] [--repeat 3]

Each repeat builds fresh labs (a new server holds no lease) and measures, in this process:

- engine: `engine.Engine` on a `rawsock.RawLink` in the lab's device namespace, from `run()` until
  every device has its DHCPACK, and until every device is bound (after its profile's RFC 5227
  ARP check, which is the device's own timing: ~1 s for sonoff-mini; `--no-arp-check` skips it);
- server ceiling: the fastest client we have, a tight loop on one raw socket sending pre-built
  DISCOVERs (and REQUESTs built with the engine's `dhcp_wire` builders as OFFERs come) for the
  same MACs and host names, with the same window; against dnsmasq with `--leasefile-ro` (the
  issue's ceiling) and against the same server configuration as the engine's;
- seed approach: Scapy `srp1` DISCOVER then `srp1` REQUEST per device, sequential (the seed
  sends with `sendp` and then opens `sniff`, which misses dnsmasq's OFFER: `srp1` is the working
  form of it), on `--seed-devices` devices.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import common

from iot_emulator import lab
from iot_emulator.config import manifests
from iot_emulator.devices import macs
from iot_emulator.engine import engine, rawsock
from iot_emulator.lab import build, netns
from iot_emulator.protocols.link import dhcp_wire

LEASE_TIME = 43200
TIMEOUT = 60.0


@contextlib.contextmanager
def fresh_lab(server: str, *extra: str, pin: bool = False, devices: int = 0) -> Iterator[lab.Lab]:
    """A new lab (no lease held) whose pool holds `devices`; `pin` adds the gateway fix the README proposes."""
    config = lab.LabConfig(
        dhcp_server=server,  # type: ignore[arg-type]
        subnet=common.subnet_for(devices),
        lease_time=LEASE_TIME,
        dnsmasq_extra=(*common.FAST_DNSMASQ, *extra),
    )
    with lab.lab(config) as where:
        if pin:  # what the lab now does itself (`lab.build.pin_broadcast`), again: the flag's runs stay comparable
            build.pin_broadcast(where.gw_netns, where.gw_iface)
        yield where


def udp_errors(where: lab.Lab) -> int:
    """Replies the gateway's kernel refused to send (UdpSndbufErrors: ENOBUFS, e.g. no neighbour entry)."""
    text = netns.call_in(where.gw_netns, Path("/proc/thread-self/net/snmp").read_text)
    names, values = [line.split() for line in text.splitlines() if line.startswith("Udp:")]
    return int(values[names.index("SndbufErrors")])


def host_arp_entries() -> int:
    """Entries in the kernel's ARP table, which all namespaces share (gc_thresh3 is 1024 by default)."""
    with open("/proc/1/net/stat/arp_cache") as stat:
        return int(stat.read().splitlines()[1].split()[0], 16)


async def run_engine(where: lab.Lab, configs: list[manifests.DeviceConfig], window: int) -> dict[str, float]:
    link = rawsock.RawLink(where.dev_iface, netns=where.dev_netns)
    link.open()
    made = time.perf_counter()
    eng = engine.Engine(
        link, configs, interface=where.dev_iface, stats_interval=3600, window=window, seed=1, log_level="error"
    )
    made = time.perf_counter() - made
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    acked: dict[str, float] = {}
    counts = {"dhcp_discover": 0, "dhcp_nak": 0}
    bound_at = [float("nan")]

    def sink(message: dict[str, object]) -> None:
        kind = message["type"]
        if kind == "dhcp_ack":
            acked.setdefault(str(message["device_id"]), loop.time())
        elif kind in counts:
            counts[str(kind)] += 1
        if eng.bound_count >= len(configs) and not stop.is_set():
            bound_at[0] = loop.time()
            stop.set()

    eng.events.add(sink)
    errors = udp_errors(where)
    started = loop.time()
    task = asyncio.create_task(eng.run(stop))
    try:
        await asyncio.wait_for(asyncio.shield(stop.wait()), TIMEOUT)
    except TimeoutError:
        print(f"  engine: only {eng.bound_count}/{len(configs)} bound after {TIMEOUT:g} s")
        stop.set()
    lost, arp_entries = udp_errors(where) - errors, host_arp_entries()
    await task  # releases every lease (paced, ~2.5 s for 2,000): not timed
    last_ack = max(acked.values()) - started if len(acked) == len(configs) else float("nan")
    return {
        "ack": last_ack,
        "bound": bound_at[0] - started,
        "setup": made,
        "discovers": counts["dhcp_discover"],
        "naks": counts["dhcp_nak"],
        "lost": lost,
        "arp": arp_entries,
    }


def fast_client(where: lab.Lab, configs: list[manifests.DeviceConfig], window: int) -> float:
    """Seconds from the first DISCOVER to the last ACK, by a tight raw-socket loop (no engine)."""
    sock = netns.socket_in(where.dev_netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(rawsock.ETH_P_ALL))
    try:
        sock.bind((where.dev_iface, 0))
        for option in (rawsock.SO_RCVBUFFORCE, rawsock.SO_SNDBUFFORCE):
            sock.setsockopt(socket.SOL_SOCKET, option, rawsock.BUFFER_BYTES)
        sock.settimeout(0.25)
        builders = [dhcp_wire.ClientFrames(macs.parse(c.mac), c.hostname, c.profile.dhcp) for c in configs]
        discovers = [b.discover(i + 1, 0) for i, b in enumerate(builders)]  # xid = index + 1
        count = len(configs)
        last_sent: dict[int, bytes] = {}  # in flight: index -> last frame, for retransmission
        admitted = done = 0
        send, recv = sock.send, sock.recvfrom
        started = time.perf_counter()
        deadline = started + TIMEOUT
        while done < count and time.perf_counter() < deadline:
            while len(last_sent) < window and admitted < count:
                last_sent[admitted] = discovers[admitted]
                send(discovers[admitted])
                admitted += 1
            try:
                frame, address = recv(4096)
            except TimeoutError:
                for pending in last_sent.values():  # the server dropped some: retransmit
                    send(pending)
                continue
            if address[2] == rawsock.PACKET_OUTGOING:
                continue
            msg = dhcp_wire.parse(frame)
            if msg is None or msg.xid - 1 not in last_sent:
                continue
            i = msg.xid - 1
            if msg.msg_type == dhcp_wire.OFFER and last_sent[i] is discovers[i]:
                frame = builders[i].request_selecting(msg.xid, 0, msg.yiaddr, msg.server_id or msg.src_ip)
                last_sent[i] = frame
                send(frame)
            elif msg.msg_type == dhcp_wire.ACK:
                del last_sent[i]
                done += 1
                finished = time.perf_counter()
            elif msg.msg_type == dhcp_wire.NAK:
                last_sent[i] = discovers[i]
                send(discovers[i])
        return finished - started if done == count else float("nan")
    finally:
        sock.close()


def seed_approach(where: lab.Lab, configs: list[manifests.DeviceConfig]) -> tuple[float, int]:
    """Seconds per device and leases obtained: Scapy srp1 DISCOVER, srp1 REQUEST, one device after another."""
    from scapy.config import conf
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.sendrecv import srp1

    conf.checkIPaddr = False  # replies come from the server's address, not the 255.255.255.255 we sent to

    def run() -> tuple[float, int]:
        got = 0
        started = time.perf_counter()
        for c in configs:
            frame = Ether(src=c.mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
            base = frame / UDP(sport=68, dport=67) / BOOTP(chaddr=macs.parse(c.mac), xid=random.getrandbits(32))
            host = ("hostname", c.hostname.encode())
            offer = srp1(
                base / DHCP(options=[("message-type", "discover"), host, "end"]),
                iface=where.dev_iface,
                timeout=2,
                verbose=0,
            )
            if offer is None or BOOTP not in offer:
                continue
            options = dict(o for o in offer[DHCP].options if isinstance(o, tuple))
            request = [
                ("message-type", "request"),
                ("requested_addr", offer[BOOTP].yiaddr),
                ("server_id", options.get("server_id")),
                host,
                "end",
            ]
            ack = srp1(base / DHCP(options=request), iface=where.dev_iface, timeout=2, verbose=0)
            got += (
                ack is not None
                and DHCP in ack
                and dict(o for o in ack[DHCP].options if isinstance(o, tuple)).get("message-type") == 5
            )
        return (time.perf_counter() - started) / len(configs), got

    return netns.call_in(where.dev_netns, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--server", choices=["dnsmasq", "kea"], default="dnsmasq")
    parser.add_argument("--profile", default="sonoff-mini")
    parser.add_argument("--no-arp-check", action="store_true", help="profile with arp_probe count 0")
    parser.add_argument("--window", type=int, default=64, help="DHCP exchanges in flight (engine and fast client)")
    parser.add_argument("--seed-devices", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    pin_help = "a permanent 255.255.255.255 neighbour in every lab's gateway (the lab fix proposed in README)"
    parser.add_argument("--pin-broadcast", action="store_true", help=pin_help)
    args = parser.parse_args()
    configs = common.fleet(args.devices, args.profile, arp_check=not args.no_arp_check)
    probe = configs[0].profile.dhcp.arp_probe
    ro = ("--leasefile-ro",) if args.server == "dnsmasq" else ()
    results: dict[str, list[float]] = {}

    def keep(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    for run in range(1, args.repeat + 1):
        with fresh_lab(args.server, pin=args.pin_broadcast, devices=args.devices) as where:
            got = asyncio.run(run_engine(where, configs, args.window))
        for key, value in got.items():
            keep(key, value)
        with fresh_lab(args.server, *ro, pin=args.pin_broadcast, devices=args.devices) as where:
            keep("ceiling", fast_client(where, configs, args.window))
        if ro:
            with fresh_lab(args.server, *ro, pin=args.pin_broadcast, devices=args.devices) as where:
                keep("engine_ro", asyncio.run(run_engine(where, configs, args.window))["ack"])
            with fresh_lab(args.server, pin=args.pin_broadcast, devices=args.devices) as where:
                keep("client_same", fast_client(where, configs, args.window))
        with fresh_lab(args.server, pin=args.pin_broadcast, devices=args.devices) as where:
            per_device, leases = seed_approach(where, configs[: args.seed_devices])
        keep("seed", per_device)
        keep("seed_leases", leases)
        print(
            f"run {run}: engine ACK {got['ack']:.3f} s, bound {got['bound']:.3f} s ({got['lost']} replies lost); "
            f"ceiling {results['ceiling'][-1]:.3f} s; seed {per_device * 1e3:.1f} ms/device",
            flush=True,
        )

    n, med = args.devices, {k: common.median(v) for k, v in results.items()}

    def row(what: str, key: str) -> list[str]:
        return [what, common.spread(results[key], "{:.3f}"), f"{n / med[key]:,.0f}", f"{med[key] / n * 1e3:.3f}"]

    rows = [row("engine: all ACKed", "ack"), row(f"engine: all bound (+ ARP check, {probe.count} probes)", "bound")]
    if ro:
        rows.append(row("engine, dnsmasq --leasefile-ro: all ACKed", "engine_ro"))
    rows.append(row("ceiling: fast client" + (", --leasefile-ro" if ro else ", same server"), "ceiling"))
    if ro:
        rows.append(row("fast client, dnsmasq with its lease file", "client_same"))
    seed_n = args.seed_devices
    rows.append(
        [
            f"seed approach: Scapy srp1, sequential, {seed_n} dev",
            common.spread([x * seed_n for x in results["seed"]], "{:.3f}"),
            f"{1 / med['seed']:,.1f}",
            f"{med['seed'] * 1e3:.1f}",
        ]
    )
    pinned = ", broadcast neighbour pinned" if args.pin_broadcast else ""
    print(
        f"\ndhcp_bind: {n} devices ({args.profile}), {args.server} {' '.join(common.FAST_DNSMASQ)}{pinned}, "
        f"window {args.window}; median (min-max) of {args.repeat} runs"
    )
    print(common.table(["what", "time s", "leases/s", "ms/device"], rows))
    print(
        f"engine: Engine() with {n} devices {med['setup']:.3f} s (not timed); {med['discovers']:.0f} DISCOVERs "
        f"(retransmissions included), {med['naks']:.0f} NAKs; {med['lost']:.0f} server replies lost to ENOBUFS; "
        f"{med['arp']:.0f} entries in the host-wide ARP table when bound; seed: {med['seed_leases']:.0f}/{seed_n} "
        "leases"
    )
    engine_ack = med["engine_ro"] if ro else med["ack"]
    share, share_lf = med["ceiling"] / engine_ack, med["ceiling"] / med["ack"]
    seed_ratio = med["seed"] / (med["ack"] / n)
    targets = [
        [f"{n:,} bound in <= 3 s", f"{med['bound']:.2f} s", common.verdict(med["bound"] <= 3)],
        [f"  {n:,} ACKed in <= 3 s", f"{med['ack']:.2f} s", common.verdict(med["ack"] <= 3)],
        [">= 80% of the server's ceiling (same server)", f"{share:.0%}", common.verdict(share >= 0.8)],
        [">= 50x the seed approach per device (ACK)", f"{seed_ratio:.0f}x", common.verdict(seed_ratio >= 50)],
        ["  the same, per device until bound", f"{med['seed'] / (med['bound'] / n):.0f}x", ""],
    ]
    if ro:
        targets.insert(3, ["  engine with lease file vs ceiling", f"{share_lf:.0%}", ""])
    print(common.table(["target (information, not a test)", "measured", ""], targets))


if __name__ == "__main__":
    main()
