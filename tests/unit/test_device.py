"""A device's deadline is the earliest of its parts, including a service due "at once" (0.0)."""

from __future__ import annotations

import random

from iot_emulator.config import manifests
from iot_emulator.devices import device
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import wire


class DueAtOnce:
    name = "due"

    def __init__(self) -> None:
        self.fired: list[float] = []

    def start(self, now: float) -> None: ...
    def stop(self, now: float) -> None: ...

    def next_deadline(self) -> float | None:
        return None if self.fired else 0.0

    def on_timer(self, now: float) -> None:
        self.fired.append(now)


def test_a_service_due_at_time_zero_is_run(tiny_library: catalog.Library) -> None:
    text = "apiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {name: cam}\nspec: {profile: tiny-cam}\n"
    [config] = manifests.expand(manifests.parse_documents(text), tiny_library)
    dev = device.Device(config, emit=lambda kind, fields: None, rng=random.Random(1))
    service = DueAtOnce()
    dev.host.services = [service]
    assert dev.next_deadline() == 0.0
    dev.on_timer(100.0)
    assert service.fired == [100.0]


def test_a_phone_sends_lldp_and_cdp_at_link_up_before_dhcp_and_while_unbound() -> None:
    text = "apiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {name: phone}\nspec: {profile: cisco-cp-7841}\n"
    [config] = manifests.expand(manifests.parse_documents(text), catalog.builtin())
    assert "lldp" in config.protocols
    dev = device.Device(config, emit=lambda kind, fields: None, rng=random.Random(1))
    lldp, cdp, *rest = dev.start(0.0)
    assert wire.ethertype(lldp) == wire.ETH_P_LLDP and lldp[:6] == bytes.fromhex("0180c200000e")
    assert cdp[:6] == bytes.fromhex("01000ccccccc")
    assert [wire.ethertype(f) for f in rest] == [wire.ETH_P_IP]  # then the DHCPDISCOVER
    assert dev.next_deadline() == 1.0  # LLDP-MED fast start goes on without a lease
    assert [wire.ethertype(f) for f in dev.on_timer(1.0)] == [wire.ETH_P_LLDP]
    shutdown = [f for f in dev.stop(2.0) if wire.ethertype(f) == wire.ETH_P_LLDP]
    assert len(shutdown) == 1 and b"\x06\x02\x00\x00" in shutdown[0]  # TTL TLV 0
