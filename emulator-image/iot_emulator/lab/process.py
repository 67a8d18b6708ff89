"""Server processes that outlive the process that started them: spawn, identify, wait until ready, stop.

A lab is built by one process (`iotemu lab up`, a test) and often removed by another (`iotemu lab
down`), so a server is known by its pid plus its start time (field 22 of /proc/<pid>/stat): a pid
reused by an unrelated process after a reboot or a crash is never signalled.

Readiness is the server's own listening UDP socket, read from /proc/<pid>/net/udp (the socket
table of the server's namespace, the same data `ss -lun` shows there) and matched by inode to the
server's file descriptors: no fixed sleep, no helper process per poll, and a server that dies
during startup is reported at once with the tail of its log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from iot_emulator.lab import errors

POLL_INTERVAL = 0.01
"""Seconds between two looks at a process or a socket table while waiting with a deadline."""

# Servers started by this very process: reaped through their Popen so they never linger as zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclasses.dataclass(frozen=True)
class Proc:
    """A process known by pid and start time (clock ticks since boot), safe to signal later."""

    pid: int
    start: int

    def to_json(self) -> dict[str, int]:
        return {"pid": self.pid, "start": self.start}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proc:
        return cls(pid=int(data["pid"]), start=int(data["start"]))


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of a pid, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parens
    return fields[0], int(fields[19])


def identify(pid: int) -> Proc:
    stat = _stat(pid)
    if stat is None:
        raise errors.LabError(f"process {pid} vanished")
    return Proc(pid, stat[1])


def alive(proc: Proc) -> bool:
    """True while the process runs (a zombie or a reused pid counts as gone)."""
    child = _CHILDREN.get(proc.pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[proc.pid]
        return False
    stat = _stat(proc.pid)
    return stat is not None and stat[1] == proc.start and stat[0] not in ("Z", "X")


def exit_code(proc: Proc) -> int | None:
    """The exit status of a server this process spawned, if known."""
    child = _CHILDREN.get(proc.pid)
    return None if child is None else child.returncode


def spawn(argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None) -> Proc:
    """Start a long-lived server detached from our session, its stdout and stderr appended to `log`."""
    with log.open("ab") as out:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal of `lab up` must not reach the server
            env=None if env is None else dict(env),
        )
    _CHILDREN[child.pid] = child
    stat = _stat(child.pid)
    return Proc(child.pid, stat[1] if stat else 0)


def stop(procs: Iterable[Proc], *, grace: float = 3.0) -> None:
    """SIGTERM every live process, wait up to `grace` seconds, SIGKILL the rest and wait for them."""
    pending = [p for p in procs if alive(p)]
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        for p in pending:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, sig)
        deadline = time.monotonic() + wait
        while pending and time.monotonic() < deadline:
            pending = [p for p in pending if alive(p)]
            if pending:
                time.sleep(POLL_INTERVAL)
        if not pending:
            return
    raise errors.LabError(f"processes {[p.pid for p in pending]} survived SIGKILL")


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.rstrip("\n").splitlines()[-lines:]) or f"({path} is empty)"


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(int(link[8:-1]))
    return inodes


def udp_ports(pid: int) -> set[int]:
    """Local UDP ports of the sockets `pid` holds (IPv4 and IPv6), read in its own namespace."""
    return _ports(pid, ("udp", "udp6"))


def tcp_listening(pid: int) -> set[int]:
    """Local TCP ports `pid` listens on (IPv4 and IPv6), read in its own namespace."""
    return _ports(pid, ("tcp", "tcp6"), state="0A")


def _ports(pid: int, tables: tuple[str, ...], state: str | None = None) -> set[int]:
    """Local ports of `pid`'s sockets in /proc/<pid>/net/<table> (in `state`, e.g. 0A = LISTEN, if given)."""
    mine = _socket_inodes(pid)
    ports = set()
    for table in tables:
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[9]) in mine and (state is None or fields[3] == state):
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def wait_listening(
    proc: Proc,
    ports: set[int],
    *,
    what: str,
    logs: Sequence[Path],
    timeout: float,
    started: Callable[[], bool] | None = None,
    tcp: frozenset[int] = frozenset(),
) -> None:
    """Return once `proc` holds UDP sockets on all `ports`, listens on the `tcp` ports, and `started()`
    (if given) is true.

    Raises LabError with the tail of the server's logs if it exits or the deadline passes.
    """

    def log_tails() -> str:
        return "\n".join(f"--- {p} ---\n{tail(p)}" for p in logs)

    deadline = time.monotonic() + timeout
    while True:
        if not alive(proc):
            code = exit_code(proc)
            status = f" (exit status {code})" if code is not None else ""
            raise errors.LabError(f"{what} exited during startup{status}\n{log_tails()}")
        if ports <= udp_ports(proc.pid) and tcp <= tcp_listening(proc.pid) and (started is None or started()):
            return
        if time.monotonic() > deadline:
            raise errors.LabError(f"{what} was not ready (UDP {sorted(ports)}) within {timeout:g} s\n{log_tails()}")
        time.sleep(POLL_INTERVAL)
