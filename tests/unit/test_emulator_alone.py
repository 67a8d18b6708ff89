"""The emulator installs and runs alone, as in its container image: no web framework, no operator framework.

What `emulator-image/Dockerfile` does, offline and in seconds: a build context holding only
pyproject.toml, emulator-image/ and cli/, a wheel built from it, a fresh venv with that wheel and
its base dependencies (copied from this venv's installed distributions: no index is reached). Then
`python -m iot_emulator --help` and `iotemu --help` run, every emulator module imports, and neither
the dashboard's nor the operator's dependencies are there. The README lists the same packages.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
IMAGE_CONTEXT = ("pyproject.toml", "emulator-image", "cli")  # the COPY lines of emulator-image/Dockerfile
FRAMEWORKS = ("fastapi", "starlette", "uvicorn", "socketio", "httpx", "pydantic_settings", "kopf", "kubernetes_asyncio")
ABSENT = (*FRAMEWORKS, "websockets", "scapy", "iot_dashboard", "iot_operator", "iot_kube")
"""Importable names the emulator image must not have: the dashboard's, the operator's, the tests'."""


def base_closure() -> dict[str, md.Distribution]:
    """The installed distributions the project's base dependencies need, transitively (markers applied)."""
    base = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    found: dict[str, md.Distribution] = {}
    extras_of: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in base]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found and set(req.extras) <= extras_of[name]:
            continue
        extras_of.setdefault(name, set()).update(req.extras)
        dist = found.setdefault(name, md.distribution(req.name))
        for line in dist.requires or []:
            dep = Requirement(line)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in ("", *extras_of[name])):
                todo.append(dep)
    return found


def _copy_distribution(dist: md.Distribution, site: Path) -> None:
    """An installed distribution's files, as pip laid them out (scripts outside site-packages skipped)."""
    for file in dist.files or []:
        if file.parts[0] == ".." or "__pycache__" in file.parts:
            continue
        target = site / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(str(dist.locate_file(file))), target)


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the emulator's wheel and its base dependencies only; its `bin` directory."""
    tmp = tmp_path_factory.mktemp("emulator-alone")
    context = tmp / "context"
    context.mkdir()
    for name in IMAGE_CONTEXT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, context / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    quiet = {"capture_output": True, "text": True, "timeout": 120, "check": True}
    wheel_dir = tmp / "wheels"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheel_dir), str(context)], **quiet
    )
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **quiet)
    [site] = (venv / "lib").glob("python3*/site-packages")
    for dist in base_closure().values():
        _copy_distribution(dist, site)
    [wheel] = wheel_dir.glob("*.whl")
    target = ["--python", str(venv / "bin" / "python")]
    subprocess.run([*pip, *target, "install", "--no-index", "--no-deps", str(wheel)], **quiet)
    check = subprocess.run([*pip, *target, "check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr  # every base dependency is there
    return venv / "bin"


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd="/")


def test_the_base_dependencies_hold_no_web_or_operator_framework() -> None:
    names = set(base_closure())
    distributions = {"fastapi", "starlette", "uvicorn", "python-socketio", "httpx", "pydantic-settings", "kopf"}
    assert names.isdisjoint(distributions | {"kubernetes-asyncio", "websockets", "scapy"}), names


def test_the_emulator_runs_alone(alone: Path) -> None:
    for argv in (["python", "-m", "iot_emulator", "--help"], ["iotemu", "--help"], ["iotemu", "run", "--help"]):
        result = run([str(alone / argv[0]), *argv[1:]])
        assert result.returncode == 0, result.stderr
        assert "usage:" in result.stdout
    seed = run([str(alone / "python"), "-m", "iot_emulator", "--device", "d1", "--vendor", "Nokia"])
    assert seed.returncode == 2 and "--vendor: unknown vendor 'Nokia'" in seed.stderr  # the profiles are packaged


def test_every_emulator_module_imports_and_no_framework_is_installed(alone: Path) -> None:
    code = (
        "import importlib, importlib.util, pkgutil, iot_emulator, iotemu\n"
        "mods = [m.name for m in pkgutil.walk_packages(iot_emulator.__path__, 'iot_emulator.')"
        " if not m.name.endswith('__main__')]\n"
        "for m in mods: importlib.import_module(m)\n"
        "import iotemu.commands, iotemu.demo\n"
        f"print(len(mods), [n for n in {ABSENT!r} if importlib.util.find_spec(n) is not None])\n"
    )
    result = run([str(alone / "python"), "-c", code])
    assert result.returncode == 0, result.stderr
    count, present = result.stdout.split(" ", 1)
    assert int(count) > 100 and present.strip() == "[]"


def test_the_composed_commands_name_the_extra_to_install(alone: Path) -> None:
    for command, extra in (("dashboard", "dashboard"), ("operator", "operator")):
        result = run([str(alone / "iotemu"), command])  # `--help` would be the stub's own
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"pip install 'iot-fleet-emulator[{extra}]'" in result.stderr


def test_the_readme_lists_the_emulator_images_packages() -> None:
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("Python packages of the emulator image"))
    listed = {canonicalize_name(name) for name in re.findall(r"`([A-Za-z0-9_.-]+) [0-9][^`]*`", line)}
    assert listed == set(base_closure()) | {"iot-fleet-emulator"}
