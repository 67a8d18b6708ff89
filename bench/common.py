"""What the benchmarks share: a fleet of device configurations, medians, and a compact table.

Benchmarks print figures and ratios against a baseline measured in the same run; they never
assert a timing (see DESIGN.md, "Principles"). Targets are printed as pass/miss, for information.
"""

from __future__ import annotations

import ipaddress
import statistics
import subprocess
from collections.abc import Sequence

from iot_emulator.config import manifests
from iot_emulator.lab import config as lab_config
from iot_emulator.profiles import catalog

FAST_DNSMASQ = ("--port=0", "--dhcp-broadcast", "--quiet-dhcp")
"""No DNS (dnsmasq's DHCP is ~6x slower with it at 2,000 leases), broadcast replies (the gateway's
neighbour table stops at 1024 entries), no per-packet log lines."""


def fleet(
    count: int, profile_name: str = "sonoff-mini", *, arp_check: bool = True, traffic_interval: float = 60.0
) -> list[manifests.DeviceConfig]:
    """`count` devices of one profile, with MACs OUI + index (unique, unlike hashed fleet MACs at 10,000)."""
    prof = catalog.builtin().get(profile_name)
    if not arp_check:
        prof = prof.model_copy(update={"dhcp": prof.dhcp.model_copy(update={"arp_probe": catalog.ArpProbe(count=0)})})
    return [device(i, prof, ("arp", "dhcp", "icmp"), traffic_interval) for i in range(count)]


def device(
    index: int, prof: catalog.Profile, protocols: tuple[str, ...], traffic_interval: float = 60.0
) -> manifests.DeviceConfig:
    """Device `index` of a benchmark's fleet: its MAC is the profile's OUI + the index (unique in the fleet)."""
    mac = f"{prof.ouis[0]}:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}"
    return manifests.DeviceConfig(
        device_id=f"bench-{index:05d}",
        mac=mac,
        hostname=prof.hostname_for(mac, index),
        profile=prof,
        protocols=protocols,
        traffic_interval=traffic_interval,
    )


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], fmt: str = "{:.3g}") -> str:
    """`median (min-max)` of repeated runs."""
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def rss_kib(field: str = "VmRSS") -> int:
    """Resident set size of this process (VmRSS), or one of its parts (RssAnon: private; RssFile:
    mapped files such as shared libraries, whose pages other processes share), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still there after 60 s (a service releasing thousands of leases)."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def subnet_for(devices: int) -> ipaddress.IPv4Network:
    """The lab's default /20 (4,080 addresses), or the smallest larger subnet whose pool holds every device."""
    prefix = 20
    while prefix > 8 and lab_config.pool_size(ipaddress.IPv4Network(f"10.64.0.0/{prefix}")) < devices:
        prefix -= 1
    return lab_config.DEFAULT_SUBNET if prefix == 20 else ipaddress.IPv4Network(f"10.64.0.0/{prefix}")
