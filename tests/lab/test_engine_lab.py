"""The engine against real DHCP servers (dnsmasq and Kea) in a throw-away lab.

Each test runs the real emulator process with its raw socket in the lab's device namespace and
checks what the server itself recorded: its lease database, its answers to ping, its renewals.
"""

from __future__ import annotations

import array
import fcntl
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from iot_emulator import lab as iotlab
from tests import poll
from tests.conftest import LabFactory
from tests.lab.emulator import Emulator

pytestmark = pytest.mark.lab

SEED_MAC = "00:12:34:56:78:01"


def seed_args(lab: iotlab.Lab, state_dir: Path, *extra: str, mac: str = SEED_MAC) -> list[str]:
    """The seed's command line, unchanged, plus where the lab's interface and our state live."""
    return [
        "--device",
        "camera_01",
        "--vendor",
        "Hikvision",
        "--mac",
        mac,
        "--interface",
        lab.dev_iface,
        "--gateway",
        str(lab.gateway_ip),
        "--dhcp-mode",
        "auto",
        "--protocols",
        "arp,dhcp,http,rtsp,cloud,dns,ntp",
        "--traffic-interval",
        "60",
        "--json-output",
        "--netns",
        lab.dev_netns,
        "--state-dir",
        str(state_dir),
        "--stats-interval",
        "1",
        *extra,
    ]


def fleet_file(tmp_path: Path, replicas: int, profile: str = "sonoff-mini") -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "apiVersion: iotemu.io/v1alpha1\nkind: IoTFleet\nmetadata: {name: plugs}\n"
        f"spec: {{replicas: {replicas}, template: {{profile: {profile}, protocols: [arp, dhcp, icmp]}}}}\n"
    )
    return path


def test_device_binds_answers_ping_and_releases_on_sigterm(any_lab: iotlab.Lab, tmp_path: Path) -> None:
    with Emulator(seed_args(any_lab, tmp_path)) as emu:
        ack = emu.wait_for(lambda m: m["type"] == "dhcp_ack", 20, "dhcp_ack")
        ip = ack["assigned_ip"]
        started = next(m for m in emu.messages if m["type"] == "started")
        lease = any_lab.leases().get(SEED_MAC)
        assert lease is not None and lease[0] == ip, any_lab.leases()
        assert started["mac"] == SEED_MAC
        emu.wait_for(lambda m: m["type"] == "stats" and m["stats"]["current_ip"] == ip, 10, "stats with the IP")
        ping = any_lab.run_in_gw("ping", "-c", "2", "-W", "2", ip)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        t0 = time.monotonic()
        assert emu.stop() == 0
        assert time.monotonic() - t0 < 5
        tail = [m["type"] for m in emu.messages if m["type"] in ("dhcp_release", "stats", "stopped")][-3:]
        assert tail == ["dhcp_release", "stats", "stopped"]
        poll.until(lambda: SEED_MAC not in any_lab.leases(), 5, "the lease released by DHCPRELEASE")


def test_restarted_device_asks_for_its_old_address(any_lab: iotlab.Lab, tmp_path: Path) -> None:
    with Emulator(seed_args(any_lab, tmp_path)) as emu:
        first = emu.wait_for(lambda m: m["type"] == "dhcp_ack", 20, "first dhcp_ack")["assigned_ip"]
        emu.wait_for(lambda m: m["type"] == "stats" and m["stats"]["current_ip"] == first, 10, "bound (ARP check done)")
        assert emu.stop() == 0
    with Emulator(seed_args(any_lab, tmp_path)) as emu:
        discover = emu.wait_for(lambda m: m["type"] == "dhcp_discover", 10, "dhcp_discover")
        assert discover["requested_ip"] == first  # option 50 carried the remembered address
        ack = emu.wait_for(lambda m: m["type"] == "dhcp_ack", 30, "second dhcp_ack")
        assert ack["assigned_ip"] == first
        emu.stop()


