"""Real peers for the UDP protocol lab tests, run in a lab's gateway namespace, and an in-process engine.

Each server is started with the lab's own process helpers (`iot_emulator.lab.process`): its log
goes to a file, readiness is its listening socket (or its control socket answering), never a
fixed sleep, and whatever is left in the namespace when the lab goes down is stopped with it.

- chrony (`chronyd -x`: serves time, never touches this machine's clock; `local stratum 8`
  so it answers as a synchronized server without upstream), queried with `chronyc clients`.
- libcoap's example server (`coap-server-notls -v 7`, which logs every PDU it receives).
- avahi-daemon with a private system D-Bus (a `dbus-daemon` of our own whose address goes in
  DBUS_SYSTEM_BUS_ADDRESS) and a private /run/avahi-daemon (a tmpfs mounted inside the mount
  namespace `ip netns exec` gives it), so it runs beside any other avahi; `avahi-browse` asks it.
- lldpd with its control socket in a directory of ours (lldpd drops to _lldpd, which must reach it).
- tshark capturing on the gateway's interface to a file, decoded afterwards.

`EngineThread` runs `engine.Engine` on a `rawsock.RawLink` in the device namespace, in a thread
with its own asyncio loop, so a test can wait on real servers with plain blocking calls and read
the devices' state (`call()` runs a function on the engine's loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.engine import engine, rawsock
from iot_emulator.lab import netns, process
from tests import poll
from tests.lab import servers

T = TypeVar("T")
READY = 10.0


class Server:
    """A process in the gateway namespace, stopped on `stop()` (and by `lab.down` in any case)."""

    def __init__(
        self,
        lab: iotlab.Lab,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        udp_ports: set[int] | None = None,
    ) -> None:
        self.lab = lab
        self.name = name
        self.log = lab.directory / f"{name}.log"
        self.proc = process.spawn(netns.exec_argv(lab.gw_netns, list(argv)), log=self.log, env=env)
        if udp_ports:
            process.wait_listening(
                self.proc, udp_ports, what=f"{name} in {lab.gw_netns}", logs=[self.log], timeout=READY
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        process.stop([self.proc])


@contextlib.contextmanager
def open_dir(lab: iotlab.Lab, what: str) -> Iterator[Path]:
    """A directory that daemons which drop root can reach (the lab's own is root-only), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"{lab.name}-{what}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- the servers --------------------------------------------------------------------------------------


@contextlib.contextmanager
def chrony(lab: iotlab.Lab) -> Iterator[Server]:
    d = lab.directory
    conf = d / "chrony.conf"
    conf.write_text(
        f"allow {lab.subnet}\nlocal stratum 8\nbindcmdaddress {d}/chronyd.sock\n"
        f"pidfile {d}/chronyd.pid\ndriftfile {d}/chrony.drift\n"
    )
    server = Server(lab, "chronyd", ["chronyd", "-d", "-x", "-u", "root", "-f", str(conf)], udp_ports={123})
    try:
        yield server
    finally:
        server.stop()


def chrony_clients(lab: iotlab.Lab) -> str:
    """`chronyc clients` over chronyd's Unix control socket: one line per NTP client address."""
    sock = lab.directory / "chronyd.sock"
    return lab.run_in_gw("chronyc", "-n", "-h", str(sock), "clients").stdout


@contextlib.contextmanager
def coap_server(lab: iotlab.Lab, address: str) -> Iterator[Server]:
    server = Server(lab, "coap-server", ["coap-server-notls", "-A", address, "-v", "7"], udp_ports={5683})
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def avahi(lab: iotlab.Lab, *, ipv6: bool = False) -> Iterator[dict[str, str]]:
    """avahi-daemon on the gateway's interface (over IPv6 too with `ipv6`); yields the environment
    avahi-browse needs."""
    with open_dir(lab, "avahi") as d:
        bus = d / "bus"
        (d / "bus.conf").write_text(
            '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
            f"<busconfig><type>system</type><listen>unix:path={bus}</listen><auth>EXTERNAL</auth>"
            '<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>'
            '<allow receive_sender="*"/></policy></busconfig>\n'
        )
        (d / "avahi.conf").write_text(
            f"[server]\nhost-name={lab.name}-gw\nuse-ipv4=yes\nuse-ipv6={'yes' if ipv6 else 'no'}\n"
            f"allow-interfaces={lab.gw_iface}\n"
            "enable-dbus=yes\n[wide-area]\nenable-wide-area=no\n[publish]\npublish-hinfo=no\n"
            "publish-workstation=no\n"
        )
        dbus = Server(
            lab, "dbus-daemon", ["dbus-daemon", "--config-file", str(d / "bus.conf"), "--nofork", "--nopidfile"]
        )
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={bus}"}
        daemon: Server | None = None
        try:
            poll.until(bus.exists, READY, "the private D-Bus socket")
            Path("/run/avahi-daemon").mkdir(exist_ok=True)  # the mount point; what avahi writes stays private
            script = (
                f"mount -t tmpfs tmpfs /run/avahi-daemon && exec avahi-daemon -f {d}/avahi.conf "
                "--no-drop-root --no-chroot --no-rlimits"
            )
            daemon = Server(lab, "avahi-daemon", ["sh", "-c", script], env=env, udp_ports={5353})
            poll.until(lambda: "Server startup complete" in daemon.text(), READY, "avahi-daemon startup")
            yield env
        finally:
            if daemon is not None:
                daemon.stop()
            dbus.stop()


def avahi_browse(
    lab: iotlab.Lab, env: dict[str, str], service_type: str, match: Callable[[list[str]], bool], timeout: float = 15.0
) -> list[str]:
    """The first resolved entry (`avahi-browse -r -p` "=" line, unescaped fields) that `match`es."""
    argv = netns.exec_argv(lab.gw_netns, ["avahi-browse", "-r", "-p", service_type])
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env) as browser:
        seen: list[str] = []
        try:
            for line in servers.pipe_lines(browser, timeout):
                seen.append(line)
                fields = [_avahi_unescape(f) for f in line.split(";")]
                if fields[0] == "=" and match(fields):
                    return fields
        finally:
            browser.terminate()
    raise AssertionError(f"avahi-browse listed no matching {service_type} in {timeout} s: {seen}")


