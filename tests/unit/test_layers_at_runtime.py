"""The dashboard and the operator run emulator processes; they never load the emulator's engine, devices,
protocol machines or raw sockets themselves. import-linter checks direct imports (`.importlinter`); this
checks what a fresh interpreter really loads when every module of theirs is imported."""

from __future__ import annotations

import json
import subprocess
import sys

RUNTIME = (
    "iot_emulator.engine",
    "iot_emulator.devices.device",
    "iot_emulator.devices.host",
    "iot_emulator.protocols",
    "iot_emulator.runner",
    "iot_emulator.endpoints",
    "iot_emulator.reporting.pcap",
)
PROBE = """
import importlib, json, pkgutil, sys
for name in sys.argv[1:]:
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(*packages: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *packages], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    modules: list[str] = json.loads(out.stdout)
    return modules


def test_the_dashboard_and_the_operator_load_no_engine() -> None:
    modules = loaded_by("iot_dashboard", "iot_operator", "iot_kube")
    assert "iot_dashboard.capture" in modules and "iot_operator.reconcile" in modules  # the probe imported them
    assert [m for m in modules if any(m == r or m.startswith(r + ".") for r in RUNTIME)] == []


def test_the_probe_sees_the_engine_where_it_is_loaded() -> None:
    assert "iot_emulator.engine.engine" in loaded_by("iot_emulator.scenarios")  # the driver runs on the engine
