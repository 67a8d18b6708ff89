"""Hypothesis against the CLI's manifest loader: whatever the file holds, the answer is devices or
`BadInput` (exit 2) with a message naming the file; never another exception (a traceback, exit 1)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iot_emulator import cli
from tests.conftest import TINY_CAM

KEYS = [
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "name",
    "profile",
    "mac",
    "replicas",
    "template",
    "dhcp",
    "mode",
    "address",
    "protocols",
    "trafficInterval",
    "running",
    "hostname",
    "<<",
    "items",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "iotemu.io/v1alpha1",
            "IoTDevice",
            "IoTFleet",
            "tiny-cam",
            "cam-1",
            "44:19:b6:00:00:01",
            "static",
            "auto",
            "10.0.0.300",
            "\ud800",
            "",
            "a/b",
            "..",
        ]
    ),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
    max_leaves=20,
)
DEVICE = {
    "apiVersion": "iotemu.io/v1alpha1",
    "kind": "IoTDevice",
    "metadata": {"name": "cam-1"},
    "spec": {"profile": "tiny-cam"},
}


def _dump(value: Any) -> bytes:
    try:
        return yaml.safe_dump(value, allow_unicode=True).encode("utf-8", "surrogatepass")
    except yaml.YAMLError:
        return b"{}"


def _mutated(changes: dict[str, Any]) -> Any:
    spec = {**DEVICE["spec"], **changes}  # type: ignore[dict-item]
    return {**DEVICE, "spec": spec}


CONTENTS = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    VALUES.map(_dump),
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4).map(_mutated).map(_dump),
    st.lists(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4).map(_mutated), max_size=3).map(
        lambda docs: b"---\n".join(_dump(d) for d in docs)
    ),
)


@pytest.fixture(scope="module")
def profiles_dir_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("profiles")
    (directory / "tiny-cam.yaml").write_text(TINY_CAM)
    return directory


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(content=CONTENTS)
def test_every_manifest_is_devices_or_exit_2(profiles_dir_once: Path, content: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".yaml") as handle:
        handle.write(content)
        handle.flush()
        try:
            devices = cli.load_devices([Path(handle.name)], profiles_dir_once)
        except cli.BadInput as exc:
            assert str(exc).strip(), "a refusal says why"
            return
        assert all(d.device_id for d in devices)
