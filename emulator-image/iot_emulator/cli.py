"""Command line of the emulator: the seed's single-device flags, and `run | lab | profiles`.

The seed contract (`python -m iot_emulator --device camera_01 --vendor Hikvision --mac ...
--json-output`) must keep working unchanged, so a command line that starts with a flag is read
as the seed's. Bad input exits with code 2 and names the flag or field, before any frame is sent.
The `iotemu` command (package `iotemu`, in cli/) is this one plus what composes the emulator with
the dashboard and the operator (`demo`, `dashboard`, `operator`): the emulator never imports them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from pydantic import ValidationError

from iot_emulator import runner
from iot_emulator.config import manifests, models
from iot_emulator.engine import rawsock
from iot_emulator.profiles import catalog
from iot_emulator.scenarios import firmware
from iot_emulator.scenarios import model as scenario_model

if TYPE_CHECKING:
    from iot_emulator.learn import findings as learn_findings

EXIT_BAD_INPUT = 2
CAPTURE_TOKEN_ENV = "IOTEMU_CAPTURE_TOKEN"
"""Environment variable holding the token `GET /capture` wants over TCP (see `capture_routes`)."""


class BadInput(Exception):
    """Input the user must fix; printed as `iotemu: error: ...` with exit code 2."""


def main(argv: Sequence[str] | None = None, parser: Callable[[], argparse.ArgumentParser] | None = None) -> int:
    """The seed's command line when `argv` starts with a flag, else a command of `parser()`
    (default `command_parser`; the `iotemu` command gives its own, a superset)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0].startswith("-") and args[0] not in ("-h", "--help", "--version"):
            return _seed(args)
        parsed = (parser or command_parser)().parse_args(args)
        return int(parsed.handler(parsed))
    except BadInput as exc:
        print(f"iotemu: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


# -- the seed's command line ------------------------------------------------------------------


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interface", "-i", default="eth0", help="interface to emulate on (default eth0)")
    parser.add_argument("--netns", help="network namespace that holds the interface (the raw socket is made there)")
    parser.add_argument("--json-output", action="store_true", help="JSON lines on stdout, one message per line")
    parser.add_argument("--http-port", type=int, help="serve /healthz /stats /events /metrics on this port")
    parser.add_argument("--http-host", default="127.0.0.1", help="address of the HTTP endpoint (default 127.0.0.1)")
    parser.add_argument("--stats-interval", type=float, default=5.0, help="seconds between stats messages")
    parser.add_argument("--profiles-dir", type=Path, help="directory of extra profile YAML files")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=runner.DEFAULT_STATE_DIR,
        help="where devices remember their last lease (default /var/lib/iotemu)",
    )
    parser.add_argument("--promiscuous", action="store_true", help="join promiscuous mode (physical NICs)")
    parser.add_argument("--window", type=int, default=64, help="DHCP exchanges in flight at once (default 64)")
    parser.add_argument(
        "--start-rate",
        type=float,
        metavar="N",
        help="devices started per second (default: no limit in a --netns, else 20)",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    parser.add_argument("--seed", type=int, help="random seed (xids, jitter) for reproducible runs")
    parser.add_argument("--pcap", type=Path, help="write every frame sent and received to this pcap file")
    parser.add_argument("--pcap-per-device", action="store_true", help="with --pcap: also one file per device")
    parser.add_argument(
        "--scenario",
        type=Path,
        metavar="FILE",
        help="scenario YAML run from the start by every device that has none (docs/scenarios.md)",
    )


def seed_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m iot_emulator",
        description="Emulate one IoT device (the seed's command line). See `iotemu --help` for fleets.",
    )
    parser.add_argument("--device", required=True, help="device id, e.g. camera_01")
    parser.add_argument("--vendor", required=True, help="vendor (picks its default profile) or a profile name")
    parser.add_argument("--mac", help="device MAC (default: derived from the device id in the vendor's OUI)")
    parser.add_argument("--gateway", help="gateway used when DHCP gives no router (option 3)")
    parser.add_argument("--dhcp-mode", choices=["auto", "static"], default="auto")
    parser.add_argument("--static-ip", help="address asked for in static mode (DHCP option 50)")
    parser.add_argument("--hostname", help="host name sent in option 12 (default: the profile's pattern)")
    parser.add_argument("--protocols", default="arp,dhcp", help="comma-separated protocols")
    parser.add_argument("--traffic-interval", type=float, default=60, help="seconds between periodic traffic")
    parser.add_argument("--vlan", type=int, help="802.1Q VLAN id (1-4094) on the device's frames (docs/vlan.md)")
    parser.add_argument("--vlan-priority", type=int, default=0, help="802.1p priority (0-7) in the VLAN tag")
    parser.add_argument("--outer-vlan", type=int, help="QinQ: 802.1ad S-tag id outside the --vlan tag")
    _add_run_options(parser)
    return parser


