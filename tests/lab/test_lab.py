"""The lab itself: what `up` builds, that its real servers answer devices, leases, restarts, `down`, the CLI.

Tests marked `lab` build real namespaces (root). The others (configuration checks, lease-file
parsing on known lines) run anywhere.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iot_emulator import lab as iotlab
from iot_emulator import setns
from iot_emulator.engine import rawsock
from iot_emulator.lab import dnsmasq, kea, netns, process
from tests import poll
from tests.conftest import LabFactory, new_lab_name

lab = pytest.mark.lab


def server_procs(handle: iotlab.Lab) -> dict[str, process.Proc]:
    record = json.loads(handle.record_path.read_text())
    return {role: process.Proc.from_json(p) for role, p in record["processes"].items()}


def link(handle: iotlab.Lab, ns: str, iface: str) -> dict[str, Any]:
    out = subprocess.run(["ip", "-n", ns, "-d", "-j", "addr", "show", "dev", iface], capture_output=True, text=True)
    data: dict[str, Any] = json.loads(out.stdout)[0]
    return data


def cli(argv: list[str]) -> int:
    """`iotemu ARGV` with the lab commands wired the way the main CLI wires them."""
    parser = argparse.ArgumentParser(prog="iotemu")
    lab_parser = parser.add_subparsers(dest="command", required=True).add_parser("lab")
    iotlab.register(lab_parser.add_subparsers(dest="lab_command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


# --- what `up` builds ------------------------------------------------------------------------------


@lab
def test_up_builds_namespaces_veth_gateway_address_and_server(any_lab: iotlab.Lab) -> None:
    assert netns.exists(any_lab.gw_netns) and netns.exists(any_lab.dev_netns)
    assert any_lab.gw_netns == f"{any_lab.name}-gw" and any_lab.dev_netns == f"{any_lab.name}-dev"

    gw = link(any_lab, any_lab.gw_netns, any_lab.gw_iface)
    dev = link(any_lab, any_lab.dev_netns, any_lab.dev_iface)
    assert gw["linkinfo"]["info_kind"] == dev["linkinfo"]["info_kind"] == "veth"
    assert gw["link_index"] == dev["ifindex"] and dev["link_index"] == gw["ifindex"]  # each other's peer
    assert "UP" in gw["flags"] and "LOWER_UP" in dev["flags"]
    assert [(a["local"], a["prefixlen"]) for a in gw["addr_info"] if a["family"] == "inet"] == [("10.77.0.1", 20)]
    assert any_lab.gateway_ip == ipaddress.IPv4Address("10.77.0.1")
    assert [a for a in dev["addr_info"] if a["family"] in ("inet", "inet6")] == []  # the emulator owns addresses

    offload = any_lab.run_in_gw("ethtool", "-k", any_lab.gw_iface).stdout
    assert "tx-checksumming: off" in offload

    procs = server_procs(any_lab)
    dhcp = procs["kea" if any_lab.dhcp_server == "kea" else "dnsmasq"]
    assert process.alive(dhcp) and 67 in process.udp_ports(dhcp.pid)
    assert process.alive(procs["dnsmasq"]) and 53 in process.udp_ports(procs["dnsmasq"].pid)
    if any_lab.dhcp_server == "kea":  # dnsmasq next to Kea serves DNS only
        assert 67 not in process.udp_ports(procs["dnsmasq"].pid)
    assert iotlab.running(any_lab.config.state_dir) == [any_lab.name]
    assert any_lab.directory.name.startswith(f"iotemu-lab-{any_lab.name}-")


@lab
def test_attach_rebuilds_the_same_lab_from_its_record(dnsmasq_lab: iotlab.Lab) -> None:
    assert iotlab.attach(dnsmasq_lab.name, dnsmasq_lab.config.state_dir) == dnsmasq_lab


@lab
def test_setns_enters_a_lab_namespace_and_comes_back(dnsmasq_lab: iotlab.Lab) -> None:
    def here() -> int:
        return os.stat("/proc/thread-self/ns/net").st_ino

    home = here()
    with setns.entered(dnsmasq_lab.dev_netns):
        inside = here()
    assert inside != home and here() == home
    assert netns.call_in(dnsmasq_lab.dev_netns, here) == inside
    with pytest.raises(FileNotFoundError, match="'no-such-ns' does not exist"):
        netns.call_in("no-such-ns", here)
    with pytest.raises(rawsock.LinkError, match="'no-such-ns' does not exist"):
        rawsock.RawLink("eth0", netns="no-such-ns").open()
    assert here() == home


@lab
def test_default_name_is_iotlab_and_random(lab_factory: LabFactory) -> None:
    handle = lab_factory(name=None)
    assert len(handle.name) == len("iotlab") + 6 and handle.name.startswith("iotlab")
    int(handle.name[6:], 16)


@lab
def test_context_manager_removes_the_lab(lab_state_dir: Path) -> None:
    config = iotlab.LabConfig(name=new_lab_name(), state_dir=lab_state_dir)
    with iotlab.lab(config) as handle:
        assert netns.exists(handle.gw_netns)
    assert not netns.exists(handle.gw_netns) and iotlab.running(lab_state_dir) == []


# --- the servers answer a device -----------------------------------------------------------------


@lab
def test_server_offers_an_address_from_the_pool(any_lab: iotlab.Lab, dev_probe: Callable[..., Any]) -> None:
    probe = dev_probe(any_lab)
    offer = probe.discover()
    assert offer is not None, f"{any_lab.dhcp_server} did not answer a DISCOVER"
    options = probe.options(offer)
    assert options["message-type"] == 2
    start, end = iotlab.pool_range(any_lab.subnet)
    assert start <= ipaddress.IPv4Address(offer["BOOTP"].yiaddr) <= end
    assert (options["server_id"], options["router"], options["name_server"]) == ("10.77.0.1",) * 3
    assert options["subnet_mask"] == "255.255.240.0"
    assert (options["lease_time"], options["renewal_time"], options["rebinding_time"]) == (600, 300, 525)


@lab
def test_dora_lease_appears_in_leases(any_lab: iotlab.Lab, dev_probe: Callable[..., Any]) -> None:
    probe = dev_probe(any_lab)
    address, _ = probe.dora(hostname="cam-01")
    assert poll.until(any_lab.leases, what="the lease file")[probe.mac] == (address, "cam-01")


@lab
def test_release_removes_the_lease(any_lab: iotlab.Lab, dev_probe: Callable[..., Any]) -> None:
    probe = dev_probe(any_lab)
    probe.dora()
    poll.until(lambda: probe.mac in any_lab.leases(), what="the lease")
    probe.release()  # dnsmasq rewrites its file without the line; Kea appends a valid_lifetime 0 row
    poll.until(lambda: probe.mac not in any_lab.leases(), what="the release")


@lab
@pytest.mark.parametrize("server", ["dnsmasq", "kea"])
def test_dns_resolves_configured_names_and_nothing_else(
    server: str, lab_factory: LabFactory, dev_probe: Callable[..., Any]
) -> None:
    handle = lab_factory(dhcp_server=server, dns_names={"cloud.example.com": "10.77.0.2"})
    probe = dev_probe(handle, reserved_ip=True)
    assert probe.a_records(probe.resolve("cloud.example.com")) == ["10.77.0.2"]
    assert probe.a_records(probe.resolve("eu.cloud.example.com")) == ["10.77.0.2"]  # subdomains too
    unknown = probe.resolve("updates.vendor.example.org")
    assert (unknown.rcode, unknown.ancount) == (3, 0)  # NXDOMAIN: nothing is forwarded out of the lab


@lab
@pytest.mark.parametrize("server", ["dnsmasq", "kea"])
def test_dns_catch_all_maps_every_other_name(server: str, lab_factory: LabFactory, dev_probe: Any) -> None:
    handle = lab_factory(dhcp_server=server, dns_names={"*": "10.77.0.3", "cloud.example.com": "10.77.0.2"})
    probe = dev_probe(handle, reserved_ip=True)
    assert probe.a_records(probe.resolve("anything.example.net")) == ["10.77.0.3"]
    assert probe.a_records(probe.resolve("cloud.example.com")) == ["10.77.0.2"]


@lab
def test_dnsmasq_extra_arguments_reach_dnsmasq(lab_factory: LabFactory, dev_probe: Callable[..., Any]) -> None:
    handle = lab_factory(dnsmasq_extra=("--dhcp-broadcast",))
    probe = dev_probe(handle)
    offer = probe.discover(broadcast=False)  # without the flag, dnsmasq would unicast to the client's MAC
    assert offer is not None and offer["Ether"].dst == "ff:ff:ff:ff:ff:ff"


# --- server restarts -------------------------------------------------------------------------------


@lab
def test_restart_server_keeps_the_leases(any_lab: iotlab.Lab, dev_probe: Callable[..., Any]) -> None:
    probe = dev_probe(any_lab)
    address, _ = probe.dora(hostname="plug-7")
    poll.until(lambda: probe.mac in any_lab.leases(), what="the lease")
    role = "kea" if any_lab.dhcp_server == "kea" else "dnsmasq"
    before = server_procs(any_lab)[role]

    any_lab.restart_server()

    after = server_procs(any_lab)[role]
    assert after.pid != before.pid and not process.alive(before) and process.alive(after)
    assert any_lab.leases()[probe.mac] == (address, "plug-7")
    reboot = probe.request(address, hostname="plug-7")  # INIT-REBOOT: same address, no server id
    assert reboot is not None and probe.options(reboot)["message-type"] == 5
    assert reboot["BOOTP"].yiaddr == address


@lab
def test_stop_and_start_server(kea_lab: iotlab.Lab, dev_probe: Callable[..., Any]) -> None:
    kea_lab.stop_server()
    procs = server_procs(kea_lab)
    assert "kea" not in procs and process.alive(procs["dnsmasq"])  # DNS stays up
    kea_lab.start_server()
    assert dev_probe(kea_lab).discover() is not None  # ready means serving: no retry needed
    with pytest.raises(iotlab.LabError, match="already running"):
        kea_lab.start_server()


# --- leases() on known lease files -------------------------------------------------------------


NOW = 1_800_000_000.0


def fake_lab(tmp_path: Path, server: str, text: str) -> iotlab.Lab:
    lease_file = tmp_path / "leases"
    lease_file.write_text(text)
    config = iotlab.LabConfig(name="fake", dhcp_server=server, state_dir=tmp_path)  # type: ignore[arg-type]
    return iotlab.Lab(
        name="fake",
        gw_netns="fake-gw",
        dev_netns="fake-dev",
        gw_iface="gw0",
        dev_iface="lab0",
        gateway_ip=ipaddress.IPv4Address("10.77.0.1"),
        subnet=config.subnet,
        dhcp_server=config.dhcp_server,
        lease_file=lease_file,
        directory=tmp_path,
        config=config,
    )


def test_dnsmasq_lease_file(tmp_path: Path) -> None:
    text = (
        "1800000600 02:1a:b0:00:00:01 10.77.0.10 cam-01 01:02:1a:b0:00:00:01\n"
        "0 02:1A:B0:00:00:02 10.77.0.11 * *\n"  # infinite lease, no hostname
        "1799999000 02:1a:b0:00:00:03 10.77.0.12 old *\n"  # expired, not yet dropped by dnsmasq
        "duid 00:01:00:01:2c:00:00:00:02:1a:b0:00:00:01\n"
    )
    assert fake_lab(tmp_path, "dnsmasq", text).leases(now=NOW) == {
        "02:1a:b0:00:00:01": ("10.77.0.10", "cam-01"),
        "02:1a:b0:00:00:02": ("10.77.0.11", ""),
    }


KEA_HEADER = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n"


def test_kea_lease_file_later_rows_supersede(tmp_path: Path) -> None:
    rows = [
        "10.77.0.10,02:1a:b0:00:00:01,,600,1800000100,1,0,0,cam-01,0,",
        "10.77.0.11,02:1a:b0:00:00:02,,600,1800000100,1,0,0,plug&#x2c 2,0,",  # escaped comma
        "10.77.0.12,02:1a:b0:00:00:03,,600,1800000100,1,0,0,gone,0,",
        "10.77.0.12,02:1a:b0:00:00:03,,0,1799999500,1,0,0,gone,0,",  # released (deleted)
        "10.77.0.13,02:1a:b0:00:00:04,,600,1800000100,1,0,0,reclaimed,0,",
        "10.77.0.13,02:1a:b0:00:00:04,,600,1799999000,1,0,0,reclaimed,2,",  # expired-reclaimed
        "10.77.0.14,02:1a:b0:00:00:05,,600,1800000100,1,0,0,declined,1,",  # declined
        "10.77.0.15,02:1a:b0:00:00:06,,600,1799999999,1,0,0,lapsed,0,",  # expired, not reclaimed yet
        "10.77.0.20,02:1a:b0:00:00:07,,600,1800000100,1,0,0,mover,0,",
        "10.77.0.21,02:1a:b0:00:00:07,,600,1800000200,1,0,0,mover,0,",  # same MAC, newer address
        "10.77.0.10,02:1a:b0:00:00:01,,600,1800000700,1,0,0,cam-01,0,",  # renewal of the first
    ]
    leases = fake_lab(tmp_path, "kea", KEA_HEADER + "\n".join(rows) + "\n").leases(now=NOW)
    assert leases == {
        "02:1a:b0:00:00:01": ("10.77.0.10", "cam-01"),
        "02:1a:b0:00:00:02": ("10.77.0.11", "plug, 2"),
        "02:1a:b0:00:00:07": ("10.77.0.21", "mover"),
    }


def test_kea_lease_file_without_header_and_with_a_torn_last_line(tmp_path: Path) -> None:
    text = "10.77.0.10,02:1a:b0:00:00:01,,600,1800000100,1,0,0,cam-01,0,\n10.77.0.11,02:1a"
    assert kea.parse_leases(text, now=NOW) == {"02:1a:b0:00:00:01": ("10.77.0.10", "cam-01")}


def test_missing_lease_file_means_no_leases(tmp_path: Path) -> None:
    handle = fake_lab(tmp_path, "kea", "")
    handle.lease_file.unlink()
    assert handle.leases() == {}


# --- down -------------------------------------------------------------------------------------------


@lab
def test_down_removes_everything_and_is_idempotent(any_lab: iotlab.Lab, dev_probe: Callable[..., Any]) -> None:
    dev_probe(any_lab).dora()
    procs = server_procs(any_lab)
    state_dir = any_lab.config.state_dir

    iotlab.down(any_lab.name, state_dir)

    assert not netns.exists(any_lab.gw_netns) and not netns.exists(any_lab.dev_netns)
    assert not any_lab.directory.exists() and not any_lab.record_path.exists()
    assert not any(process.alive(p) for p in procs.values())
    assert iotlab.running(state_dir) == []
    iotlab.down(any_lab.name, state_dir)  # again: nothing to do, no error
    iotlab.down("never-built", state_dir)


@lab
def test_down_stops_processes_left_in_the_lab(dnsmasq_lab: iotlab.Lab) -> None:
    # A process still inside a namespace (an emulator, a shell) would keep it, and its veth, alive.
    stray = subprocess.Popen(netns.exec_argv(dnsmasq_lab.dev_netns, ["sleep", "300"]))
    poll.until(lambda: stray.pid in netns.pids(dnsmasq_lab.dev_netns), what="the stray process")
    iotlab.down(dnsmasq_lab.name, dnsmasq_lab.config.state_dir)
    assert stray.wait(timeout=5) == -15 and not netns.exists(dnsmasq_lab.dev_netns)


@lab
def test_down_all(lab_factory: LabFactory) -> None:
    first, second = lab_factory(), lab_factory(dhcp_server="kea")
    assert sorted(iotlab.down_all(first.config.state_dir)) == sorted([first.name, second.name])
    assert not netns.exists(first.gw_netns) and not netns.exists(second.dev_netns)
    assert iotlab.down_all(first.config.state_dir) == []


@lab
def test_down_from_another_process(dnsmasq_lab: iotlab.Lab) -> None:
    code = "import sys, pathlib, iot_emulator.lab as lab; lab.down(sys.argv[1], pathlib.Path(sys.argv[2]))"
    subprocess.run([sys.executable, "-c", code, dnsmasq_lab.name, str(dnsmasq_lab.config.state_dir)], check=True)
    assert not netns.exists(dnsmasq_lab.gw_netns) and not dnsmasq_lab.directory.exists()


# --- failures -----------------------------------------------------------------------------------------


def left_behind(name: str, state_dir: Path) -> list[str]:
    spaces = [n for n in netns.names() if n.startswith(f"{name}-")]
    dirs = [str(p) for p in Path("/tmp").glob(f"iotemu-lab-{name}-*")]
    records = [str(p) for p in state_dir.glob(f"{name}.json*")]
    return spaces + dirs + records


@lab
@pytest.mark.parametrize("server", ["dnsmasq", "kea"])
def test_failed_up_leaves_nothing_and_shows_the_server_log(server: str, lab_state_dir: Path) -> None:
    name = new_lab_name()
    config = iotlab.LabConfig(
        name=name, dhcp_server=server, state_dir=lab_state_dir, dnsmasq_extra=("--no-such-option",)
    )
    with pytest.raises(iotlab.LabError) as failure:
        iotlab.up(config)
    assert "dnsmasq" in str(failure.value) and "exited during startup" in str(failure.value)
    assert "bad command line options" in str(failure.value)  # dnsmasq's own words, from its log
    assert left_behind(name, lab_state_dir) == []


@lab
def test_name_clash_is_refused_and_leaves_the_first_lab_alone(dnsmasq_lab: iotlab.Lab) -> None:
    with pytest.raises(iotlab.LabConfigError, match="already exists"):
        iotlab.up(dnsmasq_lab.config)
    assert process.alive(server_procs(dnsmasq_lab)["dnsmasq"]) and dnsmasq_lab.directory.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"subnet": ipaddress.IPv4Network("10.77.0.0/29")}, "too small"),
        ({"subnet": "10.77.0.1/20"}, "invalid subnet"),
        ({"name": "Bad Name"}, "invalid lab name"),
        ({"lease_time": 60}, "120 s at least"),
        ({"dhcp_server": "kea", "lease_time": 2}, "4 s at least"),
        ({"dhcp_server": "isc-dhcpd"}, "unknown DHCP server"),
        ({"dns_names": {"cloud..example": "10.77.0.2"}}, "invalid DNS name"),
        ({"dns_names": {"cloud.example.com": "not-an-ip"}}, "not an IPv4 address"),
    ],
)
def test_bad_config_is_refused_before_anything_is_built(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(iotlab.LabConfigError, match=message):
        iotlab.LabConfig(**fields)


def test_pool_leaves_room_for_the_gateway_and_lab_services() -> None:
    assert iotlab.pool_range(ipaddress.IPv4Network("10.77.0.0/20")) == (
        ipaddress.IPv4Address("10.77.0.10"),
        ipaddress.IPv4Address("10.77.15.250"),
    )
    assert dnsmasq.dns_disabled(["--port=0"]) and dnsmasq.dns_disabled(["-p", "0"])
    assert not dnsmasq.dns_disabled(["--port=53"])


# --- the CLI handlers ----------------------------------------------------------------------------------


@lab
def test_cli_up_then_down(lab_state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = new_lab_name()
    state = ["--state-dir", str(lab_state_dir)]
    try:
        assert (
            cli(
                [
                    "lab",
                    "up",
                    "--name",
                    name,
                    "--dhcp-server",
                    "kea",
                    "--lease-time",
                    "30",
                    "--dns",
                    "cloud.example.com=10.77.0.2",
                    *state,
                ]
            )
            == 0
        )
        out = capsys.readouterr().out
        assert f"ip netns exec {name}-dev " in out and "--interface lab0" in out
        assert f"lab down --name {name}" in out
        handle = iotlab.attach(name, lab_state_dir)
        assert (handle.dhcp_server, handle.config.lease_time) == ("kea", 30)
        assert dict(handle.config.dns_names) == {"cloud.example.com": "10.77.0.2"}

        assert cli(["lab", "up", "--name", name, *state]) == 2  # name clash
        assert "already exists" in capsys.readouterr().err
    finally:
        assert cli(["lab", "down", "--name", name, *state]) == 0
    assert not netns.exists(f"{name}-gw")
    assert cli(["lab", "down", "--name", name, *state]) == 0  # idempotent
    assert cli(["lab", "down", *state]) == 0 and "no lab is up" in capsys.readouterr().out


@lab
def test_cli_down_all(lab_factory: LabFactory, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = lab_factory(), lab_factory()
    state = ["--state-dir", str(first.config.state_dir)]
    assert cli(["lab", "down", *state]) == 2 and "pass --name or --all" in capsys.readouterr().err
    assert cli(["lab", "down", "--all", *state]) == 0
    assert iotlab.running(first.config.state_dir) == [] and not netns.exists(second.gw_netns)


def test_cli_bad_input_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # input is checked after the root check: pass it
    state = ["--state-dir", str(tmp_path)]
    assert cli(["lab", "up", "--subnet", "10.77.0.0/33", *state]) == 2
    assert "invalid subnet" in capsys.readouterr().err
    assert cli(["lab", "up", "--lease-time", "30", *state]) == 2
    assert "--dhcp-server kea" in capsys.readouterr().err
    assert cli(["lab", "up", "--dns", "no-equals-sign", *state]) == 2
    assert list(tmp_path.iterdir()) == []


def test_cli_needs_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for argv in (["lab", "up"], ["lab", "down", "--all"]):
        assert cli([*argv, "--state-dir", str(tmp_path)]) == 2
        assert "the lab needs root (network namespaces, raw sockets): run with sudo" in capsys.readouterr().err
