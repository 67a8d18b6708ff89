"""A fork server: one process that has imported the emulator and loaded the profile library once,
and forks a ready `iotemu run` process per request, so starting one costs a fork (~10 ms) instead of
an interpreter start (~1 s of CPU: imports 0.7 s, the profile library 0.3 s).

`python -m iot_emulator.zygote --socket PATH` listens on a unix SOCK_SEQPACKET socket (mode 0600,
in the caller's private directory; a peer whose uid is neither root nor ours is refused). One
connection per child: the request is one message (`fork_request.SpawnRequest` JSON, at most `MAX_REQUEST`
bytes) carrying the child's stdout and stderr as two file descriptors (SCM_RIGHTS); the reply is
one message, `SpawnReply` with the child's pid and a pidfd (which signals the child with no pid
reuse race), or `error`. The connection stays open; when the child exits, the zygote reaps it and
sends `{"exit": code}` (negative: the signal) before closing it.

The child makes itself a session leader (its group can be killed whole), asks for SIGKILL when the
zygote dies (`PR_SET_PDEATHSIG`; the zygote gets the same when its own parent, the service, dies: a
crash is a power cut, the devices release no lease and come back with INIT-REBOOT), then runs
`cli.main(argv)` as `python -m iot_emulator argv...` would: it opens the raw socket in the lab
namespace (`--netns`) and its control socket itself.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import ctypes
import json
import os
import selectors
import signal
import socket
import stat
import struct
import sys
from pathlib import Path

from pydantic import ValidationError

from iot_emulator import cli, runner
from iot_emulator.config import fork_request
from iot_emulator.profiles import catalog

MAX_REQUEST = fork_request.MAX_REQUEST
SpawnRequest = fork_request.SpawnRequest
SpawnReply = fork_request.SpawnReply
_PR_SET_PDEATHSIG = 1
_FDS = 2
_REQUEST_TIMEOUT = 5.0


def preload() -> None:
    """What every child would otherwise do first: the imports (this module's, and the lab's that the
    command parser registers) and the built-in profiles."""
    catalog.builtin()
    cli.command_parser()
    assert runner.run is not None


def _refuse(conn: socket.socket, text: str) -> None:
    with contextlib.suppress(OSError):
        conn.send(SpawnReply(error=text).model_dump_json(exclude_none=True).encode())
    conn.close()


def _peer_allowed(conn: socket.socket) -> bool:
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return uid in (0, os.getuid())


def _read_request(conn: socket.socket) -> tuple[SpawnRequest, list[int]]:
    """One message and its two descriptors; ValueError says what is wrong (the fds are closed then)."""
    conn.settimeout(_REQUEST_TIMEOUT)
    fds = array.array("i")
    data, ancdata, flags, _ = conn.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(_FDS * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    received = list(fds)
    try:
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise ValueError(f"request: over {MAX_REQUEST} bytes or too many descriptors")
        if len(received) != _FDS:
            raise ValueError(f"request: {len(received)} file descriptors, expected stdout and stderr")
        try:
            request = SpawnRequest.model_validate_json(data)
        except ValidationError as exc:
            raise ValueError(catalog.format_validation_error(exc)) from None
    except ValueError:
        for fd in received:
            os.close(fd)
        raise
    return request, received


def _child(argv: list[str], out: int, err: int, zygote: int) -> int:
    """In the forked child: the process `python -m iot_emulator argv` would be, without the start-up."""
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != zygote:  # the zygote already went: do not start at all
        return 1
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in [int(n) for n in os.listdir("/proc/self/fd")]:  # no descriptor of the zygote leaks
        if fd > 2:
            with contextlib.suppress(OSError):
                os.close(fd)
    sys.argv = [sys.argv[0], *argv]
    return cli.main(argv)


class Zygote:
    """The accept loop and the reaper; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid = os.getpid()
        self.children: dict[int, socket.socket] = {}
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        staging = path.with_name(path.name + ".new")  # renamed once listening: the path means ready
        staging.unlink(missing_ok=True)
        old = os.umask(0o177)
        try:
            self.listener.bind(str(staging))
        finally:
            os.umask(old)
        os.chmod(staging, stat.S_IRUSR | stat.S_IWUSR)
        self.listener.listen(16)
        os.replace(staging, path)
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, "accept")
        sel.register(self.wake_r, selectors.EVENT_READ, "reap")
        print("zygote ready", flush=True)
        while True:
            for key, _ in sel.select():
                if key.data == "accept":
                    self._accept()
                else:
                    with contextlib.suppress(BlockingIOError):
                        while self.wake_r.recv(4096):
                            pass
                    self._reap()

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        if not _peer_allowed(conn):
            _refuse(conn, "peer: not root")
            return
        try:
            request, (out, err) = _read_request(conn)
        except (ValueError, OSError) as exc:
            _refuse(conn, str(exc))
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = _child(request.argv, out, err, self.pid)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # the child must never return into the zygote's loop
                import traceback

                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        os.close(out)
        os.close(err)
        try:
            pidfd = os.pidfd_open(pid)
            try:
                socket.send_fds(conn, [SpawnReply(pid=pid).model_dump_json(exclude_none=True).encode()], [pidfd])
            finally:
                os.close(pidfd)
        except OSError:  # the caller went: the child is not wanted
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.children[pid] = conn

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())
                conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iot_emulator.zygote", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", type=Path, required=True, help="where to listen (made 0600)")
    args = parser.parse_args(argv)
    preload()
    Zygote(args.socket).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