SEED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
"""A seed `--device` id: it names files (`--pcap-per-device`, state), so no `/`, no `..`, no spaces."""


def _seed(argv: list[str]) -> int:
    args = seed_parser().parse_args(argv)
    if not SEED_ID.fullmatch(args.device) or ".." in args.device:
        raise BadInput(f"--device: {args.device!r} must be 1-63 letters, digits, '.', '_' or '-' (it names files)")
    protocols = [p.strip() for p in args.protocols.split(",")]
    if not all(protocols):
        raise BadInput(f"--protocols: {args.protocols!r} has an empty protocol name")
    library = _library(args.profiles_dir)
    try:
        prof = library.for_vendor(args.vendor)
    except catalog.ProfileError as exc:
        raise BadInput(f"--vendor: {exc}") from None
    try:
        spec = models.DeviceSpec.model_validate(
            {
                "profile": prof.name,
                "mac": args.mac,
                "hostname": args.hostname,
                "protocols": protocols,
                "trafficInterval": args.traffic_interval,
                "dhcp": {"mode": args.dhcp_mode, "address": args.static_ip},
                "vlan": args.vlan,
                "vlanPriority": args.vlan_priority,
                "outerVlan": args.outer_vlan,
            }
        )
    except ValidationError as exc:
        raise BadInput(_flag_errors(exc)) from None
    try:
        manifests.check_ipv6(prof, tuple(spec.protocols or prof.protocols), "--protocols")
    except manifests.NoIpv6 as exc:
        raise BadInput(str(exc)) from None
    device_id = args.device
    config = manifests.DeviceConfig(
        device_id=device_id,
        mac=spec.mac or _derived_mac(prof, device_id),
        hostname=spec.hostname or prof.hostname_for(spec.mac or _derived_mac(prof, device_id), 0, device_id),
        profile=prof,
        protocols=tuple(spec.protocols or prof.protocols),
        traffic_interval=spec.traffic_interval,
        dhcp_mode=spec.dhcp.mode,
        static_address=spec.dhcp.address,
        vendor_label=args.vendor,
        vlan=manifests.tagging(spec),
    )
    configs = with_scenario([config], args.scenario, library)
    return _run(configs, _options(args, fallback_gateway=args.gateway), library)


# -- iotemu subcommands -----------------------------------------------------------------------


