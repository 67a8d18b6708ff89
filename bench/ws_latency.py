"""Latency of the dashboard's WebSocket: the emulator's stats timestamp to receipt, and start-all.

    sudo .venv/bin/python bench/ws_latency.py [--devices 1000] [--clients 4] [--seconds 20]

A throw-away lab (`lab.lab()`, always removed) and the real dashboard in local mode inside it
(a subprocess, as in `ui_render.py --source service`: port 0, stats every 1 s, 250 devices per
emulator process, the default). The devices are imported stopped (the brief's format, every
vendor of the library in turn), `--clients` WebSocket clients (`websockets`) connect to `/ws`,
then `POST /api/devices/start-all`. Measured: from the POST to the last `device:started` and to
the last `device:dhcp_ack` a client receives; then, once all are ACKed, for `--seconds` of steady
state, `receipt wall time - message timestamp` of every `device:stats` frame, per client and
overall (p50/p99/max); then stop-all to the last `device:stopped`.

Baseline, in the same run and the same event loop: the emulator's own `GET /events` (SSE), read
from one emulator process's control socket, for its devices; the ratio shows what the service
(stdout JSON lines, the hub, the per-client queues, the WebSocket) adds. Timestamps have
millisecond resolution (truncated: up to 1 ms of added latency). All clients share this process's
single event loop and the machine's cores with the service and the emulators: a late figure may
be the client's. Never asserts: prints the figures and the targets, exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import common
import httpx
import httpx_sse
import websockets

from iot_dashboard import service as dashboard_service
from iot_emulator import lab as iotlab
from iot_emulator.profiles import catalog

TARGET_P99_MS = 100.0
BRIEF_P99_MS = 500.0
TARGET_START_S = 1.0
TARGET_10K_P99_MS = 250.0
FAKE_EMULATOR = Path(__file__).resolve().parents[1] / "tests" / "dashboard" / "fake_emulator.py"
FAKE_LAB = types.SimpleNamespace(dev_iface="fake0", dev_netns="")
"""`--fake`: no lab; the service runs the tests' stand-in emulator (`fake_emulator.py`)."""


class Receiver:
    """What one client received: stats latencies (receipt time, ms, device) and first receipt of each event."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.samples: list[tuple[float, float, str]] = []
        self.first: dict[str, dict[str, float]] = {"started": {}, "dhcp_ack": {}, "stopped": {}}
        self.dropped = 0
        self.frames = 0
        """WebSocket frames received (a `batch` holds many messages)."""

    def on(self, event: str, data: dict, received: float) -> None:
        kind = event.removeprefix("device:")
        if kind == "stats":
            sent = dt.datetime.fromisoformat(data["timestamp"]).timestamp()
            self.samples.append((received, (received - sent) * 1000, data["device_id"]))
        elif kind in self.first:
            self.first[kind].setdefault(data["device_id"], received)
        elif kind == "dropped":
            self.dropped += data["dropped"]

    def window(self, t0: float, t1: float, devices: set[str] | None = None) -> list[float]:
        return [ms for at, ms, dev in self.samples if t0 <= at < t1 and (devices is None or dev in devices)]


async def wait_ready(http: httpx.AsyncClient, timeout: float = 60.0) -> None:
    """Until /readyz says 200: the emulator processes for the imported devices are running."""
    deadline = time.monotonic() + timeout
    while (await http.get("/readyz")).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("the service did not become ready")
        await asyncio.sleep(0.1)


AUTH: dict[str, str] = {}
"""The dashboard's bearer token header, once `start_service` made it."""


async def ws_client(url: str, rx: Receiver, ready: asyncio.Event) -> None:
    async with websockets.connect(f"ws://{url}/ws", max_size=None, ping_interval=None, additional_headers=AUTH) as ws:
        async for text in ws:
            received = time.time()
            frame = json.loads(text)
            rx.frames += 1
            if frame["event"] == "snapshot":
                ready.set()
            elif frame["event"] == "batch":
                if frame["data"]["dropped"]:
                    rx.on("dropped", frame["data"], received)
                for message in frame["data"]["messages"]:
                    rx.on(f"device:{message['type']}", message, received)
            else:
                rx.on(frame["event"], frame["data"], received)


