"""docker-compose.yaml cannot be run here (no container engine): check what it promises and that the
dashboard accepts its command line."""

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


def test_the_command_line_is_one_the_dashboard_accepts(tmp_path: Path) -> None:
    argv = [re.sub(r"\$\{IOTEMU_INTERFACE:-(\w+)\}", r"\1", a) for a in dashboard()["command"]]  # type: ignore[union-attr]
    assert argv[:2] == ["iotemu", "dashboard"]
    import argparse

    parser = argparse.ArgumentParser()
    service.register(parser)
    args = parser.parse_args(argv[2:])
    settings = service.settings_from(args)
    assert settings.backend == "local"
    assert settings.local.interface == "eth0" and settings.local.promiscuous
    assert str(settings.local.data_file) == "/data/devices.yaml"
