"""The service's side of the emulator's fork server (`python -m iot_emulator.zygote`).

Started with the backend, the zygote imports the emulator and loads the profiles once; each
emulator process is then a fork of it (`spawn`), so a cold Start All of 4 processes pays 4 forks
instead of 4 interpreter starts (~1 s of CPU each on this 2-core machine). The zygote is the
children's parent, so it reaps them and tells us each exit code on the request's connection;
we signal a child through its pidfd (no pid reuse race) and read its stdout and stderr from pipes
made here and handed over with the request. `Forked` looks like `asyncio.subprocess.Process` to
`process.EmulatorProcess`, which runs either.

The zygote dies with the service (PR_SET_PDEATHSIG, set like every child's), and its children die
with it (they ask for SIGKILL when it goes: a crash releases no lease, see `process`). If it cannot
start or stops answering, the supervisor falls back to starting interpreters (`local.fork_server:
false` does so always).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

from iot_dashboard.backends.local import process
from iot_emulator.config import fork_request

log = logging.getLogger(__name__)
_REPLY_LIMIT = 4096
EMULATOR_MODULE = ["-m", "iot_emulator"]


def forkable(emulator_command: Sequence[str]) -> bool:
    """Whether the command is `python -m iot_emulator` (what the zygote forks); a stand-in is not."""
    return len(emulator_command) == 3 and list(emulator_command[1:]) == EMULATOR_MODULE


class Forked:
    """A child of the zygote, with the part of `asyncio.subprocess.Process` the service uses."""

    def __init__(
        self, pid: int, pidfd: int, conn: socket.socket, stdout: asyncio.StreamReader, stderr: asyncio.StreamReader
    ) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdout = stdout
        self.stderr = stderr
        self._pidfd = pidfd
        self._conn = conn
        self._done = asyncio.Event()
        self._task = asyncio.create_task(self._await_exit(), name=f"forked-{pid}")

    async def _await_exit(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            data = await loop.sock_recv(self._conn, _REPLY_LIMIT)
            code = json.loads(data)["exit"] if data else None
        except (OSError, ValueError, KeyError, TypeError):
            code = None
        if code is None:  # the zygote went before its child: wait for the child's own end
            gone = asyncio.Event()
            loop.add_reader(self._pidfd, gone.set)
            try:
                await gone.wait()
            finally:
                loop.remove_reader(self._pidfd)
            code = -int(signal.SIGTERM)
        self.returncode = int(code)
        self._conn.close()
        os.close(self._pidfd)
        self._pidfd = -1
        self._done.set()

    async def wait(self) -> int:
        await self._done.wait()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self._pidfd < 0:
            raise ProcessLookupError(self.pid)
        signal.pidfd_send_signal(self._pidfd, sig)


async def _reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=process.LINE_LIMIT, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(fd, "rb", 0))
    return reader


def request(path: Path, argv: Sequence[str], out: int, err: int) -> tuple[int, int, socket.socket]:
    """Ask the zygote at `path` for a child (blocking, a few ms): its pid, pidfd and connection."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.settimeout(10.0)
        conn.connect(str(path))
        body = fork_request.SpawnRequest(argv=list(argv)).model_dump_json().encode()
        socket.send_fds(conn, [body], [out, err])
        data, fds, _flags, _ = socket.recv_fds(conn, _REPLY_LIMIT, 1)
        reply = fork_request.SpawnReply.model_validate_json(data)
        if reply.pid is None or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise process.ControlError(0, [f"fork server: {reply.error or 'no child'}"])
        conn.setblocking(False)
        return reply.pid, fds[0], conn
    except BaseException:
        conn.close()
        raise


class ForkServer:
    """The zygote process: `start` it once, `spawn` children, `stop` it with the backend."""

    def __init__(self, python: str, socket_dir: Path, *, ready_timeout: float = 20.0) -> None:
        self.path = socket_dir / "zygote.sock"
        self.ready_timeout = ready_timeout
        self.proc = process.EmulatorProcess(
            "zygote", [python, "-m", "iot_emulator.zygote", "--socket", str(self.path)], self.path, _ignore
        )

    @property
    def running(self) -> bool:
        return self.proc.running

    async def start(self) -> None:
        """Start the zygote and wait until it listens; ControlError if it does not."""
        await self.proc.launch()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout
        while not self.path.exists():
            if not self.proc.running or loop.time() > deadline:
                tail = " | ".join(self.proc.stderr_tail)
                await self.proc.stop()
                raise process.ControlError(0, [f"fork server did not start: {tail or 'no output'}"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.exited.wait(), 0.05)
        log.info("fork server ready (pid %s)", self.proc.pid)

    async def spawn(self, argv: Sequence[str]) -> Forked:
        """A new emulator process for `python -m iot_emulator ...` (`argv`), forked by the zygote."""
        if not forkable(argv[:3]):
            raise process.ControlError(0, [f"fork server: not an emulator command: {argv[:3]}"])
        if not self.proc.running:
            raise process.ControlError(0, ["fork server is not running"])
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            pid, pidfd, conn = await asyncio.to_thread(request, self.path, argv[3:], out_w, err_w)
        except (OSError, ValueError, process.ControlError) as exc:
            os.close(out_r)
            os.close(err_r)
            if isinstance(exc, process.ControlError):
                raise
            raise process.ControlError(0, [f"fork server: {exc!r}"]) from exc
        finally:
            os.close(out_w)
            os.close(err_w)
        return Forked(pid, pidfd, conn, await _reader(out_r), await _reader(err_r))

    async def stop(self) -> None:
        await self.proc.stop()


def _ignore(_message: object, _text: str) -> None:
    """The zygote prints no message."""
