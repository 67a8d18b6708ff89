"""schemathesis against the service's OpenAPI schema: generated, authenticated requests never get a 5xx.

The service runs for real (uvicorn on 127.0.0.1, its own event loop in a thread, the local
backend with the fake emulator), so every layer a request crosses is the production one.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr

from iot_dashboard import app as app_mod
from iot_dashboard.settings import LocalSettings, Settings
from tests.conftest import TINY_CAM
from tests.dashboard.conftest import FAKE_EMULATOR, TINY_PLUG, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fuzz")
    profiles = tmp / "profiles"
    profiles.mkdir()
    (profiles / "tiny-cam.yaml").write_text(TINY_CAM)
    (profiles / "tiny-plug.yaml").write_text(TINY_PLUG)
    local = LocalSettings(
        interface="fake0",
        data_file=tmp / "devices.yaml",
        profiles_dir=profiles,
        socket_dir=tmp,
        state_dir=tmp / "state",
        emulator_command=[sys.executable, str(FAKE_EMULATOR)],
        stop_timeout=2.0,
    )
    app = app_mod.create_app(Settings(local=local, web_dir=Path(tmp / "none"), token=SecretStr(TOKEN)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on"))
    server.capture_signals = lambda: __import__("contextlib").nullcontext()  # type: ignore[method-assign]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    started = threading.Event()
    while not (server.started or not thread.is_alive()):
        started.wait(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def test_no_server_error(base_url: str) -> None:
    """Every operation, a dozen generated requests each (pytest 9 cannot run schemathesis's own parametrize)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=AUTH)
            assert response.status_code != 401, "the fuzzer must get past authentication"
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
            )

        check()
