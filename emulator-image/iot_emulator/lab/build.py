"""Building a throw-away lab: two network namespaces, a veth pair and a real DHCP/DNS server.

Without a spare LAN, the emulator still needs a real link and a real DHCP server to talk to. A lab
is a gateway namespace `<name>-gw` (gateway address on `gw0`, dnsmasq or Kea serving DHCP, dnsmasq
serving DNS) joined by a veth pair to a device namespace `<name>-dev` whose end, `lab0`, has no IP
address: the emulator owns the devices' addresses in user space. With an internet the gateway also
routes to a third namespace, `<name>-sink`, where the servers of `lab.internet` run (`lab.wan`).
Nothing is added to the host's own namespace and no frame can leave the lab's namespaces (unless
the lab is given a real upstream, `LabConfig.upstream`, which is its whole point).

A lab outlives the process that built it: `up()` writes a JSON record (namespaces, server pids
and start times, directory) to a state directory, and `down()` in any other process reads it.
`up()` writes that record (`record`) before building anything, so a half-built lab is removable
too, and any failure inside `up()` tears down what exists (`teardown`) before raising `LabError`.
The lab that is up, its leases and servers, is a `handle.Lab`.

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
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from iot_emulator.lab import dnsmasq, errors, handle, internet, netns, record, teardown, vlans, wan
from iot_emulator.lab.config import SINK_ADDRESS, DhcpServer, LabConfig

log = logging.getLogger(__name__)

GW_IFACE = "gw0"
DEV_IFACE = "lab0"
ROOT_MESSAGE = "the lab needs root (network namespaces, raw sockets): run with sudo"
_PACKAGES = {"ip": "iproute2", "ethtool": "ethtool", "dnsmasq": "dnsmasq-base", "kea-dhcp4": "kea-dhcp4-server"}


def require_root() -> None:
    if os.geteuid() != 0:
        raise errors.LabConfigError(ROOT_MESSAGE)


def _require_tools(server: DhcpServer) -> None:
    needed = ["ip", "ethtool", "dnsmasq"] + (["kea-dhcp4"] if server == "kea" else [])
    missing = [t for t in needed if netns.tool(t) is None]
    if missing:
        packages = " ".join(_PACKAGES[t] for t in missing)
        raise errors.LabError(f"not found: {', '.join(missing)}; install {packages} (sudo make setup)")


def up(config: LabConfig) -> handle.Lab:
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
    claim = record.path(config.state_dir, name)
    try:  # claiming the record is what makes the name ours, atomically
        config.state_dir.mkdir(parents=True, exist_ok=True)
        os.close(os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError as exc:
        raise errors.LabConfigError(f"a lab named {name} already exists ({claim})") from exc
    except OSError as exc:
        raise errors.LabError(f"cannot write the lab record {claim}: {exc}") from exc
    try:
        directory = Path(tempfile.mkdtemp(prefix=f"{record.TEMP_PREFIX}{name}-", dir=record.TEMP_ROOT))
        lab = handle.Lab(
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
        record.write(claim, handle.to_json(lab))
        _build_network(lab)
        vlans.build(gw_ns, config.vlans, lab.gw_iface)
        if config.internet:
            wan.connect_sink(gw_ns, lab.sink_netns, str(lab.subnet))
        elif config.upstream is not None:
            wan.connect_upstream(gw_ns, config.upstream)
        handle.start(lab, "dnsmasq")
        if lab.dhcp_server == "kea":
            handle.start(lab, "kea")
        if config.vlans:
            handle.start_vlans(lab)
        if config.ipv6 is not None:
            handle.start_ipv6(lab, config.ipv6)
        if config.internet:
            internet.start(
                lab.sink_netns,
                directory / "internet",
                lab.subnet,
                lambda role, proc: record.update_processes(lab.record_path, role, proc),
                ipv6=lab.ipv6_prefix if config.ipv6 is not None else None,
            )
        return lab
    except BaseException as exc:
        try:
            teardown.down(name, config.state_dir)
        except errors.LabError as cleanup:
            exc.add_note(f"cleaning up after that failed too: {cleanup}")
        if isinstance(exc, errors.LabError):
            raise
        if isinstance(exc, Exception):
            raise errors.LabError(f"lab {name}: {exc}") from exc
        raise


NEIGH_SYSCTLS = Path("/proc/sys/net/ipv4/neigh/default")
NEIGH6_SYSCTLS = Path("/proc/sys/net/ipv6/neigh/default")
"""The IPv6 neighbour table's thresholds: raised too in a lab with IPv6, whose DHCPv6 server (Kea,
dnsmasq) answers each device at its link-local address: 2,000 devices took 88 s to get their Kea
lease with the default 1024 ("ndisc_cache: neighbor table overflow"), see docs/ipv6.md."""
NEIGH_CEILING = 65536


def size_neighbour_table(addresses: int, sysctls: Path = NEIGH_SYSCTLS) -> dict[str, int]:
    """Raise the kernel's neighbour-table thresholds so a gateway can know `addresses` devices.

    On this kernel (6.x) `gc_thresh1/2/3` exist only in the initial namespace and bound the ARP
    table of every namespace together; the default 1024 stalls a fleet of ~1,000 devices (the
    gateway's replies fail: "neighbor table overflow"). Thresholds are only ever raised, never
    lowered, up to NEIGH_CEILING; returns what was changed.
    """
    wanted = {
        "gc_thresh1": min(addresses, NEIGH_CEILING // 4),
        "gc_thresh2": min(2 * addresses, NEIGH_CEILING // 2),
        "gc_thresh3": min(4 * addresses, NEIGH_CEILING),
    }
    changed = {}
    for key, value in wanted.items():
        path = sysctls / key
        try:
            if int(path.read_text()) < value:
                path.write_text(str(value))
                changed[key] = value
        except OSError:  # a kernel or container without these: the lab still works for small fleets
            log.warning("cannot raise %s to %d", path, value)
    return changed


def _build_network(lab: handle.Lab) -> None:
    size_neighbour_table(lab.subnet.num_addresses)
    if lab.config.ipv6 is not None:
        size_neighbour_table(lab.subnet.num_addresses, NEIGH6_SYSCTLS)
    for ns in (lab.gw_netns, lab.dev_netns):
        netns.add(ns)
        # No IPv6 on the lab link: no router solicitations, DAD or MLD frames in captures or in the
        # emulator's receive loop.
        netns.sysctl_in(ns, {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"})
        netns.ip(ns, "link", "set", "lo", "up")
    # Distinct ifindexes for the two ends (each namespace would number its end 2): the kernel's
    # link watcher handles a veth event at once only when a device's ifindex differs from its
    # peer's, and otherwise leaves the second end "not running" for about a second.
    netns.ip(
        lab.gw_netns,
        "link",
        "add",
        lab.gw_iface,
        "index",
        "2",
        "type",
        "veth",
        "peer",
        "name",
        lab.dev_iface,
        "netns",
        lab.dev_netns,
        "index",
        "3",
    )
    netns.ip(lab.gw_netns, "addr", "add", f"{lab.gateway_ip}/{lab.subnet.prefixlen}", "dev", lab.gw_iface)
    # veth offloads the UDP checksum: without this, frames the gateway's kernel sends (DNS replies,
    # dnsmasq's DHCP) reach lab0 with partial checksums that captures and strict parsers reject.
    netns.run(netns.exec_argv(lab.gw_netns, ["ethtool", "-K", lab.gw_iface, "tx", "off"]))
    netns.ip(lab.gw_netns, "link", "set", lab.gw_iface, "up")
    netns.ip(lab.dev_netns, "link", "set", lab.dev_iface, "up")
    pin_broadcast(lab.gw_netns, lab.gw_iface)
    netns.wait_running(lab.gw_netns, lab.gw_iface)
    netns.wait_running(lab.dev_netns, lab.dev_iface)


@contextlib.contextmanager
def lab(config: LabConfig | None = None) -> Iterator[handle.Lab]:
    """`with lab(LabConfig(...)) as handle:` builds a lab and always removes it afterwards."""
    built = up(config or LabConfig())
    try:
        yield built
    finally:
        teardown.down(built.name, built.config.state_dir)


def pin_broadcast(gw_netns: str, iface: str) -> None:
    """A permanent neighbour entry for the broadcast address on the gateway's lab interface.

    The neighbour table is shared by every namespace of the host and stops at ~1024 entries; a big
    fleet fills it, garbage collection evicts the broadcast entry, and dnsmasq's broadcast replies
    then fail with ENOBUFS. A permanent entry is never evicted."""
    netns.ip(
        gw_netns, "neigh", "replace", "255.255.255.255", "lladdr", "ff:ff:ff:ff:ff:ff", "dev", iface, "nud", "permanent"
    )
