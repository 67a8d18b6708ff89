"""`docker compose` on docker-compose.yaml, for real: Debian's docker-compose (1.29) drives a private
Docker Engine whose containers' "host network" is a lab's device namespace, never the host's.

The Engine (Debian's dockerd, its own data root and socket) is started with `nsenter --net` into the
lab's device namespace, so the compose file's `network_mode: host` puts the dashboard on the lab
segment (`lab0`, dnsmasq behind it). The app image is the one `cluster/images.sh` built, loaded from its
archive. The dashboard serves its API with the token from its data volume; a device added through it
binds a lease; `down` releases it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iot_emulator import lab as iotlab
from tests.cluster.conftest import ROOT, built_images, wait_for
from tests.conftest import LabFactory

COMPOSE = ROOT / "docker-compose.yaml"
DASHBOARD = "http://127.0.0.1:8080"


@contextlib.contextmanager
def engine_in(netns: str) -> Iterator[str]:
    """A Docker Engine whose host network is `netns`; yields its DOCKER_HOST. Everything it made (data
    root, the namespace mounts of its exec root) is gone after it, also when the test fails."""
    directory = Path(tempfile.mkdtemp(prefix="iotdock-", dir="/var/tmp"))  # short: unix socket paths
    host = f"unix://{directory}/docker.sock"
    argv = ["nsenter", f"--net=/run/netns/{netns}", "dockerd", "--iptables=false", "--ip6tables=false"]
    argv += ["--bridge=none", f"--data-root={directory}/data", f"--exec-root={directory}/exec"]
    argv += [f"--pidfile={directory}/dockerd.pid", f"--host={host}"]
    with open(directory / "dockerd.log", "wb") as log:
        daemon = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for("dockerd answering", lambda: daemon.poll() is None and docker(host, "version").returncode == 0)
        yield host
    finally:
        daemon.terminate()  # it stops its containers and its containerd first
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        prefix = f"{directory}/"
        for point in sorted(
            (line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()),
            key=len,
            reverse=True,
        ):
            if point.startswith(prefix):
                subprocess.run(["umount", "-l", point], check=True)
        shutil.rmtree(directory)


def docker(host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True, timeout=300)


def compose(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["docker-compose", "-p", env["COMPOSE_PROJECT_NAME"], "-f", str(COMPOSE), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=True)


def api(lab: iotlab.Lab, token: str | None, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """`method path` on the dashboard, from inside the lab's device namespace (where it listens)."""
    argv = ["curl", "-s", "-m", "10", "-X", method, "-o", "-", "-w", "\n%{http_code}"]
    if token is not None:
        argv += ["-H", f"Authorization: Bearer {token}"]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
    out = lab.run_in_dev(*argv, f"{DASHBOARD}{path}").stdout
    text, _, code = out.rpartition("\n")
    return int(code), json.loads(text) if text else None


def test_compose_runs_the_dashboard_on_the_lab_and_its_device_binds(lab_factory: LabFactory) -> None:
    if shutil.which("docker-compose") is None:
        pytest.fail("Debian's docker-compose is not installed: run `sudo make setup`", pytrace=False)
    lab = lab_factory()
    archive = built_images()["iot-emulator-app"]
    with engine_in(lab.dev_netns) as host:
        assert docker(host, "load", "-q", "-i", str(archive)).returncode == 0
        env = {
            **os.environ,
            "DOCKER_HOST": host,
            "COMPOSE_PROJECT_NAME": f"iotcompose{secrets.token_hex(3)}",
            "IOTEMU_INTERFACE": lab.dev_iface,
        }
        compose(env, "up", "-d", "--no-build")
        try:
            _check_dashboard(lab, env, host)
        finally:
            compose(env, "down", "-v", "--timeout", "15")
        wait_for("the lease released on stop", lambda: not lab.leases())


def _check_dashboard(lab: iotlab.Lab, env: dict[str, str], host: str) -> None:
    [container] = compose(env, "ps", "-q", "dashboard").stdout.split()
    [inspected] = json.loads(docker(host, "inspect", container).stdout)
    pid = inspected["State"]["Pid"]
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{lab.dev_netns}").st_ino, (
        "the container's host network is the lab's device namespace"
    )
    config = inspected["HostConfig"]
    assert config["NetworkMode"] == "host" and config["CapDrop"] == ["ALL"]
    assert sorted(config["CapAdd"]) == ["NET_ADMIN", "NET_RAW"]

    wait_for("the dashboard serving", lambda: api(lab, None, "GET", "/healthz")[0] == 200)
    assert api(lab, None, "GET", "/api/devices")[0] == 401, "the API needs the token"
    token = compose(env, "exec", "-T", "dashboard", "cat", "/data/dashboard-token").stdout.strip()
    assert api(lab, token, "GET", "/api/devices") == (200, [])
    device = {"name": "cam-1", "spec": {"profile": "hikvision-ds-2cd2042fwd"}}
    code, created = api(lab, token, "POST", "/api/devices", device)
    assert code == 201, created
    mac = created["spec"]["mac"]
    assert api(lab, token, "POST", "/api/devices/cam-1/start")[1]["done"] == ["cam-1"]
    shown = wait_for(
        "the device bound",
        lambda: (d := api(lab, token, "GET", "/api/devices/cam-1")[1])["status"]["phase"] == "bound" and d,
    )
    assert lab.leases()[mac][0] == shown["status"]["ip"], "the lease is the lab dnsmasq's"
