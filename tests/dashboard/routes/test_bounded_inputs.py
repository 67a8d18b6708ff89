"""Inputs that used to hang the service or end in a 500: alias bombs, NaN, lone surrogates, slow imports."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from iot_dashboard import importing
from iot_dashboard.backends.local import store
from tests.unit.test_bounded import LAUGHS


async def test_alias_bomb_import_is_refused_and_changes_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/import", content=LAUGHS)
    assert response.status_code == 422
    assert "aliases expand to more than 100000 nodes" in " ".join(response.json()["errors"])
    assert (await client.get("/api/devices")).json() == []


@pytest.mark.parametrize(
    "content",
    [
        '{"name": "a", "spec": {"profile": "tiny-cam", "trafficInterval": NaN}}',
        '{"name": "a", "spec": {"profile": "tiny-cam", "trafficInterval": Infinity}}',
        '{"name": "a", "spec": {"profile": "tiny-cam"}, "labels": {"k": "\\ud800"}}',
        '{"name": "a", "spec": {"profile": "tiny-cam"}, "labels": {"\\udfff": "v"}}',
    ],
    ids=["nan", "infinity", "surrogate-value", "surrogate-key"],
)
async def test_nan_and_lone_surrogates_are_422_naming_the_reason(client: httpx.AsyncClient, content: str) -> None:
    response = await client.post("/api/devices", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert "NaN" in response.text or "Infinity" in response.text or "surrogate" in response.text
    assert (await client.get("/api/devices")).json() == []


@pytest.mark.parametrize(
    "content",
    [
        '{"devices": [{"id": "x1", "vendor": "Tinycam", "traffic_interval": NaN}]}',
        '{"devices": [{"id": "x\\ud800", "vendor": "Tinycam"}]}',
        'devices: [{id: "x\\ud800", vendor: Tinycam}]',
    ],
    ids=["json-nan", "json-surrogate", "yaml-surrogate"],
)
async def test_import_refuses_nan_and_surrogates(client: httpx.AsyncClient, content: str) -> None:
    response = await client.post("/api/import", content=content)
    assert response.status_code == 422, response.text
    assert (await client.get("/api/devices")).json() == []


async def test_import_is_read_off_the_event_loop(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While an import is being read, the service still answers (it used to stall /healthz 13 s)."""
    reading, release = threading.Event(), threading.Event()
    real_parse = importing.parse

    def slow_parse(*args: Any, **kwargs: Any) -> Any:
        reading.set()
        release.wait(timeout=10)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(importing, "parse", slow_parse)
    body = '{"devices": [{"id": "cam_01", "vendor": "Tinycam"}]}'
    pending = asyncio.create_task(client.post("/api/import", content=body))
    await asyncio.to_thread(reading.wait, 10)
    assert (await client.get("/healthz")).status_code == 200
    assert not pending.done()  # /healthz was served while the import was still being read
    release.set()
    assert (await pending).status_code == 200


async def test_import_time_cap(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.settings = app.state.settings.model_copy(update={"import_seconds": 1e-9})
    response = await client.post("/api/import", content="devices:\n- {id: cam_01, vendor: Tinycam}\n")
    assert response.status_code == 422
    assert "took longer than" in " ".join(response.json()["errors"])


def test_store_refuses_a_bomb_without_overwriting(tmp_path: Any) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(LAUGHS)
    with pytest.raises(store.StoreError, match="aliases expand"):
        store.ManifestStore(path).load()
    assert path.read_text() == LAUGHS
