"""`iotemu` composes the emulator's commands with the dashboard's and the operator's; `python -m
iot_emulator` offers the emulator's alone (it imports neither: .importlinter)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

COMMANDS = re.compile(r"\{([a-z,]+)\}")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60)


def test_iotemu_offers_every_command_and_the_emulator_its_own() -> None:
    composed = run("-m", "iotemu", "--help")
    alone = run("-m", "iot_emulator", "--help")
    assert composed.returncode == alone.returncode == 0
    [listed] = COMMANDS.findall(composed.stdout)[:1]
    assert listed.split(",") == ["run", "lab", "demo", "operator", "dashboard", "profiles"]
    [own] = COMMANDS.findall(alone.stdout)[:1]
    assert own.split(",") == ["run", "lab", "profiles"]


def test_iotemu_dashboard_takes_the_services_options() -> None:
    result = run("-m", "iotemu", "dashboard", "--help")
    assert result.returncode == 0 and "--backend {local,kubernetes}" in result.stdout


def test_iotemu_operator_hands_every_argument_to_the_operator() -> None:
    """Flags first too: `iotemu operator --resync-interval 0` is the operator's error, not argparse's."""
    result = run("-m", "iotemu", "operator", "--resync-interval", "0")
    assert result.returncode == 2
    assert "iot-operator: error:" in result.stderr and "resync_interval" in result.stderr


def test_iotemu_demo_refuses_a_bad_manifest_before_building_a_lab(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run("-m", "iotemu", "demo", "-f", str(missing), "--terminal")
    assert result.returncode == 2
    assert result.stderr.startswith("iotemu: error: ")
    assert str(missing) in result.stderr or os.geteuid() != 0  # as a user: "needs root", checked first
    assert "building lab" not in result.stdout


def test_the_seed_command_line_works_through_iotemu_too(tmp_path: Path) -> None:
    result = run("-m", "iotemu", "--device", "d1", "--vendor", "Nokia", "--profiles-dir", str(tmp_path))
    assert result.returncode == 2 and "--vendor: unknown vendor 'Nokia'" in result.stderr
