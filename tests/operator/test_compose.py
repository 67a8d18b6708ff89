"""What docker-compose.yaml promises, and that the dashboard accepts its command line (fast; the file
is run for real, in a lab, by tests/cluster/test_compose.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from iot_dashboard import service

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yaml"


def dashboard() -> dict[str, object]:
    return yaml.safe_load(COMPOSE.read_text())["services"]["dashboard"]  # type: ignore[no-any-return]


def test_host_network_with_only_the_capabilities_raw_sockets_need() -> None:
    svc = dashboard()
    assert svc["network_mode"] == "host"
    assert svc["cap_drop"] == ["ALL"]
    assert set(svc["cap_add"]) == {"NET_RAW", "NET_ADMIN"}  # type: ignore[arg-type]
    assert "no-new-privileges:true" in svc["security_opt"]  # type: ignore[operator]


def test_data_and_logs_are_on_volumes() -> None:
    mounts = {m.split(":")[1] for m in dashboard()["volumes"]}  # type: ignore[union-attr]
    assert {"/data", "/logs"} <= mounts


INTERFACE_REQUIRED = re.compile(r"\$\{IOTEMU_INTERFACE:\?([^}]+)\}")
"""Compose's "required" form: `docker compose up` stops with the message when the variable is unset."""


def test_the_lab_interface_has_no_default() -> None:
    command: list[str] = dashboard()["command"]  # type: ignore[assignment]
    [interface] = [a for a in command if a.startswith("--interface=")]
    assert INTERFACE_REQUIRED.fullmatch(interface.removeprefix("--interface="))
    assert "IOTEMU_INTERFACE" in COMPOSE.read_text().split("services:")[0]  # the header says how to set it
    assert not any(re.search(r"\$\{\w+:?-", a) for a in command)  # no variable with a default value


def test_the_command_line_is_one_the_dashboard_accepts(tmp_path: Path) -> None:
    argv = [INTERFACE_REQUIRED.sub("enp3s0", a) for a in dashboard()["command"]]  # type: ignore[union-attr]
    assert argv[:2] == ["iotemu", "dashboard"]
    import argparse

    parser = argparse.ArgumentParser()
    service.register(parser)
    args = parser.parse_args(argv[2:])
    settings = service.settings_from(args)
    assert settings.backend == "local"
    assert settings.local.interface == "enp3s0" and settings.local.promiscuous
    assert str(settings.local.data_file) == "/data/devices.yaml"
