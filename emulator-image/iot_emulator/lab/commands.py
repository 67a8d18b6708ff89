"""`iotemu lab up` / `iotemu lab down`: the lab's command line, registered into the main CLI.

The main CLI (`iot_emulator.cli`) calls `register(subparsers)` with the `lab` command's subparsers;
each leaf parser carries its handler as `handler`, which returns the exit code: 0 done, 2 bad
input (name clash, invalid subnet, not root), 1 failure while building or removing.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shlex
import sys
from pathlib import Path

from iot_emulator.lab import build, config, errors, handle, ipv6, kea6, record, teardown, vlans


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `up` and `down` to the `lab` command's subparsers; each sets `handler` (args -> exit code).

    The main CLI owns the `lab` parser itself:
    `register(sub.add_parser("lab").add_subparsers(dest="lab_command", required=True))`.
    """
    up = subparsers.add_parser(
        "up",
        help="build a lab and print how to run the emulator in it",
        description="Two network namespaces joined by a veth pair, a real DHCP server (dnsmasq or Kea) and DNS "
        "(dnsmasq) in the gateway namespace. Nothing touches the host's own network.",
    )
    up.add_argument("--name", help="lab name (default: iotlab + 6 random hex digits)")
    up.add_argument("--subnet", default=str(config.DEFAULT_SUBNET), help="lab LAN, /27 or larger (%(default)s)")
    up.add_argument("--dhcp-server", choices=config.SERVERS, default="dnsmasq", help="(default: %(default)s)")
    up.add_argument("--lease-time", type=int, default=43200, metavar="SECONDS", help="(default: %(default)s)")
    up.add_argument(
        "--dns",
        action="append",
        default=[],
        metavar="NAME=IP",
        help="serve NAME (and its subdomains) as IP; NAME '*' catches all other names",
    )
    up.add_argument(
        "--dnsmasq-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra dnsmasq argument, e.g. --dnsmasq-arg=--quiet-dhcp (repeatable)",
    )
    up.add_argument(
        "--internet",
        action="store_true",
        help="every other name resolves to a sink behind the gateway where nginx (HTTP, TLS), "
        "mosquitto (MQTT, MQTT over TLS), chrony, a CoAP and an RTSP server answer, so the devices' "
        "cloud sessions complete",
    )
    up.add_argument(
        "--upstream",
        metavar="IFACE",
        help="route the lab to a real network instead: the gateway gets a macvlan port of IFACE (its "
        "own MAC there), --upstream-address, a default route to --upstream-gateway and source NAT; "
        "names the lab does not map are forwarded to --upstream-dns. Off by default",
    )
    up.add_argument("--upstream-address", metavar="CIDR", help="the gateway's free address there (192.168.1.250/24)")
    up.add_argument("--upstream-gateway", metavar="IP", help="the upstream router")
    up.add_argument(
        "--upstream-dns",
        action="append",
        default=[],
        metavar="IP",
        help="resolver to forward to (repeatable; default: the upstream router)",
    )
    up.add_argument(
        "--vlan",
        action="append",
        default=[],
        metavar="ID",
        help="serve VLAN ID on the trunk: gw0.ID, subnet 172.16.ID.0/24 (ID >= 256: 172.17...), a dnsmasq "
        "of its own; S.ID for QinQ (802.1ad S-tag S outside). Repeatable (docs/vlan.md)",
    )
    up.add_argument(
        "--ipv6",
        nargs="?",
        const="slaac",
        choices=ipv6.MODES,
        default=None,
        help="the gateway as an IPv6 router of fd00:1ab:6::/64: slaac (radvd, the default), dhcpv6 "
        "(dnsmasq: RA with the M flag, leases), kea (radvd with the M flag + kea-dhcp6 leases) or "
        "kea-stateless (radvd with the O flag, SLAAC + kea-dhcp6 information-requests) (docs/ipv6.md)",
    )
    up.add_argument("--state-dir", type=Path, default=config.DEFAULT_STATE_DIR, help=argparse.SUPPRESS)
    up.add_argument("--json", action="store_true", help="print the lab's record as JSON instead of the guide")
    up.set_defaults(handler=cli_up)

    down = subparsers.add_parser("down", help="remove a lab (the only one if --name is not given)")
    down.add_argument("--name", help="lab to remove")
    down.add_argument("--all", action="store_true", help="remove every lab")
    down.add_argument("--state-dir", type=Path, default=config.DEFAULT_STATE_DIR, help=argparse.SUPPRESS)
    down.set_defaults(handler=cli_down)


def _fail(message: str, code: int) -> int:
    print(f"iotemu lab: error: {message}", file=sys.stderr)
    return code


def _lab_config(args: argparse.Namespace) -> config.LabConfig:
    names = {}
    for item in args.dns:
        name, sep, address = item.partition("=")
        if not sep:
            raise errors.LabConfigError(f"--dns {item!r}: expected NAME=IP")
        names[name.strip()] = address.strip()
    return config.LabConfig(
        upstream=_upstream(args),
        name=args.name,
        subnet=config.parse_subnet(args.subnet),
        dhcp_server=args.dhcp_server,
        lease_time=args.lease_time,
        dns_names=names,
        state_dir=args.state_dir,
        dnsmasq_extra=tuple(args.dnsmasq_arg),
        internet=args.internet,
        vlans=tuple(vlans.Vlan.parse(v) for v in args.vlan),
        ipv6=args.ipv6,
    )