def test_crashed_device_reboots_into_its_lease(any_lab: iotlab.Lab, tmp_path: Path) -> None:
    """No DHCPRELEASE (power cut): the device comes back with INIT-REBOOT for the same address."""
    with Emulator(seed_args(any_lab, tmp_path)) as emu:
        first = emu.wait_for(lambda m: m["type"] == "dhcp_ack", 20, "first dhcp_ack")["assigned_ip"]
        cache = tmp_path / "leases.json"
        poll.until(lambda: cache.exists() and first in cache.read_text(), 5, "the lease cache written")
        emu.proc.send_signal(signal.SIGKILL)
        emu.proc.wait()
    with Emulator(seed_args(any_lab, tmp_path)) as emu:
        request = emu.wait_for(lambda m: m["type"] == "dhcp_request", 10, "dhcp_request")
        assert request["state"] == "init-reboot" and request["requested_ip"] == first
        ack = emu.wait_for(lambda m: m["type"] == "dhcp_ack", 30, "dhcp_ack")
        assert ack["assigned_ip"] == first
        emu.stop()


def test_fleet_of_500_binds_in_one_process(lab_factory: LabFactory, tmp_path: Path) -> None:
    # dnsmasq logging 1,000 DHCP lines a second fell behind under a loaded CI and its socket dropped a few
    # of the (unanswered, never resent) RELEASEs at the end; --quiet-dhcp keeps it up with them
    lab = lab_factory(dnsmasq_extra=("--quiet-dhcp",))
    with Emulator(fleet_args(lab, tmp_path, 500)) as emu:
        acks = emu.wait_count("dhcp_ack", 500, 90)
        assert len({m["assigned_ip"] for m in acks}) == 500
        poll.until(lambda: len(lab.leases()) >= 500, 10, "500 leases")
        names = {m["mac"]: m["hostname"] for m in emu.messages if m["type"] == "started"}
        leases = lab.leases()
        assert {mac: leases[mac][1] for mac in names} == names  # each MAC's lease carries its option 12
        assert emu.stop(timeout=15) == 0
        assert sum(m["type"] == "stopped" for m in emu.messages) == 500
        poll.until(lambda: not lab.leases(), 10, "every lease released")


@pytest.mark.parametrize("kea_lab", [{"lease_time": 6}], indirect=True)
def test_short_leases_renew_at_t1_and_keep_the_address(kea_lab: iotlab.Lab, tmp_path: Path) -> None:
    with Emulator(seed_args(kea_lab, tmp_path)) as emu:
        ack = emu.wait_for(lambda m: m["type"] == "dhcp_ack", 20, "dhcp_ack")
        bound_at = time.monotonic()
        renew = emu.wait_for(lambda m: m["type"] == "dhcp_renew", 10, "dhcp_renew")
        renewed_after = time.monotonic() - bound_at
        assert 2.0 <= renewed_after <= 4.5  # T1 = 3 s of a 6 s lease (Kea's renew-timer)
        again = emu.wait_for(lambda m: m["type"] == "dhcp_ack", 5, "dhcp_ack after renew")
        assert again["assigned_ip"] == ack["assigned_ip"] == renew["assigned_ip"]
        emu.wait_for(lambda m: m["type"] == "dhcp_renew", 10, "second renewal")
        assert not any(m["type"] in ("dhcp_expire", "dhcp_nak") for m in emu.messages)
        emu.stop()


def fleet_args(lab: iotlab.Lab, tmp_path: Path, replicas: int) -> list[str]:
    manifest = str(fleet_file(tmp_path, replicas))
    place = ["--interface", lab.dev_iface, "--netns", lab.dev_netns, "--state-dir", str(tmp_path / "state")]
    return ["run", "-f", manifest, *place, "--json-output", "--stats-interval", "30"]


@pytest.mark.parametrize("kea_lab", [{"lease_time": 6}], indirect=True)
def test_devices_keep_their_leases_across_a_server_restart(kea_lab: iotlab.Lab, tmp_path: Path) -> None:
    with Emulator(fleet_args(kea_lab, tmp_path, 20)) as emu:
        before = {m["mac"]: m["assigned_ip"] for m in with_mac(emu, emu.wait_count("dhcp_ack", 20, 30))}
        kea_lab.restart_server()
        emu.messages.clear()
        after = {m["mac"]: m["assigned_ip"] for m in with_mac(emu, emu.wait_count("dhcp_ack", 20, 30))}
        assert after == before
        assert {mac: lease[0] for mac, lease in kea_lab.leases().items()} == before
        assert not any(m["type"] in ("dhcp_nak", "dhcp_expire") for m in emu.messages)
        emu.stop()


