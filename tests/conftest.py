"""Suite-wide fixtures: throw-away labs (network namespaces + real DHCP/DNS servers) for any test.

Lab tests need root and are part of the suite: a test marked `@pytest.mark.lab` (or using one of
the lab fixtures, which marks it) fails with a clear message when not run as root, rather than
being skipped silently; `IOTEMU_SKIP_LAB=1` skips them on purpose.

Every lab a test builds is named `iotest<pid>-<6 hex>`, keeps its record in the test's own
temporary state directory and is removed when the test ends, even if it fails. The prefix holds
the pytest process id, so concurrent pytest runs on this machine never touch each other's labs, and a check at
the end of the session removes and reports any namespace of ours that is still there.

    def test_x(lab_factory):            # any number of labs, any LabConfig field
        lab = lab_factory(dhcp_server="kea", lease_time=8, dns_names={"cloud.example.com": "10.77.0.2"})

    def test_y(any_lab): ...            # runs twice: dnsmasq lab, Kea lab (lease 600 s)

    @pytest.mark.parametrize("kea_lab", [{"lease_time": 4}], indirect=True)
    def test_z(kea_lab): ...
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.lab import netns, process, record
from iot_emulator.profiles import catalog

LAB_PREFIX = f"iotest{os.getpid():x}-"
"""Start of every lab name (and so namespace name) this pytest process creates: unique among the
pytest runs (and xdist workers) alive on the machine, and the same however often this module is imported."""
LAB_FIXTURES = {"lab_factory", "dnsmasq_lab", "kea_lab", "any_lab"}
SKIP_ENV = "IOTEMU_SKIP_LAB"
NOT_ROOT = "lab tests need root (network namespaces, real DHCP servers): run `sudo make test` (or set IOTEMU_SKIP_LAB=1 to skip them explicitly)"  # noqa: E501


class LabFactory(Protocol):
    def __call__(self, **config: Any) -> iotlab.Lab: ...


def new_lab_name() -> str:
    return f"{LAB_PREFIX}{secrets.token_hex(3)}"


SHARED_DIRECTORIES = {"cluster"}
"""Test directories whose tests share one machine-wide resource (tests/cluster: the one real cluster, on
fixed ports, started by a session fixture): under `pytest -n` (xdist) one worker runs all of them."""
LONG_GROUPS = ("cluster", "soak")
"""xdist groups that hold a worker for minutes (the cluster's tests, the soak slice): handed out first
(`make test` passes `--no-loadscope-reorder`, else xdist orders groups by test count and the one-test
soak slice would start last), so the other workers share the rest meanwhile."""


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a lab fixture is a lab test, marked or not (so `-m "not lab"` leaves it out).

    Each test also gets an xdist group (used by `--dist loadgroup`): its module, so that a module's
    fixtures are built once, or its directory for SHARED_DIRECTORIES; LONG_GROUPS go first."""
    for item in items:
        if LAB_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("lab"):
            item.add_marker(pytest.mark.lab)
        if not item.get_closest_marker("xdist_group"):
            path = item.path.relative_to(Path(__file__).parent)
            group = path.parts[0] if path.parts[0] in SHARED_DIRECTORIES else str(path)
            item.add_marker(pytest.mark.xdist_group(group))
    sizes = Counter(_group(item) for item in items)
    # With --no-loadscope-reorder, xdist hands out the groups in this order: the long ones, then the
    # larger ones first (what its default reorder does, by test count), each group's tests as collected.
    items.sort(key=lambda item: (_group(item) not in LONG_GROUPS, -sizes[_group(item)], _group(item)))


def _group(item: pytest.Item) -> str:
    marker = item.get_closest_marker("xdist_group")
    return str(marker.args[0]) if marker is not None and marker.args else ""


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("lab") is None:
        return
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1")
    if os.geteuid() != 0:
        pytest.fail(NOT_ROOT, pytrace=False)


@pytest.fixture
def lab_state_dir(tmp_path: Path) -> Path:
    """This test's own lab state directory (records of the labs it builds)."""
    return tmp_path / "labs"


@pytest.fixture
def lab_factory(lab_state_dir: Path) -> Iterator[LabFactory]:
    """Build labs with `lab_factory(**LabConfig fields)`; all are removed when the test ends."""
    built: list[iotlab.Lab] = []

    def make(**config: Any) -> iotlab.Lab:
        config.setdefault("name", new_lab_name())
        config.setdefault("state_dir", lab_state_dir)
        handle = iotlab.up(iotlab.LabConfig(**config))
        built.append(handle)
        return handle

    yield make
    problems = []
    for handle in reversed(built):
        try:
            iotlab.down(handle.name, handle.config.state_dir)
        except iotlab.LabError as exc:
            problems.append(str(exc))
    if problems:
        pytest.fail("lab teardown failed:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def dnsmasq_lab(request: pytest.FixtureRequest, lab_factory: LabFactory) -> iotlab.Lab:
    """A dnsmasq lab; LabConfig overrides via indirect parametrization (`request.param`, a dict)."""
    return lab_factory(**{"dhcp_server": "dnsmasq", **getattr(request, "param", {})})


@pytest.fixture
def kea_lab(request: pytest.FixtureRequest, lab_factory: LabFactory) -> iotlab.Lab:
    """A Kea lab (600 s leases unless `request.param` says otherwise, e.g. {"lease_time": 4})."""
    return lab_factory(**{"dhcp_server": "kea", "lease_time": 600, **getattr(request, "param", {})})


@pytest.fixture(params=["dnsmasq", "kea"])
def any_lab(request: pytest.FixtureRequest, lab_factory: LabFactory) -> iotlab.Lab:
    """The same test against each DHCP server (600 s leases)."""
    server: str = request.param
    return lab_factory(dhcp_server=server, lease_time=600)


def leftovers() -> tuple[list[str], list[Path]]:
    """Namespaces and lab directories of this session that still exist."""
    spaces = [n for n in netns.names() if n.startswith(LAB_PREFIX)]
    dirs = sorted(
        p for root in {record.TEMP_ROOT, Path("/tmp")} for p in root.glob(f"{record.TEMP_PREFIX}{LAB_PREFIX}*")
    )
    return spaces, dirs


def _remove(spaces: list[str], dirs: list[Path]) -> None:
    for ns in spaces:
        with contextlib.suppress(iotlab.LabError, OSError):
            pids = [process.identify(p) for p in netns.pids(ns) if p != os.getpid()]
            process.stop(pids)
            netns.delete(ns)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run, loudly, if any lab of this session was left behind (after removing it)."""
    if os.geteuid() != 0:
        return
    spaces, dirs = leftovers()
    if not spaces and not dirs:
        return
    _remove(spaces, dirs)
    message = (
        f"LEAKED LABS: namespaces {spaces} and directories {[str(d) for d in dirs]} were still there at "
        "the end of the session (now removed): a test or fixture does not tear its lab down"
    )
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(message, red=True, bold=True)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


TINY_CAM = """\
name: tiny-cam
vendor: Tinycam
model: TC-1
device_class: camera
os: Linux (BusyBox udhcpc)
ouis: ["44:19:b6"]
hostname_pattern: "tinycam-{mac6}"
dhcp:
  options: [53, 61, 57, 50, 54, 12, 55, 60]
  parameter_request_list: [1, 3, 6, 12, 15, 28, 42]
  vendor_class_id: "udhcp 1.19.4"
  max_message_size: 576
  broadcast_flag: true
  arp_probe: {count: 0}
sources: {dhcp.options: "test fixture"}
"""
"""A small profile the unit, operator and dashboard tests share, independent of the shipped library."""


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "profiles"
    directory.mkdir()
    (directory / "tiny-cam.yaml").write_text(TINY_CAM)
    return directory


@pytest.fixture
def tiny_library(profiles_dir: Path) -> catalog.Library:
    return catalog.Library(catalog.load_dir(profiles_dir))
