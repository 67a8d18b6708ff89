"""`iot-operator` / `iotemu operator`: settings from flags and IOT_OPERATOR_* variables, errors as exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from iot_operator import cli
from iot_operator import settings as settings_mod


def test_environment_fills_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOT_OPERATOR_NAMESPACES", '["lab-a", "lab-b"]')
    monkeypatch.setenv("IOT_OPERATOR_EMULATOR_IMAGE", "registry.lab/iot-emulator:2.0")
    monkeypatch.setenv("IOT_OPERATOR_RESYNC_INTERVAL", "7.5")
    settings = settings_mod.OperatorSettings()
    assert settings.namespaces == ["lab-a", "lab-b"] and settings.resync_interval == 7.5
    assert settings.emulator_image == "registry.lab/iot-emulator:2.0"


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOT_OPERATOR_WORKER_LIMIT", "3")
    settings = settings_mod.OperatorSettings(_cli_parse_args=["--worker-limit", "9", "--api-server", "http://x"])
    assert settings.worker_limit == 9 and settings.api_server == "http://x"


def test_a_bad_setting_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--resync-interval", "0"]) == 2
    assert "resync_interval" in capsys.readouterr().err


def test_help_lists_the_settings_with_their_documentation() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "iot_operator.cli", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert "--status-min-interval" in result.stdout and "at most once per" in result.stdout
