"""One emulator process (`iotemu run --control-socket`), seen from the service: spawn, talk, read, stop.

The process starts with no device; devices are added and removed through its control API on a
unix socket (`POST /devices`, `DELETE /devices/{id}`), so one process hosts hundreds of devices
and starting one more costs a request, not a new Python interpreter. Its stdout carries the
JSON-lines messages (the seed contract), read in chunks and handed to `on_message` with their
JSON text once they fit their model (`events.accepted_lines`; a line that does not is logged and
dropped); stderr lines go to the service log and the last ones are kept to explain a crash.

Children never outlive the service: each is made a session leader (its own process group, so the
group can be killed whole) and asks the kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`,
set between fork and exec). SIGKILL, not SIGTERM: a service that crashed did not ask its devices to
stop, so they must not release their leases (a power cut, as for a real device); the service started
again finds them in the lease cache and they come back on the same addresses with INIT-REBOOT (with
SIGTERM every kill -9 of the service moved every device). `kill_groups` is the last resort at exit.
Stopping is SIGTERM (the emulator releases its leases and prints `stopped` per device), then SIGKILL
after `stop_timeout`; the exit status is always collected, so no zombie is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from iot_dashboard import capture, events
from iot_emulator.reporting import messages

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
LINE_LIMIT = 1 << 20
_CHUNK = 1 << 16
_live_groups: set[int] = set()
"""Process groups of the children still running: what `kill_groups` kills at exit."""


def _die_with_parent(parent: int) -> Callable[[], None]:
    """preexec_fn: SIGKILL when the parent goes (no lease released); if it already went, do not start at all."""

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def kill_groups() -> None:
    """SIGKILL every child process group still known (atexit, or after a failed shutdown)."""
    for pgid in list(_live_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _live_groups.discard(pgid)


class Child(Protocol):
    """What the service uses of a child process: `asyncio.subprocess.Process`, or `forkserver.Forked`."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    @property
    def stdout(self) -> asyncio.StreamReader | None: ...
    @property
    def stderr(self) -> asyncio.StreamReader | None: ...

    async def wait(self) -> int: ...

    def send_signal(self, sig: int) -> None: ...


Launcher = Callable[[Sequence[str]], Awaitable[Child]]
"""Starts a child for an argv with its stdout and stderr piped to us (the fork server's `spawn`)."""


async def exec_child(argv: Sequence[str]) -> Child:
    """The plain way: a new interpreter (~1 s of CPU for the emulator's imports and profiles)."""
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_die_with_parent(os.getpid()),
        limit=LINE_LIMIT,
    )


class ControlError(RuntimeError):
    """The control API refused (status, errors) or could not be reached (status 0)."""

    def __init__(self, status: int, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors) or f"HTTP {status}")
        self.status = status
        self.errors = list(errors)