def _avahi_unescape(text: str) -> str:
    """avahi-browse -p writes characters outside [A-Za-z0-9-] of names as \\DDD (decimal)."""
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m[1])), text)


@contextlib.contextmanager
def lldpd(lab: iotlab.Lab) -> Iterator[Callable[..., str]]:
    """lldpd listening on the gateway's interface; yields `lldpcli(*args)` -> its output."""
    with open_dir(lab, "lldpd") as d:
        sock = str(d / "lldpd.socket")
        server = Server(lab, "lldpd", ["lldpd", "-d", "-I", lab.gw_iface, "-u", sock])

        def lldpcli(*args: str) -> str:
            return lab.run_in_gw("lldpcli", "-u", sock, *args).stdout

        try:
            poll.until(lambda: lab.gw_iface in lldpcli("show", "interfaces"), READY, "lldpd's control socket")
            yield lldpcli
        finally:
            server.stop()


class Capture:
    """tshark decoding live what crosses the gateway's interface: one row of `fields` per packet that
    matches `display_filter`, line-buffered (`-l`) into its log, so a test waits for a row with a deadline."""

    SEPARATOR = "|"

    def __init__(
        self,
        lab: iotlab.Lab,
        capture_filter: str,
        display_filter: str,
        fields: Sequence[str],
        decode_as: Sequence[str] = (),
    ) -> None:
        """`decode_as` are tshark `-d` rules ("tcp.port==2001,tls") for services on ports tshark does not know."""
        argv = [
            "tshark",
            "-l",
            "-n",
            "-i",
            lab.gw_iface,
            "-f",
            capture_filter,
            "-Y",
            display_filter,
            "-T",
            "fields",
            "-E",
            f"separator={self.SEPARATOR}",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
        ]
        for rule in decode_as:
            argv += ["-d", rule]
        for field in fields:
            argv += ["-e", field]
        self.width = len(fields)
        self.server = Server(lab, "tshark", argv)
        poll.until(lambda: "Capturing on" in self.server.text(), 30.0, "tshark to start capturing")

    def rows(self) -> list[list[str]]:
        lines = self.server.text().splitlines()
        return [r for r in (line.split(self.SEPARATOR) for line in lines) if len(r) == self.width]

    def wait_rows(self, match: Callable[[list[str]], bool], count: int = 1, timeout: float = 10.0) -> list[list[str]]:
        """The decoded rows that `match`, once there are `count` of them."""

        def matching() -> list[list[str]] | None:
            rows = [r for r in self.rows() if match(r)]
            return rows if len(rows) >= count else None

        return poll.until(matching, timeout, f"tshark to decode {count} matching packet(s)")

    def stop(self) -> None:
        self.server.stop()


# -- the emulator, in-process ---------------------------------------------------------------------------


class EngineThread:
    """The devices of `configs` in one engine on the lab's device link, run by a thread of its own."""

    def __init__(self, lab: iotlab.Lab, configs: list[manifests.DeviceConfig], seed: int = 1) -> None:
        self.link = rawsock.RawLink(lab.dev_iface, netns=lab.dev_netns)
        self.link.open()
        self.engine = engine.Engine(self.link, configs, interface=lab.dev_iface, stats_interval=60, seed=seed)
        self.messages: list[dict[str, Any]] = []
        self.engine.events.add(self.messages.append)
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.engine.run(self._stop))
        self.loop.close()

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` run on the engine's loop (device state is only touched there), its result here."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout=5)

    def wait(self, predicate: Callable[[], T | None], timeout: float, what: str) -> T:
        return poll.until(lambda: self.call(predicate), timeout, what)

    def service(self, index: int, name: str) -> Any:
        dev = self.engine.devices[index]
        return self.call(lambda: next((s for s in dev.host.services if s.name == name), None))

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)
