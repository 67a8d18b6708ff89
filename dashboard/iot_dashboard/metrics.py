"""Prometheus metrics of the service, read from the hub and the backend at scrape time (nothing stored)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import registry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from iot_dashboard import events
from iot_dashboard.backends import base


class Collector(registry.Collector):
    def __init__(self, hub: events.EventHub, backend: base.Backend) -> None:
        self.hub = hub
        self.backend = backend

    def collect(self) -> Iterator[Metric]:
        hub = self.hub
        yield GaugeMetricFamily("iotemu_dashboard_ws_clients", "Connected WebSocket clients.", value=hub.clients)
        yield CounterMetricFamily("iotemu_dashboard_events", "Device messages received.", value=hub.published)
        yield CounterMetricFamily(
            "iotemu_dashboard_events_dropped", "Messages dropped for slow WebSocket clients.", value=hub.dropped
        )
        phases = Counter(state.phase for state in hub.live_states())
        family = GaugeMetricFamily("iotemu_dashboard_devices", "Devices by last reported phase.", labels=["phase"])
        for phase in sorted(set(phases) | {"pending", "binding", "bound", "stopped", "error"}):
            family.add_metric([phase], phases.get(phase, 0))
        yield family
        auth = Counter(state.auth for state in hub.live_states() if state.auth)
        by_auth = GaugeMetricFamily(
            "iotemu_dashboard_devices_auth", "Devices by last reported 802.1X state (mab: no EAPOL).", labels=["state"]
        )
        for name in sorted(auth):
            by_auth.add_metric([name], auth[name])
        yield by_auth
        supervisor = getattr(self.backend, "supervisor", None)
        if supervisor is not None:
            yield GaugeMetricFamily(
                "iotemu_dashboard_emulator_processes", "Emulator processes running.", value=supervisor.processes
            )
            yield CounterMetricFamily(
                "iotemu_dashboard_emulator_restarts",
                "Emulator processes restarted after a crash.",
                value=supervisor.restarts,
            )


def make_registry(hub: events.EventHub, backend: base.Backend) -> registry.CollectorRegistry:
    reg = registry.CollectorRegistry(auto_describe=False)
    reg.register(Collector(hub, backend))
    return reg
