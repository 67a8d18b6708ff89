"""The compromise behaviours on a real lab: on the wire (tshark at the gateway) and in the sink's servers' logs.

One lab with its internet (sink: nginx, sshd, telnetd; dnsmasq logging queries), one engine with
one quiet device (no profile protocols). Once it is bound, every behaviour is added to its host's
services at once, as the scenario runner does (`compromise.build_service`, started on the engine's
loop), with small numbers: a scan of the first hosts of the lab subnet, 4 telnet and 4 SSH login
attempts against the sink, HTTP, HTTPS and DNS beacons every second, a DNS tunnel at 20 queries/s,
3 MiB uploaded over HTTPS in 1 MiB POSTs. The tests then read the capture and the logs; one checks
that nothing the device sent went anywhere but the lab subnet and the sink.
"""

from __future__ import annotations

import collections
import dataclasses
import ipaddress
import itertools
import random
import re
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import config as labconfig
from iot_emulator.lab import login_servers
from iot_emulator.protocols import services
from iot_emulator.scenarios import beacon, compromise, credentials
from tests import poll
from tests.conftest import new_lab_name
from tests.lab.udp_servers import Capture, EngineThread
from tests.unit.protocol_env import make_profile

pytestmark = pytest.mark.lab

SINK = str(labconfig.SINK_ADDRESS)
LABEL = "lab-test"
MAC = "44:19:b6:5c:00:01"
FIELDS = (
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "http.request.method",
    "http.request.uri",
    "dns.qry.name",
    "dns.qry.type",
    "ssh.protocol",
    "tls.handshake.extensions_server_name",
    "udp.dstport",
)
SPECS: dict[str, dict[str, Any]] = {
    "scan": {"kind": "port_scan", "ports": [22, 23, 53, 80], "rate": 100, "max_hosts": 4},
    "telnet": {"kind": "brute_force", "service": "telnet", "attempts": 4, "interval": 0.5},
    "ssh": {"kind": "brute_force", "service": "ssh", "attempts": 4, "interval": 0.5},
    "ssh-chacha": {
        "kind": "brute_force",
        "service": "ssh",
        "attempts": 2,
        "interval": 0.5,
        "ssh_cipher": "chacha20-poly1305@openssh.com",
    },
    "http-beacon": {"kind": "c2_beacon", "protocol": "http", "period": 1.0, "target": "c2.lab.test"},
    "https-beacon": {"kind": "c2_beacon", "protocol": "https", "period": 1.0, "target": "c2s.lab.test"},
    "dns-beacon": {"kind": "c2_beacon", "protocol": "dns", "period": 1.0, "target": "c2d.lab.test"},
    "tunnel": {"kind": "dns_tunnel", "rate": 20, "label_length": 52, "domain": "t.lab.test"},
    "exfil": {"kind": "exfiltration", "protocol": "https", "total_bytes": 3 << 20, "chunk_bytes": 1 << 20},
}
RUN = 6.0
"""Seconds the periodic behaviours (beacons, tunnel) run."""
SYN, RST, ACK = 0x02, 0x04, 0x10
MARKER_PORT = 9
"""A datagram the device sends to the gateway's discard port after the behaviours: once tshark shows it, it
has decoded everything before it."""
ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(compromise.CompromiseBehaviour)


@dataclasses.dataclass
class Run:
    lab: iotlab.Lab
    ip: str
    rows: list[dict[str, str]]
    logs: list[str]
    """The device's log messages."""
    ssh_verified: int
    """SSH attempts in which sshd's Ed25519 signature over the exchange hash verified."""
    protocols: dict[str, int]
    """The device's stats: packets sent per protocol."""

    def sink_log(self, name: str) -> str:
        return (self.lab.directory / "internet" / name).read_text(errors="replace")