async def sse_client(socket_path: Path, rx: Receiver, ready: asyncio.Event, types: str = "stats") -> None:
    """The baseline: one emulator process's `/events` stream on its control socket."""
    transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
    http = httpx.AsyncClient(transport=transport, base_url="http://emulator", timeout=None)
    async with http, httpx_sse.aconnect_sse(http, "GET", "/events", params={"type": types}) as source:
        async for sse in source.aiter_sse():
            if sse.event == "snapshot":
                ready.set()
            else:
                rx.on(sse.event, sse.json(), time.time())


PROFILE: Path | None = None
"""`--profile`: where the service's cProfile statistics go (written when it exits)."""


def start_service(
    lab: iotlab.Lab | types.SimpleNamespace, tmp: Path, args: argparse.Namespace
) -> tuple[subprocess.Popen, str]:
    """`python -m iot_dashboard` in local mode inside the lab (settings from the environment)."""
    env = dashboard_service.lab_environment(
        lab,
        tmp,
        IOTEMU_DASHBOARD_WS_QUEUE_SIZE=str(max(2000, args.devices * 4)),
        IOTEMU_DASHBOARD_LOCAL__WARM_PROCESSES=str(args.warm),
        IOTEMU_DASHBOARD_LOCAL__DEVICES_PER_PROCESS=str(args.per_process),
        IOTEMU_DASHBOARD_LOCAL__FORK_SERVER=str(not args.no_fork_server).lower(),
        **(
            {"IOTEMU_DASHBOARD_LOCAL__EMULATOR_COMMAND": json.dumps([sys.executable, str(FAKE_EMULATOR)])}
            if args.fake
            else {}
        ),
    )
    AUTH["Authorization"] = f"Bearer {env['IOTEMU_DASHBOARD_TOKEN']}"
    log = tmp / "dashboard.log"
    with log.open("wb") as out:
        profile = ["-m", "cProfile", "-o", str(PROFILE)] if PROFILE is not None else []
        service = subprocess.Popen([sys.executable, *profile, "-m", "iot_dashboard"], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while not (match := re.search(r"iotemu dashboard: http://(\S+?)/", log.read_text(errors="replace"))):
        if service.poll() is not None or time.monotonic() > deadline:
            common.stop(service)
            raise RuntimeError(f"the dashboard did not start: see {log}")
        time.sleep(0.1)
    return service, match.group(1)


def stop_service(service: subprocess.Popen, tmp: Path | None = None, keep: Path | None = None) -> None:
    common.stop(service)
    if tmp is not None and keep is not None:
        shutil.copyfile(tmp / "dashboard.log", keep)


async def wait_for(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def last(rx: Receiver, kind: str, since: float) -> str:
    seen = rx.first[kind].values()
    return f"{max(seen) - since:.2f} s ({len(seen)})" if seen else "-"


async def measure(url: str, tmp: Path, args: argparse.Namespace) -> None:
    clients = [Receiver(f"ws client {i + 1}") for i in range(args.clients)]
    ready = [asyncio.Event() for _ in clients]
    tasks = [asyncio.create_task(ws_client(url, rx, ev)) for rx, ev in zip(clients, ready, strict=True)]
    async with httpx.AsyncClient(base_url=f"http://{url}", timeout=300, headers=AUTH) as http:
        vendors = sorted({p.vendor for p in catalog.builtin()})
        body = {"devices": [{"id": f"dev_{i:04d}", "vendor": vendors[i % len(vendors)]} for i in range(args.devices)]}
        (await http.post("/api/import", content=json.dumps(body))).raise_for_status()
        await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in ready)), 60)
        await wait_ready(http)  # the warm processes (`--warm`) answer
        base_start = Receiver("baseline: emulator /events (SSE)")
        if args.warm and not args.fake:  # the same-run baseline: one warm process's own stream sees its devices start
            ev = asyncio.Event()
            sock = sorted(tmp.glob("emu*.sock"))[0]
            tasks.append(asyncio.create_task(sse_client(sock, base_start, ev, "started,stopped")))
            await asyncio.wait_for(ev.wait(), 30)
        n = args.devices
        frames_before = [rx.frames for rx in clients]
        t_post = time.time()
        result = (await http.post("/api/devices/start-all")).json()
        t_resp = time.time() - t_post
        await wait_for(lambda: all(len(rx.first["started"]) >= n for rx in clients), 60)
        start_frames = [rx.frames for rx in clients]
        await wait_for(lambda: all(len(rx.first["dhcp_ack"]) >= n for rx in clients), args.bind_timeout)
        print(f"start-all: response in {t_resp:.2f} s ({len(result['done'])} done, {len(result['failed'])} failed)")
        rows = [
            (rx.name, last(rx, "started", t_post), last(rx, "dhcp_ack", t_post), f - f0)
            for rx, f, f0 in zip(clients, start_frames, frames_before, strict=True)
        ]
        heads = ["client", "last device:started (seen)", "last device:dhcp_ack (seen)", "frames to last started"]
        print(common.table(heads, rows))
        versus_emulator(clients, base_start, "started", t_post)
        start_s = max(max(rx.first["started"].values(), default=float("inf")) for rx in clients) - t_post
        await asyncio.sleep(2)  # the ACK burst's announcements and first stats are over
        base = Receiver("baseline: emulator /events (SSE)")
        if not args.fake:
            base_ready = asyncio.Event()
            sock = sorted(tmp.glob("emu*.sock"))[0]
            tasks.append(asyncio.create_task(sse_client(sock, base, base_ready)))
            await asyncio.wait_for(base_ready.wait(), 30)
        t0 = time.time()
        await asyncio.sleep(args.seconds)
        t1 = time.time()
        t_stop = time.time()
        frames_before = [rx.frames for rx in clients]
        (await http.post("/api/devices/stop-all")).raise_for_status()
        t_stop_resp = time.time() - t_stop
        await wait_for(lambda: all(len(rx.first["stopped"]) >= n for rx in clients), 60)
        print(f"stop-all: response in {t_stop_resp:.2f} s")
        rows = [
            (rx.name, last(rx, "stopped", t_stop), rx.frames - f0)
            for rx, f0 in zip(clients, frames_before, strict=True)
        ]
        print(common.table(["client", "last device:stopped (seen)", "frames (stop-all)"], rows))
        versus_emulator(clients, base_start, "stopped", t_stop)
        stop_s = max(max(rx.first["stopped"].values(), default=float("inf")) for rx in clients) - t_stop
        print(
            f"stop-all to the last device:stopped < {TARGET_START_S:.0f} s (slowest client): "
            f"{common.verdict(stop_s < TARGET_START_S)} ({stop_s:.2f} s)\n"
        )
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if args.fake:
        base, (t0_base, t1_base) = await naive_baseline(args)
        naive_report(clients, base, (t0, t1), (t0_base, t1_base))
    report(clients, base, t0, t1, start_s)


