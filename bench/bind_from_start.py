"""Time from process start to 99% of a fleet bound, seen from the DHCP server's side of the wire.

    sudo .venv/bin/python bench/bind_from_start.py --devices 10000 [--server kea|dnsmasq] [--repeat 3] [--before DIR]
                                                   [--window 64] [--profile sonoff-mini]

`dhcp_bind.py` times the engine inside its own process from `run()`; this one measures what a
user (or an outside checker) sees: `iotemu run --netns DEV -f fleet.yaml` started as a process,
an IoTFleet of `--devices` replicas, and the clock starting just before that process is spawned.
tcpdump on the gateway's interface (a C process, cheap next to the emulator) records every
DHCPACK the server sends and every ARP announcement a device makes once its RFC 5227 check is
over (sender address = target address: the device now uses its address, "bound"); the pcap is
read afterwards. Printed per repeat and as medians: the time to 50%, 99% and 100% of the devices
ACKed and announced.

Baseline in the same run, same lab configuration: the fastest client we have (`dhcp_bind.fast_client`,
a tight loop on one raw socket, pre-built DISCOVERs, no ARP check), also started as a process and
timed the same way from outside. The ratio says what the emulator's process start, its device
machinery and its devices' own timing (the ARP check) cost above the server's pace.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import dhcp_bind

from iot_emulator import lab
from iot_emulator.protocols.link import dhcp_wire, wire

VENV_BIN = Path(sys.executable).parent
TIMEOUT = 90.0


def fleet_manifest(devices: int, profile: str, path: Path) -> None:
    path.write_text(
        "apiVersion: iotemu.io/v1alpha1\nkind: IoTFleet\nmetadata: {name: bench}\n"
        f"spec:\n  replicas: {devices}\n  template: {{profile: {profile}}}\n"
    )


def start_capture(where: lab.Lab, pcap: Path) -> subprocess.Popen[bytes]:
    """tcpdump on the gateway's side, writing each frame as it comes; returns once it listens."""
    process = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            where.gw_netns,
            "tcpdump",
            "-i",
            where.gw_iface,
            "-n",
            "-s",
            "600",
            "-B",
            "65536",
            "--immediate-mode",
            "-U",
            "-w",
            str(pcap),
            "udp port 67 or udp port 68 or arp",
        ],
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    line = process.stderr.readline().decode()  # "listening on gw0, ..." once the socket is open
    if "listening" not in line:
        raise RuntimeError(f"tcpdump did not start: {line.strip()}")
    return process


def frames(pcap: Path) -> list[tuple[float, bytes]]:
    """(wall time, frame) of every record of a classic pcap file (tcpdump -w, microsecond stamps)."""
    data = pcap.read_bytes()
    out, offset = [], 24
    while offset + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, offset)
        offset += 16
        out.append((sec + usec / 1e6, data[offset : offset + caplen]))
        offset += caplen
    return out


def bound_times(pcap: Path, start: float) -> tuple[list[float], list[float]]:
    """Seconds from `start` to each MAC's first DHCPACK and first ARP announcement, sorted."""
    acked, announced, _ = wire_times(pcap, start)
    return acked, announced


def wire_times(pcap: Path, start: float) -> tuple[list[float], list[float], float]:
    """`bound_times`, and the seconds to the first DHCP request a client sent (its start-up is over)."""
    first_request = float("nan")
    acked: dict[bytes, float] = {}
    announced: dict[bytes, float] = {}
    for stamp, frame in frames(pcap):
        arp = wire.parse_arp(frame) if wire.ethertype(frame) == wire.ETH_P_ARP else None
        if arp is not None:
            if arp.op == 1 and arp.sender_ip == arp.target_ip != wire.ZERO_IP:  # an RFC 5227 announcement
                announced.setdefault(arp.sender_mac, stamp - start)
            continue
        if first_request != first_request and dhcp_wire.parse_request(frame) is not None:  # nan: none yet
            first_request = stamp - start
        reply = dhcp_wire.parse(frame)
        if reply is not None and reply.msg_type == dhcp_wire.ACK:
            acked.setdefault(reply.chaddr, stamp - start)
    return sorted(acked.values()), sorted(announced.values()), first_request


def at_share(times: list[float], share: float, devices: int) -> float:
    """Seconds until `share` of `devices` were seen (nan if fewer were)."""
    needed = max(1, int(devices * share + 0.999999))
    return times[needed - 1] if len(times) >= needed else float("nan")


def wait_for(pcap: Path, start: float, devices: int, *, announced: bool) -> None:
    """Until every device is seen ACKed (and announced, if asked) in the pcap, or TIMEOUT."""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        acks, announces = bound_times(pcap, start)
        if len(announces if announced else acks) >= devices:
            return
        time.sleep(0.5)  # the pcap grows with no event to wait on; the clock is the capture's, not this loop's


