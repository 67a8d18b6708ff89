"""End to end in a lab: the service, real `iotemu run --control-socket` processes, a real DHCP server.

Traffic stays in the lab's namespaces (the emulator's raw socket is opened in the device
namespace); the service listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI

from iot_dashboard import app as app_mod
from iot_dashboard.settings import Settings
from iot_emulator import lab as iotlab
from tests import poll
from tests.dashboard.conftest import TOKEN, Watcher, device_body, ws_next

AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node") or "node"  # the web tab's build needs it: `make test` has it

pytestmark = pytest.mark.lab


@pytest.fixture
def lab_app_settings(settings: Settings, dnsmasq_lab: iotlab.Lab) -> Settings:
    local = settings.local.model_copy(
        update={
            "emulator_command": [sys.executable, "-m", "iot_emulator"],
            "interface": dnsmasq_lab.dev_iface,
            "netns": dnsmasq_lab.dev_netns,
            "stats_interval": 0.5,
        }
    )
    return settings.model_copy(update={"local": local})


@pytest.fixture
async def app(lab_app_settings: Settings) -> AsyncIterator[FastAPI]:  # the suite's `app`, in the lab
    application = app_mod.create_app(lab_app_settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_device_lifecycle_over_websocket(
    client: httpx.AsyncClient, server_url: str, dnsmasq_lab: iotlab.Lab
) -> None:
    assert (await client.post("/api/devices", json=device_body("cam-1"))).status_code == 201
    async with websockets.connect(f"ws://{server_url}/ws", additional_headers=AUTH) as ws:
        snapshot = await ws_next(ws, "snapshot")
        assert [d["name"] for d in snapshot["data"]["devices"]] == ["cam-1"]
        assert (await client.post("/api/devices/cam-1/start")).json()["done"] == ["cam-1"]
        ack = (await ws_next(ws, "device:dhcp_ack", timeout=20))["data"]
        stats = await ws_next(ws, lambda f: f["event"] == "device:stats" and f["data"]["stats"]["current_ip"])
        assert stats["data"]["stats"]["current_ip"] == ack["assigned_ip"]
        device = (await client.get("/api/devices/cam-1")).json()
        assert device["status"]["ip"] == ack["assigned_ip"]
        assert dnsmasq_lab.leases()[device["status"]["mac"]][0] == ack["assigned_ip"]
        await client.post("/api/devices/cam-1/stop")
        stopped = await ws_next(ws, "device:stopped")
        assert stopped["data"]["device_id"] == "cam-1"
    assert (await client.get("/api/devices/cam-1")).json()["status"]["phase"] == "stopped"


async def test_start_all_and_stop_all_200_devices(
    client: httpx.AsyncClient, watch: Watcher, dnsmasq_lab: iotlab.Lab
) -> None:
    brief = {"devices": [{"id": f"cam_{i:03d}", "vendor": "Tinycam", "dhcp_mode": "auto"} for i in range(200)]}
    bad = {"devices": [*brief["devices"], {"id": "bad_1", "vendor": "Tinycam", "mac": "zz"}]}
    refused = await client.post("/api/import", content=json.dumps(bad))
    assert refused.status_code == 422
    assert refused.json()["errors"] == ["entry 201 (bad_1): mac: 'zz' is not a MAC address"] or "entry 201" in str(
        refused.json()
    )
    assert (await client.get("/api/devices")).json() == []
    assert len((await client.post("/api/import", content=json.dumps(brief))).json()["created"]) == 200
    result = (await client.post("/api/devices/start-all")).json()
    assert len(result["done"]) == 200 and result["failed"] == []
    bound: set[str] = set()
    while len(bound) < 200:
        bound.add((await watch.next(lambda m: m["type"] == "dhcp_ack", timeout=60))["device_id"])

    async def all_bound() -> list[dict[str, Any]] | None:
        """After its ACK a device checks its address (RFC 5227, ~1 s): `bound` comes with its next stats."""
        listed: list[dict[str, Any]] = (await client.get("/api/devices")).json()
        return listed if {d["status"]["phase"] for d in listed} == {"bound"} else None

    devices = await poll.until_async(all_bound, timeout=30, what="every device bound after its ACK")
    assert len({d["status"]["ip"] for d in devices}) == 200
    stopped = (await client.post("/api/devices/stop-all")).json()
    assert len(stopped["done"]) == 200
    gone: set[str] = set()
    while len(gone) < 200:
        gone.add((await watch.next(lambda m: m["type"] == "stopped", timeout=30))["device_id"])
    await poll.until_async(lambda: not dnsmasq_lab.leases(), 10)


async def test_killed_emulator_is_restarted_and_reported(
    app: FastAPI, client: httpx.AsyncClient, watch: Watcher
) -> None:
    await client.post("/api/devices", json=device_body("cam-1", running=True))
    first = await watch.next(lambda m: m["type"] == "dhcp_ack", timeout=20)
    (pid,) = app.state.backend.supervisor.pids()
    os.kill(pid, signal.SIGKILL)
    error = await watch.next(lambda m: m["type"] == "error" and m["device_id"] == "cam-1")
    assert f"pid {pid}" in error["error"] and "code -9" in error["error"]
    again = await watch.next(lambda m: m["type"] == "dhcp_ack", timeout=20)
    assert again["assigned_ip"] == first["assigned_ip"]  # the lease was remembered
    assert (await client.get("/api/devices/cam-1")).json()["status"]["phase"] == "bound"


def _emulators_of(marker: str) -> list[int]:
    """Pids of processes whose command line contains `marker` (our socket directory)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and "iot_emulator" in cmdline:
                pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize("fork", ["true", "false"], ids=["fork-server", "exec"])
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_service_exit_leaves_no_emulator_process(
    lab_app_settings: Settings, tmp_path: Path, how: signal.Signals, fork: str
) -> None:
    local = lab_app_settings.local
    env = {
        **os.environ,
        "IOTEMU_DASHBOARD_PORT": "0",
        "IOTEMU_DASHBOARD_TOKEN": TOKEN,
        "IOTEMU_DASHBOARD_LOCAL__DATA_FILE": str(local.data_file),
        "IOTEMU_DASHBOARD_LOCAL__PROFILES_DIR": str(local.profiles_dir),
        "IOTEMU_DASHBOARD_LOCAL__INTERFACE": str(local.interface),
        "IOTEMU_DASHBOARD_LOCAL__NETNS": str(local.netns),
        "IOTEMU_DASHBOARD_LOCAL__SOCKET_DIR": str(tmp_path),
        "IOTEMU_DASHBOARD_LOCAL__STATE_DIR": str(local.state_dir),
        "IOTEMU_DASHBOARD_LOCAL__FORK_SERVER": fork,  # with it, the zygote and its forks must go too
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "iot_dashboard"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert service.stdout is not None
        url = ""
        for line in service.stdout:
            if line.startswith("iotemu dashboard: http://"):
                url = line.split(": ", 1)[1].split()[0]
                break
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            created = await http.post("/api/devices", json=device_body("cam-1", running=True))
            assert created.status_code == 201
        await poll.until_async(lambda: _emulators_of(str(tmp_path)), 10)
        service.send_signal(how)
        code = service.wait(timeout=20)
        assert code == (0 if how == signal.SIGTERM else -9)
        await poll.until_async(lambda: not _emulators_of(str(tmp_path)), 10)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()


@pytest.mark.parametrize("fork", ["true", "false"], ids=["fork-server", "exec"])
async def test_killed_service_leaves_its_devices_leases(
    lab_app_settings: Settings, tmp_path: Path, dnsmasq_lab: iotlab.Lab, fork: str
) -> None:
    """A crashed service is a power cut for its devices, not a stop: they send no DHCPRELEASE, so the
    server keeps their leases and the restarted service's devices ask for the same addresses
    (INIT-REBOOT). Found by the soak (bench/soak.py): every kill -9 of the service moved them all."""
    local = lab_app_settings.local
    env = {
        **os.environ,
        "IOTEMU_DASHBOARD_PORT": "0",
        "IOTEMU_DASHBOARD_TOKEN": TOKEN,
        "IOTEMU_DASHBOARD_LOCAL__DATA_FILE": str(local.data_file),
        "IOTEMU_DASHBOARD_LOCAL__PROFILES_DIR": str(local.profiles_dir),
        "IOTEMU_DASHBOARD_LOCAL__INTERFACE": str(local.interface),
        "IOTEMU_DASHBOARD_LOCAL__NETNS": str(local.netns),
        "IOTEMU_DASHBOARD_LOCAL__SOCKET_DIR": str(tmp_path),
        "IOTEMU_DASHBOARD_LOCAL__STATE_DIR": str(local.state_dir),
        "IOTEMU_DASHBOARD_LOCAL__FORK_SERVER": fork,
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "iot_dashboard"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert service.stdout is not None
        url = next(line for line in service.stdout if line.startswith("iotemu dashboard: http://"))
        async with httpx.AsyncClient(base_url=url.split(": ", 1)[1].split()[0], headers=AUTH) as http:
            created = (await http.post("/api/devices", json=device_body("cam-1", running=True))).json()
            mac = created["status"]["mac"]
            address = (await poll.until_async(lambda: dnsmasq_lab.leases().get(mac), 20))[0]
        service.kill()
        service.wait(timeout=20)
        await poll.until_async(lambda: not _emulators_of(str(tmp_path)), 10)
        assert dnsmasq_lab.leases().get(mac, ("released",))[0] == address
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()


async def test_an_orchestrator_written_from_the_brief(
    client: httpx.AsyncClient, server_url: str, dnsmasq_lab: iotlab.Lab, tmp_path: Path
) -> None:
    """examples/brief-orchestrator.mjs (npm socket.io-client, the brief's REST calls and events) lists,
    starts, asks for stats and stops the brief's own devices; their addresses come from the DHCP server
    and are released at stop."""
    brief = {"devices": [{"id": "camera_01", "vendor": "Hikvision"}, {"id": "plug_02", "vendor": "TP-Link"}]}
    assert (await client.post("/api/import", content=json.dumps(brief))).status_code == 200
    shutil.copy(ROOT / "examples" / "brief-orchestrator.mjs", tmp_path)
    (tmp_path / "node_modules").symlink_to(ROOT / "dashboard" / "web" / "node_modules")
    env = {
        "PATH": os.environ["PATH"],
        "IOTEMU_URL": f"http://{server_url}",
        "IOTEMU_TOKEN": TOKEN,
        "IOTEMU_TIMEOUT": "40",
    }
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(tmp_path / "brief-orchestrator.mjs"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert sorted(summary["listed"]) == ["camera_01", "plug_02"]
    assert summary["started"] == summary["stopped"] == ["camera_01", "plug_02"]
    server_log = (dnsmasq_lab.directory / "dnsmasq.log").read_text()
    for device_id in ("camera_01", "plug_02"):
        ip = summary["stats"][device_id]["current_ip"]
        assert f"DHCPACK({dnsmasq_lab.gw_iface}) {ip} " in server_log
        assert f"DHCPRELEASE({dnsmasq_lab.gw_iface}) {ip} " in server_log
        assert summary["stats"][device_id]["packets_sent"] > 0
        assert summary["responses"][device_id]["current_ip"] == summary["stats"][device_id]["current_ip"]
    phases = {d["name"]: d["status"]["phase"] for d in (await client.get("/api/devices")).json()}
    assert phases == {"camera-01": "stopped", "plug-02": "stopped"}


async def test_scenario_behaviours_reach_the_websocket_with_their_traffic(
    client: httpx.AsyncClient, server_url: str, dnsmasq_lab: iotlab.Lab
) -> None:
    """A scenario set from the REST API runs in the real emulator; its labels and its DHCP arrive on /ws."""
    scenario = {"name": "unplug", "steps": [{"at": 1, "behaviour": {"kind": "power_cycle", "down": 1}}]}
    async with websockets.connect(f"ws://{server_url}/ws", additional_headers=AUTH) as ws:
        await ws_next(ws, "snapshot")
        assert (await client.post("/api/devices", json=device_body("cam-1", running=True))).status_code == 201
        await ws_next(ws, "device:dhcp_ack", timeout=20)
        assert (await client.put("/api/devices/cam-1/scenario", json=scenario)).status_code == 200
        started = await ws_next(ws, lambda f: f["event"] == "device:scenario" and f["data"]["state"] == "started", 30)
        assert (started["data"]["scenario"], started["data"]["behaviour"]) == ("unplug", "power_cycle")
        seen = set()
        while len(seen) < 2:  # the reboot's REQUEST (INIT-REBOOT) and the end, the REQUEST first
            frame = await ws_next(ws, lambda f: f["event"] in ("device:scenario", "device:dhcp_request"), 10)
            seen.add(frame["event"])
            assert frame["data"]["device_id"] == "cam-1"
            assert frame["event"] == "device:dhcp_request" or frame["data"]["state"] == "ended"
    lines = (await client.get("/api/logs", params={"device": "cam-1"})).json()
    assert any(m["type"] == "scenario" and m["state"] == "ended" for m in lines), lines


async def test_capture_of_a_running_device_through_the_dashboard(
    client: httpx.AsyncClient, server_url: str, watch: Watcher, dnsmasq_lab: iotlab.Lab, tmp_path: Path
) -> None:
    """3 s of cam-1 while it restarts (DHCP) and the gateway, its neighbour cache flushed, pings it (ARP):
    tshark opens the file, and every frame is cam-1's (from or to its MAC, or a DHCP reply to its chaddr)."""
    for name in ("cam-1", "cam-2"):  # cam-2 keeps the process up while cam-1 restarts
        assert (await client.post("/api/devices", json=device_body(name, running=True))).status_code == 201
        await watch.next(lambda m: m["type"] == "dhcp_ack" and m["device_id"] == name, timeout=20)  # noqa: B023
    mac = (await client.get("/api/devices/cam-1")).json()["status"]["mac"]
    async with httpx.AsyncClient(base_url=f"http://{server_url}") as anonymous:
        assert (await anonymous.get("/api/devices/cam-1/capture?seconds=3")).status_code == 401
    pcap = tmp_path / "cam-1.pcap"
    async with (
        httpx.AsyncClient(base_url=f"http://{server_url}", headers=AUTH, timeout=30) as real,
        real.stream("GET", "/api/devices/cam-1/capture", params={"seconds": 3}) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-disposition"].startswith('attachment; filename="device-cam-1-')
        chunks = resp.aiter_raw()
        body = bytearray(await anext(chunks))  # the header: the capture runs in the emulator
        assert (await client.post("/api/devices/cam-1/stop")).json()["done"] == ["cam-1"]
        assert (await client.post("/api/devices/cam-1/start")).json()["done"] == ["cam-1"]
        ack = await watch.next(lambda m: m["type"] == "dhcp_ack" and m["device_id"] == "cam-1", timeout=20)
        await asyncio.to_thread(dnsmasq_lab.run_in_gw, "ip", "neigh", "flush", "all")
        await asyncio.to_thread(dnsmasq_lab.run_in_gw, "ping", "-c", "1", "-W", "1", ack["assigned_ip"])
        async for chunk in chunks:
            body += chunk
    pcap.write_bytes(body)
    fields = ["eth.src", "eth.dst", "dhcp.hw.mac_addr", "frame.protocols"]
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-T", "fields", *(a for f in fields for a in ("-e", f))],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows
    for src, dst, chaddr, _ in rows:
        assert mac in (src, dst, chaddr), (src, dst, chaddr)
    protocols = {p for *_, stack in rows for p in stack.split(":")}
    assert {"dhcp", "arp"} <= protocols, protocols
    dhcp_types = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "dhcp", "-T", "fields", "-e", "dhcp.option.dhcp"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    assert {"7", "1", "3"} <= set(dhcp_types), dhcp_types  # RELEASE, DISCOVER, REQUEST (and the replies)
