"""The soak's CI slice: `bench/soak.py`'s harness for a bounded time, fewer devices, every chaos event once.

The same code as the full compressed day (`sudo .venv/bin/python bench/soak.py ...`, README
"Endurance (soak)"): a Kea lab, the real dashboard service in local mode (its supervisor, its store
on a small tmpfs, its emulator processes), 200 devices on 30 s leases, and a seeded schedule of
server restart, outage past T2, kill -9 of an emulator process, link flap, service kill and
restart, and disk full. `SOAK_SLICE_SECONDS` (default 420: the test takes about 8 minutes)
shortens the chaos window while developing. It runs beside the rest of `make test` in an xdist
group of its own.

Asserted: no lease lost (no device changed address or ended without one), no device without an
address for longer than 2 x T1 outside the planned outage, every event passed its own checks (the
store intact and unchanged after the kills and the disk-full, a clear 507 on the full disk, the
emulator process restarted) and the service answered after each, and the service's descriptors
did not grow after warm-up. Figures are printed, never compared with a clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import new_lab_name

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import soak
import soak_chaos

SECONDS = float(os.environ.get("SOAK_SLICE_SECONDS", "420"))
DEVICES = 200

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("soak"), pytest.mark.timeout(SECONDS + 420)]


def test_soak_slice(tmp_path: Path) -> None:
    cfg = soak.Config(devices=DEVICES, server="kea", lease=30, seconds=SECONDS, hours=24, seed=15)
    result = asyncio.run(soak.soak_run(cfg, tmp_path, lab_name=new_lab_name()))
    soak.print_report(result)
    (tmp_path / "soak.json").write_text(json.dumps(result, indent=2))
    assert sorted(e["event"] for e in result["events"]) == sorted(soak_chaos.EVENTS)
    failed = [e for e in result["events"] if not e["ok"]]
    assert not failed, failed
    assert all(e["checks"]["service_answers"] for e in result["events"])
    assert result["leases_lost"] == 0, (result["address_changed"], result["server_address_changed"])
    assert result["without_address_over_2xT1"] == 0, result["long_gaps_sample"]
    assert result["store_intact"]
    assert result["service_fd_growth"] <= soak.FD_GROWTH_LIMIT, result["mean"]
