"""What the soak watches from outside: processes (RSS, FDs, CPU), device addresses, the server's leases.

Nothing here changes the system under test. Three observers, each fed by the soak's loop:

- `Processes`: the service and every process under it (the fork server, the emulators), read
  from /proc: RSS, open descriptors, CPU ticks; per sample and per role.
- `Addresses`: each tick, what the service's REST says of every device (its address, and how
  fresh that is); gaps without a valid address per device, availability per compressed "hour".
- `Leases`: the DHCP server's own lease file (Kea's append-only CSV read incrementally, dnsmasq's
  rewritten file whole): the addresses each MAC held, as the server saw them.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc/*/stat's ppid field)."""
    parent: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(")") + 2 :].split()[1])
        parent.setdefault(ppid, []).append(int(name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in parent.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclasses.dataclass
class ProcSample:
    rss_kib: int
    fds: int
    cpu_ticks: int


def sample(pid: int) -> ProcSample | None:
    """RSS, open descriptors and CPU ticks (user + system) of one process, or None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        raw = Path(f"/proc/{pid}/stat").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcSample(rss, fds, int(fields[11]) + int(fields[12]))


def emulator_pids(service_pid: int) -> list[int]:
    """The service's emulator processes: its descendants that run `iot_emulator ... run` (the fork
    server's children keep its command line, so: descendants that are not the fork server itself
    and whose parent is the fork server or the service)."""
    out = []
    for pid in children(service_pid):
        line = cmdline(pid)
        if "iot_emulator" in line and "zygote" not in line:
            out.append(pid)
        elif "zygote" in line:
            out.extend(p for p in children(pid))
    return sorted(set(out))


@dataclasses.dataclass
class Row:
    t: float
    service_pid: int | None
    service: ProcSample | None
    emulators: dict[int, ProcSample]


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, in value per hour (0 with fewer than 3 points)."""
    if len(points) < 3:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 3600


class Processes:
    """RSS, FD count and CPU of the service and its emulator processes over time."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def take(self, t: float, service_pid: int | None) -> None:
        if service_pid is None:
            self.rows.append(Row(t, None, None, {}))
            return
        emus = {pid: s for pid in emulator_pids(service_pid) if (s := sample(pid)) is not None}
        self.rows.append(Row(t, service_pid, sample(service_pid), emus))

    def longest_run(self, since: float, settle: float) -> tuple[float, float]:
        """The longest stretch after `since` in which one service process ran, minus its first
        `settle` seconds: where a slope means something (a restarted service starts from scratch)."""
        spans: dict[int, list[float]] = {}
        for row in self.rows:
            if row.service_pid is not None:
                spans.setdefault(row.service_pid, []).append(row.t)
        best = (since, since)
        for times in spans.values():
            start, end = max(since, times[0] + settle), times[-1]
            if end - start > best[1] - best[0]:
                best = (start, end)
        return best

    def series(self, since: float, until: float = float("inf")) -> dict[str, list[tuple[float, float]]]:
        """Per-sample figures in [since, until]: service RSS (MiB) and FDs, emulators' mean RSS (MiB) and FDs."""
        keys = ("service_rss_mib", "service_fds", "emu_rss_mib", "emu_fds")
        out: dict[str, list[tuple[float, float]]] = {k: [] for k in keys}
        for row in self.rows:
            if not since <= row.t <= until:
                continue
            if row.service is not None:
                out["service_rss_mib"].append((row.t, row.service.rss_kib / 1024))
                out["service_fds"].append((row.t, row.service.fds))
            if row.emulators:
                emus = row.emulators.values()
                out["emu_rss_mib"].append((row.t, statistics.fmean(s.rss_kib for s in emus) / 1024))
                out["emu_fds"].append((row.t, statistics.fmean(s.fds for s in emus)))
        return out

    def cpu_percent(self, since: float) -> dict[str, float]:
        """Mean CPU (% of one core) of the service and of all emulators together, between samples
        of the same pids after `since`."""
        busy = {"service": 0.0, "emulators": 0.0}
        span = 0.0
        previous: Row | None = None
        for row in self.rows:
            if row.t < since:
                continue
            if previous is not None and previous.service is not None and row.service is not None:
                span += row.t - previous.t
                busy["service"] += max(0, row.service.cpu_ticks - previous.service.cpu_ticks) / CLK_TCK
                for pid, s in row.emulators.items():
                    before = previous.emulators.get(pid)
                    if before is not None:
                        busy["emulators"] += max(0, s.cpu_ticks - before.cpu_ticks) / CLK_TCK
            previous = row
        return {k: (100 * v / span if span else 0.0) for k, v in busy.items()}


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text).timestamp()


