"""Values derived once from a profile's parts and shared by every device of the profile.

A profile is immutable and shared by its devices, so what a device builds from it (a listening port's
responder, an SNMP MIB, a certificate's key, the SYN shape over IPv6) is built once per profile object
rather than once per device. Pydantic models are not hashable, so the sources are told apart by
identity; an entry keeps its source alive, so an id cannot be reused while it is cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

_S = TypeVar("_S")
_V = TypeVar("_V")


class PerObject(Generic[_S, _V]):
    """`derive(source)`, called once per source object; later calls with the same object get the same value."""

    __slots__ = ("_derive", "_entries")

    def __init__(self, derive: Callable[[_S], _V]) -> None:
        self._derive = derive
        self._entries: dict[int, tuple[_S, _V]] = {}

    def __call__(self, source: _S) -> _V:
        entry = self._entries.get(id(source))
        if entry is None:
            entry = self._entries[id(source)] = (source, self._derive(source))
        return entry[1]
