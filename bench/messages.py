"""What the typed message contract costs per message: building and printing a JSON line.

Baseline (measured in the same run): the emulator before the contract, a dict built by hand and
`json.dumps`. Now: `messages.make` (the same dict, plus `v`) and `messages.encode`, which validates
it against its `message_models` model and serialises it through pydantic. Messages: a full `stats`
(the one sent per device every `--stats-interval`), a `dhcp_ack` and a `log`. The last column is
one stats round of a 10,000-device process (every 5 s by default), in ms of one core.

    .venv/bin/python bench/messages.py [--rounds 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from common import median, spread, table, verdict

from iot_emulator.reporting import message_models, messages

STATS = {
    "packets_sent": 1247,
    "bytes_sent": 523000,
    "packet_rate": 4.2,
    "current_ip": "192.168.207.180",
    "uptime_seconds": 30.0,
    "protocols": {"dhcp": 8, "arp": 256, "http": 512, "rtsp": 384, "dns": 87},
    "packets_received": 900,
    "bytes_received": 120000,
    "state": "bound",
    "dhcp_state": "bound",
    "mac": "00:12:34:56:78:01",
    "hostname": "camera-567801",
    "profile": "hikvision-ds-2cd2042fwd",
    "lease": {
        "server_id": "192.168.207.1",
        "lease_time": 86400,
        "expires_in": 86000.0,
        "t1_in": 43000.0,
        "t2_in": 75000.0,
    },
}
ACK = {
    "xid": "0x3bbff79e",
    "assigned_ip": "192.168.207.180",
    "server_id": "192.168.207.1",
    "lease_time": 86400,
    "renewal_time": 43200,
    "rebinding_time": 75600,
    "subnet_mask": "255.255.255.0",
    "router": "192.168.207.1",
    "dns_servers": ["192.168.207.1"],
}
LOG = {"level": "info", "message": "Sending DHCP DISCOVER (xid: 0x3bbff79e, MAC: 00:12:34:56:78:01)"}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "stats": ("stats", {"stats": STATS}),
    "dhcp_ack": ("dhcp_ack", ACK),
    "log": ("log", LOG),
}


def before(type_: str, fields: dict[str, Any]) -> bytes:
    """The emulator's path before the contract (messages.make and JsonLinesSink, as they were)."""
    stamp = dt.datetime.fromtimestamp(time.time(), dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    message = {"type": type_, "device_id": "camera_01", "timestamp": stamp, **fields}
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def now(type_: str, fields: dict[str, Any]) -> bytes:
    return messages.encode(messages.make(type_, "camera_01", time.time(), **fields))


def per_message_us(path: Callable[[str, dict[str, Any]], bytes], type_: str, fields: dict[str, Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        path(type_, fields)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    message_models.parse(json.loads(now(*CASES["stats"])))  # the output is a valid message
    rows = []
    for name, (type_, fields) in CASES.items():
        old = [per_message_us(before, type_, fields, args.rounds) for _ in range(args.repeat)]
        new = [per_message_us(now, type_, fields, args.rounds) for _ in range(args.repeat)]
        ratio = median(new) / median(old)
        fleet_ms = median(new) * 10_000 / 1000
        rows.append([name, spread(old), spread(new), f"{ratio:.2f}x", f"{fleet_ms:.0f}", verdict(ratio < 1.5)])
    print(table(["message", "before us", "now us", "ratio", "10k msgs ms", "< 1.5x"], rows))


if __name__ == "__main__":
    main()