def command_parser() -> argparse.ArgumentParser:
    """The commands of `python -m iot_emulator`: the emulator's own (`iotemu` adds demo, dashboard, operator)."""
    parser = argparse.ArgumentParser(
        prog="iotemu",
        description="IoT fleet emulator (the emulator's commands: `iotemu` adds demo, dashboard, operator)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_run(sub)
    add_lab(sub)
    add_profiles(sub)
    return parser


Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What `add_subparsers` returns: the commands of `python -m iot_emulator` and of `iotemu` are added to one."""


def add_run(sub: Subcommands) -> None:
    """`run -f MANIFEST ...`: every device of the manifests in this process."""
    run = sub.add_parser("run", help="run every device of a manifest file in one process")
    run.add_argument("-f", "--file", type=Path, action="append", default=[], help="manifest YAML (repeatable)")
    run.add_argument(
        "--control-socket", type=Path, help="unix socket: the HTTP endpoint plus POST /devices, DELETE /devices/ID"
    )
    _add_run_options(run)
    run.set_defaults(handler=_cmd_run)


def add_lab(sub: Subcommands) -> None:
    """`lab up | down | list ...`: the throw-away lab network."""
    lab = sub.add_parser("lab", help="build or remove a throw-away lab network (root)")
    from iot_emulator import lab as lab_mod

    lab_mod.register(lab.add_subparsers(dest="lab_command", required=True))


def add_profiles(sub: Subcommands) -> None:
    """`profiles list | show | validate | learn | import-*`."""
    prof = sub.add_parser("profiles", help="list, show or validate device profiles")
    prof_sub = prof.add_subparsers(dest="profiles_command", required=True)
    p_list = prof_sub.add_parser("list", help="the profiles known (built-in and --profiles-dir)")
    p_list.add_argument("--profiles-dir", type=Path)
    p_list.set_defaults(handler=_cmd_profiles_list)
    p_show = prof_sub.add_parser("show", help="one profile as YAML")
    p_show.add_argument("name")
    p_show.add_argument("--profiles-dir", type=Path)
    p_show.set_defaults(handler=_cmd_profiles_show)
    p_val = prof_sub.add_parser("validate", help="check profile files; exit 2 on the first bad one")
    p_val.add_argument("paths", type=Path, nargs="+")
    p_val.set_defaults(handler=_cmd_profiles_validate)
    _add_learn_commands(prof_sub)


def _add_learn_commands(prof_sub: Subcommands) -> None:
    def output(p: argparse.ArgumentParser) -> None:
        p.add_argument("--name", help="name of the written profile (default: learned-<mac6> / imported-...)")
        p.add_argument("--base", help="profile name or YAML file: what is not learned or imported stays its")
        p.add_argument("--vendor", help="vendor of the written profile (a capture cannot say)")
        p.add_argument("--model", help="model of the written profile")
        p.add_argument("--class", dest="device_class", choices=[c.value for c in catalog.DeviceClass])
        p.add_argument("-o", "--output", type=Path, help="YAML file to write (default: stdout)")
        p.add_argument("--profiles-dir", type=Path, help="directory of extra profiles (for --base)")

    learn = prof_sub.add_parser("learn", help="a profile from a device's traffic in a pcap/pcapng capture")
    learn.add_argument("capture", type=Path, help="pcap or pcapng file (Ethernet or Linux cooked)")
    learn.add_argument("--mac", required=True, help="the device's MAC: only its frames are read")
    output(learn)
    learn.set_defaults(handler=_cmd_profiles_learn)
    satori = prof_sub.add_parser("import-satori", help="a Satori record (dhcp.xml, tcp.xml, webuseragent.xml)")
    satori.add_argument("database", type=Path, help="a Satori XML file")
    satori.add_argument("--record", required=True, help="the fingerprint's name, e.g. 'WyzeCam v2'")
    satori.add_argument("--oui", help="OUI leading `ouis` (without --base)")
    output(satori)
    satori.set_defaults(handler=_cmd_profiles_import_satori)
    bank = prof_sub.add_parser("import-fingerbank", help="a Fingerbank DHCP fingerprint (option 55 list)")
    bank.add_argument("fingerprint", help='option 55 as Fingerbank writes it, e.g. "1,3,6,15,119,252"')
    bank.add_argument("--vendor-class", help="option 60 of the same device, if known")
    bank.add_argument("--cite", help="where the fingerprint comes from (its Fingerbank device entry, a URL)")
    bank.add_argument("--oui", help="OUI leading `ouis` (without --base)")
    output(bank)
    bank.set_defaults(handler=_cmd_profiles_import_fingerbank)


def _cmd_run(args: argparse.Namespace) -> int:
    if not args.file and not args.control_socket:
        raise BadInput("-f/--file: give a manifest (or --control-socket to add devices at run time)")
    library = _library(args.profiles_dir)
    devices = load_devices(args.file, args.profiles_dir, allow_empty=args.control_socket is not None)
    options = _options(args)
    return _run(with_scenario(devices, args.scenario, library), options, library)


def with_scenario(
    configs: list[manifests.DeviceConfig], path: Path | None, library: catalog.Library
) -> list[manifests.DeviceConfig]:
    """`--scenario FILE` for the devices without one of their own: their order is the members' order."""
    if path is None:
        return configs
    try:
        scenario = scenario_model.load(path)
    except scenario_model.ScenarioError as exc:
        raise BadInput("--scenario: " + "\n  ".join(exc.problems)) from None
    problems = firmware.check(scenario, library)
    if problems:
        raise BadInput("--scenario: " + "; ".join(problems))
    out = []
    for index, config in enumerate(configs):
        if config.scenario is None:
            member = scenario_model.for_member(scenario, config.device_id, index, len(configs))
            config = dataclasses.replace(config, scenario=member)
        out.append(config)
    return out


def load_devices(
    paths: Sequence[Path], profiles_dir: Path | None, *, allow_empty: bool = False
) -> list[manifests.DeviceConfig]:
    library = _library(profiles_dir)
    try:
        resources = [r for path in paths for r in manifests.load(path)]
        devices = manifests.expand(resources, library)
    except manifests.ManifestError as exc:
        raise BadInput("invalid manifest:\n  " + "\n  ".join(exc.problems)) from None
    if not devices and not allow_empty:
        raise BadInput("the manifest holds no running device")
    return devices


def _cmd_profiles_list(args: argparse.Namespace) -> int:
    library = _library(args.profiles_dir)
    print(f"{'NAME':<32} {'VENDOR':<18} {'CLASS':<12} OS")
    for p in library:
        print(f"{p.name:<32} {p.vendor:<18} {p.device_class.value:<12} {p.os}")
    return 0


def _cmd_profiles_show(args: argparse.Namespace) -> int:
    import yaml

    try:
        p = _library(args.profiles_dir).get(args.name)
    except catalog.ProfileError as exc:
        raise BadInput(str(exc)) from None
    print(yaml.safe_dump(p.model_dump(mode="json"), sort_keys=False), end="")
    return 0


def _cmd_profiles_validate(args: argparse.Namespace) -> int:
    for path in args.paths:
        try:
            p = catalog.load_file(path)
        except catalog.ProfileError as exc:
            raise BadInput(str(exc)) from None
        print(f"{path}: ok ({p.name})")
    return 0


def _cmd_profiles_learn(args: argparse.Namespace) -> int:
    from iot_emulator import learn
    from iot_emulator.devices import macs
    from iot_emulator.learn import build, capture

    try:
        mac = macs.normalise(args.mac)
    except ValueError as exc:
        raise BadInput(f"--mac: {exc}") from None
    base = _base_profile(args)
    name = args.name or f"learned-{mac.replace(':', '')[-6:]}"
    _check_name(name)
    try:
        learned = learn.learn_file(
            args.capture, mac, base, name, vendor=args.vendor, model=args.model, device_class=args.device_class
        )
    except capture.CaptureError as exc:
        raise BadInput(f"capture: {exc}") from None
    except build.BuildError as exc:
        raise BadInput(f"the learned profile: {exc}") from None
    _write(args.output, learned.yaml)
    found = learned.result.found
    print(
        f"iotemu: {learned.result.frames} frames of {mac}; learned {len(found.values)} fields"
        f" ({', '.join(sorted(found.values))}); {len(found.notes)} not learned",
        file=sys.stderr,
    )
    return 0


def _cmd_profiles_import_satori(args: argparse.Namespace) -> int:
    from iot_emulator.learn import satori

    try:
        root = satori.load(args.database)
        found = satori.findings_for(root, args.record)
    except satori.SatoriError as exc:
        raise BadInput(str(exc)) from None
    slug = re.sub(r"[^a-z0-9]+", "-", args.record.lower()).strip("-")[:50] or "record"
    return _write_import(
        args, found, f"imported-{slug}", f"imported from {satori.SATORI} {args.database.name} record {args.record!r}"
    )


def _cmd_profiles_import_fingerbank(args: argparse.Namespace) -> int:
    from iot_emulator.learn import satori

    try:
        found = satori.fingerbank(args.fingerprint, args.vendor_class, args.cite)
    except satori.SatoriError as exc:
        raise BadInput(str(exc)) from None
    slug = args.fingerprint.replace(",", "-").replace(" ", "")[:40]
    return _write_import(args, found, f"fingerbank-{slug}", f"imported from {satori.FINGERBANK}")


def _write_import(args: argparse.Namespace, found: learn_findings.Findings, default_name: str, origin: str) -> int:
    from iot_emulator.devices import macs
    from iot_emulator.learn import build

    base = _base_profile(args)
    if base is None and not args.oui:
        raise BadInput("--oui: give the device's OUI (or --base PROFILE, whose OUIs are kept)")
    if args.oui and not macs.OUI_RE.match(args.oui):
        raise BadInput(f"--oui: {args.oui!r} is not an OUI (three hex pairs like 44:19:b6)")
    name = args.name or default_name
    _check_name(name)
    who = build.Identity(
        name,
        None,
        args.vendor,
        args.model,
        args.device_class,
        origin=origin,
        oui=args.oui.lower() if args.oui else None,
    )
    try:
        prof = build.build(found, base, who)
    except build.BuildError as exc:
        raise BadInput(f"the imported profile: {exc}") from None
    _write(args.output, build.render(prof, found, base, who, 0, {}))
    return 0


def _base_profile(args: argparse.Namespace) -> catalog.Profile | None:
    if not args.base:
        return None
    try:
        if args.base.endswith((".yaml", ".yml")) or "/" in args.base:
            return catalog.load_file(Path(args.base))
        return _library(args.profiles_dir).get(args.base)
    except catalog.ProfileError as exc:
        raise BadInput(f"--base: {exc}") from None


def _check_name(name: str) -> None:
    if not re.fullmatch(catalog.NAME_RE, name):
        raise BadInput(f"--name: {name!r} must be lower-case letters, digits and '-' (1-63, no '-' at the ends)")


def _write(path: Path | None, text: str) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    try:
        path.write_text(text)
    except OSError as exc:
        raise BadInput(f"-o/--output: cannot write {path}: {exc.strerror}") from None


# -- shared -----------------------------------------------------------------------------------


def _run(configs: list[manifests.DeviceConfig], options: runner.RunOptions, library: catalog.Library) -> int:
    try:
        link = runner.open_link(options)
    except rawsock.LinkError as exc:
        raise BadInput(f"--interface: {exc.strerror}") from None
    return asyncio.run(runner.run(configs, options, link, library=library))


def _options(args: argparse.Namespace, fallback_gateway: str | None = None) -> runner.RunOptions:
    """The run options of the command line, validated by `runner.RunOptions`; errors name the flag."""
    fields = {name: getattr(args, name) for name in runner.RunOptions.model_fields if hasattr(args, name)}
    fields["capture_token"] = os.environ.get(CAPTURE_TOKEN_ENV) or None  # a secret: never a flag
    try:
        return runner.RunOptions.model_validate({**fields, "fallback_gateway": fallback_gateway})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            flag = "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else "options"
            flag = "--gateway" if flag == "--fallback-gateway" else flag
            flag = CAPTURE_TOKEN_ENV if flag == "--capture-token" else flag
            secret = flag == CAPTURE_TOKEN_ENV
            given = f" (got {err['input']!r})" if err["type"] != "value_error" and not secret else ""
            problems.append(f"{flag}: {err['msg'].removeprefix('Value error, ')}{given}")
        raise BadInput("; ".join(problems)) from None


def _library(profiles_dir: Path | None) -> catalog.Library:
    try:
        return catalog.library(profiles_dir)
    except catalog.ProfileError as exc:
        raise BadInput(f"{'--profiles-dir' if profiles_dir else 'profiles'}: {exc}") from None


def _derived_mac(prof: catalog.Profile, device_id: str) -> str:
    from iot_emulator.devices import macs

    return macs.derive(prof.ouis[0], f"device/{device_id}", 0)


_FLAGS = {
    "mac": "--mac",
    "hostname": "--hostname",
    "protocols": "--protocols",
    "trafficInterval": "--traffic-interval",
    "dhcp": "--static-ip",
    "vlan": "--vlan",
    "vlanPriority": "--vlan-priority",
    "outerVlan": "--outer-vlan",
}


def _flag_errors(exc: ValidationError) -> str:
    """Pydantic's errors with the seed flag that carried the field."""
    parts = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        flag = _FLAGS.get(field, field)
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{flag}: {message}" if flag else message)  # a rule across fields names them itself
    return "; ".join(parts)
