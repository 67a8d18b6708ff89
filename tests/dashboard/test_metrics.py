"""The service's Prometheus families, read from the hub's live device states at scrape time."""

from __future__ import annotations

from prometheus_client import generate_latest, parser

from iot_dashboard import events, metrics
from iot_dashboard.backends import base


def _stats(device: str, **fields: object) -> dict[str, object]:
    return {"type": "stats", "device_id": device, "timestamp": "2026-01-01T00:00:00.000Z", "stats": fields}


def test_devices_are_counted_per_phase_and_per_802_1x_state() -> None:
    hub = events.EventHub()
    hub.publish(_stats("phone-1", state="bound", auth="authorized"))
    hub.publish(_stats("phone-2", state="binding", auth="failed"))
    hub.publish(_stats("plug-1", state="bound", auth="mab"))
    hub.publish(_stats("plug-2", state="bound", auth="mab"))
    hub.publish(_stats("old-emulator", state="bound"))  # no auth reported: not counted there
    backend: base.Backend = object()  # type: ignore[assignment]  # the collector reads only its supervisor
    text = generate_latest(metrics.make_registry(hub, backend)).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parser.text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("iotemu_dashboard_devices", (("phase", "bound"),))] == 4
    auth = {dict(k[1])["state"]: v for k, v in samples.items() if k[0] == "iotemu_dashboard_devices_auth"}
    assert auth == {"authorized": 1, "failed": 1, "mab": 2}
