"""Write a generated JSON document where `npm run generate` asks for it: the file named by the
first argument, else stdout.

Shared by `dump_openapi.py` and `dump_protocol.py` so both documents have one stable form (sorted
keys, one-space indent, final newline): regenerating from unchanged models gives the same bytes,
and the staleness tests compare outputs, not formatting.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def write(document: Mapping[str, Any], argv: Sequence[str] | None = None) -> int:
    """Write `document` to `argv[0]` (default: the command line's first argument) or stdout; 0."""
    args = sys.argv[1:] if argv is None else argv
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    if args:
        Path(args[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0
