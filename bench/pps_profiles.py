"""Frames per second from one process while every profile's own traffic runs, and its CPU at idle.

    sudo .venv/bin/python bench/pps_profiles.py [--devices 2000] [--seconds 5] [--repeat 3]

`pps.py` measures the device machinery with ARP/DHCP/ICMP devices on a bare veth. Here the fleet
is every shipped profile in turn (`--devices` of them, each with its profile's own protocols:
DNS, NTP, its cloud sessions over HTTP/TLS/MQTT/CoAP, mDNS/SSDP/LLDP announcements, its listening
ports...) in a lab with an internet (`lab up --internet`: dnsmasq, and the sink's DNS, HTTP, TLS,
MQTT, NTP servers answering every cloud name), the engine in this process on a `RawLink`. Once
every device is bound and the boot storm's announcements are over:

- idle: the fleet's own background traffic for `--seconds`: frames/s sent, by protocol, and the
  process's CPU in % of one core (the first sessions to the cloud are still being made then);
- saturated: the same fleet while the benchmark also hands the engine's receive callback ICMP echo
  requests and ARP who-has for the devices' addresses as fast as the loop takes them (the recv
  syscall is not counted, as in `pps.py`); every one is answered, and the background traffic goes on;
- idle later: the background traffic again, once the boot's sessions are over (each profile's
  periodic traffic only): its CPU per 1,000 devices is the idle cost.

Baseline in the same run: the same number of ARP/DHCP/ICMP-only devices (`common.fleet`, what
`pps.py` measures) saturated the same way, in the same lab: the ratio says what running every
profile's services costs the frames/s.
"""

from __future__ import annotations

import argparse
import asyncio

import common
import pps

from iot_emulator import lab
from iot_emulator.config import manifests
from iot_emulator.devices import macs
from iot_emulator.engine import engine, rawsock
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import arp

BOUND_TIMEOUT = 120.0
SETTLE = 5.0
"""Seconds after the last bind before measuring: the RFC 5227, mDNS and SSDP announcements are over."""


def every_profile(count: int) -> list[manifests.DeviceConfig]:
    """`count` devices, the shipped profiles in turn, each with its profile's protocols; unique MACs."""
    profiles = sorted(catalog.builtin(), key=lambda prof: prof.name)
    return [
        common.device(i, prof, tuple(p for p in prof.protocols if p != "ipv6"))  # no IPv6 router in this lab
        for i, prof in ((i, profiles[i % len(profiles)]) for i in range(count))
    ]


async def measure(where: lab.Lab, configs: list[manifests.DeviceConfig], seconds: float) -> dict[str, object]:
    link = rawsock.RawLink(where.dev_iface, netns=where.dev_netns)
    link.open()
    eng = engine.Engine(link, configs, stats_interval=3600, window=128, seed=1, log_level="error")
    stop = asyncio.Event()
    bound = asyncio.Event()

    def on_message(message: dict[str, object]) -> None:
        if eng.bound_count >= len(configs):
            bound.set()

    eng.events.add(on_message)
    task = asyncio.create_task(eng.run(stop))
    out: dict[str, object] = {}
    try:
        await asyncio.wait_for(bound.wait(), BOUND_TIMEOUT)
        await asyncio.sleep(SETTLE)  # announcements are timed by the devices, not by an event
        gw_mac, gw_ip = bytes.fromhex("02aa00000001"), where.gateway_ip.packed
        stimuli = []
        for i, dev in enumerate(eng.devices):
            address = dev.host.address
            if address is None:
                continue
            mac = macs.parse(dev.config.mac)
            stimuli += [pps.echo_request(mac, address, i, gw_mac, gw_ip), arp.who_has(gw_mac, gw_ip, address)]
        out.update(await pps.phases(link, eng, eng._on_frame, stimuli, seconds, ("idle", "saturated", "idle later")))
    finally:
        stop.set()
        await task
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.devices
    fleets = {"every profile": every_profile(n), "baseline: ARP/DHCP/ICMP only": common.fleet(n, arp_check=False)}
    results: dict[str, list[float]] = {}
    mixes: dict[str, str] = {}
    for run in range(1, args.repeat + 1):
        for name, configs in fleets.items():
            config = lab.LabConfig(subnet=common.subnet_for(n), internet=True, dnsmasq_extra=common.FAST_DNSMASQ[1:])
            with lab.lab(config) as where:
                got = asyncio.run(measure(where, configs, args.seconds))
            for key, value in got.items():
                if key.endswith("_mix"):
                    mixes[f"{name}: {key}"] = str(value)
                else:
                    results.setdefault(f"{name}: {key}", []).append(float(value))  # type: ignore[arg-type]
        print(
            f"run {run}: "
            + ", ".join(f"{k} {v[-1]:,.2f}" if k.endswith("cpu") else f"{k} {v[-1]:,.0f}" for k, v in results.items()),
            flush=True,
        )
    med = {k: common.median(v) for k, v in results.items()}
    rows = []
    for name in fleets:
        for phase in ("idle", "saturated", "idle later"):
            key = f"{name}: {phase}"
            rows.append(
                [
                    key,
                    common.spread(results[key], "{:,.0f}"),
                    f"{med[f'{key}_cpu']:.0%}",
                    f"{med[key] / med[f'{key}_cpu']:,.0f}",
                ]
            )
    print(f"\npps_profiles: {n} devices, one process, lab with internet; median (min-max) of {args.repeat} runs")
    print(common.table(["what", "frames/s", "CPU (1 core)", "per CPU-s"], rows))
    for key, text in mixes.items():
        print(f"{key}: {text}")
    every, base = med["every profile: saturated"], med["baseline: ARP/DHCP/ICMP only: saturated"]
    idle_cpu = med["every profile: idle later_cpu"] / n * 1000
    print(
        common.table(
            ["target (information, not a test)", "measured", ""],
            [
                [">= 100,000 frames/s, every profile's traffic on", f"{every:,.0f}", common.verdict(every >= 100_000)],
                ["  every profile / ARP-DHCP-ICMP only, saturated", f"x{every / base:.2f}", ""],
                ["CPU per 1,000 idle devices (every profile)", f"{idle_cpu:.1%} of a core", ""],
            ],
        )
    )


if __name__ == "__main__":
    main()
