"""Running the service: `serve(settings)` (what `iotemu dashboard` and `iotemu demo` call) and its command line.

`serve` checks what can be checked before listening (the data file loads, a token exists when
binding beyond loopback), runs uvicorn with the service's own logging, prints the URL once the
socket is bound, and returns an exit code: 0 after Ctrl-C or SIGTERM (every emulator process
stopped: leases released), 2 for bad input. The command line (`register` + `run`) is shared by
`iotemu dashboard` and `python -m iot_dashboard`.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import functools
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from iot_dashboard import app as app_mod
from iot_dashboard import logs, security
from iot_dashboard.backends.local import process, store
from iot_dashboard.settings import Settings

log = logging.getLogger(__name__)
EXIT_BAD_INPUT = 2


def lab_settings(lab: Any, seed_file: Path | None = None, port: int = 8080, **overrides: Any) -> Settings:
    """Settings for a dashboard in local mode inside a lab (`iot_emulator.lab.Lab`): what `iotemu demo` uses.

    The data file lives in the lab's directory, so each demo starts from the seed (the default
    device library, loaded stopped) and leaves nothing behind when the lab is removed.
    """
    base = Settings()
    local = base.local.model_copy(
        update={
            "interface": lab.dev_iface,
            "netns": lab.dev_netns,
            "data_file": Path(lab.directory) / "dashboard-devices.yaml",
            "state_dir": Path(lab.directory) / "emulator-state",
            "seed_file": seed_file,
            "stats_interval": 2.0,
        }
    )
    return base.model_copy(update={"local": local, "port": port, **overrides})


def lab_environment(lab: Any, directory: Path, **extra: str) -> dict[str, str]:
    """The environment that runs `python -m iot_dashboard` in local mode inside a lab, files in `directory`:
    what the end-to-end tests and the browser and WebSocket benchmarks start (port 0, stats every second).
    Its API token is `IOTEMU_DASHBOARD_TOKEN` of the result (a child's environment is readable by root only)."""
    return {
        **os.environ,
        "IOTEMU_DASHBOARD_TOKEN": secrets.token_urlsafe(32),
        "IOTEMU_DASHBOARD_HOST": "127.0.0.1",
        "IOTEMU_DASHBOARD_PORT": "0",
        "IOTEMU_DASHBOARD_LOCAL__DATA_FILE": str(directory / "devices.yaml"),
        "IOTEMU_DASHBOARD_LOCAL__INTERFACE": lab.dev_iface,
        "IOTEMU_DASHBOARD_LOCAL__NETNS": lab.dev_netns,
        "IOTEMU_DASHBOARD_LOCAL__SOCKET_DIR": str(directory),
        "IOTEMU_DASHBOARD_LOCAL__STATE_DIR": str(directory / "state"),
        "IOTEMU_DASHBOARD_LOCAL__STATS_INTERVAL": "1",
        **extra,
    }


def serve(settings: Settings, on_ready: Callable[[str], None] | None = None, duration: float | None = None) -> int:
    """Run the service until SIGINT/SIGTERM (or `duration` seconds); returns the exit code.

    `on_ready(url)` runs once the socket listens (default: print the URL)."""
    logs.configure(settings.log_level, settings.log_json, settings.log_file)
    try:
        if settings.backend == "local":
            store.ManifestStore(settings.local.data_file).load()  # a corrupt file stops us before listening
        application = app_mod.create_app(settings)
    except (store.StoreError, OSError, ValueError) as exc:
        print(f"iotemu dashboard: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    atexit.register(process.kill_groups)
    config = uvicorn.Config(
        application, host=settings.host, port=settings.port, log_config=None, ws="websockets-sansio", lifespan="on"
    )
    server = _Server(config)
    token_file = None if settings.token is not None else settings.resolved_token_file()
    on_ready = on_ready or functools.partial(_print_url, token_file)
    return asyncio.run(_serve(server, settings, application.state.token, on_ready, duration))


class _Server(uvicorn.Server):
    """uvicorn's server, except that SIGINT/SIGTERM end `serve` without being raised again afterwards.

    uvicorn re-raises the signal it caught once shut down, so the process would die *by* SIGTERM
    (exit status -15); the contract is a clean exit 0 once every emulator process has stopped.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


async def _serve(
    server: uvicorn.Server,
    settings: Settings,
    token: str | None,
    on_ready: Callable[[str], None],
    duration: float | None,
) -> int:
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # uvicorn offers no startup event
        await asyncio.sleep(0.05)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        host = settings.host if ":" not in settings.host else f"[{settings.host}]"
        on_ready(f"http://{host}:{port}/#token={token}")
        if duration is not None:
            asyncio.get_running_loop().call_later(duration, setattr, server, "should_exit", True)
    await task
    return 0 if server.started else 1


def _print_url(token_file: Path | None, url: str) -> None:
    """The address with its `#token=` only on a terminal: a redirected stdout may end in a shared log."""
    if sys.stdout.isatty():
        print(f"iotemu dashboard: {url}", flush=True)
        return
    where = f"in {token_file}" if token_file is not None else "the configured one"
    print(f"iotemu dashboard: {url.split('#', 1)[0]} (API token: {where})", flush=True)


# -- command line ---------------------------------------------------------------------------------


def register(parser: argparse.ArgumentParser) -> None:
    """The options of `iotemu dashboard` (environment `IOTEMU_DASHBOARD_*` gives the defaults)."""
    add = parser.add_argument
    add("--backend", choices=["local", "kubernetes"], help="where devices live (default local)")
    add("--host", help="listen address (default 127.0.0.1; anything else needs a token)")
    add("--port", type=int, help="listen port (default 8080)")
    add(
        "--token-file",
        type=Path,
        help="read the API token from this file (mode 0600; default: a new one each start, saved in the token file)",
    )
    add("--token", type=_no_secret_on_the_command_line, help=argparse.SUPPRESS)
    add(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        help="a host name the service answers to besides localhost and IP addresses (repeatable)",
    )
    add("--cors-origin", action="append", dest="cors_origins", help="allowed CORS origin (repeatable)")
    add("--log-file", type=Path, help="rotating log file")
    add("--log-json", action="store_true", default=None, help="JSON log lines")
    local = parser.add_argument_group("local backend")
    local.add_argument("--data-file", type=Path, help="YAML file of the device and fleet manifests")
    local.add_argument("--seed-file", type=Path, help="manifests loaded when the data file does not exist yet")
    local.add_argument("--interface", "-i", help="interface the emulator processes use (required without --lab)")
    local.add_argument(
        "--allow-default-route",
        action="store_true",
        default=None,
        help="allow --interface to be the one carrying this host's default route",
    )
    local.add_argument("--netns", help="network namespace of the interface")
    local.add_argument(
        "--promiscuous",
        action="store_true",
        default=None,
        help="emulators join promiscuous mode (needed on a physical NIC)",
    )
    local.add_argument("--lab", help="run in this lab (`iotemu lab up --name ...`): its interface and namespace")
    local.add_argument("--profiles-dir", type=Path, help="directory of extra profile YAML files")
    kube = parser.add_argument_group("kubernetes backend")
    kube.add_argument("--namespace", help="namespace of the resources and emulator pods")
    kube.add_argument("--kubeconfig", type=Path, help="kubeconfig file (default: in-cluster, then ~/.kube/config)")


def _no_secret_on_the_command_line(_: str) -> str:
    raise argparse.ArgumentTypeError(
        "every local user can read a command line (/proc/PID/cmdline): use --token-file or IOTEMU_DASHBOARD_TOKEN"
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """The environment's settings with the command line's options on top."""
    base = Settings()
    keys = ("backend", "host", "port", "cors_origins", "allowed_hosts", "log_file", "log_json")
    update: dict[str, Any] = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if getattr(args, "token_file", None):
        update["token"] = security.read_token_file(args.token_file)
    local_keys = (
        "data_file",
        "seed_file",
        "interface",
        "allow_default_route",
        "netns",
        "lab",
        "profiles_dir",
        "promiscuous",
    )
    local = {k: getattr(args, k) for k in local_keys if getattr(args, k, None) is not None}
    kube = {k: getattr(args, k) for k in ("namespace", "kubeconfig") if getattr(args, k, None) is not None}
    data = base.model_dump()
    data.update(update)
    data["local"] = {**data["local"], **local}
    data["kube"] = {**data["kube"], **kube}
    return Settings.model_validate(data)


def run(args: argparse.Namespace) -> int:
    """`iotemu dashboard ...`: settings from the environment and `args`, then `serve`."""
    try:
        settings = settings_from(args)
        if settings.backend == "local" and settings.local.lab is not None:
            settings = app_mod.resolve_lab(settings)
    except Exception as exc:  # bad option values, an unknown lab: the user's to fix
        print(f"iotemu dashboard: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return serve(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iot_dashboard", description="IoT fleet emulator dashboard")
    register(parser)
    return run(parser.parse_args(argv))
