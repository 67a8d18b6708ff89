"""`profiles.derived.PerObject`: a value derived once per profile object, shared by the object's devices."""

from __future__ import annotations

from iot_emulator.profiles import catalog, derived


def test_a_value_is_derived_once_per_object_and_equal_objects_get_their_own() -> None:
    calls: list[catalog.TcpSyn] = []

    @derived.PerObject
    def doubled_mss(shape: catalog.TcpSyn) -> int:
        calls.append(shape)
        return shape.mss * 2

    first, twin = catalog.TcpSyn(), catalog.TcpSyn()  # equal, not the same object (nor hashable)
    assert doubled_mss(first) == doubled_mss(first) == 2920 and calls == [first]
    assert doubled_mss(twin) == 2920 and len(calls) == 2 and calls[1] is twin
