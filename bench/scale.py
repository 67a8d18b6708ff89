"""Memory per device and CPU at idle, with every device bound: one engine process, thousands of devices.

    sudo .venv/bin/python bench/scale.py --devices 10000 [--server kea|dnsmasq] [--idle 15] [--repeat 3] [--profile P]

Each repeat runs in a fresh child process (freed memory is not given back to the system, so a
second measurement in one process would be wrong), in a lab with a /18 (16,372 addresses; the
lab gives dnsmasq a `--dhcp-lease-max` of the pool size, and Kea has no lease limit). Kea is the
default: it answers 10,000 clients fastest and builds its replies itself (raw sockets), so it
needs no neighbour entry per device.

- base: VmRSS of the child with 0 devices: its imports, the lab, the raw socket, and the protocol
  modules that `Engine.run` imports with its first device (once per process, printed apart);
- created / bound: after `engine.Engine(...)` with `--devices` devices (their configurations
  included), and once all are bound and their announcements are over; per device = (bound -
  base) / devices; then the budget of a device per part (`budget.py`, an object walk), what the
  allocator holds beyond it, and the RSS after glibc's `malloc_trim(0)`;
- idle: process CPU time over `--idle` seconds with every device bound, in % of one core, with
  the CLI's defaults (traffic interval 60 s: an ARP refresh of the gateway per device per minute;
  stats every 5 s);
- baseline, the seed's shape: `--seed-devices` threads, each in a Scapy `sniff` on the lab link
  (the seed ran a thread set with `sniff` per device), measured the same way.

The gateway ignores ARP here (`arp_ignore=8` in its namespace): 10,000 devices resolving it would
fill the kernel's ARP table, which every namespace on the host shares (see README); `--tracemalloc`
prints where the Python heap of the bound devices goes (it inflates RSS; use it on its own).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ipaddress
import json
import subprocess
import sys
import threading
import time
import tracemalloc

import budget
import common

from iot_emulator import lab
from iot_emulator.engine import engine, rawsock
from iot_emulator.lab import netns
from iot_emulator.protocols import services

SUBNET = ipaddress.IPv4Network("10.80.0.0/18")


async def engine_child(where: lab.Lab, args: argparse.Namespace) -> dict[str, object]:
    link = rawsock.RawLink(where.dev_iface, netns=where.dev_netns)
    link.open()
    out: dict[str, object] = {"imports_from": common.rss_kib(), "imports_from_anon": common.rss_kib("RssAnon")}
    services.supported()  # what `Engine.run` imports with its first device (the protocol modules): once per process
    out["base"], out["base_anon"] = common.rss_kib(), common.rss_kib("RssAnon")
    configs = common.fleet(args.devices, args.profile, arp_check=args.arp_check)
    if args.tracemalloc:
        tracemalloc.start()
    eng = engine.Engine(link, configs, interface=where.dev_iface, seed=1, log_level="error")
    out["created"] = common.rss_kib()
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    started = time.monotonic()
    while eng.bound_count < len(configs) and time.monotonic() - started < 120:
        await asyncio.sleep(0.05)
    out["bind_s"], out["bound_n"] = time.monotonic() - started, eng.bound_count
    await asyncio.sleep(3)  # RFC 5227 announcements (2 s apart) and the first stats are over
    out["bound"] = common.rss_kib()
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(args.idle)
    out["cpu"] = (time.process_time() - cpu) / (time.monotonic() - wall)
    out["idle_end"], out["threads"] = common.rss_kib(), threading.active_count()
    ctypes.CDLL(None).malloc_trim(0)  # glibc: give back free heap pages; what stays is live or fragmented
    out["trimmed"] = common.rss_kib()
    out["budget"] = budget.per_device(eng)  # after the RSS figures: the walk allocates
    if args.tracemalloc:
        stats = tracemalloc.take_snapshot().statistics("lineno")
        out["heap"] = [f"{s.size / args.devices:7.0f} B/device  {s.traceback[0]}" for s in stats[:15]]
        out["heap_total"] = sum(s.size for s in stats) / args.devices
    stop.set()
    await task
    return out


def seed_child(where: lab.Lab, args: argparse.Namespace) -> dict[str, object]:
    """One thread per device blocked in Scapy's sniff, as the seed's devices were."""
    from scapy.sendrecv import sniff

    out: dict[str, object] = {"base": common.rss_kib()}
    done = threading.Event()

    def device() -> None:
        netns.call_in(
            where.dev_netns,
            lambda: sniff(
                iface=where.dev_iface, stop_filter=lambda p: done.is_set(), timeout=args.idle + 5, store=True
            ),
        )

    threads = [threading.Thread(target=device, daemon=True) for _ in range(args.seed_devices)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    out["bound"] = common.rss_kib()
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(min(args.idle, 10))
    out["cpu"] = (time.process_time() - cpu) / (time.monotonic() - wall)
    out["threads"] = threading.active_count()
    done.set()
    return out


def child(args: argparse.Namespace) -> None:
    config = lab.LabConfig(dhcp_server=args.server, subnet=SUBNET, dnsmasq_extra=common.FAST_DNSMASQ)
    with lab.lab(config) as where:
        where.run_in_gw("sysctl", "-w", f"net.ipv4.conf.{where.gw_iface}.arp_ignore=8", check=True)
        result = seed_child(where, args) if args.child == "seed" else asyncio.run(engine_child(where, args))
    print(json.dumps(result))


def spawn(args: argparse.Namespace, kind: str) -> dict[str, float | list[str]]:
    argv = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--devices",
        str(args.devices),
        "--server",
        args.server,
        "--profile",
        args.profile,
        "--idle",
        str(args.idle),
        "--seed-devices",
        str(args.seed_devices),
    ]
    argv += ["--tracemalloc"] * args.tracemalloc + ["--arp-check"] * args.arp_check
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, float | list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--server", choices=["dnsmasq", "kea"], default="kea")
    parser.add_argument("--profile", default="sonoff-mini", help="every device's profile (its services run)")
    parser.add_argument("--idle", type=float, default=15.0, help="seconds of idle CPU measurement")
    parser.add_argument("--seed-devices", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--arp-check", action="store_true", help="keep the profile's RFC 5227 probes (slow: README)")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--child", choices=["engine", "seed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    runs, seeds = [], []
    for run in range(1, args.repeat + 1):
        runs.append(spawn(args, "engine"))
        seeds.append(spawn(args, "seed"))
        got = runs[-1]
        print(
            f"run {run}: base {got['base']} KiB, bound {got['bound']} KiB ({got['bound_n']} bound in "
            f"{got['bind_s']:.1f} s), idle CPU {got['cpu']:.1%}; seed-style {seeds[-1]['bound']} KiB"
        )
    n, s = args.devices, args.seed_devices

    def values(results: list[dict[str, float | list[str]]], f: object) -> list[float]:
        return [f(r) for r in results]  # type: ignore[operator]

    per_dev = values(runs, lambda r: (r["bound"] - r["base"]) * 1024 / n)
    created = values(runs, lambda r: (r["created"] - r["base"]) * 1024 / n)
    seed_dev = values(seeds, lambda r: (r["bound"] - r["base"]) * 1024 / s)
    cpu, seed_cpu = values(runs, lambda r: r["cpu"] * 100), values(seeds, lambda r: r["cpu"] * 100)
    rows = [
        ["base process (imports, lab), KiB", common.spread(values(runs, lambda r: r["base"]), "{:,.0f}"), ""],
        [f"engine: per device, {n:,} created, bytes", common.spread(created, "{:,.0f}"), ""],
        [
            f"engine: per device, {n:,} bound and idle, bytes",
            common.spread(per_dev, "{:,.0f}"),
            f"{common.median(seed_dev) / common.median(per_dev):,.0f}x less",
        ],
        [f"engine: CPU at idle, {n:,} devices, % of a core", common.spread(cpu, "{:.2f}"), ""],
        ["engine: CPU at idle per 1,000 devices, %", f"{common.median(cpu) * 1000 / n:.3f}", ""],
        [f"seed-style: per device ({s} sniff threads), bytes", common.spread(seed_dev, "{:,.0f}"), ""],
        [f"seed-style: CPU at idle, {s} devices, % of a core", common.spread(seed_cpu, "{:.2f}"), ""],
    ]
    print(
        f"\nscale: {n:,} devices of {args.profile}, {args.server}, idle {args.idle:g} s; "
        f"median (min-max) of {args.repeat} runs"
    )
    print(common.table(["what", "measured", "vs seed-style"], rows))
    print(
        f"bind: {common.median(values(runs, lambda r: r['bind_s'])):.1f} s for {n:,}; threads in the engine "
        f"process: {runs[-1]['threads']}; seed-style: {seeds[-1]['threads']}"
    )
    print(budget_table(runs[-1], n))
    if args.tracemalloc:
        print(f"Python heap of the devices (tracemalloc, largest lines), {runs[-1]['heap_total']:,.0f} B/device:")
        print("\n".join(runs[-1]["heap"]))  # type: ignore[arg-type]
    per = common.median(per_dev)
    print(
        common.table(
            ["target (information, not a test)", "measured", ""],
            [
                [
                    "<= 8 KB RSS per device above the process with 0 devices",
                    f"{per / 1000:.1f} KB",
                    common.verdict(per <= 8_000),
                ]
            ],
        )
    )


def budget_table(run: dict[str, float | list[str]], n: int) -> str:
    """The last run's RSS per device split into what the object walk (`budget.py`) finds per part."""
    parts: list[tuple[str, float]] = [tuple(p) for p in run["budget"]]  # type: ignore[misc, union-attr]
    objects = sum(b for _, b in parts)
    rss = (run["bound"] - run["base"]) * 1024 / n  # type: ignore[operator]
    trimmed = (run["trimmed"] - run["base"]) * 1024 / n  # type: ignore[operator]
    imports = (run["base"] - run["imports_from"]) * 1024  # type: ignore[operator]
    anon = (run["base_anon"] - run["imports_from_anon"]) * 1024  # type: ignore[operator]
    rows = [[name, f"{b:,.0f}"] for name, b in parts]
    rows += [
        ["Python objects of a device, total", f"{objects:,.0f}"],
        ["allocator: pools, fragmentation, freed but held (RSS - objects)", f"{rss - objects:,.0f}"],
        ["RSS per device, bound and idle", f"{rss:,.0f}"],
        ["  the same after malloc_trim(0) at the end of the idle period", f"{trimmed:,.0f}"],
    ]
    note = (
        f"Once per process, not per device (in the base): the protocol modules `Engine.run` imports, "
        f"{imports / 1024:,.0f} KiB ({imports / n:,.0f} B/device if it were counted at {n:,}), of which "
        f"{anon / 1024:,.0f} KiB private ({anon / n:,.0f} B/device), the rest shared libraries."
    )
    return f"\nMemory budget per device, bytes (last run):\n{common.table(['part', 'bytes'], rows)}\n{note}"


if __name__ == "__main__":
    main()
