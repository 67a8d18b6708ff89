"""Print the live protocol's JSON Schema as an OpenAPI document (JSON), for `npm run generate`.

The models are `iot_emulator.message_models` (what the emulator prints) and `iot_dashboard.frames`
(what `/ws` and `/socket.io` carry). `openapi-typescript` turns this into
`src/lib/live/protocol.gen.ts`, checked in; `tests/dashboard/test_protocol_contract.py` fails when
it is stale. The unions are named schemas (`EmulatorMessage`, `ServerFrame`, `ClientFrame`) with
their discriminator, so TypeScript narrows on `type` and `event` as Python does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from iot_dashboard import frames
from iot_emulator import message_models

REF = "#/components/schemas/{model}"


def _union(members: tuple[type[BaseModel], ...], key: str, values: list[str]) -> dict[str, Any]:
    refs = [REF.format(model=m.__name__) for m in members]
    return {"oneOf": [{"$ref": r} for r in refs], "discriminator": {"propertyName": key, "mapping": dict(zip(values, refs, strict=True))}}


def document() -> dict[str, Any]:
    """The OpenAPI document: no paths, every message and frame under `components.schemas`."""
    everything = (*message_models.MODELS, *frames.DEVICE_FRAMES, *frames.SERVICE_FRAMES, *frames.CLIENT_FRAMES)
    _, schema = models_json_schema([(m, "validation") for m in everything], ref_template=REF)
    schemas = schema["$defs"]
    schemas["EmulatorMessage"] = _union(message_models.MODELS, "type", [message_models.type_of(m) for m in message_models.MODELS])
    for name, members in (("ServerFrame", (*frames.DEVICE_FRAMES, *frames.SERVICE_FRAMES)), ("ClientFrame", frames.CLIENT_FRAMES)):
        schemas[name] = _union(members, "event", [frames.event_of(m) for m in members])
    info = {"title": "IoT fleet emulator live protocol", "version": str(message_models.VERSION)}
    return {"openapi": "3.1.0", "info": info, "paths": {}, "components": {"schemas": schemas}}


def main() -> int:
    text = json.dumps(document(), indent=1, sort_keys=True) + "\n"
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