async def naive_baseline(args: argparse.Namespace) -> tuple[Receiver, tuple[float, float]]:
    """`ws_baseline.py` (one frame per message per client, no hub) with the same devices and clients,
    once the service is idle: all its clients' stats latencies in one receiver."""
    base = Receiver("baseline: naive per-message WebSocket")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("ws_baseline.py")),
        "--devices",
        str(args.devices),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        url = line.split("http://", 1)[1].strip().rstrip("/")
        ready = [asyncio.Event() for _ in range(args.clients)]
        tasks = [asyncio.create_task(ws_client(url, base, ev)) for ev in ready]
        await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in ready)), 30)
        await asyncio.sleep(2)
        t0 = time.time()
        await asyncio.sleep(args.seconds)
        t1 = time.time()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        proc.terminate()
        await proc.wait()
    return base, (t0, t1)


def naive_report(
    clients: list[Receiver], base: Receiver, ours: tuple[float, float], theirs: tuple[float, float]
) -> None:
    every = [ms for rx in clients for ms in rx.window(*ours)]
    naive = base.window(*theirs)
    rows = [
        row(f"all {len(clients)} ws clients (batches)", every, ours[1] - ours[0]),
        row(f"{base.name}, {len(clients)} clients", naive, theirs[1] - theirs[0]),
    ]
    print("device:stats, timestamp to receipt (ms), against the naive fan-out of the same volume (after it):")
    print(common.table(["stream", "messages", "per s", "p50", "p99", "max", "dropped"], rows))
    if every and naive:
        p = lambda v, q: sorted(v)[min(len(v) - 1, round(q * (len(v) - 1)))]  # noqa: E731
        print(
            f"batched / naive: p50 x{p(every, 0.5) / max(p(naive, 0.5), 0.1):.2f}, "
            f"p99 x{p(every, 0.99) / max(p(naive, 0.99), 0.1):.2f}; "
            f"p99 < {TARGET_10K_P99_MS:.0f} ms: {common.verdict(p(every, 0.99) < TARGET_10K_P99_MS)}\n"
        )


