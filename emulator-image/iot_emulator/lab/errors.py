"""The lab's two errors: one for bad input (the CLI exits 2), one for everything that fails at run time (exit 1).

They live apart from the rest so that every lab module can raise them without import cycles.
"""

from __future__ import annotations


class LabError(RuntimeError):
    """Building, querying or removing a lab failed; the message says why (with the server's log tail)."""


class LabConfigError(LabError, ValueError):
    """The request itself is wrong (name clash, invalid subnet, lease time a server cannot do, not root)."""
