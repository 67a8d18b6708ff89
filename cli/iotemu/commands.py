"""The `iotemu` command line: `run | lab | profiles` and the seed's flags (the emulator's), `demo`,
`dashboard` and `operator` (this package's: each imports its part where that is installed, and
otherwise names the extra to install, exit code 2)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from iot_emulator import cli as emulator_cli


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `iotemu` (and `python -m iotemu`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["operator"]:  # all the rest is the operator's, flags first too (argparse's REMAINDER is not)
        try:
            return _cmd_operator(argparse.Namespace(operator_args=args[1:]))
        except emulator_cli.BadInput as exc:
            print(f"iotemu: error: {exc}", file=sys.stderr)
            return emulator_cli.EXIT_BAD_INPUT
    return emulator_cli.main(args, command_parser)


def command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iotemu", description="IoT fleet emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    emulator_cli.add_run(sub)
    emulator_cli.add_lab(sub)
    _add_demo(sub)
    _add_operator(sub)
    _add_dashboard(sub)
    emulator_cli.add_profiles(sub)
    return parser


def _add_demo(sub: emulator_cli.Subcommands) -> None:
    demo = sub.add_parser("demo", help="lab + dashboard on :8080 + the default devices running; Ctrl-C cleans up")
    demo.add_argument("-f", "--file", type=Path, help="manifest to run (default: examples/default-fleet.yaml)")
    demo.add_argument("--dhcp-server", choices=["dnsmasq", "kea"], default="dnsmasq")
    demo.add_argument("--duration", type=float, help="stop by itself after this many seconds")
    demo.add_argument("--terminal", action="store_true", help="no dashboard: run the devices here, table only")
    demo.add_argument("--port", type=int, default=8080, help="dashboard port on 127.0.0.1 (default 8080)")
    demo.add_argument("--no-internet", action="store_true", help="no lab internet (`lab up --internet`)")
    demo.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from iotemu import demo

    return demo.main(
        args.file,
        args.dhcp_server,
        args.duration,
        terminal=args.terminal,
        port=args.port,
        internet=not args.no_internet,
    )


def _add_operator(sub: emulator_cli.Subcommands) -> None:
    op = sub.add_parser("operator", help="the Kubernetes operator (kopf): in-cluster or with a kubeconfig")
    op.add_argument("operator_args", nargs=argparse.REMAINDER, help="arguments of iot-operator (see --help)")
    op.set_defaults(handler=_cmd_operator)


def _cmd_operator(args: argparse.Namespace) -> int:
    try:
        from iot_operator import cli as operator_cli
    except ModuleNotFoundError as exc:
        raise _not_installed("operator", exc) from None
    return operator_cli.main(args.operator_args)


def _add_dashboard(sub: emulator_cli.Subcommands) -> None:
    dash = sub.add_parser("dashboard", help="the dashboard service: REST + WebSocket, the web tab at /")
    try:
        from iot_dashboard import service
    except ModuleNotFoundError as exc:
        missing = _not_installed("dashboard", exc)

        def unavailable(_: argparse.Namespace) -> int:
            raise missing

        dash.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        dash.set_defaults(handler=unavailable)
        return
    service.register(dash)
    dash.set_defaults(handler=service.run)


def _not_installed(extra: str, exc: ModuleNotFoundError) -> emulator_cli.BadInput:
    """The error of a composed command whose part is not installed (the emulator image has neither):
    the part, its pyproject extra and the command share a name."""
    return emulator_cli.BadInput(
        f"{extra}: not installed here (no module {exc.name!r}): pip install 'iot-fleet-emulator[{extra}]'"
    )
