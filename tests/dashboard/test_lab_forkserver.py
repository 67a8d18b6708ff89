"""The fork server (`python -m iot_emulator.zygote`) under the local backend, in a lab.

The service's emulator processes are forks of the zygote: a device binds through them, a killed
one is restarted (again a fork), a child dies with the zygote, and the zygote refuses what is not
a well-formed request from root. `test_lab_e2e.py` covers the service's exit with it on.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from iot_dashboard import app as app_mod
from iot_dashboard.backends.local import forkserver, supervisor
from iot_dashboard.settings import Settings
from iot_emulator.config import fork_request
from tests import poll
from tests.dashboard import test_lab_e2e
from tests.dashboard.conftest import Watcher, device_body

pytestmark = pytest.mark.lab
lab_app_settings = test_lab_e2e.lab_app_settings
"""The lab's service settings (the real emulator; the fork server on by default)."""


def _ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    """Running and not a zombie (a zombie's /proc entry stays until it is reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
async def app(lab_app_settings: Settings) -> AsyncIterator[FastAPI]:
    application = app_mod.create_app(lab_app_settings)
    async with application.router.lifespan_context(application):
        yield application


def _supervisor(app: FastAPI) -> supervisor.Supervisor:
    sup = app.state.backend.supervisor
    assert isinstance(sup, supervisor.Supervisor)
    return sup


def _zygote_pid(app: FastAPI) -> int:
    server = _supervisor(app).fork_server
    assert server is not None and server.running and server.proc.pid is not None
    return server.proc.pid


async def test_forked_emulator_binds_a_device(app: FastAPI, client: httpx.AsyncClient, watch: Watcher) -> None:
    await client.post("/api/devices", json=device_body("cam-1", running=True))
    ack = await watch.next(lambda m: m["type"] == "dhcp_ack", timeout=20)
    (pid,) = _supervisor(app).pids()
    assert _ppid(pid) == _zygote_pid(app)  # a fork, not a new interpreter
    assert (await client.get("/api/devices/cam-1")).json()["status"]["ip"] == ack["assigned_ip"]


async def test_killed_fork_is_restarted_as_a_fork(app: FastAPI, client: httpx.AsyncClient, watch: Watcher) -> None:
    await client.post("/api/devices", json=device_body("cam-1", running=True))
    first = await watch.next(lambda m: m["type"] == "dhcp_ack", timeout=20)
    (pid,) = _supervisor(app).pids()
    os.kill(pid, signal.SIGKILL)
    error = await watch.next(lambda m: m["type"] == "error" and m["device_id"] == "cam-1")
    assert f"pid {pid}" in error["error"] and "code -9" in error["error"]
    again = await watch.next(lambda m: m["type"] == "dhcp_ack", timeout=20)
    assert again["assigned_ip"] == first["assigned_ip"]
    (new_pid,) = _supervisor(app).pids()
    assert new_pid != pid and _ppid(new_pid) == _zygote_pid(app)
    assert not _alive(pid)  # reaped by the zygote


async def test_children_die_with_the_zygote_which_is_started_again(
    app: FastAPI, client: httpx.AsyncClient, watch: Watcher
) -> None:
    await client.post("/api/devices", json=device_body("cam-1", running=True))
    await watch.next(lambda m: m["type"] == "dhcp_ack", timeout=20)
    (pid,) = _supervisor(app).pids()
    zygote_pid = _zygote_pid(app)
    os.kill(zygote_pid, signal.SIGKILL)
    await poll.until_async(lambda: not _alive(pid), 10)  # PR_SET_PDEATHSIG: SIGKILL when the zygote goes
    await watch.next(lambda m: m["type"] == "error" and m["device_id"] == "cam-1")
    await watch.next(lambda m: m["type"] == "dhcp_ack", timeout=30)  # restarted meanwhile as a new interpreter
    (new_pid,) = _supervisor(app).pids()
    assert _ppid(new_pid) == os.getpid()
    sup = _supervisor(app)
    await poll.until_async(lambda: sup.fork_server is not None and sup.fork_server.running, 20)
    assert _zygote_pid(app) != zygote_pid and not _alive(zygote_pid)  # a new zygote; the old one reaped


@pytest.fixture
async def zygote_server(tmp_path: Path) -> AsyncIterator[forkserver.ForkServer]:
    server = forkserver.ForkServer(sys.executable, tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _ask(path: Path, body: bytes, fds: list[int]) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.settimeout(10)
        conn.connect(str(path))
        socket.send_fds(conn, [body], fds)
        data, got, _, _ = socket.recv_fds(conn, 4096, 1)
        for fd in got:
            os.close(fd)
        reply = json.loads(data)
        assert isinstance(reply, dict)
        return reply


async def test_zygote_refuses_bad_requests(zygote_server: forkserver.ForkServer) -> None:
    path = zygote_server.path
    assert path.stat().st_mode & 0o777 == 0o600
    r, w = os.pipe()
    try:
        pair = [w, w]
        assert "argv" in str(_ask(path, b'{"argv": "run"}', pair)["error"])
        assert "argv" in str(_ask(path, b'{"argv": []}', pair)["error"])
        assert "extra" in str(_ask(path, b'{"argv": ["run"], "env": {}}', pair)["error"]).lower()
        assert "json" in str(_ask(path, b"not json", pair)["error"]).lower()
        assert "file descriptors" in str(_ask(path, b'{"argv": ["run"]}', [w])["error"])
        too_big = json.dumps({"argv": ["x" * 4000] * 20}).encode()
        assert len(too_big) > fork_request.MAX_REQUEST
        assert "bytes" in str(_ask(path, too_big, pair)["error"])
        # still serving, and a good request forks
        child = await zygote_server.spawn([sys.executable, "-m", "iot_emulator", "profiles", "list"])
        assert child.stdout is not None
        assert (await child.stdout.read()).strip()
        assert await child.wait() == 0
    finally:
        os.close(r)
        os.close(w)


def test_only_root_reaches_the_zygote(zygote_server: forkserver.ForkServer) -> None:
    probe = "import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])"
    nobody = subprocess.run(
        ["/usr/bin/python3", "-c", probe, str(zygote_server.path)],  # one `nobody` may run (not the venv's)
        user=65534,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert nobody.returncode != 0 and "PermissionError" in nobody.stderr
