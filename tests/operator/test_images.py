"""Fast checks of the Dockerfiles: their pinned public bases and that every command they (and the
operator's pods) start exists and runs. The emulator image is built for real by `cluster/images.sh`
and runs on the test node in tests/cluster/test_emulator_pods.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from iot_emulator import cli as emulator_cli
from iot_emulator.config import models
from iot_emulator.profiles import catalog
from iot_operator import pods
from iot_operator import settings as settings_mod

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [ROOT / "emulator-image" / "Dockerfile", ROOT / "operator" / "Dockerfile"]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def script(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed next to {sys.executable}"
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_images_are_pinned(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.MULTILINE))  # `FROM ${BASE_IMAGE}`
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, flags=re.MULTILINE))
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], b)
        for b in re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    ]
    pulled = [b for b in bases if b not in stages and b != "scratch"]  # a stage or nothing: not an image to pin
    assert pulled
    for base in pulled:
        _, _, tag = base.partition(":")
        assert re.fullmatch(r"\d+\.\d+\.\d+-[a-z-]+", tag), f"{base}: pin an exact version"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_entry_points_are_console_scripts(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    commands = re.findall(r'^(?:ENTRYPOINT|CMD)\s+\["([^"]+)"', text, flags=re.MULTILINE)
    assert commands
    first = commands[0]
    assert first in SCRIPTS, f"{first} is not a console script of pyproject.toml"


@pytest.mark.parametrize(
    "argv",
    [
        ["iotemu", "--help"],
        [*settings_mod.OperatorSettings().emulator_command, "--help"],  # what the operator's pods run
        ["iot-operator", "--help"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_entry_point_commands_run(argv: list[str]) -> None:
    result = subprocess.run([script(argv[0]), *argv[1:]], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_the_pod_command_line_is_one_iotemu_run_accepts(tiny_library: catalog.Library) -> None:
    """The arguments desired_pods gives `iotemu run` parse (the same parser the container runs)."""
    network = {"interface": "enp3s0", "promiscuous": True}
    fleet = models.IoTFleet.model_validate(
        {"metadata": {"name": "cams"}, "spec": {"replicas": 3, "template": {"profile": "tiny-cam"}, "network": network}}
    )
    owner = pods.Owner("IoTFleet", "cams", "lab", "uid")
    [pod] = pods.desired_pods(fleet, owner, settings_mod.OperatorSettings(), tiny_library)
    [container] = pod["spec"]["containers"]
    assert container["command"][1:] == ["run"]
    args = emulator_cli.command_parser().parse_args(["run", *container["args"]])
    assert args.interface == "enp3s0" and args.promiscuous and args.json_output
    assert args.file == [Path("/etc/iotemu/manifest.yaml")] and args.http_host == "$(POD_IP)"
