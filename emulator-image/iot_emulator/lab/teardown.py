"""Removing a lab whole: its processes, namespaces, directory and record, from any process.

Idempotent and tolerant of a half-built lab (`up()` calls it when a step fails) or a lost record:
the namespaces are named after the lab, so they are found without it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from iot_emulator.lab import errors, netns, process, record, wan
from iot_emulator.lab.config import DEFAULT_STATE_DIR

log = logging.getLogger(__name__)


def _stop_namespace_processes(ns: str) -> None:
    """Stop whatever still runs in a lab namespace (an emulator, a shell): the namespace would outlive its name."""
    procs = []
    for pid in netns.pids(ns):
        if pid != os.getpid():
            with contextlib.suppress(errors.LabError):
                procs.append(process.identify(pid))
    if procs:
        log.info("stopping %d process(es) still in %s: %s", len(procs), ns, [p.pid for p in procs])
        process.stop(procs)


def down(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> None:
    """Remove a lab: its processes (SIGTERM, then SIGKILL), namespaces (and veth), directory and record.

    Idempotent. Without a record, the namespaces named after the lab are still removed. Device-side
    processes stop first, so an emulator can release its leases while the server still runs.
    """
    path = record.path(state_dir, name)
    try:
        data = record.read(path)
    except errors.LabError:
        data = {}
    except ValueError:  # a record torn by a crash during its first write
        data = {}
    gw_ns, dev_ns = data.get("gw_netns", f"{name}-gw"), data.get("dev_netns", f"{name}-dev")
    sink_ns = data.get("sink_netns", wan.sink_netns(name))
    problems: list[str] = []
    steps: list[tuple[str, Callable[[], object]]] = [
        (f"stop processes in {dev_ns}", lambda: _stop_namespace_processes(dev_ns)),
        ("stop servers", lambda: process.stop(process.Proc.from_json(p) for p in data.get("processes", {}).values())),
        (f"stop processes in {gw_ns}", lambda: _stop_namespace_processes(gw_ns)),
        (f"stop processes in {sink_ns}", lambda: _stop_namespace_processes(sink_ns)),
        (f"delete {gw_ns}", lambda: netns.delete(gw_ns)),
        (f"delete {sink_ns}", lambda: netns.delete(sink_ns)),
        (f"delete {dev_ns}", lambda: netns.delete(dev_ns)),
        ("remove the lab directory", lambda: _remove_directory(data.get("directory"))),
    ]
    for what, step in steps:
        try:
            step()
        except (errors.LabError, OSError) as exc:
            problems.append(f"{what}: {exc}")
    if problems:
        raise errors.LabError(f"lab {name} not fully removed (record kept): " + "; ".join(problems))
    path.unlink(missing_ok=True)
    path.with_suffix(".json.tmp").unlink(missing_ok=True)


def _remove_directory(directory: str | None) -> None:
    if not directory:
        return
    path = Path(directory)
    if path.parent not in (record.TEMP_ROOT, Path("/tmp")) or not path.name.startswith(record.TEMP_PREFIX):
        raise errors.LabError(f"refusing to remove {path}: not a lab directory")
    if path.exists():
        shutil.rmtree(path)


def down_all(state_dir: Path = DEFAULT_STATE_DIR) -> list[str]:
    """Remove every lab recorded in `state_dir`; returns their names. Raises after trying them all."""
    names, problems = record.running(state_dir), []
    for name in names:
        try:
            down(name, state_dir)
        except errors.LabError as exc:
            problems.append(str(exc))
    if problems:
        raise errors.LabError("\n".join(problems))
    return names