def run_emulator(
    where: lab.Lab, args: argparse.Namespace, work: Path, source: str | None = None
) -> tuple[list[float], list[float], float]:
    """The emulator's times (`wire_times`); `source`: run another checkout's emulator instead of this one."""
    manifest, pcap = work / "fleet.yaml", work / "emulator.pcap"
    fleet_manifest(args.devices, args.profile, manifest)
    capture = start_capture(where, pcap)
    start = time.time()
    emulator = subprocess.Popen(
        [
            str(VENV_BIN / "iotemu"),
            "run",
            "-f",
            str(manifest),
            "--netns",
            where.dev_netns,
            "--interface",
            where.dev_iface,
            "--window",
            str(args.window),
            "--state-dir",
            str(work / f"state-{source is None}"),
            "--stats-interval",
            "3600",
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(source) / "emulator-image")} if source else None,
    )
    try:
        wait_for(pcap, start, args.devices, announced=True)
    finally:
        common.stop(emulator)
        capture.terminate()
        capture.wait()
    return wire_times(pcap, start)


def run_minimal(where: lab.Lab, args: argparse.Namespace, work: Path) -> tuple[list[float], float]:
    pcap = work / "minimal.pcap"
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import types, common, dhcp_bind\n"
        f"where = types.SimpleNamespace(dev_netns={where.dev_netns!r}, dev_iface={where.dev_iface!r})\n"
        f"configs = common.fleet({args.devices}, {args.profile!r}, arp_check=False)\n"
        f"print(dhcp_bind.fast_client(where, configs, {args.window}))\n"
    )
    capture = start_capture(where, pcap)
    start = time.time()
    client = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT + 30)
    capture.terminate()
    capture.wait()
    if client.returncode != 0:
        raise RuntimeError(f"minimal client failed: {client.stderr[-500:]}")
    acks, _, first = wire_times(pcap, start)
    return acks, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--server", choices=["dnsmasq", "kea"], default="kea")
    parser.add_argument("--profile", default="sonoff-mini")
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="also run the emulator of this checkout (e.g. a git worktree of an older commit)",
    )
    args = parser.parse_args()
    n = args.devices
    rows: dict[str, list[float]] = {}

    def keep(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    for run in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
            work = Path(tmp)
            os.chmod(work, 0o755)
            if args.before:
                with dhcp_bind.fresh_lab(args.server, devices=n) as where:
                    before_acks, before_announces, before_first = run_emulator(where, args, work, args.before)
                keep("before: first DHCP request on the wire", before_first)
                for share in (0.5, 0.99):
                    keep(f"before: ACKed {share:.0%}", at_share(before_acks, share, n))
                    keep(f"before: announced (bound) {share:.0%}", at_share(before_announces, share, n))
            with dhcp_bind.fresh_lab(args.server, devices=n) as where:
                acks, announces, first = run_emulator(where, args, work)
            with dhcp_bind.fresh_lab(args.server, devices=n) as where:
                minimal, minimal_first = run_minimal(where, args, work)
        keep("emulator: first DHCP request on the wire", first)
        keep("minimal client: first DHCP request on the wire", minimal_first)
        for share in (0.5, 0.99, 1.0):
            keep(f"emulator ACKed {share:.0%}", at_share(acks, share, n))
            keep(f"emulator announced (bound) {share:.0%}", at_share(announces, share, n))
            keep(f"minimal client ACKed {share:.0%}", at_share(minimal, share, n))
        print(
            f"run {run}: emulator 99% ACKed {at_share(acks, 0.99, n):.2f} s, 99% bound "
            f"{at_share(announces, 0.99, n):.2f} s ({len(announces)}/{n}); minimal client 99% ACKed "
            f"{at_share(minimal, 0.99, n):.2f} s ({len(minimal)}/{n})",
            flush=True,
        )

    print(
        f"\nbind_from_start: {n} devices ({args.profile}) in one `iotemu run` process, {args.server}, window "
        f"{args.window}; seconds from process start, seen on the gateway; median (min-max) of {args.repeat}"
    )
    table = [[name, common.spread(values, "{:.2f}")] for name, values in sorted(rows.items())]
    print(common.table(["what", "s from process start"], table))
    med = {name: common.median(values) for name, values in rows.items()}
    ratio = med["emulator ACKed 99%"] / med["minimal client ACKed 99%"]
    print(
        common.table(
            ["target (information, not a test)", "measured", ""],
            [
                [
                    f"{n:,} devices 99% bound <= 3 s from process start",
                    f"{med['emulator announced (bound) 99%']:.2f} s",
                    common.verdict(med["emulator announced (bound) 99%"] <= 3),
                ],
                [
                    "  99% ACKed (the server's view of bound)",
                    f"{med['emulator ACKed 99%']:.2f} s",
                    common.verdict(med["emulator ACKed 99%"] <= 3),
                ],
                ["  emulator / minimal client, 99% ACKed", f"x{ratio:.2f}", ""],
                *(
                    [
                        [
                            "  emulator / --before, 99% ACKed",
                            f"x{med['emulator ACKed 99%'] / med['before: ACKed 99%']:.2f}",
                            "",
                        ]
                    ]
                    if args.before
                    else []
                ),
            ],
        )
    )


if __name__ == "__main__":
    main()