@pytest.mark.parametrize("kea_lab", [{"lease_time": 4}], indirect=True)
def test_devices_regain_their_addresses_after_a_server_outage(kea_lab: iotlab.Lab, tmp_path: Path) -> None:
    """The server is down longer than the lease: devices rebind in vain, expire, then get the same IPs back."""
    with Emulator(fleet_args(kea_lab, tmp_path, 10)) as emu:
        before = {m["mac"]: m["assigned_ip"] for m in with_mac(emu, emu.wait_count("dhcp_ack", 10, 30))}
        kea_lab.stop_server()
        emu.wait_count("dhcp_expire", 10, 15)
        emu.messages.clear()
        kea_lab.start_server()
        after = {m["mac"]: m["assigned_ip"] for m in with_mac(emu, emu.wait_count("dhcp_ack", 10, 40))}
        assert after == before
        emu.stop()


def with_mac(emu: Emulator, acks: list[dict[str, object]]) -> list[dict[str, object]]:
    """Each ack with its device's MAC (from the device's `started` message)."""
    macs = {m["device_id"]: m["mac"] for m in emu.messages if m["type"] == "started"}
    macs.update(emu.started_macs)
    return [{**m, "mac": macs[m["device_id"]]} for m in acks]


def test_pcap_holds_what_was_sent_and_received(dnsmasq_lab: iotlab.Lab, tmp_path: Path) -> None:
    from scapy.layers.dhcp import DHCP
    from scapy.layers.l2 import Ether
    from scapy.utils import rdpcap

    capture = tmp_path / "run.pcap"
    args = [*fleet_args(dnsmasq_lab, tmp_path, 3), "--pcap", str(capture), "--pcap-per-device"]
    with Emulator(args) as emu:
        emu.wait_count("dhcp_ack", 3, 20)
        assert emu.stop() == 0
    frames = rdpcap(str(capture))
    kinds = {
        opt[1]
        for f in frames
        if DHCP in f
        for opt in f[DHCP].options
        if isinstance(opt, tuple) and opt[0] == "message-type"
    }
    assert {1, 2, 3, 5, 7} <= kinds  # DISCOVER, OFFER, REQUEST, ACK (received) and RELEASE (sent)
    mac = emu.started_macs["plugs-0001"]
    own = rdpcap(str(tmp_path / "run-plugs-0001.pcap"))
    assert len(own) >= 5
    assert all(mac in (f[Ether].src, f[Ether].dst) for f in own)


def test_devices_keep_answering_when_nobody_reads_stdout(dnsmasq_lab: iotlab.Lab, tmp_path: Path) -> None:
    """A reader that stops (a stuck dashboard) fills the pipe; the engine must not stop with it."""
    args = [*fleet_args(dnsmasq_lab, tmp_path, 40)]
    args[args.index("--stats-interval") + 1] = "0.05"  # ~800 stats lines/s: 64 KB of pipe in well under 1 s
    proc = subprocess.Popen(
        [sys.executable, "-m", "iot_emulator", *args], stdout=subprocess.PIPE, stderr=(tmp_path / "stderr").open("wb")
    )
    try:
        assert proc.stdout is not None
        unread = array.array("i", [0])
        poll.until(lambda: len(dnsmasq_lab.leases()) >= 40, 30, "40 devices bound")

        def pipe_full() -> bool:
            fcntl.ioctl(proc.stdout.fileno(), termios.FIONREAD, unread)  # type: ignore[union-attr]
            return unread[0] >= 60_000

        poll.until(pipe_full, 15, "a full stdout pipe")
        addresses = [ip for ip, _ in dnsmasq_lab.leases().values()][:5]
        for ip in addresses:  # several stats intervals after the pipe filled
            ping = dnsmasq_lab.run_in_gw("ping", "-c", "1", "-w", "5", ip)  # the ARP check may still run
            assert ping.returncode == 0, f"{ip} stopped answering: {(tmp_path / 'stderr').read_text()[-2000:]}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=8) == 0  # and it still exits cleanly, leases released
        poll.until(lambda: not dnsmasq_lab.leases(), 10, "every lease released")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
