"""The local backend end to end with the fake emulator: store, supervisor, reconcile, crash and restart."""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
from fastapi import FastAPI

from iot_dashboard import app as app_mod
from iot_dashboard.settings import Settings
from tests import poll
from tests.dashboard.conftest import TOKEN, Watcher, device_body


async def test_start_device_reports_lease_and_stop(client: httpx.AsyncClient, watch: Watcher) -> None:
    assert (await client.post("/api/devices", json=device_body("cam-1"))).status_code == 201
    result = (await client.post("/api/devices/cam-1/start")).json()
    assert result == {"action": "start", "done": ["cam-1"], "failed": []}
    ack = await watch.next(lambda m: m["type"] == "dhcp_ack")
    device = (await client.get("/api/devices/cam-1")).json()
    assert device["status"]["ip"] == ack["assigned_ip"]
    assert device["status"]["phase"] == "bound"
    await client.post("/api/devices/cam-1/stop")
    await watch.next(lambda m: m["type"] == "stopped")
    assert (await client.get("/api/devices/cam-1")).json()["status"]["phase"] == "stopped"


async def test_killed_process_is_restarted_and_reported(
    app: FastAPI, client: httpx.AsyncClient, watch: Watcher
) -> None:
    supervisor = app.state.backend.supervisor
    await client.post("/api/devices", json=device_body("cam-1", running=True))
    await watch.next(lambda m: m["type"] == "dhcp_ack")
    (pid,) = supervisor.pids()
    os.kill(pid, signal.SIGKILL)
    error = await watch.next(lambda m: m["type"] == "error" and m["device_id"] == "cam-1")
    assert "exited with code -9" in error["error"]
    assert (await client.get("/api/devices/cam-1")).json()["status"]["phase"] == "error"
    await watch.next(lambda m: m["type"] == "started" and m["device_id"] == "cam-1")
    await watch.next(lambda m: m["type"] == "dhcp_ack" and m["device_id"] == "cam-1")
    await poll.until_async(lambda: supervisor.restarts == 1)  # its log record may come before the re-added device's
    assert supervisor.pids() != [pid]
    logs = (await client.get("/api/logs", params={"device": "dashboard", "q": "restarted"})).json()
    assert "1 devices re-added" in logs[-1]["message"]


async def test_full_disk_refuses_the_change_clearly_and_keeps_the_file(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full: a state change answers 507 naming the file and the cause (it was a bare 500), the
    file is left byte for byte, and the device keeps running. The soak fills a real tmpfs."""
    from iot_emulator.config import bounded

    assert (await client.post("/api/devices", json=device_body("cam-1", running=True))).status_code == 201
    data_file = settings.local.data_file
    before = data_file.read_bytes()

    def full(*_args: object, **_kw: object) -> NoReturn:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(bounded, "write_atomic", full)
    response = await client.post("/api/devices/cam-1/stop")
    assert response.status_code == 507
    assert str(data_file) in response.json()["detail"] and "No space left" in response.json()["detail"]
    assert data_file.read_bytes() == before
    assert (await client.get("/api/devices/cam-1")).json()["status"]["running"] is True


async def test_no_process_is_kept_for_stopped_devices(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Stored, stopped devices cost no root process; stopping the last device of a process reaps it."""
    supervisor = app.state.backend.supervisor
    supervisor.settings = supervisor.settings.model_copy(update={"devices_per_process": 2})
    app.state.backend.settings.local = supervisor.settings
    for name in ("cam-1", "cam-2", "cam-3", "cam-4", "cam-5"):
        assert (await client.post("/api/devices", json=device_body(name))).status_code == 201
    assert supervisor.pids() == []
    result = (await client.post("/api/devices/start-all")).json()
    assert sorted(result["done"]) == ["cam-1", "cam-2", "cam-3", "cam-4", "cam-5"]
    pids = supervisor.pids()
    assert len(pids) == 3  # 5 devices, 2 per process
    await client.post("/api/devices/stop-all")
    assert supervisor.pids() == []
    for pid in pids:  # reaped, not zombies: the pid is gone from the process table
        assert not Path(f"/proc/{pid}").exists()


async def test_warm_processes_wait_for_the_next_start(settings: Settings) -> None:
    """With `warm_processes`, Start All finds its process running (no interpreter start on the way)
    and, once Stop All stopped it, another is started in the background for the next time."""
    local = settings.local.model_copy(update={"warm_processes": 1})
    application = app_mod.create_app(settings.model_copy(update={"local": local}))
    async with application.router.lifespan_context(application):
        supervisor = application.state.backend.supervisor
        transport = httpx.ASGITransport(app=application)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://dashboard", headers=headers) as client:
            await poll.until_async(lambda: supervisor.warming == 0 and supervisor.pids())
            assert (await client.get("/readyz")).status_code == 200
            (warm,) = supervisor.pids()
            assert supervisor.running_units() == {}
            await client.post("/api/devices", json=device_body("cam-1"))
            assert (await client.post("/api/devices/start-all")).json()["done"] == ["cam-1"]
            assert supervisor.pids() == [warm]  # the device went into the warm process
            await client.post("/api/devices/stop-all")
            assert not Path(f"/proc/{warm}").exists()  # stopped (SIGTERM: releases, `stopped`), reaped
            await poll.until_async(lambda: supervisor.warming == 0 and supervisor.pids())
            assert supervisor.pids() != [warm] and supervisor.running_units() == {}
