"""What each part of a device costs: a walk of the engine's object graph, bytes per device.

`sys.getsizeof` of every object reachable from a part's roots, each object counted once for the
whole fleet (the first part to reach it owns it), so what devices share (the profile, the engine,
the frames of one server's leases) costs a few bytes per device and what each device owns is
counted in full. Types, modules and functions are shared code and not counted. The walk
allocates (its `seen` set): run it after the RSS measurements.
"""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Iterable

from iot_emulator.devices import device as device_mod
from iot_emulator.engine import engine

_CODE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType)
PARTS = (
    "configuration (DeviceConfig, without the profile)",
    "DHCP client (state, lease)",
    "IP host (addresses, ARP table and queues)",
    "TCP stack (listeners, connections)",
    "services (resolver, listeners, SNMP, ...)",
    "device, counters, emit",
    "engine's indexes (by MAC/IP, timer heap, multicast)",
)


def _roots(d: device_mod.Device) -> list[list[object]]:
    host = d.host
    return [
        [d.config],
        [d.dhcp],
        [host],
        [host.tcp] if host.tcp is not None else [],
        [host.services, host.resolver, d.link_services],
        [d, d.counters, d.emit],
    ]


def _engine_roots(eng: engine.Engine) -> list[object]:
    router = eng.segments.untagged
    directory = router.multicast
    return [
        eng.devices,
        router.by_mac,
        router.by_ip,
        router.ip_of,
        eng.admission.pending,
        eng.admission.in_flight,
        router.candidates,
        router.candidate_of,
        eng.scheduler.heap,
        eng.scheduler.scheduled,
        eng.stats.last_sent,
        *vars(directory).values(),
    ]


def per_device(eng: engine.Engine) -> list[tuple[str, float]]:
    """(part, bytes per device) for PARTS, in that order."""
    n = max(len(eng.devices), 1)
    shared = [eng, eng.link, eng._rng, eng.events, eng._loop, *(d.config.profile for d in eng.devices[:1])]
    seen: set[int] = {id(o) for o in shared}
    roots_by_part = [_roots(d) for d in eng.devices]
    every_root = {id(r) for parts in roots_by_part for part in parts for r in part}
    every_root |= {id(d) for d in eng.devices}
    profiles = {id(d.config.profile) for d in eng.devices}
    seen |= profiles
    totals = [0] * len(PARTS)
    for parts in roots_by_part:
        for index, part in enumerate(parts):
            totals[index] += _walk(part, seen, every_root)
    totals[-1] += _walk(_engine_roots(eng), seen, every_root)
    return [(name, total / n) for name, total in zip(PARTS, totals, strict=True)]


def _walk(roots: Iterable[object], seen: set[int], stop: set[int]) -> int:
    """Bytes of everything reachable from `roots` not yet seen, not crossing into another part's root."""
    todo = list(roots)
    own = {id(r) for r in todo}
    total = 0
    while todo:
        obj = todo.pop()
        key = id(obj)
        if key in seen or (key in stop and key not in own) or isinstance(obj, _CODE):
            continue
        seen.add(key)
        total += sys.getsizeof(obj)
        todo.extend(gc.get_referents(obj))
    return total
