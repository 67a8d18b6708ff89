"""The registry of application protocols a device can run, by the names manifests use.

A protocol module registers a factory with `@services.register("ntp")`; the device builds its
services from the protocols of its spec when it gets an address. Names without a factory are
reported once per device as not yet supported (`unsupported`).
"""

from __future__ import annotations

import dataclasses
import importlib
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iot_emulator.config import manifests
    from iot_emulator.devices import host

LINK_LAYER = frozenset({"arp", "dhcp", "icmp", "ipv6"})  # built into the device (ipv6: when listed)
MODULES = (
    "clients.dns",
    "clients.ntp",
    "clients.http",
    "clients.tls",
    "clients.rtsp",
    "clients.mqtt",
    "clients.coap",
    "discovery.mdns",
    "discovery.ssdp",
    "discovery.lldp",
    "discovery.cdp",
    "servers.listeners",
    "servers.udp_listeners",
    "servers.snmp_agent",
)
"""Modules under iot_emulator.protocols that register services (imported on first use)."""
LINK = ("lldp", "cdp")
"""Services that need no address: a phone sends LLDP and CDP from link-up, before its DHCP exchange
(TIA-1057 fast start), and keeps sending while it has no lease. The manifest's "lldp" turns both on
(the CRD's protocol list has no "cdp": for a device it is one switch, link-neighbour discovery)."""
ALWAYS = ("resolver", "listeners", "udp_listeners", "snmp")
"""Built first for every device, whatever its protocols: the DNS resolver (protocols.dns) the others use,
and what the device answers when probed (its listening ports, its SNMP agent), as its real model does."""


Log = Callable[[str, str], None]
"""(level, message): a `log` message of the device (levels debug, info, warning, error)."""


def _quiet(level: str, message: str) -> None:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """What a service factory gets: the device's configuration, its IP endpoint, its randomness,
    and a way to say what went wrong (a server that does not answer, a name that does not resolve)."""

    config: manifests.DeviceConfig
    host: host.IpHost
    rng: random.Random
    log: Log = _quiet
    done: Callable[[], None] = lambda: None
    """Called by a service that ends by itself (a scan, a brute force, an upload) once it has done all it
    was asked: the scenario driver ends the step then, with no timer watching `finished`."""


Factory = Callable[[Context], "host.Service | None"]
_REGISTRY: dict[str, Factory] = {}
_loaded = False


def register(*names: str) -> Callable[[Factory], Factory]:
    def decorate(factory: Factory) -> Factory:
        for name in names:
            _REGISTRY[name] = factory
        return factory

    return decorate


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in MODULES:
        try:
            importlib.import_module(f"iot_emulator.protocols.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"iot_emulator.protocols.{module}":
                raise


def supported() -> frozenset[str]:
    """Protocol names a manifest may list ("snmp" too: it runs anyway when the profile has an agent)."""
    _load()
    return (LINK_LAYER | frozenset(_REGISTRY)) - {"resolver", "listeners", "udp_listeners", "cdp"}


def unsupported(protocols: tuple[str, ...]) -> tuple[str, ...]:
    """The names of `protocols` no service implements: the engine logs them once per device."""
    known = supported()
    return tuple(p for p in protocols if p not in known)


def build_link(context: Context, protocols: tuple[str, ...]) -> list[host.Service]:
    """The link-layer services a device runs from link-up, before DHCP, kept across leases: for "lldp",
    LLDP and, when the profile has a `cdp` section (Cisco phones send both), CDP."""
    _load()
    if "lldp" not in protocols:
        return []
    out = []
    for name in LINK:
        factory = _REGISTRY.get(name)
        service = factory(context) if factory is not None else None
        if service is not None:
            out.append(service)
    return out


def build(context: Context, protocols: tuple[str, ...]) -> list[host.Service]:
    """One service per protocol of the device that has a factory (and that the profile allows)."""
    _load()
    out = []
    built: set[int] = set()
    for name in (*ALWAYS, *protocols):
        if name in LINK:
            continue
        factory = _REGISTRY.get(name)
        if factory is None or id(factory) in built:
            continue  # one factory may serve several names (https, cloud)
        built.add(id(factory))
        service = factory(context)
        if service is not None:
            out.append(service)
    return out
