"""Print the dashboard service's OpenAPI schema (JSON), for `npm run generate`.

The TypeScript client is generated from this, so the web tab always matches the service it is
built beside. The app is only constructed (its lifespan never runs): no emulator is started and
the data file, in a temporary directory, is never written.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import dump_protocol  # beside this script
from pydantic import SecretStr

from iot_dashboard import app
from iot_dashboard.settings import LocalSettings, Settings


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        local = LocalSettings(data_file=Path(tmp) / "devices.yaml", interface="none0")
        settings = Settings(local=local, token=SecretStr("openapi-dump-only-token"))
        schema = app.create_app(settings).openapi()
    return dump_protocol.write(schema)


if __name__ == "__main__":
    raise SystemExit(main())
