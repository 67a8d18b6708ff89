"""Fixtures of the operator suite: a tiny profile library, the stand-in cluster, the operator running on it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from iot_operator import cli
from iot_operator import settings as settings_mod
from tests.operator import harness


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
