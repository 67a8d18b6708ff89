"""Endurance under chaos: a compressed day of short leases through the real dashboard, with a fault schedule.

    sudo .venv/bin/python bench/soak.py --devices 2000 --server kea --lease 30 --minutes 30 [--json out.json]

A throw-away lab (`lab.lab()`, always removed) with Kea or dnsmasq, and the real dashboard service
in local mode inside it (a subprocess, as in `ws_latency.py`), its store on a small tmpfs of its own
(for the disk-full event). `--devices` devices are imported and started; once all are bound
(warm-up), the chaos schedule (`soak_chaos`, seeded, printed) runs at fixed offsets while the
devices renew every T1 = lease / 2. The `--minutes` of the run stand for `--hours` hours of a day.

Observed from outside (`soak_observe`): the server's lease file, the service's REST every tick, and
/proc for the service and each emulator process. Reported (table, and JSON with `--json`): leases
lost (a device whose address changed, by the service's or the server's account, or that ends
without one: must be 0), devices without an address longer than 2 x T1 outside the planned outage,
RSS and FD count over time with their slope after warm-up, CPU, events dropped (the hub's
counter), the store after every kill, availability per compressed hour (the seed asks 95%).
Exit status 0 when every check passes, 1 otherwise (`tests/lab/test_soak_slice.py` runs the same
harness for a few minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import common
import httpx
import soak_chaos
import soak_observe

from iot_dashboard import service as dashboard_service
from iot_emulator import lab as iotlab


@dataclasses.dataclass(frozen=True)
class Config:
    devices: int = 2000
    server: Literal["kea", "dnsmasq"] = "kea"
    lease: int = 30
    seconds: float = 1800.0
    """Wall time of the chaos window (after warm-up); it stands for `hours` hours."""
    hours: int = 24
    seed: int = 15
    events: tuple[str, ...] = soak_chaos.EVENTS
    repeat: int = 1
    """Each event this many times in the schedule."""
    per_process: int = 250
    stats_interval: float = 2.0
    tick: float = 2.0
    store_mib: int = 16


class Service:
    """The dashboard in local mode as a subprocess: started, killed (SIGKILL), started again on the same files."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.headers = {"Authorization": f"Bearer {env['IOTEMU_DASHBOARD_TOKEN']}"}

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "iot_dashboard"], env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + 120
        while True:
            with self.log.open("rb") as handle:
                handle.seek(offset)
                text = handle.read().decode(errors="replace")
            if match := re.search(r"iotemu dashboard: http://(\S+?)/", text):
                self.url = f"http://{match.group(1)}"
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start: see {self.log}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            common.stop(self.proc)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


@contextlib.contextmanager
def tmpfs(directory: Path, mib: int) -> Iterator[Path]:
    """A small tmpfs at `directory` (the store's own disk, to fill); always unmounted."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0700", "tmpfs", str(directory)], check=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


class Soak:
    """The running soak: what the chaos actions use (`soak_chaos.Harness`) and the observers."""

    def __init__(self, cfg: Config, lab: iotlab.Lab, service: Service, store_path: Path) -> None:
        self.cfg = cfg
        self.lab = lab
        self.lease = cfg.lease
        self.service = service
        self.store_path = store_path
        self.names = [f"soak-{i:05d}" for i in range(cfg.devices)]
        self.procs = soak_observe.Processes()
        self.addresses = soak_observe.Addresses(stale=3 * cfg.stats_interval + cfg.tick, hours=cfg.hours)
        self.leases = soak_observe.Leases(lab.lease_file, lab.dhcp_server)
        self.http = httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30)
        self.macs: dict[str, str] = {}
        self.dropped = 0
        self.busy = asyncio.Lock()

    @property
    def service_pid(self) -> int | None:
        return self.service.pid

    def device_names(self) -> list[str]:
        return self.names

    async def restart_service(self) -> None:
        async with self.busy:
            self.dropped += await self.hub_dropped() or 0
            self.service.kill()
            await asyncio.to_thread(self.service.start)
            await self.http.aclose()
            self.http = httpx.AsyncClient(base_url=self.service.url, headers=self.service.headers, timeout=30)

    async def answering(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get("/healthz")).status_code == 200:
                    return True
            await asyncio.sleep(0.5)
        return False

    async def request(self, method: str, path: str) -> tuple[int, str]:
        response = await self.http.request(method, path)
        return response.status_code, response.text

    async def hub_dropped(self) -> int | None:
        with contextlib.suppress(httpx.HTTPError):
            text = (await self.http.get("/metrics")).text
            if match := re.search(r"^iotemu_dashboard_events_dropped_total (\S+)", text, re.M):
                return int(float(match.group(1)))
        return None

    async def look(self) -> int:
        """One tick: the service's device list, the lease file, /proc."""
        t = time.time()
        statuses: list[dict[str, Any]] | None = None
        if not self.busy.locked():
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = await self.http.get("/api/devices")
                if response.status_code == 200:
                    statuses = response.json()
        if statuses is not None:
            for item in statuses:
                if item["status"].get("mac"):
                    self.macs[item["name"]] = item["status"]["mac"].lower()
        up = self.addresses.tick(t, statuses, self.names)
        await asyncio.to_thread(self.leases.read, self.lab.leases)
        await asyncio.to_thread(self.procs.take, t, self.service.pid)
        return up

    async def ticking(self, until: float) -> None:
        while time.time() < until:
            t0 = time.monotonic()
            await self.look()
            await asyncio.sleep(max(0.0, self.cfg.tick - (time.monotonic() - t0)))


