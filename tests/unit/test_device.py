"""A device's deadline is the earliest of its parts, including a service due "at once" (0.0)."""

from __future__ import annotations

import random

from iot_emulator import device, manifests, profile


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


def test_a_service_due_at_time_zero_is_run(tiny_library: profile.Library) -> None:
    text = "apiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {name: cam}\nspec: {profile: tiny-cam}\n"
    [config] = manifests.expand(manifests.parse_documents(text), tiny_library)
    dev = device.Device(config, emit=lambda kind, fields: None, rng=random.Random(1))
    service = DueAtOnce()
    dev.host.services = [service]
    assert dev.next_deadline() == 0.0
    dev.on_timer(100.0)
    assert service.fired == [100.0]
