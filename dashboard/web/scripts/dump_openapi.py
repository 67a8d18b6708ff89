"""Print the dashboard service's OpenAPI schema (JSON), for `npm run generate`.

The TypeScript client is generated from this, so the web tab always matches the service it is
built beside. The app is only constructed (its lifespan never runs): no emulator is started and
the data file, in a temporary directory, is never written.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from pydantic import SecretStr

from iot_dashboard import app
from iot_dashboard.settings import LocalSettings, Settings


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        local = LocalSettings(data_file=Path(tmp) / "devices.yaml", interface="none0")
        settings = Settings(local=local, token=SecretStr("openapi-dump-only-token"))
        schema = app.create_app(settings).openapi()
    text = json.dumps(schema, indent=1, sort_keys=True) + "\n"
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
