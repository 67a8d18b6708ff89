"""Fixtures of the operator suite: a tiny profile library, the stand-in cluster, the operator running on it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from iot_emulator import profile
from iot_operator import cli
from iot_operator import settings as settings_mod
from tests.operator import harness

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
sources: {dhcp.options: "test fixture"}
"""


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "profiles"
    directory.mkdir()
    (directory / "tiny-cam.yaml").write_text(TINY_CAM)
    return directory


@pytest.fixture
def tiny_library(profiles_dir: Path) -> profile.Library:
    return profile.Library(profile.load_dir(profiles_dir))


@pytest.fixture
async def cluster() -> AsyncIterator[harness.Cluster]:
    """The stand-in API server with the CRDs, empty."""
    async with harness.cluster() as c:
        yield c


@pytest.fixture
def operator_settings(cluster: harness.Cluster, profiles_dir: Path) -> settings_mod.OperatorSettings:
    """Settings of a fast operator: short intervals, the stand-in API server, the tiny profiles."""
    return settings_mod.OperatorSettings(
        api_server=cluster.url,
        resync_interval=0.3,
        status_min_interval=0.2,
        bind_grace=60,
        backoff_base=0.5,
        emulator_image="registry.example/iot-emulator:1.2.3",
        profiles_dir=profiles_dir,
        namespaces=[],
    )


@pytest.fixture
async def kubelet(
    cluster: harness.Cluster, operator_settings: settings_mod.OperatorSettings
) -> AsyncIterator[harness.Kubelet]:
    k = harness.Kubelet(cluster, operator_settings)
    yield k
    await k.close()


@contextlib.asynccontextmanager
async def running_operator(settings: settings_mod.OperatorSettings) -> AsyncIterator[None]:
    """The real operator (kopf, all handlers) until the block ends.

    It runs in a thread with its own event loop, as kopf's own KopfRunner does: at exit kopf cancels
    every task started after it, which in the test's loop would include the test's own tasks.
    """
    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(cli.run(settings, stop_flag=stop, ready_flag=ready))
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=main, name="operator", daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(ready.wait, harness.DEADLINE), f"operator not ready: {errors}"
        yield
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, harness.DEADLINE)
        assert not thread.is_alive(), "operator did not stop"
    assert not errors, errors


@pytest.fixture
async def operator(operator_settings: settings_mod.OperatorSettings) -> AsyncIterator[settings_mod.OperatorSettings]:
    async with running_operator(operator_settings):
        yield operator_settings