def _upstream(args: argparse.Namespace) -> config.Upstream | None:
    details = {"--upstream-address": args.upstream_address, "--upstream-gateway": args.upstream_gateway}
    if args.upstream is None:
        given = [flag for flag, value in details.items() if value] + (["--upstream-dns"] if args.upstream_dns else [])
        if given:
            raise errors.LabConfigError(f"{', '.join(given)} without --upstream IFACE")
        return None
    missing = [flag for flag, value in details.items() if not value]
    if missing:
        raise errors.LabConfigError(f"--upstream needs {' and '.join(missing)}")
    try:
        return config.Upstream(
            iface=args.upstream,
            address=ipaddress.IPv4Interface(args.upstream_address),
            gateway=ipaddress.IPv4Address(args.upstream_gateway),
            dns=tuple(ipaddress.IPv4Address(a) for a in args.upstream_dns),
        )
    except ValueError as exc:
        raise errors.LabConfigError(f"--upstream: {exc}") from exc


def _iotemu() -> str:
    """How this very program was started, so the printed commands work under sudo and from a venv."""
    argv0 = sys.argv[0]
    if Path(argv0).name == "iotemu":
        return str(Path(argv0).resolve())
    return f"{sys.executable} -m iot_emulator"


def guide(lab: handle.Lab) -> str:
    """What `lab up` prints: the lab, how to run the emulator in it, how to remove it."""
    start, end = lab.pool
    state = "" if lab.config.state_dir == config.DEFAULT_STATE_DIR else f" --state-dir {lab.config.state_dir}"
    iotemu = _iotemu()
    wan: list[str] = []
    if lab.config.internet:
        wan = [
            f"internet:        every other name -> {config.SINK_ADDRESS} in {lab.sink_netns} "
            f"(logs: {lab.directory / 'internet'})"
        ]
    elif lab.config.upstream is not None:
        up = lab.config.upstream
        wan = [f"upstream:        routed and NATed out of {up.iface} as {up.address} via {up.gateway}"]
    return "\n".join(
        [
            f"lab {lab.name} is up: {lab.dhcp_server} on {lab.subnet}, gateway {lab.gateway_ip}, "
            f"pool {start}-{end}, lease {lab.config.lease_time} s",
            *wan,
            *(
                f"VLAN {v}:{' ' * max(1, 10 - len(str(v)))}{v.subnet} on {v.iface(lab.gw_iface)}, its own dnsmasq "
                f"(leases: {v.lease_file(lab.directory)}); devices: `vlan: {v.vid}`"
                + (f", `outerVlan: {v.outer}`" if v.outer else "")
                for v in lab.config.vlans
            ),
            *(
                [f"IPv6:            {lab.ipv6_prefix} from {ipv6.gateway_of(lab.ipv6_prefix)} ({lab.config.ipv6})"]
                if lab.config.ipv6
                else []
            ),
            *(
                [f"DHCPv6 leases:   {lab.directory / kea6.LEASE_FILE} (kea-dhcp6)"]
                if lab.config.ipv6 in ipv6.KEA_MODES
                else []
            ),
            "run the emulator in it:",
            f"  sudo ip netns exec {lab.dev_netns} {iotemu} run -f examples/default-fleet.yaml "
            f"--interface {lab.dev_iface}",
            f"watch the wire:  sudo ip netns exec {lab.gw_netns} tcpdump -ni {lab.gw_iface}",
            f"leases:          {lab.lease_file}",
            f"tear it down:    sudo {shlex.quote(iotemu)} lab down --name {lab.name}{state}",
        ]
    )


def cli_up(args: argparse.Namespace) -> int:
    """`iotemu lab up`."""
    try:
        build.require_root()
        lab = build.up(_lab_config(args))
    except errors.LabConfigError as exc:
        return _fail(str(exc), 2)
    except errors.LabError as exc:
        return _fail(str(exc), 1)
    if args.json:
        print(json.dumps(json.loads(lab.record_path.read_text()), indent=2))
    else:
        print(guide(lab))
    return 0


def cli_down(args: argparse.Namespace) -> int:
    """`iotemu lab down`."""
    if os.geteuid() != 0:
        return _fail(build.ROOT_MESSAGE, 2)
    try:
        if args.all:
            removed = teardown.down_all(args.state_dir)
            print(f"removed {len(removed)} lab(s){': ' + ', '.join(removed) if removed else ''}")
            return 0
        name = args.name
        if name is None:
            labs = record.running(args.state_dir)
            if not labs:
                print("no lab is up")
                return 0
            if len(labs) > 1:
                return _fail(f"several labs are up ({', '.join(labs)}): pass --name or --all", 2)
            name = labs[0]
        known = name in record.running(args.state_dir)
        teardown.down(name, args.state_dir)
    except errors.LabError as exc:
        return _fail(str(exc), 1)
    print(f"lab {name} removed" if known else f"no lab named {name} (nothing left to remove)")
    return 0
