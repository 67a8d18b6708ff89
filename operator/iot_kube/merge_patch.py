"""JSON merge patches (RFC 7386): the one kind of patch custom resources take.

The operator patches statuses, the dashboard specs, and the tests' API stand-in its stored objects,
all with the patch computed here from the object before and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that turns `old` into `new`: changed keys, nested maps as their own patch,
    and null for keys that are gone (so {} when nothing changed)."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            if nested := diff(before, value):
                patch[key] = nested
        elif value != before:  # a key absent and a key null are the same to a merge patch
            patch[key] = value
    return patch