async def start_devices(soak: Soak) -> None:
    """Import the devices, running (one request; DHCP, ARP and ICMP only: the soak is about addresses)."""
    entries = [{"id": name, "vendor": "Sonoff", "protocols": "arp,dhcp,icmp", "running": True} for name in soak.names]
    (await soak.http.post("/api/import", content=json.dumps({"devices": entries}))).raise_for_status()
    soak.names = [d["name"] for d in (await soak.http.get("/api/devices")).json()]


async def drive(cfg: Config, soak: Soak) -> dict[str, Any]:
    t_start = time.time()
    await start_devices(soak)
    warm_deadline = time.time() + max(120.0, cfg.devices / 10)
    while (up := await soak.look()) < cfg.devices and time.time() < warm_deadline:
        await asyncio.sleep(cfg.tick)
    t_warm = time.time()
    print(f"warm-up: {up} of {cfg.devices} bound after {t_warm - t_start:.1f} s", flush=True)
    soak.addresses.track_from = t_warm
    soak.leases.tracking = True
    t_end = t_warm + cfg.seconds
    tail = cfg.lease * 1.25 + soak_chaos.DISCOVER_BACKOFF_CAP + 30  # the last event's recovery fits in
    plan = soak_chaos.schedule(list(cfg.events) * cfg.repeat, t_warm + 20, t_end - tail, cfg.seed)
    print(f"chaos schedule (seed {cfg.seed}):")
    for at, name in plan:
        print(f"  +{at - t_warm:7.1f} s  {name}")
    outcomes: list[soak_chaos.Outcome] = []
    ticker = asyncio.create_task(soak.ticking(t_end))
    for at, name in plan:
        await asyncio.sleep(max(0.0, at - time.time()))
        outcome = await soak_chaos.run(soak, name, at)
        outcomes.append(outcome)
        print(f"  {name}: {'ok' if outcome.ok else 'FAILED'} {outcome.checks}", flush=True)
    await ticker
    # a window too short for its schedule still watches the last event's recovery, and a renewal after it
    ends = [o.planned[1] for o in outcomes if o.planned is not None]
    await soak.ticking(max([t_end, time.time() + 2 * cfg.lease, *ends]))
    soak.addresses.close(time.time())
    return report(cfg, soak, outcomes, t_start, t_warm, time.time(), await soak.hub_dropped() or 0)


