"""What the dashboard's event hub holds per device once its history buffers are full.

    .venv/bin/python bench/hub_memory.py [--devices 2000] [--repeat 3]

The service keeps, per device, its live state and its last 100 events and 20 stats (the defaults of
`EventHub`): after a few minutes of a long run every buffer is full, and that is the service's
steady RSS (the soak saw it grow for ~10 minutes with 2,000 devices). Here an `EventHub` gets, for
each of `--devices` devices, 20 realistic `stats` messages and 100 DHCP/log events (built with the
emulator's `messages.make`, published with their JSON text as the local backend does), and
tracemalloc measures what it holds. Baseline in the same run: the same messages kept as parsed dicts
in the same deques, what the hub kept before it kept JSON text. No network, no root.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections import deque
from typing import Any

import common

from iot_dashboard import events
from iot_emulator.reporting import messages

EVENTS, STATS = 100, 20


def device_messages(i: int) -> list[dict[str, Any]]:
    """A device's 20 stats and 100 events, as a bound camera sends them over a long run."""
    device_id, wall = f"cams-{i:04d}", 1_764_000_000.0 + i
    ip, mac = f"10.64.{i // 250}.{i % 250 + 10}", f"44:19:b6:00:{i >> 8 & 255:02x}:{i & 255:02x}"
    out = []
    for n in range(STATS):
        stats = {
            "packets_sent": 1200 + n,
            "bytes_sent": 410_000 + 97 * n,
            "packet_rate": 0.4,
            "current_ip": ip,
            "uptime_seconds": 3600.0 + 5 * n,
            "protocols": {"dhcp": 40 + n, "arp": 300, "dns": 120, "mdns": 60, "http": 90, "rtsp": 12, "ntp": 6},
            "packets_received": 900 + n,
            "bytes_received": 380_000 + 80 * n,
            "state": "bound",
            "dhcp_state": "bound",
            "mac": mac,
            "hostname": f"DS-2CD2042FWD-I-{i:06X}",
            "profile": "hikvision-ds-2cd2042fwd",
            "auth": "mab",
            "lease": {"server_id": "10.64.0.1", "lease_time": 30, "t1": 15, "t2": 26.25},
        }
        out.append(messages.make("stats", device_id, wall + 5 * n, stats=stats))
    for n in range(EVENTS // 4):
        at = wall + 15 * n
        out.append(messages.make("dhcp_request", device_id, at, requested_ip=ip, server_id="10.64.0.1"))
        out.append(
            messages.make("dhcp_ack", device_id, at + 0.01, assigned_ip=ip, server_id="10.64.0.1", lease_time=30)
        )
        out.append(messages.make("dhcp_renew", device_id, at + 0.02, assigned_ip=ip, server_id="10.64.0.1"))
        out.append(messages.log(device_id, at + 0.03, "info", f"DHCP lease of {ip} renewed for 30 s"))
    return out


def held(fill: Any) -> tuple[int, float]:
    """Bytes the structure `fill()` builds holds (tracemalloc), and the seconds it took."""
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    keep = fill()
    took = time.perf_counter() - started
    gc.collect()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del keep
    return size, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # as bytes: each fill decodes its own text, as a service reads a fresh line from an emulator's stdout
    lines = [[json.dumps(m, separators=(",", ":")).encode() for m in device_messages(i)] for i in range(args.devices)]

    def hub() -> events.EventHub:
        kept = events.EventHub(history_events=EVENTS, history_stats=STATS)
        for device in lines:
            for line in device:
                text = line.decode()
                kept.publish(json.loads(text), text)
        return kept

    def as_dicts() -> dict[str, tuple[deque[dict[str, Any]], deque[dict[str, Any]]]]:
        kept: dict[str, tuple[deque[dict[str, Any]], deque[dict[str, Any]]]] = {}
        for device in lines:
            for line in device:
                parsed = json.loads(line)
                record = kept.setdefault(parsed["device_id"], (deque(maxlen=EVENTS), deque(maxlen=STATS)))
                (record[1] if parsed["type"] == "stats" else record[0]).append(parsed)
        return kept

    results: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for name, fill in (("hub (JSON text)", hub), ("baseline: parsed dicts", as_dicts)):
            size, took = held(fill)
            results.setdefault(name, []).append(size / args.devices)
            results.setdefault(f"{name} s", []).append(took)
    med = {k: common.median(v) for k, v in results.items()}
    print(
        f"\nhub_memory: {args.devices} devices x ({EVENTS} events + {STATS} stats); median (min-max) of {args.repeat}"
    )
    rows = [
        [
            name,
            common.spread(results[name], "{:,.0f}"),
            f"{med[name] * args.devices / 2**20:,.0f}",
            f"{med[f'{name} s']:.2f}",
        ]
        for name in ("hub (JSON text)", "baseline: parsed dicts")
    ]
    print(common.table(["kept as", "bytes per device", f"MiB for {args.devices:,}", "fill s"], rows))
    print(f"hub / baseline: x{med['hub (JSON text)'] / med['baseline: parsed dicts']:.2f}")


if __name__ == "__main__":
    main()
