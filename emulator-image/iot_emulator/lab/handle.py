"""A lab that is up: its namespaces and addresses, its leases, commands in it, its DHCP server stopped and started.

`Lab` is what `up()` returns and `attach()` rebuilds from the lab's record in another process.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from iot_emulator.lab import dnsmasq, errors, ipv6, kea, kea6, netns, process, record, vlan_switch, vlans, wan
from iot_emulator.lab.config import DEFAULT_STATE_DIR, SINK_ADDRESS6, DhcpServer, LabConfig, pool_range, pool_size

READY_TIMEOUT = 10.0
"""Seconds a server gets to open its sockets before `up()` gives up and shows its log."""


@dataclasses.dataclass(frozen=True)
class Lab:
    """A lab that is up. Cheap to copy; the live state (server pids) is in its record on disk."""

    name: str
    gw_netns: str
    dev_netns: str
    gw_iface: str
    dev_iface: str
    gateway_ip: ipaddress.IPv4Address
    subnet: ipaddress.IPv4Network
    dhcp_server: DhcpServer
    lease_file: Path
    directory: Path
    config: LabConfig

    @property
    def record_path(self) -> Path:
        return record.path(self.config.state_dir, self.name)

    @property
    def sink_netns(self) -> str:
        """The lab internet's namespace (exists only with `config.internet`)."""
        return wan.sink_netns(self.name)

    @property
    def ipv6_prefix(self) -> ipaddress.IPv6Network:
        """The LAN's IPv6 prefix (with `--ipv6`): global-looking when the lab has an internet (`lab.ipv6`)."""
        return ipv6.prefix_for(self.config.internet)

    @property
    def pool(self) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
        return pool_range(self.subnet)

    def leases(self, now: float | None = None) -> dict[str, tuple[str, str]]:
        """Live leases {mac: (ip, hostname)} read from the server's own lease file ("" = no hostname)."""
        try:
            text = self.lease_file.read_text()
        except FileNotFoundError:
            return {}
        parse = kea.parse_leases if self.dhcp_server == "kea" else dnsmasq.parse_leases
        return parse(text, now)

    def vlan_leases(self, vlan: vlans.Vlan, now: float | None = None) -> dict[str, tuple[str, str]]:
        """Live leases {mac: (ip, hostname)} of the VLAN's own dnsmasq."""
        try:
            return dnsmasq.parse_leases(vlan.lease_file(self.directory).read_text(), now)
        except FileNotFoundError:
            return {}

    def run_in_gw(self, *cmd: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command in the gateway namespace (output captured as text unless overridden)."""
        return self._run(self.gw_netns, cmd, kw)

    def run_in_sink(self, *cmd: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command in the lab internet's namespace (output captured as text unless overridden)."""
        return self._run(self.sink_netns, cmd, kw)

    def run_in_dev(self, *cmd: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command in the device namespace (output captured as text unless overridden)."""
        return self._run(self.dev_netns, cmd, kw)

    @staticmethod
    def _run(ns: str, cmd: tuple[str, ...], kw: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        kw.setdefault("text", True)
        if "stdout" not in kw and "stderr" not in kw:
            kw.setdefault("capture_output", True)
        result: subprocess.CompletedProcess[str] = subprocess.run(netns.exec_argv(ns, cmd), **kw)
        return result

    def stop_server(self) -> None:
        """Stop the DHCP server, keeping its lease file. In a Kea lab DNS stays up; in a dnsmasq lab it stops too."""
        role = _dhcp_role(self)
        entry = record.read(self.record_path).get("processes", {}).get(role)
        if entry is not None:
            process.stop([process.Proc.from_json(entry)])
        record.update_processes(self.record_path, role, None)

    def start_server(self) -> None:
        """Start the DHCP server again on the same lease file; returns once it serves."""
        role = _dhcp_role(self)
        entry = record.read(self.record_path).get("processes", {}).get(role)
        if entry is not None and process.alive(process.Proc.from_json(entry)):
            raise errors.LabError(f"lab {self.name}: {role} is already running (pid {entry['pid']})")
        start(self, role)

    def restart_server(self) -> None:
        """Stop and start the DHCP server, keeping its lease file (devices keep their leases)."""
        self.stop_server()
        self.start_server()


def _dhcp_role(lab: Lab) -> str:
    return "kea" if lab.dhcp_server == "kea" else "dnsmasq"


def to_json(lab: Lab) -> dict[str, Any]:
    return {
        "version": 1,
        "name": lab.name,
        "gw_netns": lab.gw_netns,
        "dev_netns": lab.dev_netns,
        "sink_netns": lab.sink_netns,
        "gw_iface": lab.gw_iface,
        "dev_iface": lab.dev_iface,
        "gateway_ip": str(lab.gateway_ip),
        "subnet": str(lab.subnet),
        "dhcp_server": lab.dhcp_server,
        "lease_file": str(lab.lease_file),
        "directory": str(lab.directory),
        "config": lab.config.to_json(),
        "processes": {},
    }


def attach(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> Lab:
    """The Lab of a running lab, from its record (e.g. a lab built by `iotemu lab up`)."""
    data = record.read(record.path(state_dir, name))
    return Lab(
        name=data["name"],
        gw_netns=data["gw_netns"],
        dev_netns=data["dev_netns"],
        gw_iface=data["gw_iface"],
        dev_iface=data["dev_iface"],
        gateway_ip=ipaddress.IPv4Address(data["gateway_ip"]),
        subnet=ipaddress.IPv4Network(data["subnet"]),
        dhcp_server=data["dhcp_server"],
        lease_file=Path(data["lease_file"]),
        directory=Path(data["directory"]),
        config=LabConfig.from_json(data["config"]),
    )


def start(lab: Lab, role: str) -> None:
    """Start one of the lab's servers ("dnsmasq" or "kea"), wait until it listens, record its pid."""
    d = lab.directory
    env: dict[str, str] | None = None
    if role == "kea":
        Path("/run/kea").mkdir(parents=True, exist_ok=True)
        conf = d / "kea-dhcp4.json"
        conf.write_text(
            json.dumps(
                kea.config(
                    iface=lab.gw_iface,
                    subnet=lab.subnet,
                    gateway=lab.gateway_ip,
                    pool=lab.pool,
                    lease_time=lab.config.lease_time,
                    lease_file=lab.lease_file,
                    log_file=d / "kea-dhcp4.log",
                ),
                indent=2,
            )
        )
        argv, ports, logs = ["kea-dhcp4", "-c", str(conf)], {67}, [d / "kea-dhcp4.out", d / "kea-dhcp4.log"]
        env = {**os.environ, **kea.env(d)}
    else:
        serves_dhcp = lab.dhcp_server == "dnsmasq"
        if serves_dhcp:
            lab.lease_file.touch()
        argv = dnsmasq.argv(
            iface=lab.gw_iface,
            pid_file=d / "dnsmasq.pid",
            dns_names=lab.config.dns_names,
            dhcp_range=lab.pool if serves_dhcp else None,
            lease_time=lab.config.lease_time,
            lease_file=lab.lease_file,
            lease_max=pool_size(lab.subnet),
            extra=lab.config.dnsmasq_extra,
            servers=[str(a) for a in lab.config.upstream.resolvers] if lab.config.upstream else (),
            dns_names6={dnsmasq.CATCH_ALL: str(SINK_ADDRESS6)} if lab.config.internet and lab.config.ipv6 else None,
            bind_dynamic=lab.config.ipv6 is not None,
        )
        ports, logs = {67, 53} if serves_dhcp else {53}, [d / "dnsmasq.log"]
        if dnsmasq.dns_disabled(lab.config.dnsmasq_extra):
            ports.discard(53)
    started = (lambda pid: kea.started(d / "kea-dhcp4.log", pid)) if role == "kea" else None  # its log names its pid
    serve(lab, role, argv, logs[0], ports=ports, started=started, env=env, logs=logs[1:])


def start_vlans(lab: Lab) -> None:
    """The VLAN switch, then each VLAN's own dnsmasq on its interface; returns once all serve."""
    d = lab.directory
    log = d / "vlan-switch.log"
    argv = vlans.switch_argv(lab.config.vlans, lab.gw_iface)
    serve(lab, "vlan-switch", argv, log, started=lambda _pid: vlan_switch.READY in log.read_text())
    for vlan in lab.config.vlans:
        vlan.lease_file(d).touch()
        argv = vlans.dnsmasq_argv(
            vlan,
            lab.gw_iface,
            d,
            lease_time=lab.config.lease_time,
            dns_names=dict(lab.config.dns_names),
            extra=lab.config.dnsmasq_extra,
        )
        ports = {67} if dnsmasq.dns_disabled(lab.config.dnsmasq_extra) else {67, 53}
        serve(lab, f"dnsmasq-{vlan.label}", argv, d / f"dnsmasq-{vlan.label}.log", ports=ports)


def start_ipv6(lab: Lab, mode: ipv6.Mode) -> None:
    """IPv6 on the gateway's lab interface, then its router: radvd (`slaac`), dnsmasq (`dhcpv6`), or
    kea-dhcp6 beside radvd (`kea`: M flag; `kea-stateless`: O flag)."""
    d = lab.directory
    prefix = lab.ipv6_prefix
    ipv6.enable(lab.gw_netns, lab.gw_iface, prefix)
    if lab.config.internet:
        wan.connect_sink6(lab.gw_netns, lab.sink_netns, prefix)
    if mode in ipv6.KEA_MODES:
        ipv6.wait_link_local(lab.gw_netns, lab.gw_iface)
        start_kea6(lab)
    if mode != "dhcpv6":
        argv, pid_file = ipv6.radvd_argv(lab.gw_iface, d, mode, prefix)
        serve(lab, "radvd", argv, d / "radvd.log", started=lambda _pid: pid_file.exists())
    else:
        (d / "leases6").touch()
        log = d / "dnsmasq6.log"
        argv = ipv6.dnsmasq_argv(lab.gw_iface, d, lab.config.lease_time, prefix)
        serve(lab, "dnsmasq-v6", argv, log, started=lambda _pid: ipv6.dhcpv6_started(log))


def start_kea6(lab: Lab) -> None:
    """kea-dhcp6 on the gateway's lab interface; returns once it logs DHCP6_STARTED."""
    d = lab.directory
    Path("/run/kea").mkdir(parents=True, exist_ok=True)  # Debian's kea-dhcp6 refuses to start without it
    conf = d / kea6.CONFIG_FILE
    settings = kea6.config(
        iface=lab.gw_iface,
        prefix=lab.ipv6_prefix,
        pool=ipv6.dhcpv6_range(lab.ipv6_prefix),
        dns=ipv6.gateway_of(lab.ipv6_prefix),
        lifetime=lab.config.lease_time,
        directory=d,
    )
    conf.write_text(json.dumps(settings, indent=2))
    log = d / kea6.LOG_FILE
    env = {**os.environ, **kea.env(d)}
    serve(
        lab,
        "kea-dhcp6",
        ["kea-dhcp6", "-c", str(conf)],
        d / "kea-dhcp6.out",
        started=lambda pid: kea6.started(log, pid),
        env=env,
        logs=[log],
    )


def serve(
    lab: Lab,
    role: str,
    argv: list[str],
    log: Path,
    *,
    ports: set[int] | None = None,
    started: Callable[[int], bool] | None = None,
    env: dict[str, str] | None = None,
    logs: Sequence[Path] = (),
) -> process.Proc:
    """Start one of the lab's servers in the gateway namespace, record it (so `lab down` stops it) and
    return once it holds its UDP `ports` and `started(pid)` is true; LabError with its logs otherwise."""
    proc = process.spawn(netns.exec_argv(lab.gw_netns, argv), log=log, env=env)
    record.update_processes(lab.record_path, role, proc)
    process.wait_listening(
        proc,
        ports or set(),
        what=f"{role} in {lab.gw_netns}",
        logs=[log, *logs],
        timeout=READY_TIMEOUT,
        started=None if started is None else lambda: started(proc.pid),
    )
    return proc