def report(
    cfg: Config,
    soak: Soak,
    outcomes: list[soak_chaos.Outcome],
    t_start: float,
    t_warm: float,
    t_end: float,
    dropped: int,
) -> dict[str, Any]:
    t1 = cfg.lease / 2
    planned = [o.planned for o in outcomes if o.planned is not None]
    changed = {
        n: {ip: round(t - t_warm, 1) for ip, t in d.addresses.items()}
        for n, d in soak.addresses.devices.items()
        if len(d.addresses) > 1
    }
    server_changed = {m: ips for m, ips in soak.leases.history.items() if len(ips) > 1}
    ended_without = [n for n, d in soak.addresses.devices.items() if d.ip is None]
    lost = sorted(set(changed) | {n for n, m in soak.macs.items() if m in server_changed} | set(ended_without))
    long_gaps = soak.addresses.long_gaps(2 * t1, planned)
    warm_after = t_warm + min(120.0, (t_end - t_warm) / 4)  # past the first renewals
    run = soak.procs.longest_run(warm_after, settle=30.0)
    series = soak.procs.series(*run)
    slopes = {k: round(soak_observe.slope_per_hour(v), 2) for k, v in series.items()}
    half = soak.procs.series((run[0] + run[1]) / 2, run[1])  # the hub's bounded histories fill first
    slopes_late = {k: round(soak_observe.slope_per_hour(v), 2) for k, v in half.items()}
    every = max(1, len(soak.procs.rows) // 120)
    samples = [
        (
            round(r.t - t_warm),
            r.service_pid,
            r.service.rss_kib // 1024 if r.service else None,
            r.service.fds if r.service else None,
            len(r.emulators),
        )
        for r in soak.procs.rows[::every]
    ]
    means = {k: round(sum(y for _, y in v) / len(v), 1) if v else 0.0 for k, v in series.items()}
    fd_growth = fd_growth_of([y for _, y in series["service_fds"]])
    hours = soak.addresses.per_hour(t_warm, t_end)
    result: dict[str, Any] = {
        "config": dataclasses.asdict(cfg),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t_start)),
        "warmup_s": round(t_warm - t_start, 1),
        "chaos_s": round(t_end - t_warm, 1),
        "renewals_per_device": round((t_end - t_warm) / t1, 1),
        "leases_lost": len(lost),
        "leases_lost_devices": lost[:20],
        "address_changed": {k: v for k, v in list(changed.items())[:10]},
        "server_address_changed": {k: v for k, v in list(server_changed.items())[:10]},
        "ended_without_address": len(ended_without),
        "without_address_over_2xT1": len(long_gaps),
        "long_gaps_sample": {
            k: [(round(a - t_warm, 1), round(b - a, 1)) for a, b in v] for k, v in list(long_gaps.items())[:10]
        },
        "planned_windows": [(round(a - t_warm, 1), round(b - t_warm, 1)) for a, b in planned],
        "events": [dataclasses.asdict(o) | {"at": round(o.at - t_warm, 1)} for o in outcomes],
        "events_ok": all(o.ok for o in outcomes),
        "store_intact": all(
            o.checks.get("store_resources", 1) > 0 and o.checks.get("store_unchanged", True) for o in outcomes
        ),
        "steady_window_s": [round(run[0] - t_warm, 1), round(run[1] - t_warm, 1)],
        "mean": means,
        "slope_per_hour": slopes,
        "slope_per_hour_second_half": slopes_late,
        "samples_t_pid_rss_mib_fds_emulators": samples,
        "service_fd_growth": fd_growth,
        "cpu_percent": {k: round(v, 1) for k, v in soak.procs.cpu_percent(warm_after).items()},
        "events_dropped": dropped + soak.dropped,
        "availability_per_hour": [round(h, 2) for h in hours],
        "availability_min_hour": round(min(hours), 2) if hours else None,
        "availability_day": round(soak.addresses.per_hour(t_warm, t_end, slices=1)[0], 2),
    }
    result["passed"] = (
        result["leases_lost"] == 0
        and result["without_address_over_2xT1"] == 0
        and result["events_ok"]
        and result["store_intact"]
        and fd_growth <= FD_GROWTH_LIMIT
    )
    return result


def fd_growth_of(fds: list[float]) -> float:
    """The median of the last quarter of the samples minus the least of the first quarter (0 with few)."""
    if len(fds) < 8:
        return 0.0
    quarter = len(fds) // 4
    return statistics.median(fds[-quarter:]) - min(fds[:quarter])


FD_GROWTH_LIMIT = 16
"""Service descriptors the last quarter of the run may hold above the least after warm-up
(sockets of processes being restarted come and go; a leak grows with every event)."""