@dataclasses.dataclass
class Device:
    """One device's record: the addresses it reported, its gaps without one."""

    addresses: dict[str, float] = dataclasses.field(default_factory=dict)
    """address -> when it was first seen."""
    gap_start: float | None = None
    gaps: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    ip: str | None = None


class Addresses:
    """Per device, each tick: has it a valid address (the service says so, freshly)? Gaps and availability.

    A device counts as addressed at a tick when the service answers, its phase is `bound`, it has
    an address and its last message is younger than `stale` seconds (a crashed process's devices
    stop reporting; the service keeps their last state). Addresses are tracked from `track_from`
    on (the first binding of a fleet may see NAKs and other offers, which lose nothing)."""

    def __init__(self, stale: float, hours: int) -> None:
        self.stale = stale
        self.hours = hours
        self.devices: dict[str, Device] = {}
        self.ticks: list[tuple[float, int, int]] = []
        """(time, devices addressed, devices) per tick."""
        self.track_from: float | None = None

    def tick(self, t: float, statuses: Iterable[dict[str, Any]] | None, expected: Iterable[str]) -> int:
        """Record one look (None: the service did not answer); returns the number addressed."""
        seen: dict[str, str | None] = {}
        if statuses is not None:
            for item in statuses:
                status = item["status"]
                updated = _parse_time(status.get("updated"))
                fresh = updated is not None and t - updated <= self.stale
                ok = fresh and status.get("phase") == "bound" and status.get("ip")
                seen[item["name"]] = status["ip"] if ok else None
        names = list(expected)
        up = 0
        for name in names:
            device = self.devices.setdefault(name, Device())
            ip = seen.get(name)
            device.ip = ip
            if ip is not None:
                up += 1
                if self.track_from is not None and t >= self.track_from and ip not in device.addresses:
                    device.addresses[ip] = t
                if device.gap_start is not None:
                    device.gaps.append((device.gap_start, t))
                    device.gap_start = None
            elif device.gap_start is None and self.track_from is not None:
                device.gap_start = t
        self.ticks.append((t, up, len(names)))
        return up

    def close(self, t: float) -> None:
        for device in self.devices.values():
            if device.gap_start is not None:
                device.gaps.append((device.gap_start, t))
                device.gap_start = None

    def per_hour(self, start: float, end: float, slices: int | None = None) -> list[float]:
        """Availability (% of device-ticks addressed) in each of `slices` (default: `hours`) equal
        slices of [start, end]."""
        n_slices = slices or self.hours
        up = [0] * n_slices
        total = [0] * n_slices
        for t, n_up, n in self.ticks:
            if not start <= t < end:
                continue
            h = min(int((t - start) / (end - start) * n_slices), n_slices - 1)
            up[h] += n_up
            total[h] += n
        return [100 * u / n if n else float("nan") for u, n in zip(up, total, strict=True)]

    def long_gaps(self, limit: float, planned: Sequence[tuple[float, float]]) -> dict[str, list[tuple[float, float]]]:
        """Gaps longer than `limit` seconds that do not lie inside a planned window, per device."""
        out: dict[str, list[tuple[float, float]]] = {}
        for name, device in self.devices.items():
            for a, b in device.gaps:
                if b - a <= limit:
                    continue
                if any(pa <= a and b <= pb for pa, pb in planned):
                    continue
                out.setdefault(name, []).append((a, b))
        return out


class Leases:
    """The server's view: every address each MAC held in the lease file since tracking began."""

    def __init__(self, path: Path, server: str) -> None:
        self.path = path
        self.server = server
        self.offset = 0
        self.columns: list[str] = []
        self.current: dict[str, str] = {}
        """mac -> address of its latest live row."""
        self.history: dict[str, list[str]] = {}
        self.tracking = False

    def read(self, lab_leases: Any) -> None:
        """Kea: the rows appended since the last read; dnsmasq: `lab_leases()` (the file is rewritten)."""
        if self.server == "kea":
            self._read_kea()
        else:
            self.current = {mac: ip for mac, (ip, _host) in lab_leases().items()}
        if self.tracking:
            for mac, ip in self.current.items():
                seen = self.history.setdefault(mac, [])
                if ip not in seen:
                    seen.append(ip)

    def _read_kea(self) -> None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # a torn last row waits for the next read
        self.offset += end
        for row in csv.reader(data[:end].decode(errors="replace").splitlines()):
            if not row:
                continue
            if row[0] == "address":
                self.columns = row
                continue
            lease = dict(zip(self.columns, row, strict=False))
            mac = lease.get("hwaddr", "").lower()
            if not mac:
                continue
            if lease.get("valid_lifetime") == "0" or lease.get("state", "0") != "0":
                if self.current.get(mac) == row[0]:
                    del self.current[mac]
            else:
                self.current[mac] = row[0]
