"""How fast a fleet authenticates with 802.1X: the engine through hostapd + FreeRADIUS, and eapol_test.

    sudo .venv/bin/python bench/dot1x_auth.py [--devices 1000] [--baseline 200] [--jobs 8] [--repeat 3]

Each repeat builds a fresh lab with `lab.dot1x` (hostapd wired authenticator on the gateway's
port, FreeRADIUS without -X behind it) and measures:

- engine: `--devices` Cisco phones (EAP-MD5) in one `engine.Engine` on the lab's device link, from
  `run()` until every device has its EAP-Success (every EAPOL exchange relayed by hostapd), the
  devices started at `--start-rate` per second: hostapd keeps at most 200 RADIUS requests
  un-answered ("Removing the oldest un-ACKed packet due to retransmit list limits") and one
  hostapd is one NAS, so 1,000 devices starting in the same instant lose requests, wait for
  hostapd's timeouts and some fail (then hold 60 s): measured 6 authentications/s that way.
  Without the lab's port gate by default (`--enforce` adds it): a device sends its DHCPDISCOVER
  the moment it has its Success, the gate opens its port a little later, the DISCOVER is lost
  and the device waits 4 s to retry, holding one of the engine's 64 admission slots meanwhile,
  which then paces the starts (37/s instead of 134/s at 150 starts/s);
- baseline: wpa_supplicant's `eapol_test` (Debian's eapoltest), one process per authentication,
  `--jobs` at a time, `--baseline` authentications straight to the same FreeRADIUS (no hostapd),
  in the gateway namespace: what the usual RADIUS test tool achieves against the same server.

The ratio is authentications per second, engine over eapol_test. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import subprocess
import time
from pathlib import Path

import common

from iot_emulator import lab
from iot_emulator.config import manifests
from iot_emulator.engine import engine, rawsock
from iot_emulator.lab import dot1x, netns
from iot_emulator.profiles import catalog

PASSWORD = "bench-secret"
TIMEOUT = 300.0


def phones(count: int) -> list[manifests.DeviceConfig]:
    prof = catalog.builtin().get("cisco-cp-7841")
    assert prof.dot1x is not None
    settings = prof.dot1x.model_copy(update={"enabled": True, "password": PASSWORD, "start_period": 5.0})
    prof = prof.model_copy(update={"dot1x": settings})
    fleet = common.fleet(count, "cisco-cp-7841", traffic_interval=600)
    return [dataclasses.replace(c, profile=prof, protocols=("arp", "dhcp")) for c in fleet]


def identity(config: manifests.DeviceConfig) -> str:
    return f"CP-7841-{config.hostname}"


async def engine_run(where: lab.Lab, configs: list[manifests.DeviceConfig], start_rate: float | None) -> float:
    link = rawsock.RawLink(where.dev_iface, netns=where.dev_netns)
    link.open()
    eng = engine.Engine(link, configs, interface=where.dev_iface, stats_interval=3600, start_rate=start_rate)
    done: set[str] = set()
    stop = asyncio.Event()

    def on_event(message: dict[str, object]) -> None:
        if message["type"] == "dot1x_success":
            done.add(str(message["device_id"]))
            if len(done) == len(configs):
                stop.set()

    eng.events.add(on_event)
    started = time.perf_counter()
    finish = asyncio.Event()
    runner = asyncio.ensure_future(eng.run(finish))
    try:
        await asyncio.wait_for(stop.wait(), TIMEOUT)
        return time.perf_counter() - started
    finally:
        finish.set()  # the devices release their leases and log off
        await asyncio.wait_for(runner, 30)
        link.close()


def eapol_test_run(where: lab.Lab, servers: dot1x.Dot1x, names: list[str], jobs: int) -> float:
    configs = []
    for i, name in enumerate(names):
        path = servers.directory / f"eapol_test-{i}.conf"
        path.write_text(
            f'network={{\n key_mgmt=IEEE8021X\n eap=MD5\n identity="{name}"\n'
            f' password="{PASSWORD}"\n eapol_flags=0\n}}\n'
        )
        configs.append(path)

    def one(path: Path) -> int:
        argv = ["eapol_test", "-c", str(path), "-s", servers.radius_secret, "-t", "10", "-n"]
        return subprocess.run(netns.exec_argv(where.gw_netns, argv), capture_output=True).returncode

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        codes = list(pool.map(one, configs))
    elapsed = time.perf_counter() - started
    if any(codes):
        raise RuntimeError(f"eapol_test failed {sum(1 for c in codes if c)} of {len(codes)} times")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=200, help="eapol_test authentications")
    parser.add_argument("--jobs", type=int, default=8, help="eapol_test processes at a time")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--enforce", action="store_true", help="with the lab's port gate (lab.dot1x_gate)")
    parser.add_argument("--start-rate", type=float, default=300.0, help="devices started per second (0: all at once)")
    args = parser.parse_args()
    configs = phones(args.devices)
    ours, theirs = [], []
    for _ in range(args.repeat):
        config = lab.LabConfig(lease_time=43200, dnsmasq_extra=common.FAST_DNSMASQ)
        with lab.lab(config) as where:
            users = [dot1x.User(identity(c), password=PASSWORD) for c in configs]
            servers = dot1x.start(where, users, debug=False, enforce=args.enforce)
            baseline = eapol_test_run(where, servers, [u.identity for u in users[: args.baseline]], args.jobs)
            theirs.append(args.baseline / baseline)
            ours.append(args.devices / asyncio.run(engine_run(where, configs, args.start_rate or None)))
    rows = [
        [f"engine via hostapd, {args.start_rate:g} starts/s", args.devices, common.spread(ours, "{:.0f}")],
        [f"eapol_test x{args.jobs} direct", args.baseline, common.spread(theirs, "{:.0f}")],
    ]
    print(common.table(["EAP-MD5 authentications", "count", "per second"], rows))
    print(f"ratio (engine / eapol_test): {common.median(ours) / common.median(theirs):.1f}x")
    print(f"target: {args.devices} authorised within 60 s: {common.verdict(args.devices / common.median(ours) <= 60)}")


if __name__ == "__main__":
    main()
