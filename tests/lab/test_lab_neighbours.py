"""The lab sizes the kernel's neighbour table for its subnet (the gateway must know every device)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iot_emulator.lab import build
from tests.conftest import LabFactory

pytestmark = pytest.mark.lab


def test_lab_up_raises_the_neighbour_thresholds_for_its_pool(lab_factory: LabFactory) -> None:
    lab = lab_factory()
    thresh3 = int(Path("/proc/sys/net/ipv4/neigh/default/gc_thresh3").read_text())
    assert thresh3 >= min(4 * lab.subnet.num_addresses, build.NEIGH_CEILING)


def test_thresholds_are_never_lowered() -> None:
    before = {k: int((build.NEIGH_SYSCTLS / k).read_text()) for k in ("gc_thresh1", "gc_thresh2", "gc_thresh3")}
    assert build.size_neighbour_table(16) == {}
    after = {k: int((build.NEIGH_SYSCTLS / k).read_text()) for k in before}
    assert after == before


def test_a_lab_with_ipv6_raises_the_ipv6_neighbour_thresholds_too(lab_factory: LabFactory) -> None:
    """Its DHCPv6 server answers every device at its link-local address (docs/ipv6.md: 88 s -> 5 s at 2,000)."""
    lab = lab_factory(ipv6="kea")
    thresh3 = int((build.NEIGH6_SYSCTLS / "gc_thresh3").read_text())
    assert thresh3 >= min(4 * lab.subnet.num_addresses, build.NEIGH_CEILING)
