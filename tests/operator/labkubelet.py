"""A test kubelet that really runs the operator's pods: each pod's container command as a local process.

It watches the stand-in API server's emulator pods (polling, level-based like a kubelet) and, for each,
writes the manifest the downward-API volume would show, starts `iotemu run` with the pod's own
arguments, the few a node would resolve differently replaced (the lab's device interface, its network
namespace, a free port on 127.0.0.1 for `$(POD_IP)`), reports the pod Running and Ready, and stops
the process with SIGTERM when the pod is deleted or replaced (the emulator then releases its leases).
A process that exits by itself is reported as CrashLoopBackOff.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from iot_emulator import lab as iotlab
from iot_operator import pods
from iot_operator import settings as settings_mod
from tests.operator import harness


@dataclasses.dataclass
class Process:
    uid: str
    proc: subprocess.Popen[bytes]
    reported: str = ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabKubelet:
    def __init__(
        self, cluster: harness.Cluster, settings: settings_mod.OperatorSettings, lab: iotlab.Lab, root: Path
    ) -> None:
        self.cluster = cluster
        self.settings = settings
        self.lab = lab
        self.root = root
        self.running: dict[str, Process] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def node_args(self, name: str, args: list[str], port: int) -> list[str]:
        """The pod's arguments as a node would run them: lab interface, free port, own files."""
        directory = self.root / name
        out: list[str] = []
        replaced = {
            "-f": str(directory / "manifest.yaml"),
            "--interface": self.lab.dev_iface,
            "--http-port": str(port),
            "--http-host": "127.0.0.1",
            "--state-dir": str(directory / "state"),
        }
        values = iter(args)
        for arg in values:
            out.append(arg)
            if arg in replaced:
                next(values)
                out.append(replaced[arg])
        return [*out, "--netns", self.lab.dev_netns]

    async def _start(self, pod: dict[str, Any]) -> None:
        name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
        directory = self.root / name
        shutil.rmtree(directory, ignore_errors=True)
        (directory / "state").mkdir(parents=True)
        (directory / "manifest.yaml").write_text(pod["metadata"]["annotations"][pods.MANIFEST])
        [container] = pod["spec"]["containers"]
        port = _free_port()
        command = [str(Path(sys.executable).parent / container["command"][0]), *container["command"][1:]]
        log = (directory / "emulator.log").open("wb")
        proc = subprocess.Popen([*command, *self.node_args(name, container["args"], port)], stdout=log, stderr=log)
        self.running[name] = Process(uid, proc)
        self.settings.stats_urls[f"{harness.NS}/{name}"] = f"http://127.0.0.1:{port}"

    def _stop(self, name: str) -> None:
        process = self.running.pop(name)
        if process.proc.poll() is None:
            process.proc.send_signal(signal.SIGTERM)
            try:
                process.proc.wait(10)
            except subprocess.TimeoutExpired:
                process.proc.kill()
                process.proc.wait()

    async def _report(self, name: str, process: Process) -> None:
        code = process.proc.poll()
        if code is None:
            state = "running"
            status = {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": pods.CONTAINER, "ready": True, "restartCount": 0, "state": {"running": {}}}
                ],
            }
        else:
            state = f"exited {code}"
            waiting = {"reason": "CrashLoopBackOff", "message": f"exit code {code}"}
            status = {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {
                        "name": pods.CONTAINER,
                        "ready": False,
                        "restartCount": 1,
                        "state": {"waiting": waiting},
                        "lastState": {"terminated": {"exitCode": code, "reason": "Error"}},
                    }
                ],
            }
        if process.reported != state:
            await self.cluster.call("PATCH", f"/api/v1/namespaces/{harness.NS}/pods/{name}/status", {"status": status})
            process.reported = state

    async def sync(self) -> None:
        """One kubelet pass: start new pods, stop deleted or replaced ones, report each one's state."""
        async with self._lock:
            await self._sync()

    async def _sync(self) -> None:
        desired = await self.cluster.pods()
        for name in list(self.running):
            if name not in desired or desired[name]["metadata"]["uid"] != self.running[name].uid:
                await asyncio.to_thread(self._stop, name)
        for name, pod in desired.items():
            if name not in self.running and not pod["metadata"].get("deletionTimestamp"):
                await self._start(pod)
        for name, process in list(self.running.items()):
            await self._report(name, process)

    async def _loop(self) -> None:
        while True:
            await self.sync()
            await asyncio.sleep(0.2)  # a kubelet's pace, not a wait for a result

    async def __aenter__(self) -> LabKubelet:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        async with self._lock:
            for name in list(self.running):
                await asyncio.to_thread(self._stop, name)

    def log(self, name: str) -> str:
        path = self.root / name / "emulator.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""
