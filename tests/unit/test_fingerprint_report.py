"""Regenerating docs/profiles.md keeps the sections written by hand, where they were."""

from __future__ import annotations

from pathlib import Path

from tests.lab import fingerprint_report

DOC = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"


def _headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("## ")]


def test_hand_written_sections_stay_after_the_section_they_followed() -> None:
    generated = "# T\n\n## A\ngen a\n## B\ngen b\n"
    previous = "# T\nold intro\n## A\nold a\n## Mine\nprose\n## B\nold b\n## Tail\nmore\n"
    out = fingerprint_report.keep_written_by_hand(generated, previous)
    assert out == "# T\n\n## A\ngen a\n## Mine\nprose\n## B\ngen b\n## Tail\nmore\n"


def test_the_shipped_document_loses_no_section_when_regenerated() -> None:
    previous = DOC.read_text()
    out = fingerprint_report.keep_written_by_hand(fingerprint_report.render({}), previous)
    assert _headings(out) == _headings(previous)
    assert "## Profiles learned from a capture" in out and "iotemu profiles learn" in out