def install(emulator: EngineThread, specs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Build and start every behaviour on the device, on the engine's loop, as the scenario runner does."""

    def go() -> dict[str, Any]:
        dev = emulator.engine.devices[0]
        context = services.Context(dev.config, dev.host, random.Random(7), dev._log)
        now = emulator.loop.time()
        built = {}
        for name, spec in specs.items():
            service = compromise.build_service(ADAPTER.validate_python(spec), context, f"{LABEL}-{name}")
            dev.host.services.append(service)
            service.start(now)
            built[name] = service
        emulator.engine._after(dev, now)
        return built

    return emulator.call(go)


def stop(emulator: EngineThread, built: dict[str, Any]) -> None:
    def go() -> None:
        dev = emulator.engine.devices[0]
        now = emulator.loop.time()
        for service in built.values():
            service.stop(now)
            dev.host.services.remove(service)
        emulator.engine._send(dev, dev.host.drain())
        emulator.engine._after(dev, now)

    emulator.call(go)


def marker(emulator: EngineThread, lab: iotlab.Lab) -> None:
    def go() -> None:
        dev = emulator.engine.devices[0]
        dev.host.send_udp("test", lab.gateway_ip.packed, 40000, MARKER_PORT, b"end of the behaviours")
        emulator.engine._send(dev, dev.host.drain())

    emulator.call(go)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    directory = tmp_path_factory.mktemp("compromise")
    config = iotlab.LabConfig(
        name=new_lab_name(), state_dir=directory / "labs", internet=True, dnsmasq_extra=("--log-queries",)
    )
    device = manifests.DeviceConfig(
        device_id="victim", mac=MAC, hostname="victim", profile=make_profile(), protocols=(), traffic_interval=60
    )
    with iotlab.lab(config) as lab:
        # Not the HTTPS bulk (3 MiB of uploads, checked in the sink's logs): a capture that decodes it drops packets.
        capture = Capture(lab, f"ip and not (host {SINK} and tcp port 443)", "ip", FIELDS)
        emulator = EngineThread(lab, [device])
        try:
            emulator.wait(lambda: emulator.engine.devices[0].ip, 30, "the device to bind")
            ip = str(ipaddress.IPv4Address(emulator.engine.devices[0].ip))
            built = install(emulator, SPECS)
            exfil = built["exfil"]
            poll.until(lambda: emulator.call(lambda: exfil.finished), 60, "the uploads to finish")
            attempts = [built["telnet"], built["ssh"], built["ssh-chacha"]]
            poll.until(
                lambda: emulator.call(lambda: all(b.finished for b in attempts)), 30, "the login attempts to end"
            )
            poll.until(lambda: emulator.call(lambda: built["scan"].finished), 30, "the scan to sum up")
            stop(emulator, built)
            verified = emulator.call(lambda: built["ssh"].verified_host_keys + built["ssh-chacha"].verified_host_keys)
            protocols = emulator.call(lambda: emulator.engine.device_stats()[0]["protocols"])
            marker(emulator, lab)
            poll.until(
                lambda: any(r[FIELDS.index("udp.dstport")] == str(MARKER_PORT) for r in capture.rows()),
                10,
                "tshark to decode the last packets (the marker sent after them)",
            )
        finally:
            emulator.stop()
            capture.stop()
        names = FIELDS
        rows = [dict(zip(names, r, strict=True)) for r in capture.rows()]
        logs = [m["message"] for m in emulator.messages if m["type"] == "log"]
        yield Run(lab, ip, rows, logs, verified, protocols)


def flags(row: dict[str, str]) -> int:
    return int(row["tcp.flags"] or "0", 16)


def kind_logs(run: Run, name: str, kind: str) -> list[str]:
    prefix = f"[scenario {LABEL}-{name}] {kind}: "
    return [m.removeprefix(prefix) for m in run.logs if m.startswith(prefix)]


def test_every_log_line_names_its_scenario_and_kind(run: Run) -> None:
    scenario_lines = [m for m in run.logs if m.startswith("[scenario ")]
    assert scenario_lines
    assert not [m for m in scenario_lines if " failed: " in m], "a session of a behaviour failed"
    for line in scenario_lines:
        assert re.match(
            r"^\[scenario lab-test-[a-z-]+\] (port_scan|brute_force|c2_beacon|dns_tunnel|exfiltration): ", line
        ), line


def test_port_scan_probes_the_lab_subnet_and_resets_open_ports(run: Run) -> None:
    gateway = str(run.lab.gateway_ip)
    syns = [
        r
        for r in run.rows
        if r["ip.src"] == run.ip
        and flags(r) == SYN
        and r["tcp.dstport"] in ("22", "23", "53", "80")
        and r["ip.dst"] != SINK
    ]
    subnet = ipaddress.IPv4Network(run.lab.subnet)
    assert {r["ip.dst"] for r in syns} <= {str(h) for h in list(subnet.hosts())[:5]}
    assert (gateway, "53") in {(r["ip.dst"], r["tcp.dstport"]) for r in syns}
    synack = [
        r
        for r in run.rows
        if r["ip.src"] == gateway and r["tcp.srcport"] == "53" and r["ip.dst"] == run.ip and flags(r) == SYN | ACK
    ]
    assert synack, "dnsmasq's port 53 did not answer the scan"
    resets = [
        r
        for r in run.rows
        if r["ip.src"] == run.ip and r["ip.dst"] == gateway and r["tcp.dstport"] == "53" and flags(r) == RST
    ]
    assert resets, "the scanner did not reset the open port"
    summary = kind_logs(run, "scan", "port_scan")[-1]
    assert summary.startswith("16 probes to 4 hosts") and f"{gateway}:53" in summary, summary


@pytest.mark.parametrize("service", ["telnet", "ssh"])
def test_login_attempts_reach_the_sinks_server_and_are_logged_there(run: Run, service: str) -> None:
    port = str(login_servers.SSH_PORT if service == "ssh" else login_servers.TELNET_PORT)
    syns = [
        r
        for r in run.rows
        if r["ip.src"] == run.ip and r["ip.dst"] == SINK and r["tcp.dstport"] == port and flags(r) == SYN
    ]
    users = [user for user, _ in credentials.MIRAI[:4]]
    if service == "ssh":  # two behaviours: 4 attempts with aes128-ctr first, 2 with chacha20-poly1305 first
        users += users[:2]
        assert any(r["ssh.protocol"].startswith("SSH-2.0-libssh2") for r in run.rows if r["ip.src"] == run.ip)
        assert run.ssh_verified == 6, "the exchange hash differs from sshd's"
        log = run.sink_log("sshd.log")
        failed = re.findall(rf"Failed password for invalid user (\S+) from {re.escape(run.ip)} ", log)
        ciphers = re.findall(r"kex: client->server cipher: (\S+) MAC: (\S+)", log)
        assert collections.Counter(ciphers) == {
            ("aes128-ctr", "hmac-sha2-256"): 4,
            ("chacha20-poly1305@openssh.com", "<implicit>"): 2,
        }
        assert kind_logs(run, "ssh-chacha", "brute_force")[-1] == "2 ssh attempts at login.lab.test: 2 rejected"
    else:
        failed = re.findall(rf"FAILED LOGIN from {re.escape(run.ip)} FOR (\S+)", run.sink_log("telnet-logins.log"))
    assert len(syns) == len(users) and sorted(failed) == sorted(users)
    assert kind_logs(run, service, "brute_force")[-1] == f"4 {service} attempts at login.lab.test: 4 rejected"


def period_of(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_http_beacons_check_in_every_period_in_the_sinks_log(run: Run) -> None:
    bot = beacon.bot_id(MAC)
    gets = [
        float(r["frame.time_epoch"])
        for r in run.rows
        if r["ip.src"] == run.ip and r["http.request.uri"] == f"/gate.php?id={bot}"
    ]
    assert len(gets) >= 4
    assert all(abs(p - 1.0) < 0.15 for p in period_of(gets)), period_of(gets)
    access = run.sink_log("http-access.log")
    assert access.count(f'{run.ip} "GET /gate.php?id={bot} HTTP/1.1"') == len(gets)
    https = run.sink_log("https-access.log")
    assert https.count(f'{run.ip} "GET /gate.php?id={bot} HTTP/1.1"') >= 4 and 'sni="c2s.lab.test"' in https


def test_dns_beacon_and_tunnel_queries_in_the_resolvers_log(run: Run) -> None:
    dnsmasq = (run.lab.directory / "dnsmasq.log").read_text(errors="replace")
    bot = beacon.bot_id(MAC)
    assert f"query[TXT] {bot}.c2d.lab.test from {run.ip}" in dnsmasq
    check_ins = [
        float(r["frame.time_epoch"])
        for r in run.rows
        if r["ip.src"] == run.ip and r["dns.qry.name"].endswith(f"{bot}.c2d.lab.test")
    ]
    assert len(check_ins) >= 4 and all(abs(p - 1.0) < 0.15 for p in period_of(check_ins)), period_of(check_ins)
    tunnel = re.findall(rf"query\[TXT\] ([a-z2-7]{{52}})\.t\.lab\.test from {re.escape(run.ip)}", dnsmasq)
    assert len(tunnel) >= 20 * 2 and len(set(tunnel)) == len(tunnel)
    on_wire = [
        r["dns.qry.name"] for r in run.rows if r["ip.src"] == run.ip and r["dns.qry.name"].endswith(".t.lab.test")
    ]
    logged = {f"{label}.t.lab.test" for label in tunnel}
    assert logged == set(on_wire)
    last = kind_logs(run, "tunnel", "dns_tunnel")[-1]
    summary = re.search(r"(\d+) queries under t\.lab\.test, (\d+) answered$", last)
    assert summary is not None
    sent, answered = int(summary[1]), int(summary[2])
    assert sent == len(tunnel)
    assert sent - 1 <= answered <= sent  # the last query may still be in flight when the step ends


def test_exfiltration_uploads_in_chunks_logged_by_nginx(run: Run) -> None:
    bodies = re.findall(
        rf'^{re.escape(run.ip)} "POST /upload HTTP/1.1" "[^"]*" 200 .* body=(\d+)$',
        run.sink_log("https-access.log"),
        re.M,
    )
    assert bodies == [str(1 << 20)] * 3
    carried = [
        int(n)
        for n in re.findall(
            rf'^{re.escape(run.ip)} sni="drop.lab.test" .* bytes_in=(\d+)$', run.sink_log("tls-access.log"), re.M
        )
    ]
    assert len(carried) == 3 and all(1 << 20 < n < (1 << 20) + 8192 for n in carried), carried  # + TLS framing
    summary = kind_logs(run, "exfil", "exfiltration")[-1]
    assert summary.startswith(f"{3 << 20} of {3 << 20} bytes uploaded to drop.lab.test in 3 POSTs"), summary


def test_the_devices_stats_count_each_behaviour(run: Run) -> None:
    counted = {name for name, packets in run.protocols.items() if packets > 0}
    assert {"scan", "telnet", "ssh", "c2", "dns", "exfil"} <= counted, run.protocols


def test_nothing_leaves_the_lab(run: Run) -> None:
    subnet = ipaddress.IPv4Network(run.lab.subnet)
    for row in run.rows:
        if row["ip.src"] == run.ip:
            dst = ipaddress.IPv4Address(row["ip.dst"])
            assert dst in subnet or str(dst) == SINK or dst.is_multicast or str(dst) == "255.255.255.255", row
    sink_view = run.lab.run_in_sink("ip", "route").stdout
    assert "default" not in sink_view or "local" in sink_view
