"""A lab's record: the JSON file in the state directory that lets any process find and remove the lab.

`up()` claims the record before building anything and fills in each server's pid and start time as
it starts; `down()` in any other process reads it. Also where a lab's own files live (`TEMP_ROOT`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iot_emulator.config import bounded
from iot_emulator.lab import errors, process
from iot_emulator.lab.config import DEFAULT_STATE_DIR

TEMP_PREFIX = "iotemu-lab-"
TEMP_ROOT = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path("/tmp")
"""Where a lab's files live: tmpfs when there is one. dnsmasq fsyncs its whole lease file on every
change; on this machine's disk that alone held 2,000 leases to 2-11 s (0.3 s on tmpfs)."""


def path(state_dir: Path, name: str) -> Path:
    return Path(state_dir) / f"{name}.json"


def read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise errors.LabError(f"no lab record {path}: is the lab up?") from exc
    return data


def write(path: Path, data: Mapping[str, Any]) -> None:
    bounded.write_atomic(path, json.dumps(data, indent=2) + "\n", mode=0o644)


def update_processes(path: Path, role: str, proc: process.Proc | None) -> None:
    data = read(path)
    procs = data.setdefault("processes", {})
    if proc is None:
        procs.pop(role, None)
    else:
        procs[role] = proc.to_json()
    write(path, data)


def running(state_dir: Path = DEFAULT_STATE_DIR) -> list[str]:
    """Names of the labs that have a record in `state_dir`, sorted."""
    try:
        return sorted(p.stem for p in Path(state_dir).glob("*.json"))
    except FileNotFoundError:
        return []