def versus_emulator(clients: list[Receiver], base: Receiver, kind: str, since: float) -> None:
    """The last `kind` of the baseline process's devices: at the WS clients and on its own SSE stream."""
    own = base.first[kind]
    if not own:
        return
    ws = max(rx.first[kind].get(d, float("inf")) for rx in clients for d in own) - since
    sse = max(own.values()) - since
    print(
        f"  the {len(own)} devices of one emulator process: last device:{kind} at the ws clients {ws:.2f} s, "
        f"on the emulator's own SSE {sse:.2f} s: x{ws / max(sse, 0.001):.2f}"
    )


def row(name: str, values: list[float], seconds: float, dropped: int | str = "") -> tuple[object, ...]:
    ordered = sorted(values)
    if not ordered:
        return (name, 0, "-", "-", "-", "-", dropped)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return (
        name,
        len(ordered),
        f"{len(ordered) / seconds:.0f}",
        f"{pick(0.5):.1f}",
        f"{pick(0.99):.1f}",
        f"{ordered[-1]:.1f}",
        dropped,
    )


def report(clients: list[Receiver], base: Receiver, t0: float, t1: float, start_s: float) -> None:
    seconds = t1 - t0
    base_devices = {dev for at, _, dev in base.samples if t0 <= at < t1}
    every = [ms for rx in clients for ms in rx.window(t0, t1)]
    same = [ms for rx in clients for ms in rx.window(t0, t1, base_devices)]
    baseline = base.window(t0, t1)
    rows = [row(rx.name, rx.window(t0, t1), seconds, rx.dropped) for rx in clients]
    rows.append(row(f"all {len(clients)} ws clients", every, seconds, sum(rx.dropped for rx in clients)))
    rows.append(row(f"ws, the baseline's {len(base_devices)} devices", same, seconds))
    rows.append(row(f"{base.name}", baseline, seconds))
    print(f"device:stats, timestamp to receipt, {seconds:.1f} s of steady state (ms):")
    print(common.table(["stream", "frames", "per s", "p50", "p99", "max", "dropped"], rows))
    if every and baseline and same:
        p = lambda v, q: sorted(v)[min(len(v) - 1, round(q * (len(v) - 1)))]  # noqa: E731
        print(
            f"\nws / SSE, same devices: p50 x{p(same, 0.5) / max(p(baseline, 0.5), 0.1):.1f}, "
            f"p99 x{p(same, 0.99) / max(p(baseline, 0.99), 0.1):.1f}"
        )
        p99 = p(every, 0.99)
        print(
            f"targets (information): p99 < {TARGET_P99_MS:.0f} ms: {common.verdict(p99 < TARGET_P99_MS)}; "
            f"the brief's < {BRIEF_P99_MS:.0f} ms: {common.verdict(p99 < BRIEF_P99_MS)}"
        )
    print(
        f"start-all to the last device:started < {TARGET_START_S:.0f} s (slowest client): "
        f"{common.verdict(start_s < TARGET_START_S)} ({start_s:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0, help="steady state measured")
    parser.add_argument("--bind-timeout", type=float, default=120.0, help="seconds to wait for every DHCPACK")
    parser.add_argument("--profile", type=Path, help="write the service's cProfile statistics there")
    parser.add_argument("--log", type=Path, help="keep the service's log there")
    parser.add_argument("--fake", action="store_true", help="the stand-in emulator, no lab; naive fan-out baseline")
    parser.add_argument("--per-process", type=int, default=250, help="devices per emulator process")
    parser.add_argument("--no-fork-server", action="store_true", help="start every emulator process as an interpreter")
    parser.add_argument("--warm", type=int, default=-1, help="warm emulator processes (default: enough for all)")
    args = parser.parse_args()
    if args.warm < 0:
        args.warm = -(-args.devices // args.per_process)
    global PROFILE
    PROFILE = args.profile
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces): sudo .venv/bin/python bench/ws_latency.py ...")
    print(
        f"ws_latency: {args.devices} devices, stats every 1 s, {args.clients} WebSocket clients"
        + (" (the stand-in emulator, no lab)" if args.fake else "")
    )
    lab_cm = (
        contextlib.nullcontext(FAKE_LAB) if args.fake else iotlab.lab(iotlab.LabConfig(name=f"wsbench{os.getpid():x}"))
    )
    with lab_cm as lab, tempfile.TemporaryDirectory() as tmp:
        service, url = start_service(lab, Path(tmp), args)
        try:
            asyncio.run(measure(url, Path(tmp), args))
        finally:
            stop_service(service, Path(tmp), args.log)


if __name__ == "__main__":
    main()
