"""A scenario run from the tab: the Scenario tab takes a file, the device's log gets a `scenario` line per
behaviour's start and end, and Stop scenario removes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests import poll
from tests.e2e.conftest import Dashboard, shot
from tests.e2e.test_device_lifecycle import row

pytestmark = pytest.mark.lab

SCENARIO = "name: unplug\nsteps:\n  - {at: 1, behaviour: {kind: power_cycle, down: 1}}\n"


def test_a_scenario_run_from_the_tab_shows_in_the_device_log(page: Page, dashboard: Dashboard, tmp_path: Path) -> None:
    with dashboard.api() as api:
        body = {"name": "hall-cam", "spec": {"profile": "hikvision-ds-2cd2042fwd", "protocols": ["arp", "dhcp"]}}
        assert api.post("/api/devices", json=body).status_code == 201
    cam = row(page, "hall-cam")
    expect(cam.locator('[data-col="status"]')).to_have_text("Bound", timeout=20_000)
    cam.click()
    panel = page.get_by_test_id("device-detail")
    panel.get_by_role("tab", name="Scenario").click()
    expect(panel).to_contain_text("No scenario")
    scenario = tmp_path / "unplug.yaml"
    scenario.write_text(SCENARIO)
    panel.get_by_label("Run a scenario file…").set_input_files(scenario)
    expect(panel.get_by_role("region", name="Attached scenario")).to_contain_text("power_cycle at 1 s (all)")
    shot(page, "device-detail-scenario")

    panel.get_by_role("tab", name="Log").click()
    log = panel.get_by_role("list", name="Device log")
    expect(log).to_contain_text("[scenario unplug] power_cycle: started (step 1): power off for 1 s", timeout=20_000)
    expect(log).to_contain_text("[scenario unplug] power_cycle: ended (step 1): powered on", timeout=10_000)
    ended = log.get_by_role("listitem").filter(has_text="power_cycle: ended")
    expect(ended).to_have_count(1)  # the typed message, not also its echo in the log
    expect(ended.locator(".iot-chip--scenario")).to_have_text("scenario")
    shot(page, "device-detail-scenario-log")

    panel.get_by_role("tab", name="Scenario").click()
    panel.get_by_role("button", name="Stop scenario").click()
    expect(panel).to_contain_text("No scenario")
    with dashboard.api() as api:
        assert api.get("/api/devices/hall-cam").json()["spec"].get("scenario") is None


def test_a_fleet_scenario_run_from_the_fleets_view(page: Page, dashboard: Dashboard, tmp_path: Path) -> None:
    """The Fleets view runs a file on a fleet: the chosen member (count 1, by the seed) power-cycles,
    its marks reach the service's logs, and Stop scenario removes it from the fleet."""
    fleet = {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTFleet",
        "metadata": {"name": "cams"},
        "spec": {
            "replicas": 3,
            "template": {"profile": "dahua-ipc-hdw4431c-a", "protocols": ["arp", "dhcp"]},
            "running": True,
        },
    }
    with dashboard.api() as api:
        assert api.post("/api/import", content=json.dumps(fleet)).status_code == 200
    page.get_by_role("tab", name="Fleets").click()
    cams = page.locator('tr[data-fleet="cams"]')
    expect(cams.get_by_test_id("fleet-bound")).to_have_text("3", timeout=30_000)
    scenario = tmp_path / "one-unplugged.yaml"
    step = "{at: 1, target: {count: 1}, behaviour: {kind: power_cycle, down: 1}}"
    scenario.write_text(f"name: one-unplugged\nseed: 7\nsteps:\n  - {step}\n")
    cams.get_by_label("Run scenario… (cams)").set_input_files(scenario)
    expect(page.get_by_test_id("notice").first).to_contain_text("Scenario one-unplugged set on cams")
    expect(cams.locator(".iot-chip--scenario")).to_have_text("one-unplugged")
    shot(page, "fleet-scenario")

    def marks() -> list[dict[str, object]]:
        with dashboard.api() as api:
            return [m for m in api.get("/api/logs").json() if m.get("type") == "scenario"]

    poll.until(lambda: any(m["state"] == "ended" for m in marks()), 40, "the power cycle's end")
    assert len({m["device_id"] for m in marks()}) == 1  # count 1: one member only

    cams.get_by_role("button", name="Stop scenario one-unplugged on cams").click()
    expect(cams.locator(".iot-chip--scenario")).to_have_count(0)
    with dashboard.api() as api:
        assert api.get("/api/fleets/cams").json()["spec"].get("scenario") is None
