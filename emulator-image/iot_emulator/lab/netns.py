"""Network namespace plumbing: create, delete, run commands in and open sockets in a namespace.

The lab only ever touches namespaces it created: the veth pair is created directly inside the
gateway namespace (`ip -n GW link add ... peer ... netns DEV`), so no interface, address or route
appears in the host's own namespace, not even for an instant.

`socket_in` and `call_in` enter a namespace from a short-lived thread (setns(2) moves only the
calling thread), so a test or a benchmark can open an AF_PACKET socket on the device side without
spawning a helper process; a socket keeps the namespace it was created in.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from iot_emulator import setns
from iot_emulator.lab import errors

NETNS_DIR = setns.NETNS_DIR
_SIOCGIFFLAGS = 0x8913
_IFF_RUNNING = 0x40
_T = TypeVar("_T")
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""Where the lab looks for ip, ethtool, dnsmasq and kea-dhcp4 (sudo and cron may give a short PATH)."""


@functools.cache
def tool(name: str) -> str | None:
    """Absolute path of an executable, searching PATH then the sbin directories."""
    return shutil.which(name) or shutil.which(name, path=SBIN_PATH)


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def names() -> list[str]:
    """Every named namespace on the machine (`ip netns list`), sorted."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output; a failure raises LabError with its stderr."""
    argv = [tool(argv[0]) or argv[0], *argv[1:]]
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise errors.LabError(f"`{' '.join(argv)}` failed (exit {proc.returncode}): {detail}")
    return proc


def exec_argv(name: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs `argv` inside namespace `name` (iproute2 execs it: same pid)."""
    return [tool("ip") or "ip", "netns", "exec", name, tool(argv[0]) or argv[0], *argv[1:]]


def ip(name: str, *args: str) -> None:
    """`ip -n NAME ARGS...`, raising LabError on failure."""
    run(["ip", "-n", name, *args])


def add(name: str) -> None:
    run(["ip", "netns", "add", name])


def delete(name: str) -> None:
    """Remove the name; the namespace (and its veth ends) goes once no process is left in it."""
    if exists(name):
        run(["ip", "netns", "delete", name])


def pids(name: str) -> list[int]:
    """Processes whose network namespace is `name` (what `ip netns pids` prints)."""
    try:
        target = os.stat(NETNS_DIR / name)
    except FileNotFoundError:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(entry / "ns" / "net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            found.append(int(entry.name))
    return sorted(found)


def call_in(name: str, fn: Callable[[], _T]) -> _T:
    """Run `fn()` in a thread that has joined namespace `name`; return its result or raise its error."""
    result: list[_T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            with setns.entered(name):
                result.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{name}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def socket_in(name: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside namespace `name` (it stays there; use it from any thread)."""
    return call_in(name, lambda: socket.socket(family, kind, proto))


def sysctl_in(name: str, settings: dict[str, str]) -> None:
    """Write sysctls inside namespace `name` (keys dotted, as for sysctl(8))."""

    def write() -> None:
        for key, value in settings.items():
            Path("/proc/sys", *key.split(".")).write_text(value)

    call_in(name, write)


def wait_running(name: str, iface: str, *, timeout: float = 5.0) -> None:
    """Return once `iface` in namespace `name` is up with carrier (IFF_RUNNING), which servers check.

    Setting a link up returns before the kernel's link watcher marks it running (usually well
    under a second); Kea skips interfaces that are not running when it opens its sockets.
    """
    request = struct.pack("16sH", iface.encode(), 0)
    with socket_in(name, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        deadline = time.monotonic() + timeout
        while True:
            flags = struct.unpack("16sH", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request)[:18])[1]
            if flags & _IFF_RUNNING:
                return
            if time.monotonic() > deadline:
                raise errors.LabError(f"{iface} in {name} is not running after {timeout:g} s")
            time.sleep(0.005)


@contextlib.contextmanager
def veth_pair(prefix: str, iface_a: str, iface_b: str) -> Iterator[tuple[str, str]]:
    """Two new namespaces, `<prefix>-a` holding `iface_a` and `<prefix>-b` holding `iface_b`, joined by a
    veth pair, both up and running, IPv6 off (no ND or MLD in what is measured); always removed."""
    ns_a, ns_b = f"{prefix}-a", f"{prefix}-b"
    try:
        for ns in (ns_a, ns_b):
            add(ns)
            sysctl_in(ns, {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"})
        ip(ns_a, "link", "add", iface_a, "type", "veth", "peer", "name", iface_b, "netns", ns_b)
        ip(ns_a, "link", "set", iface_a, "up")
        ip(ns_b, "link", "set", iface_b, "up")
        wait_running(ns_a, iface_a)
        yield ns_a, ns_b
    finally:
        for ns in (ns_a, ns_b):
            delete(ns)
