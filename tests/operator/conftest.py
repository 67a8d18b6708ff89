"""Fixtures of the operator suite: a tiny profile library, so tests do not depend on the shipped profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from iot_emulator import profile

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
