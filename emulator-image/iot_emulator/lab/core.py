"""The throw-away lab: two network namespaces, a veth pair and a real DHCP/DNS server, built and removed whole.

Without a spare LAN, the emulator still needs a real link and a real DHCP server to talk to. A lab
is a gateway namespace `<name>-gw` (gateway address on `gw0`, dnsmasq or Kea serving DHCP, dnsmasq
serving DNS) joined by a veth pair to a device namespace `<name>-dev` whose end, `lab0`, has no IP
address: the emulator owns the devices' addresses in user space. With an internet the gateway also
routes to a third namespace, `<name>-sink`, where the servers of `lab.internet` run (`lab.wan`).
Nothing is added to the host's own namespace and no frame can leave the lab's namespaces (unless
the lab is given a real upstream, `LabConfig.upstream`, which is its whole point).

A lab outlives the process that built it: `up()` writes a JSON record (namespaces, server pids
and start times, directory) to a state directory, and `down()` in any other process reads it.
`up()` writes that record before building anything, so a half-built lab is removable too, and
any failure inside `up()` tears down what exists before raising `LabError`.

The gateway's neighbour table: replies unicast to devices that have no address yet (dnsmasq's
default when the BOOTP broadcast flag is clear) add one neighbour entry per device, and the table
stops growing at `net.ipv4.neigh.default.gc_thresh3` (1024) entries. On this kernel (6.18) the
`net.ipv4.neigh.default.*` thresholds are not per-namespace: they belong to the single ARP table
that all namespaces share (its entry count is host-wide too) and are only visible in the host's
namespace, so a lab cannot raise them without changing the host, which it never does. Labs rely
on the BOOTP broadcast flag instead: devices whose profile sets it (`dhcp.broadcast_flag`) get
broadcast replies and add no entry; for large fleets whose profiles leave it clear, pass
`dnsmasq_extra=("--dhcp-broadcast",)` so dnsmasq broadcasts to every client that has no address
yet. Kea (raw sockets) builds its replies itself and adds no entry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from iot_emulator import bounded
from iot_emulator.lab import dnsmasq, errors, internet, kea, netns, process, wan
from iot_emulator.lab.config import DEFAULT_STATE_DIR, SINK_ADDRESS, DhcpServer, LabConfig, pool_range, pool_size

log = logging.getLogger(__name__)

GW_IFACE = "gw0"
DEV_IFACE = "lab0"
READY_TIMEOUT = 10.0
"""Seconds a server gets to open its sockets before `up()` gives up and shows its log."""
TEMP_PREFIX = "iotemu-lab-"
TEMP_ROOT = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path("/tmp")
"""Where a lab's files live: tmpfs when there is one. dnsmasq fsyncs its whole lease file on every
change; on this machine's disk that alone held 2,000 leases to 2-11 s (0.3 s on tmpfs)."""
ROOT_MESSAGE = "the lab needs root (network namespaces, raw sockets): run with sudo"
_PACKAGES = {"ip": "iproute2", "ethtool": "ethtool", "dnsmasq": "dnsmasq-base", "kea-dhcp4": "kea-dhcp4-server"}


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
        return _record_path(self.config.state_dir, self.name)

    @property
    def sink_netns(self) -> str:
        """The lab internet's namespace (exists only with `config.internet`)."""
        return wan.sink_netns(self.name)

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
        record = _read_record(self.record_path)
        role = _dhcp_role(self)
        entry = record.get("processes", {}).get(role)
        if entry is not None:
            process.stop([process.Proc.from_json(entry)])
        _update_processes(self.record_path, role, None)

    def start_server(self) -> None:
        """Start the DHCP server again on the same lease file; returns once it serves."""
        role = _dhcp_role(self)
        entry = _read_record(self.record_path).get("processes", {}).get(role)
        if entry is not None and process.alive(process.Proc.from_json(entry)):
            raise errors.LabError(f"lab {self.name}: {role} is already running (pid {entry['pid']})")
        _start(self, role)

    def restart_server(self) -> None:
        """Stop and start the DHCP server, keeping its lease file (devices keep their leases)."""
        self.stop_server()
        self.start_server()


