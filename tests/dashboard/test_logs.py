"""The service's own logs: stdout and a rotating file, JSON when asked."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from iot_dashboard import logs


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_json_lines_to_stdout_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_root: None) -> None:
    path = tmp_path / "logs" / "dashboard.log"
    logs.configure("info", json_format=True, file=path)
    logging.getLogger("iot_dashboard.test").warning("emulator %s exited", "devices-0", extra={"shard": "devices-0"})
    record = json.loads(path.read_text().splitlines()[-1])
    assert record["level"] == "warning" and record["message"] == "emulator devices-0 exited"
    assert record["shard"] == "devices-0" and record["timestamp"].endswith("Z")
    assert "emulator devices-0 exited" in capsys.readouterr().out


def test_readable_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_root: None) -> None:
    logs.configure("info")
    logging.getLogger("iot_dashboard.test").info("hello")
    assert "INFO    iot_dashboard.test: hello" in capsys.readouterr().out
