"""The live protocol's generated artefacts match its models: `docs/protocol.md` and the React tab's
`src/lib/live/protocol.gen.ts`. When one fails, regenerate (see docs/protocol.md's first lines)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from iot_dashboard import events, frames, protocol_doc
from iot_emulator.reporting import message_models

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "dashboard" / "web"
GENERATOR = WEB / "node_modules" / ".bin" / "openapi-typescript"


def test_docs_protocol_md_is_generated_from_the_models() -> None:
    expected = protocol_doc.render()
    assert (ROOT / "docs" / "protocol.md").read_text() == expected, (
        "docs/protocol.md is stale: .venv/bin/python -m iot_dashboard.protocol_doc docs/protocol.md"
    )


def test_the_tabs_protocol_types_are_generated_from_the_models(tmp_path: Path) -> None:
    if not GENERATOR.exists():
        pytest.fail("dashboard/web/node_modules is missing: run `make setup` (or `make web`)")
    schema, output = tmp_path / "protocol.openapi.json", tmp_path / "protocol.gen.ts"
    subprocess.run([sys.executable, str(WEB / "scripts" / "dump_protocol.py"), str(schema)], check=True)
    command = [str(GENERATOR), str(schema), "--default-non-nullable", "false", "-o", str(output)]
    subprocess.run(command, check=True, capture_output=True)
    assert (WEB / "src" / "lib" / "live" / "protocol.gen.ts").read_text() == output.read_text(), (
        "src/lib/live/protocol.gen.ts is stale: cd dashboard/web && npm run generate"
    )


def test_every_message_type_has_its_device_frame_and_a_section_in_the_docs() -> None:
    events = [frames.event_of(f) for f in frames.DEVICE_FRAMES]
    assert events == [f"device:{t}" for t in message_models.BY_TYPE]
    text = protocol_doc.render()
    for type_ in message_models.BY_TYPE:
        assert f"### `{type_}`" in text and f"| `device:{type_}` |" in text
    for frame in (*frames.SERVICE_FRAMES, *frames.CLIENT_FRAMES):
        assert f"| `{frames.event_of(frame)}` |" in text


def test_the_service_and_the_tab_agree_on_phases() -> None:
    """The cases the tab's store test walks too (`src/lib/live/phases.cases.json`); each is a valid message."""
    cases = json.loads((WEB / "src" / "lib" / "live" / "phases.cases.json").read_text())["cases"]
    live = events.LiveState()
    seen = []
    for message, _ in cases:
        message_models.parse(message)
        live.apply(message)
        seen.append(live.phase)
    assert seen == [phase for _, phase in cases]
