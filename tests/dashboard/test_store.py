"""The manifest file: atomic writes, corrupt files reported with their line and never overwritten."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iot_dashboard import service
from iot_dashboard.backends.local import store
from iot_dashboard.settings import Settings
from iot_emulator.config import models

DEVICE = models.IoTDevice.model_validate(
    {"apiVersion": models.API_VERSION, "kind": "IoTDevice", "metadata": {"name": "cam"}, "spec": {"profile": "x"}}
)


def test_save_is_atomic_and_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d" / "devices.yaml"
    manifest_store = store.ManifestStore(path)
    assert manifest_store.load() == []
    manifest_store.save([DEVICE])
    assert manifest_store.load() == [DEVICE]
    before = path.read_bytes()

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(store.StoreWriteError, match="cannot save: disk full"):
        manifest_store.save([])
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["devices.yaml"]  # no temporary file left


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\nkind: IoTDevice\nmetadata: {name: [\n", "devices.yaml:4: not valid YAML"),
        (
            "---\napiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {name: a}\nspec: {profile: x}\n"
            "---\napiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {name: b}\nspec: {profile: x, mac: zz}\n",
            "devices.yaml:7: (IoTDevice/b): spec.mac:",
        ),
    ],
    ids=["yaml", "schema"],
)
def test_corrupt_file_is_reported_with_its_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    with pytest.raises(store.StoreError) as caught:
        store.ManifestStore(path).load()
    assert expected in str(caught.value)


def test_service_refuses_to_start_on_a_corrupt_file(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    path = settings.local.data_file
    path.parent.mkdir(parents=True)
    path.write_text("kind: [\n")
    assert service.serve(settings) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert path.read_text() == "kind: [\n"
