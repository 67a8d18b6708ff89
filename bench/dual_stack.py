"""How fast a dual-stack fleet comes up: DHCPv4 and IPv6 (SLAAC from radvd, or DHCPv6 from Kea) at once.

    sudo .venv/bin/python bench/dual_stack.py --devices 2000 [--modes ipv4,slaac,kea] [--repeat 3]

Each repeat builds a fresh lab per mode (a new server holds no lease) and runs the same devices in
one `engine.Engine`, in this process, from `run()` until every device is DHCPv4-bound and (dual
stack) until every device has a usable global IPv6 address of the lab prefix:

- ipv4: the baseline, the same devices IPv4-only (protocols arp, dhcp, icmp; no IPv6 on the link);
- slaac: `lab up --ipv6`: radvd's prefix with the A flag, each device's SLAAC address after DAD;
- kea: `lab up --ipv6 kea`: radvd with the M flag, each device's IA_NA from kea-dhcp6 after DAD.

DHCPv4 is dnsmasq's, as in dhcp_bind.py (`--port=0 --dhcp-broadcast --quiet-dhcp`). The profile
(default samsung-tizen-tv, ConnMan's DHCPv6 client) must declare a DHCPv6 client for `kea`.
Prints medians and the ratio of each dual-stack DHCPv4 time to the IPv4-only one; never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import math
import time

import common

from iot_emulator import lab
from iot_emulator.config import manifests
from iot_emulator.devices import device as device_mod
from iot_emulator.engine import engine, rawsock
from iot_emulator.lab import ipv6 as lab_ipv6

LEASE_TIME = 43200
TIMEOUT = 90.0
POLL = 0.05
"""Seconds between looks at the devices' state (only those not yet done are looked at)."""
MODES = ("ipv4", "slaac", "kea")
V4_SLOWDOWN_TARGET = 1.5
"""Dual stack should not slow DHCPv4 down: its bind time within 1.5x the IPv4-only one (for information)."""
V6_TARGET = 15.0
"""Seconds for every device's IPv6 address (for information: DAD alone is 1 s per address)."""


def has_global(dev: device_mod.Device) -> bool:
    if dev.ipv6 is None:
        return False
    return any(ipaddress.IPv6Address(a) in lab_ipv6.PREFIX for a in dev.ipv6.slaac.usable())


async def run_engine(where: lab.Lab, configs: list[manifests.DeviceConfig], want_v6: bool) -> dict[str, float]:
    link = rawsock.RawLink(where.dev_iface, netns=where.dev_netns)
    link.open()
    eng = engine.Engine(link, configs, interface=where.dev_iface, stats_interval=3600, seed=1, log_level="error")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    started = loop.time()
    task = asyncio.create_task(eng.run(stop))
    v4_at = v6_at = math.nan
    waiting = list(eng.devices) if want_v6 else []
    try:
        while loop.time() - started < TIMEOUT:
            await asyncio.sleep(POLL)
            now = loop.time() - started
            if math.isnan(v4_at) and eng.bound_count >= len(configs):
                v4_at = now
            waiting = [d for d in waiting if not has_global(d)]
            if want_v6 and not waiting and math.isnan(v6_at):
                v6_at = now
            if not math.isnan(v4_at) and (not want_v6 or not math.isnan(v6_at)):
                break
        else:
            print(f"  only {eng.bound_count}/{len(configs)} bound, {len(waiting)} without IPv6 after {TIMEOUT:g} s")
    finally:
        stop.set()
        await task  # releases every lease (DHCPv4 and DHCPv6): not timed
    return {"v4": v4_at, "v6": v6_at}


def measure(mode: str, configs: list[manifests.DeviceConfig]) -> dict[str, float]:
    dual = mode != "ipv4"
    devices = [dataclasses.replace(c, protocols=(*c.protocols, "ipv6")) for c in configs] if dual else configs
    config = lab.LabConfig(
        dhcp_server="dnsmasq",
        lease_time=LEASE_TIME,
        dnsmasq_extra=common.FAST_DNSMASQ,
        ipv6=None if not dual else mode,  # type: ignore[arg-type]
    )
    with lab.lab(config) as where:
        return asyncio.run(run_engine(where, devices, dual))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--profile", default="samsung-tizen-tv")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: ipv4 (the baseline), slaac, kea")
    parser.add_argument("--no-arp-check", action="store_true", help="profile with arp_probe count 0")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if "ipv4" not in modes or any(m not in MODES for m in modes):
        parser.error(f"--modes: a comma-separated subset of {', '.join(MODES)} that includes ipv4 (the baseline)")
    configs = common.fleet(args.devices, args.profile, arp_check=not args.no_arp_check)
    prof = configs[0].profile
    if not prof.speaks_ipv6 or ("kea" in modes and (prof.ipv6 is None or prof.ipv6.dhcpv6 is None)):
        parser.error(f"--profile {prof.name}: needs IPv6, and a DHCPv6 client for the kea mode")
    results: dict[str, dict[str, list[float]]] = {m: {"v4": [], "v6": []} for m in modes}
    print(f"{args.devices} x {prof.name}, {time.strftime('%Y-%m-%d')}, {args.repeat} repeat(s)")
    for round_ in range(args.repeat):
        for mode in modes:
            got = measure(mode, configs)
            print(f"  round {round_ + 1} {mode}: DHCPv4 bound {got['v4']:.2f} s, IPv6 {got['v6']:.2f} s")
            for key, value in got.items():
                if not math.isnan(value):
                    results[mode][key].append(value)
    base = common.median(results["ipv4"]["v4"])
    rows = []
    for mode in modes:
        v4, v6 = results[mode]["v4"], results[mode]["v6"]
        ratio = common.median(v4) / base if base else math.nan
        v4_target = "" if mode == "ipv4" else common.verdict(ratio <= V4_SLOWDOWN_TARGET)
        v6_target = "" if mode == "ipv4" else common.verdict(bool(v6) and common.median(v6) <= V6_TARGET)
        rows.append(
            [
                mode,
                common.spread(v4, "{:.2f}") + " s",
                "-" if mode == "ipv4" else f"x{ratio:.2f}",
                v4_target,
                "-" if mode == "ipv4" else common.spread(v6, "{:.2f}") + " s",
                v6_target,
            ]
        )
    headers = [
        "mode",
        "all DHCPv4-bound",
        "vs IPv4-only",
        f"<= x{V4_SLOWDOWN_TARGET}",
        "all IPv6 addresses",
        f"<= {V6_TARGET:g} s",
    ]
    print(common.table(headers, rows))


if __name__ == "__main__":
    main()
