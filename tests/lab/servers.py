"""Real servers in a lab's gateway namespace, for the application-protocol tests: nginx, mosquitto, tcpdump, RTSP.

Each server listens on the gateway address (never outside the lab's namespaces), writes its own
log in the test's directory, and is stopped by the test. What the tests assert is what these
servers logged, so a request counts only if a real implementation accepted it:

- nginx: HTTP on :80 (access log with the request line and User-Agent); TLS on :443 through the
  stream module's `ssl_preread` (its access log has the SNI, ALPN and version the ClientHello
  offered) proxied to an nginx HTTPS server that completes the handshake (an ECDSA and an RSA
  certificate of a lab CA, as `iotemu lab up --internet` has) and logs the requests in it.
- mosquitto 2 with `log_type all`: CONNECT (client id, user name, keep-alive) and each PUBLISH.
- tcpdump: the device's SYNs as the gateway's kernel received them.
- RTSP: no Debian package is a small RTSP server, so `RtspListener` is a thread that answers
  OPTIONS and DESCRIBE with 200 (an SDP body for DESCRIBE) and records each request.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from iot_emulator import lab as iotlab
from iot_emulator.lab import internet, netns
from tests import poll


def lines_of(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_for_line(path: Path, pattern: str, timeout: float) -> re.Match[str]:
    """The first line of the log at `path` that matches `pattern`, waiting for it to be written."""
    found: list[re.Match[str]] = []

    def seen() -> bool:
        found[:] = [m for m in (re.search(pattern, line) for line in lines_of(path)) if m]
        return bool(found)

    try:
        poll.until(seen, timeout, f"{pattern!r} in {path.name}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the log holds:\n" + "\n".join(lines_of(path)[-20:])) from None
    return found[0]


def pipe_lines(proc: subprocess.Popen[bytes], timeout: float) -> Iterator[str]:
    """The lines `proc` writes to its stdout pipe, as they come, until it closes the pipe or `timeout` passes.

    This reads the pipe's descriptor itself. select() on the buffered file object says nothing of the
    lines its buffer already holds: after readline() took the first of two lines that came in one
    chunk (avahi-browse writes what its daemon had cached in one go), select() waits out the timeout
    for data that will never come, and the second line is never seen.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    pending = b""
    while (left := deadline - time.monotonic()) > 0 and select.select([fd], [], [], left)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")


class GwProcess:
    """A process run in the gateway namespace, its output in a log file."""

    def __init__(self, lab: iotlab.Lab, argv: list[str], log: Path) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            netns.exec_argv(lab.gw_netns, argv), stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()

    def check_alive(self, what: str) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{what} exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")


def wait_tcp_listening(lab: iotlab.Lab, ports: set[int], proc: GwProcess, what: str, timeout: float = 10.0) -> None:
    def listening() -> bool:
        proc.check_alive(what)
        out = lab.run_in_gw("ss", "-Hltn").stdout
        return ports <= {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}

    poll.until(listening, timeout, f"{what} listening on TCP {sorted(ports)}")


# -- nginx ----------------------------------------------------------------------------------------

NGINX_CONF = internet.NGINX_CONF


def start_nginx(
    lab: iotlab.Lab, directory: Path, tls_ports: tuple[int, ...] = (443,), http_ports: tuple[int, ...] = (80,)
) -> GwProcess:
    """nginx for HTTP (`http_ports`) and TLS (`tls_ports`), with the lab internet's configuration and certificates."""
    directory.mkdir(parents=True, exist_ok=True)
    internet.make_certificates(directory)
    conf = directory / "nginx.conf"

    def listen(ports: tuple[int, ...]) -> str:
        return "\n".join(f"        listen {lab.gateway_ip}:{port};" for port in ports)

    conf.write_text(NGINX_CONF.format(dir=directory, tls_listen=listen(tls_ports), http_listen=listen(http_ports)))
    proc = GwProcess(lab, ["nginx", "-c", str(conf), "-e", str(directory / "nginx-error.log")], directory / "nginx.out")
    wait_tcp_listening(lab, {8443, *http_ports, *tls_ports}, proc, "nginx")
    return proc


# -- mosquitto ------------------------------------------------------------------------------------

MOSQUITTO_CONF = internet.MOSQUITTO_CONF


def start_mosquitto(lab: iotlab.Lab, directory: Path, ports: tuple[int, ...] = (1883,)) -> GwProcess:
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "mosquitto.conf"
    listeners = "\n".join(f"listener {port} {lab.gateway_ip}" for port in ports)
    conf.write_text(MOSQUITTO_CONF.format(dir=directory, listeners=listeners))
    proc = GwProcess(lab, ["mosquitto", "-c", str(conf)], directory / "mosquitto.out")
    wait_tcp_listening(lab, set(ports), proc, "mosquitto")
    return proc


# -- tcpdump --------------------------------------------------------------------------------------


def start_syn_capture(lab: iotlab.Lab, pcap: Path) -> GwProcess:
    """Capture the SYNs arriving at the gateway (not its own SYN-ACKs) into `pcap`."""
    proc = GwProcess(
        lab,
        ["tcpdump", "-i", lab.gw_iface, "-U", "-n", "-w", str(pcap), "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"],
        pcap.with_suffix(".out"),
    )

    def ready() -> bool:
        proc.check_alive("tcpdump")
        return "listening on" in proc.log.read_text()

    poll.until(ready, 10, "tcpdump ready")
    return proc


# -- RTSP -----------------------------------------------------------------------------------------

SDP = b"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=lab\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"


class RtspListener:
    """Answers RTSP OPTIONS and DESCRIBE with 200 on gateway:554 and records every request."""

    def __init__(self, lab: iotlab.Lab, port: int = 554) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        """(method, URL, headers with lowercase names), in arrival order."""
        self._sock = netns.socket_in(lab.gw_netns, socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((str(lab.gateway_ip), port))
        self._sock.listen(16)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="rtsp-listener", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def methods(self) -> list[str]:
        with self._lock:
            return [method for method, _, _ in self.requests]

    def _serve(self) -> None:
        clients: dict[socket.socket, bytes] = {}
        while not self._stop.is_set():
            readable, _, _ = select.select([self._sock, *clients], [], [], 0.1)
            for sock in readable:
                if sock is self._sock:
                    conn, _ = self._sock.accept()
                    clients[conn] = b""
                    continue
                data = b""
                with contextlib.suppress(OSError):
                    data = sock.recv(65536)
                if not data:
                    del clients[sock]
                    sock.close()
                    continue
                clients[sock] += data
                while b"\r\n\r\n" in clients[sock]:
                    head, clients[sock] = clients[sock].split(b"\r\n\r\n", 1)
                    sock.sendall(self._answer(head.decode("latin-1")))
        for sock in clients:
            sock.close()

    def _answer(self, head: str) -> bytes:
        first, *fields = head.split("\r\n")
        method, url, _ = [*first.split(" "), "", "", ""][:3]
        headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
        with self._lock:
            self.requests.append((method, url, headers))
        reply = f"RTSP/1.0 200 OK\r\nCSeq: {headers.get('cseq', '0')}\r\n"
        if method == "DESCRIBE":
            reply += f"Content-Base: {url}/\r\nContent-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n"
            return reply.encode() + SDP
        return (reply + "Public: OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY\r\n\r\n").encode()
