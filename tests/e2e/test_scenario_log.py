"""A scenario run from the tab: the Scenario tab takes a file, the device's log gets a `scenario` line per
behaviour's start and end, and Stop scenario removes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

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
