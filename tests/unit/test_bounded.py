"""Every outside document is read with limits: alias bombs, deep nesting, size, NaN, non-UTF-8.

Each refusal is checked by its message and by the memory it took (tracemalloc): refusing must not
first build what it refuses. No clock is read here: time is a benchmark's business.
"""

from __future__ import annotations

import contextlib
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml

from iot_emulator.config import bounded, manifests
from iot_emulator.profiles import catalog

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
"""The 9-level "billion laughs": 9^9 nodes once expanded, ~700 bytes of text."""


def peak_bytes(call: Any) -> int:
    tracemalloc.start()
    with contextlib.suppress(ValueError, yaml.YAMLError):
        call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_alias_bomb_is_refused_before_it_grows() -> None:
    with pytest.raises(yaml.MarkedYAMLError, match="aliases expand to more than 100000 nodes"):
        bounded.load_all(LAUGHS)
    assert peak_bytes(lambda: bounded.load_all(LAUGHS)) < 2 << 20


def test_merge_keys_and_small_aliases_still_work() -> None:
    text = "base: &b {profile: tiny-cam, trafficInterval: 30}\ndevice: {<<: *b, running: true}\n"
    base = {"profile": "tiny-cam", "trafficInterval": 30}
    assert bounded.load_all(text) == [(1, {"base": base, "device": {**base, "running": True}})]


@pytest.mark.parametrize("text", ["[" * 100_000, "a: " + "{k: " * 100, "- " * 200 + "x"], ids=["flow", "map", "block"])
def test_deep_nesting_is_refused(text: str) -> None:
    with pytest.raises(yaml.MarkedYAMLError, match="nested deeper than 64 levels"):
        bounded.load_all(text)


def test_size_and_json_limits() -> None:
    with pytest.raises(bounded.LimitError, match="larger than 10 bytes"):
        bounded.load_all("a: 12345678901", bounded.Limits(max_bytes=10))
    with pytest.raises(bounded.BadInput, match="NaN is not a JSON number"):
        bounded.load_json('{"trafficInterval": NaN}')
    with pytest.raises(bounded.BadInput, match="Infinity is not a JSON number"):
        bounded.load_json("[-Infinity]")
    with pytest.raises(bounded.LimitError, match="nested"):
        bounded.load_json("[" * 100 + "]" * 100)
    with pytest.raises(bounded.LimitError, match="nested"):
        bounded.load_json("[" * 1_000_000)


def test_read_text_stops_at_the_cap(tmp_path: Path) -> None:
    with pytest.raises(bounded.LimitError, match="larger than 1024 bytes"):
        bounded.read_text(Path("/dev/zero"), bounded.Limits(max_bytes=1024))
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(bounded.BadInput, match=r"not UTF-8 text \(byte 9\)"):
        bounded.read_text(latin)


def test_every_reader_uses_the_limits(tmp_path: Path) -> None:
    """Manifests (CLI), profiles (--profiles-dir): the same refusal, in each one's error type."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(LAUGHS)
    with pytest.raises(manifests.ManifestError, match="aliases expand"):
        manifests.load(bomb)
    with pytest.raises(manifests.ManifestError, match="aliases expand"):
        manifests.parse_documents(LAUGHS)
    with pytest.raises(catalog.ProfileError, match="aliases expand"):
        catalog.load_file(bomb)


def test_write_atomic_replaces_whole_with_the_mode_asked(tmp_path: Path) -> None:
    path = tmp_path / "new" / "record.json"
    bounded.write_atomic(path, "one\n")
    bounded.write_atomic(path, "two\n", mode=0o644, durable=False)
    assert path.read_text() == "two\n" and path.stat().st_mode & 0o777 == 0o644
    bounded.write_atomic(path, "three\n")
    assert path.stat().st_mode & 0o777 == 0o600 and [p.name for p in path.parent.iterdir()] == ["record.json"]