def _dhcp_role(lab: Lab) -> str:
    return "kea" if lab.dhcp_server == "kea" else "dnsmasq"


def _record_path(state_dir: Path, name: str) -> Path:
    return Path(state_dir) / f"{name}.json"


def _read_record(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise errors.LabError(f"no lab record {path}: is the lab up?") from exc
    return data


def _write_record(path: Path, data: Mapping[str, Any]) -> None:
    bounded.write_atomic(path, json.dumps(data, indent=2) + "\n", mode=0o644)


def _update_processes(path: Path, role: str, proc: process.Proc | None) -> None:
    data = _read_record(path)
    procs = data.setdefault("processes", {})
    if proc is None:
        procs.pop(role, None)
    else:
        procs[role] = proc.to_json()
    _write_record(path, data)


def _lab_json(lab: Lab) -> dict[str, Any]:
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
    data = _read_record(_record_path(state_dir, name))
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


def require_root() -> None:
    if os.geteuid() != 0:
        raise errors.LabConfigError(ROOT_MESSAGE)


def _require_tools(server: DhcpServer) -> None:
    needed = ["ip", "ethtool", "dnsmasq"] + (["kea-dhcp4"] if server == "kea" else [])
    missing = [t for t in needed if netns.tool(t) is None]
    if missing:
        packages = " ".join(_PACKAGES[t] for t in missing)
        raise errors.LabError(f"not found: {', '.join(missing)}; install {packages} (sudo make setup)")


def up(config: LabConfig) -> Lab:
    """Build a lab and return it once its servers listen; on failure remove what was built, raise LabError."""
    require_root()
    _require_tools(config.dhcp_server)
    name = config.name or f"iotlab{secrets.token_hex(3)}"
    config = dataclasses.replace(config, name=name)
    if config.internet:  # every other name goes to the sink
        config = dataclasses.replace(config, dns_names={dnsmasq.CATCH_ALL: str(SINK_ADDRESS), **config.dns_names})
    gw_ns, dev_ns = f"{name}-gw", f"{name}-dev"
    for ns in (gw_ns, dev_ns, wan.sink_netns(name)):
        if netns.exists(ns):
            raise errors.LabConfigError(f"network namespace {ns} already exists: `iotemu lab down --name {name}`")
    record = _record_path(config.state_dir, name)
    try:  # claiming the record is what makes the name ours, atomically
        config.state_dir.mkdir(parents=True, exist_ok=True)
        os.close(os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError as exc:
        raise errors.LabConfigError(f"a lab named {name} already exists ({record})") from exc
    except OSError as exc:
        raise errors.LabError(f"cannot write the lab record {record}: {exc}") from exc
    try:
        directory = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{name}-", dir=TEMP_ROOT))
        lab = Lab(
            name=name,
            gw_netns=gw_ns,
            dev_netns=dev_ns,
            gw_iface=GW_IFACE,
            dev_iface=DEV_IFACE,
            gateway_ip=config.subnet.network_address + 1,
            subnet=config.subnet,
            dhcp_server=config.dhcp_server,
            lease_file=directory / ("leases.csv" if config.dhcp_server == "kea" else "leases"),
            directory=directory,
            config=config,
        )
        _write_record(record, _lab_json(lab))
        _build_network(lab)
        if config.internet:
            wan.connect_sink(gw_ns, lab.sink_netns, str(lab.subnet))
        elif config.upstream is not None:
            wan.connect_upstream(gw_ns, config.upstream)
        _start(lab, "dnsmasq")
        if lab.dhcp_server == "kea":
            _start(lab, "kea")
        if config.internet:
            internet.start(lab.sink_netns, directory / "internet", lab.subnet,
                           lambda role, proc: _update_processes(lab.record_path, role, proc))  # fmt: skip
        return lab
    except BaseException as exc:
        try:
            down(name, config.state_dir)
        except errors.LabError as cleanup:
            exc.add_note(f"cleaning up after that failed too: {cleanup}")
        if isinstance(exc, errors.LabError):
            raise
        if isinstance(exc, Exception):
            raise errors.LabError(f"lab {name}: {exc}") from exc
        raise


NEIGH_SYSCTLS = Path("/proc/sys/net/ipv4/neigh/default")
NEIGH_CEILING = 65536


def size_neighbour_table(addresses: int) -> dict[str, int]:
    """Raise the kernel's neighbour-table thresholds so a gateway can know `addresses` devices.

    On this kernel (6.x) `gc_thresh1/2/3` exist only in the initial namespace and bound the ARP
    table of every namespace together; the default 1024 stalls a fleet of ~1,000 devices (the
    gateway's replies fail: "neighbor table overflow"). Thresholds are only ever raised, never
    lowered, up to NEIGH_CEILING; returns what was changed.
    """
    wanted = {"gc_thresh1": min(addresses, NEIGH_CEILING // 4), "gc_thresh2": min(2 * addresses, NEIGH_CEILING // 2),
              "gc_thresh3": min(4 * addresses, NEIGH_CEILING)}  # fmt: skip
    changed = {}
    for key, value in wanted.items():
        path = NEIGH_SYSCTLS / key
        try:
            if int(path.read_text()) < value:
                path.write_text(str(value))
                changed[key] = value
        except OSError:  # a kernel or container without these: the lab still works for small fleets
            log.warning("cannot raise %s to %d", path, value)
    return changed


def _build_network(lab: Lab) -> None:
    size_neighbour_table(lab.subnet.num_addresses)
    for ns in (lab.gw_netns, lab.dev_netns):
        netns.add(ns)
        # No IPv6 on the lab link: no router solicitations, DAD or MLD frames in captures or in the
        # emulator's receive loop.
        netns.sysctl_in(ns, {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"})
        netns.ip(ns, "link", "set", "lo", "up")
    # Distinct ifindexes for the two ends (each namespace would number its end 2): the kernel's
    # link watcher handles a veth event at once only when a device's ifindex differs from its
    # peer's, and otherwise leaves the second end "not running" for about a second.
    netns.ip(lab.gw_netns, "link", "add", lab.gw_iface, "index", "2", "type", "veth",
             "peer", "name", lab.dev_iface, "netns", lab.dev_netns, "index", "3")  # fmt: skip
    netns.ip(lab.gw_netns, "addr", "add", f"{lab.gateway_ip}/{lab.subnet.prefixlen}", "dev", lab.gw_iface)
    # veth offloads the UDP checksum: without this, frames the gateway's kernel sends (DNS replies,
    # dnsmasq's DHCP) reach lab0 with partial checksums that captures and strict parsers reject.
    netns.run(netns.exec_argv(lab.gw_netns, ["ethtool", "-K", lab.gw_iface, "tx", "off"]))
    netns.ip(lab.gw_netns, "link", "set", lab.gw_iface, "up")
    netns.ip(lab.dev_netns, "link", "set", lab.dev_iface, "up")
    # The neighbour table is shared by every namespace of the host and stops at ~1024 entries; a
    # big fleet fills it, garbage collection evicts the broadcast entry, and dnsmasq's broadcast
    # replies then fail with ENOBUFS. A permanent entry is never evicted.
    netns.ip(lab.gw_netns, "neigh", "replace", "255.255.255.255", "lladdr", "ff:ff:ff:ff:ff:ff",
             "dev", lab.gw_iface, "nud", "permanent")  # fmt: skip
    netns.wait_running(lab.gw_netns, lab.gw_iface)
    netns.wait_running(lab.dev_netns, lab.dev_iface)


def _start(lab: Lab, role: str) -> None:
    """Start one of the lab's servers ("dnsmasq" or "kea"), wait until it listens, record its pid."""
    d = lab.directory
    env: dict[str, str] | None = None
    if role == "kea":
        Path("/run/kea").mkdir(parents=True, exist_ok=True)
        conf = d / "kea-dhcp4.json"
        conf.write_text(json.dumps(kea.config(
            iface=lab.gw_iface, subnet=lab.subnet, gateway=lab.gateway_ip, pool=lab.pool,
            lease_time=lab.config.lease_time, lease_file=lab.lease_file, log_file=d / "kea-dhcp4.log",
        ), indent=2))  # fmt: skip
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
        )
        ports, logs = {67, 53} if serves_dhcp else {53}, [d / "dnsmasq.log"]
        if dnsmasq.dns_disabled(lab.config.dnsmasq_extra):
            ports.discard(53)
    proc = process.spawn(netns.exec_argv(lab.gw_netns, argv), log=logs[0], env=env)
    _update_processes(lab.record_path, role, proc)
    started = (lambda: kea.started(d / "kea-dhcp4.log", proc.pid)) if role == "kea" else None
    process.wait_listening(
        proc, ports, what=f"{role} in {lab.gw_netns}", logs=logs, timeout=READY_TIMEOUT, started=started
    )


def _stop_namespace_processes(ns: str) -> None:
    """Stop whatever still runs in a lab namespace (an emulator, a shell): the namespace would outlive its name."""
    procs = []
    for pid in netns.pids(ns):
        if pid != os.getpid():
            with contextlib.suppress(errors.LabError):
                procs.append(process.identify(pid))
    if procs:
        log.info("stopping %d process(es) still in %s: %s", len(procs), ns, [p.pid for p in procs])
        process.stop(procs)


def down(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> None:
    """Remove a lab: its processes (SIGTERM, then SIGKILL), namespaces (and veth), directory and record.

    Idempotent. Without a record, the namespaces named after the lab are still removed. Device-side
    processes stop first, so an emulator can release its leases while the server still runs.
    """
    path = _record_path(state_dir, name)
    try:
        data = _read_record(path)
    except errors.LabError:
        data = {}
    except ValueError:  # a record torn by a crash during its first write
        data = {}
    gw_ns, dev_ns = data.get("gw_netns", f"{name}-gw"), data.get("dev_netns", f"{name}-dev")
    sink_ns = data.get("sink_netns", wan.sink_netns(name))
    problems: list[str] = []
    steps: list[tuple[str, Callable[[], object]]] = [
        (f"stop processes in {dev_ns}", lambda: _stop_namespace_processes(dev_ns)),
        ("stop servers", lambda: process.stop(process.Proc.from_json(p) for p in data.get("processes", {}).values())),
        (f"stop processes in {gw_ns}", lambda: _stop_namespace_processes(gw_ns)),
        (f"stop processes in {sink_ns}", lambda: _stop_namespace_processes(sink_ns)),
        (f"delete {gw_ns}", lambda: netns.delete(gw_ns)),
        (f"delete {sink_ns}", lambda: netns.delete(sink_ns)),
        (f"delete {dev_ns}", lambda: netns.delete(dev_ns)),
        ("remove the lab directory", lambda: _remove_directory(data.get("directory"))),
    ]  # fmt: skip
    for what, step in steps:
        try:
            step()
        except (errors.LabError, OSError) as exc:
            problems.append(f"{what}: {exc}")
    if problems:
        raise errors.LabError(f"lab {name} not fully removed (record kept): " + "; ".join(problems))
    path.unlink(missing_ok=True)
    path.with_suffix(".json.tmp").unlink(missing_ok=True)


def _remove_directory(directory: str | None) -> None:
    if not directory:
        return
    path = Path(directory)
    if path.parent not in (TEMP_ROOT, Path("/tmp")) or not path.name.startswith(TEMP_PREFIX):
        raise errors.LabError(f"refusing to remove {path}: not a lab directory")
    if path.exists():
        shutil.rmtree(path)


def running(state_dir: Path = DEFAULT_STATE_DIR) -> list[str]:
    """Names of the labs that have a record in `state_dir`, sorted."""
    try:
        return sorted(p.stem for p in Path(state_dir).glob("*.json"))
    except FileNotFoundError:
        return []


def down_all(state_dir: Path = DEFAULT_STATE_DIR) -> list[str]:
    """Remove every lab recorded in `state_dir`; returns their names. Raises after trying them all."""
    names, problems = running(state_dir), []
    for name in names:
        try:
            down(name, state_dir)
        except errors.LabError as exc:
            problems.append(str(exc))
    if problems:
        raise errors.LabError("\n".join(problems))
    return names


@contextlib.contextmanager
def lab(config: LabConfig | None = None) -> Iterator[Lab]:
    """`with lab(LabConfig(...)) as handle:` builds a lab and always removes it afterwards."""
    handle = up(config or LabConfig())
    try:
        yield handle
    finally:
        down(handle.name, handle.config.state_dir)