class EmulatorProcess:
    """A running `iotemu run --control-socket` and its reader tasks; see the module docstring."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        socket_path: Path,
        on_message: Callable[[messages.Message, str], None],
        *,
        stop_timeout: float = 5.0,
        launcher: Launcher = exec_child,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        """Run as given: the supervisor appends `--control-socket socket_path`."""
        self.launcher = launcher
        self.socket_path = socket_path
        self.on_message = on_message
        self.stop_timeout = stop_timeout
        self.proc: Child | None = None
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self.exited = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def spawn(self, ready_timeout: float) -> None:
        """Start the process and wait until its control socket answers; raise ControlError if it does not."""
        await self.launch()
        await self._wait_ready(ready_timeout)

    async def launch(self) -> None:
        """Start the process and its readers (no readiness check: `spawn` does it)."""
        self.socket_path.unlink(missing_ok=True)
        self.exited.clear()
        self.proc = await self.launcher(self.argv)
        _live_groups.add(self.proc.pid)
        log.info("emulator %s: started pid %d: %s", self.name, self.proc.pid, " ".join(self.argv))
        self._tasks = [
            asyncio.create_task(self._read_stdout(), name=f"{self.name}-stdout"),
            asyncio.create_task(self._read_stderr(), name=f"{self.name}-stderr"),
        ]
        # Plain HTTP on a unix socket: no TLS, so no CA bundle loaded (~40 ms of the event loop per process).
        transport = httpx.AsyncHTTPTransport(uds=str(self.socket_path), verify=False)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://emulator", timeout=30.0)

    async def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None and self._client is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.02
        while loop.time() < deadline:
            if self.proc.returncode is not None or self.exited.is_set():
                break
            if self.socket_path.exists():
                with contextlib.suppress(httpx.TransportError):
                    if (await self._client.get("/healthz", timeout=2.0)).status_code == 200:
                        return
            # Readiness has no event to wait on: poll the socket (a stat; the request only once it exists),
            # often enough that a Start All waits at most 50 ms more than the process takes.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exited.wait(), delay)
            delay = min(delay * 2, 0.05)
        tail = " | ".join(self.stderr_tail)
        await self.stop()
        raise ControlError(0, [f"emulator process {self.name} did not become ready: {tail or 'no output'}"])

    async def _read_stdout(self) -> None:
        """The JSON lines in chunks (not a `readline` each), validated a chunk at a time (`accepted_lines`)."""
        assert self.proc is not None and self.proc.stdout is not None
        stream, origin = self.proc.stdout, f"emulator {self.name}"
        pending, skipping = b"", False
        while chunk := await stream.read(_CHUNK):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            if skipping and lines:  # the rest of an oversized line
                lines.pop(0)
                skipping = False
            if len(pending) > LINE_LIMIT:
                log.warning("emulator %s: oversized stdout line dropped", self.name)
                pending, skipping = b"", True
            self._deliver(events.accepted_lines(lines, origin))
        if pending and not skipping:
            self._deliver(events.accepted_lines([pending], origin))
        await self._reap()

    def _deliver(self, accepted: list[tuple[messages.Message, str]]) -> None:
        for message, text in accepted:
            try:
                self.on_message(message, text)
            except Exception:
                log.exception("emulator %s: handling %r failed", self.name, message)

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            text = raw.decode(errors="replace").rstrip()
            if text:
                self.stderr_tail.append(text)
                log.warning("emulator %s: %s", self.name, text)

    async def _reap(self) -> None:
        """Collect the exit status (no zombie) once stdout is closed."""
        if self.proc is not None:
            await self.proc.wait()
            _live_groups.discard(self.proc.pid)
        self.exited.set()

    async def wait(self) -> int:
        await self.exited.wait()
        assert self.proc is not None and self.proc.returncode is not None
        return self.proc.returncode

    # -- control API -----------------------------------------------------------------------------

    async def _request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        if self._client is None or not self.running:
            raise ControlError(0, [f"emulator process {self.name} is not running"])
        try:
            resp = await self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ControlError(0, [f"emulator process {self.name}: {exc!r}"]) from exc
        try:
            data = resp.json()
        except ValueError:
            data = {"errors": [resp.text[:500]]}
        if resp.status_code >= 400:
            errors = data.get("errors") or [str(data.get("error") or data)]
            raise ControlError(resp.status_code, [str(e) for e in errors])
        return data if isinstance(data, dict) else {}

    async def add(self, manifests: Sequence[dict[str, Any]]) -> list[str]:
        """POST /devices; returns the ids added. Raises ControlError (422 invalid, 409 duplicate)."""
        data = await self._request("POST", "/devices", {"manifests": list(manifests)})
        return [str(d) for d in data.get("added", [])]

    async def remove(self, device_id: str) -> None:
        """DELETE /devices/{id}: DHCPRELEASE, final stats, `stopped`. A 404 counts as done."""
        try:
            await self._request("DELETE", f"/devices/{device_id}")
        except ControlError as exc:
            if exc.status != 404:
                raise

    async def open_capture(self, params: dict[str, str], seconds: float) -> capture.Source:
        """`GET /capture` on the control socket, its status checked; the body is left to stream."""
        if self._client is None or not self.running:
            raise ControlError(0, [f"emulator process {self.name} is not running"])
        timeout = httpx.Timeout(30.0, read=seconds + capture.GRACE_SECONDS)
        query = {**params, "seconds": str(seconds)}
        request = self._client.build_request("GET", "/capture", params=query, timeout=timeout)
        try:
            resp = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ControlError(0, [f"emulator process {self.name}: {exc!r}"]) from exc
        if resp.status_code != 200:
            try:
                data = json.loads(await resp.aread())
            except ValueError:
                data = {}
            finally:
                await resp.aclose()
            errors = data.get("errors") or [str(data.get("error") or f"HTTP {resp.status_code}")]
            raise ControlError(resp.status_code, [str(e) for e in errors])
        return capture.Source(self.name, resp.aiter_raw(), resp.aclose)

    # -- stop ------------------------------------------------------------------------------------

    async def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after `stop_timeout`; waits for the exit and the readers."""
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                log.warning("emulator %s: no exit %.0f s after SIGTERM, killing", self.name, self.stop_timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if proc is not None:
            _live_groups.discard(proc.pid)
        await self._finish_readers()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self.socket_path.unlink(missing_ok=True)
        return proc.returncode if proc else None

    async def _finish_readers(self) -> None:
        """Let the readers drain what the process printed before it exited (its `stopped` messages)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=2.0)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
