"""A scenario set over REST shows in the tab: the device's log gets a `scenario` line per behaviour start and end."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Dashboard, shot
from tests.e2e.test_device_lifecycle import row

pytestmark = pytest.mark.lab

SCENARIO = {"name": "unplug", "steps": [{"at": 1, "behaviour": {"kind": "power_cycle", "down": 1}}]}


def test_the_device_log_shows_the_scenario_lines(page: Page, dashboard: Dashboard) -> None:
    with dashboard.api() as api:
        body = {"name": "hall-cam", "spec": {"profile": "hikvision-ds-2cd2042fwd", "protocols": ["arp", "dhcp"]}}
        assert api.post("/api/devices", json=body).status_code == 201
        cam = row(page, "hall-cam")
        expect(cam.locator('[data-col="status"]')).to_have_text("Bound", timeout=20_000)
        assert api.put("/api/devices/hall-cam/scenario", json=SCENARIO).status_code == 200
    cam.click()
    panel = page.get_by_test_id("device-detail")
    panel.get_by_role("tab", name="Log").click()
    log = panel.get_by_role("list", name="Device log")
    expect(log).to_contain_text("[scenario unplug] power_cycle: started (step 1): power off for 1 s", timeout=20_000)
    expect(log).to_contain_text("[scenario unplug] power_cycle: ended (step 1): powered on", timeout=10_000)
    ended = log.get_by_role("listitem").filter(has_text="power_cycle: ended")
    expect(ended).to_have_count(1)  # the typed message, not also its echo in the log
    expect(ended.locator(".iot-chip--scenario")).to_have_text("scenario")
    shot(page, "device-detail-scenario-log")