def print_report(r: dict[str, Any]) -> None:
    c = r["config"]
    print(
        f"\nsoak: {c['devices']} devices, {c['server']}, lease {c['lease']} s, {r['chaos_s']:.0f} s of chaos "
        f"standing for {c['hours']} h ({r['renewals_per_device']} renewals per device), {r['date']}"
    )
    rows = [
        ("leases lost (must be 0)", r["leases_lost"], common.verdict(r["leases_lost"] == 0)),
        (
            "devices without address > 2 x T1 (outside the outage)",
            r["without_address_over_2xT1"],
            common.verdict(r["without_address_over_2xT1"] == 0),
        ),
        (
            "chaos events passed",
            f"{sum(e['ok'] for e in r['events'])}/{len(r['events'])}",
            common.verdict(r["events_ok"]),
        ),
        ("store intact after every kill and the disk-full", r["store_intact"], common.verdict(r["store_intact"])),
        (
            "service FD growth after warm-up",
            r["service_fd_growth"],
            common.verdict(r["service_fd_growth"] <= FD_GROWTH_LIMIT),
        ),
        ("events dropped (hub)", r["events_dropped"], ""),
        (
            "availability over the compressed day (seed: 95%)",
            f"{r['availability_day']}%",
            common.verdict(r["availability_day"] >= 95),
        ),
        ("availability, worst compressed hour (the outage's)", f"{r['availability_min_hour']}%", ""),
    ]
    print(common.table(["check", "value", ""], rows))
    rows2 = [(k, r["mean"][k], r["slope_per_hour"][k], r["slope_per_hour_second_half"][k]) for k in r["mean"]]
    window = r["steady_window_s"]
    heads = [f"one service process, +{window[0]:.0f}..{window[1]:.0f} s", "mean", "slope per hour", "in its 2nd half"]
    print(common.table(heads, rows2))
    print(f"CPU (% of one core): {r['cpu_percent']}")
    hours = r["availability_per_hour"]
    print("availability per compressed hour (%): " + " ".join(f"{h:.1f}" for h in hours))
    for e in r["events"]:
        print(f"  +{e['at']:7.1f} s {e['event']:16s} {'ok' if e['ok'] else 'FAILED'} {e['checks']}")


async def soak_run(cfg: Config, work: Path, lab_name: str | None = None) -> dict[str, Any]:
    """Lab, tmpfs store, service, drive, report; everything removed on the way out."""
    extra = common.FAST_DNSMASQ if cfg.server == "dnsmasq" else ("--port=0",)
    lab_cfg = iotlab.LabConfig(
        name=lab_name, dhcp_server=cfg.server, lease_time=cfg.lease, dnsmasq_extra=extra, state_dir=work / "labs"
    )
    with iotlab.lab(lab_cfg) as lab, tmpfs(work / "store", cfg.store_mib) as store_dir:
        env = dashboard_service.lab_environment(
            lab,
            work,
            IOTEMU_DASHBOARD_LOCAL__DATA_FILE=str(store_dir / "devices.yaml"),
            IOTEMU_DASHBOARD_LOCAL__STATS_INTERVAL=str(cfg.stats_interval),
            IOTEMU_DASHBOARD_LOCAL__DEVICES_PER_PROCESS=str(cfg.per_process),
            IOTEMU_DASHBOARD_WS_QUEUE_SIZE=str(max(2000, cfg.devices * 4)),
        )
        service = Service(env, work / "dashboard.log")
        service.start()
        soak = Soak(cfg, lab, service, store_dir / "devices.yaml")
        try:
            return await drive(cfg, soak)
        finally:
            await soak.http.aclose()
            service.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--server", choices=["kea", "dnsmasq"], default="kea")
    p.add_argument("--lease", type=int, default=30, help="lease time, s (dnsmasq: 120 at least)")
    p.add_argument("--minutes", type=float, default=30.0, help="wall time of the chaos window after warm-up")
    p.add_argument("--hours", type=int, default=24, help="hours of a day the window stands for")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--repeat", type=int, default=1, help="each chaos event this many times")
    p.add_argument("--events", default=",".join(soak_chaos.EVENTS))
    p.add_argument("--per-process", type=int, default=250)
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    events = tuple(e for e in a.events.split(",") if e)
    unknown = set(events) - set(soak_chaos.EVENTS)
    if unknown:
        p.error(f"--events: unknown {sorted(unknown)}; known: {', '.join(soak_chaos.EVENTS)}")
    if a.server == "dnsmasq" and a.lease < 120:
        p.error("--lease: dnsmasq's floor is 120 s (it rounds shorter leases up); use Kea for 30 s leases")
    cfg = Config(
        devices=a.devices,
        server=a.server,
        lease=a.lease,
        seconds=a.minutes * 60,
        hours=a.hours,
        seed=a.seed,
        events=events,
        repeat=a.repeat,
        per_process=a.per_process,
    )
    with tempfile.TemporaryDirectory(prefix="iotsoak-") as tmp:
        result = asyncio.run(soak_run(cfg, Path(tmp)))
    print_report(result)
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
