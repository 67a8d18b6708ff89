"""What the fingerprint lab test reads off the wire: a full tshark capture, its decoding, and p0f.

tshark and p0f run in the lab's gateway namespace, as a discovery product's sensor would sit on a
branch switch: tshark writes every frame crossing the gateway's interface to a pcap file, which is
decoded afterwards (`-T fields`, one row per packet) once the emulator has stopped; p0f reads the
same interface live and logs each SYN it sees, so a test can wait until every device has opened a
connection. The only frame sent here is the capture's end marker (`FullCapture.stop`), of an ethertype
nothing in the lab reads.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from iot_emulator import lab as iotlab
from iot_emulator.lab import netns
from iot_emulator.protocols.link import wire
from tests import poll
from tests.lab import servers

DECODE_AS = {6970: "http", 2001: "tls", 5223: "tls", 50443: "tls"}
"""Ports of the shipped profiles that tshark would not decode as what they carry by default."""
SEPARATOR = "\t"


BUFFER_KIB = 65536
MARKER_ETHERTYPE = 0x88B5
"""IEEE 802 Local Experimental Ethertype 1: no device, server or decoder of the lab reads it."""
MARKER_DESTINATION = bytes.fromhex("02000000e0d0")
"""A locally administered unicast MAC no lab interface has (emulated devices use their vendors' OUIs)."""


class FullCapture:
    """Every frame on the gateway's interface, written to a file as it comes.

    libpcap files (which p0f reads) by tcpdump with `-U` (each frame written as soon as the kernel hands
    it over, within its 1 s buffer timeout) and a 64 MiB ring, and "listening on" printed once its
    socket is open. tshark's file (through dumpcap) once lacked the first seconds' frames under load
    although tshark had said "Capturing on"; `--immediate-mode` cannot be used either: it makes every
    ring slot one snapshot long (256 KiB), so the ring held a handful of frames and a loaded run lost
    most REQUESTs of a boot burst. pcapng, which tcpdump does not write, still comes from tshark."""

    def __init__(
        self,
        lab: iotlab.Lab,
        pcap: Path,
        file_format: str = "pcap",
        *,
        iface: str | None = None,
        capture_filter: str | None = None,
    ) -> None:
        """`iface`: the gateway's interface by default (a VLAN's on a VLAN lab); `capture_filter`: a pcap
        filter, to which the end marker's ethertype is added."""
        self.lab, self.pcap, self.iface = lab, pcap, iface or lab.gw_iface
        if file_format == "pcap":
            argv = ["tcpdump", "-n", "-i", self.iface, "-U", "-B", str(BUFFER_KIB), "-w", str(pcap)]
            self.tool, self.ready_line = "tcpdump", "listening on"
        else:
            argv = ["tshark", "-n", "-q", "-i", self.iface, "-F", file_format, "-w", str(pcap)]
            self.tool, self.ready_line = "tshark", "Capturing on"
        if capture_filter:
            with_marker = f"ether proto {MARKER_ETHERTYPE} or ({capture_filter})"  # first: `vlan` shifts what follows
            argv += ["-f", with_marker] if self.tool == "tshark" else [with_marker]
        self.proc = servers.GwProcess(lab, argv, pcap.with_suffix(".out"))
        poll.until(self._ready, 30, f"{self.tool} capturing")

    def _ready(self) -> bool:
        self.proc.check_alive(self.tool)
        return self.ready_line in self.proc.log.read_text()

    def stop(self) -> None:
        """Stop once every frame sent so far is in the file.

        libpcap's TPACKET_V3 ring hands frames over a block at a time (when full, or after the 1 s
        timeout), and on SIGINT neither tool reads the blocks still in the ring: the last second's
        frames (a device's late TLS session, the releases) were lost, though counted as "received by
        filter". A marker frame sent after them comes out of the ring after them, so once its token is
        in the file, so are they. Stopping again, or a capture that died, only closes its log."""
        if self.proc.proc.poll() is None:
            self._wait_written()
        self.proc.stop(signal.SIGINT)

    def _wait_written(self) -> None:
        token = secrets.token_bytes(16)
        with netns.socket_in(self.lab.gw_netns, socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((self.iface, 0))
            source = sock.getsockname()[4]
            sock.send(wire.ethernet(MARKER_DESTINATION, source, MARKER_ETHERTYPE, token.ljust(46, b"\0")))

        def written() -> bool:
            self.proc.check_alive(self.tool)
            return token in self.pcap.read_bytes()

        poll.until(written, 30, f"{self.tool} writing the frames sent before its stop")

    def report(self) -> str:
        """What the tool printed: for tcpdump, once stopped, how many frames it captured and the kernel dropped."""
        return self.proc.log.read_text()


def decode(pcap: Path, display_filter: str, fields: Sequence[str]) -> list[list[str]]:
    """One row per packet matching `display_filter`; a field that occurs several times is joined with ','."""
    argv = [
        "tshark",
        "-n",
        "-r",
        str(pcap),
        "-Y",
        display_filter,
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]
    for port, protocol in DECODE_AS.items():
        argv += ["-d", f"tcp.port=={port},{protocol}"]
    for field in fields:
        argv += ["-e", field]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [line.split(SEPARATOR) for line in out.splitlines() if line.strip()]


@dataclasses.dataclass(frozen=True)
class P0fSyn:
    """What p0f said about one SYN."""

    client: str
    os: str
    """p0f's label: an OS ("Linux 3.11 and newer"), an application for its `s:!:` signatures ("NMap SYN
    scan"), or "???" when no signature of its database matches."""
    params: str
    """p0f's remarks: "generic" (matched a generic signature), "fuzzy" (no exact match), "none"..."""
    raw_sig: str
    """The SYN as p0f reads it: `ver:ittl+dist:olen:mss:wsize,scale:olayout:quirks:pclass`."""


_P0F_LINE = re.compile(
    r"mod=syn\|cli=(?P<cli>[\da-f.:]+)/\d+\|.*\|(?:os|app)=(?P<os>[^|]*)\|.*\|params=(?P<params>[^|]*)"
    r"\|raw_sig=(?P<sig>\S+)"
)


class P0f:
    """p0f 3 listening on the gateway's interface, logging every SYN to a file."""

    def __init__(self, lab: iotlab.Lab, log: Path) -> None:
        self.log = log
        self.proc = servers.GwProcess(lab, ["p0f", "-i", lab.gw_iface, "-o", str(log), "tcp"], log.with_suffix(".out"))
        poll.until(self._ready, 10, "p0f listening")

    def _ready(self) -> bool:
        self.proc.check_alive("p0f")
        return "Entered main event loop" in self.proc.log.read_text()

    def syns(self) -> dict[str, list[P0fSyn]]:
        """Client address -> what p0f said of each of its SYNs, in order."""
        out: dict[str, list[P0fSyn]] = {}
        for line in servers.lines_of(self.log):
            match = _P0F_LINE.search(line)
            if match:
                out.setdefault(match["cli"], []).append(
                    P0fSyn(match["cli"], match["os"], match["params"], match["sig"])
                )
        return out

    def stop(self) -> None:
        self.proc.stop()


def avahi_lists(lab: iotlab.Lab, env: dict[str, str], service_type: str, instance: str, timeout: float = 10.0) -> bool:
    """Whether `avahi-browse` (against the avahi-daemon of tests.lab.udp_servers.avahi) lists `instance`."""
    argv = netns.exec_argv(lab.gw_netns, ["avahi-browse", "-p", service_type])
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env) as browser:
        try:
            for line in servers.pipe_lines(browser, timeout):
                fields = line.split(";")
                if fields[0] == "+" and len(fields) > 3 and _unescape(fields[3]) == instance:
                    return True
        finally:
            browser.terminate()
    return False


def _unescape(text: str) -> str:
    """avahi-browse -p writes characters outside [A-Za-z0-9-] of names as \\DDD (decimal)."""
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m[1])), text)
