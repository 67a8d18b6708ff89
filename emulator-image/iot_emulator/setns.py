"""Entering a named network namespace: the one setns(2) wrapper.

setns(2) moves only the calling thread. The raw socket enters a lab's device namespace for the
moment it is created (a socket keeps its namespace) and comes back; the lab's `call_in` enters from
a short-lived thread of its own. Kept apart from both so that the dashboard, which uses the lab,
never loads the raw socket's module.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NETNS_DIR = Path("/run/netns")
"""Where iproute2 keeps its named namespaces (bind mounts of /proc/<pid>/ns/net)."""
CLONE_NEWNET = 0x40000000


def _setns(fd: int, what: str) -> None:
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot enter network namespace {what}: {os.strerror(err)}")


@contextmanager
def entered(name: str) -> Iterator[None]:
    """The calling thread inside namespace `name` for the body, then back in its own.

    OSError (ENOENT when there is no such namespace) names the namespace."""
    try:
        target = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OSError(errno.ENOENT, f"network namespace {name!r} does not exist") from None
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target, repr(name))
        try:
            yield
        finally:
            _setns(home, "of the caller again")
    finally:
        os.close(target)
        os.close(home)
