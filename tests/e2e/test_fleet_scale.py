"""Play All / Stop All on 50 devices, the grid's keyboard use at that size, the fleet view's scale
control, and the connection banner when the service goes away."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests import poll
from tests.e2e.conftest import Dashboard, shot

pytestmark = pytest.mark.lab


def seed(dashboard: Dashboard, body: object) -> None:
    with dashboard.api() as api:
        response = api.post("/api/import", content=json.dumps(body))
        assert response.status_code == 200, response.text


def test_play_all_and_stop_all_on_50_devices(page: Page, dashboard: Dashboard) -> None:
    vendors = ["Hikvision", "Axis", "TP-Link", "Sonoff", "Philips"]
    seed(dashboard, {"devices": [{"id": f"dev_{i:02d}", "vendor": vendors[i % 5]} for i in range(50)]})
    page.reload()
    filters = page.get_by_role("search")
    expect(filters).to_contain_text("50 devices")

    page.get_by_role("button", name="Play All").click()
    expect(page.get_by_test_id("notice").first).to_contain_text("Started 50 devices")
    filters.get_by_label("Status").select_option("bound")
    expect(filters).to_contain_text("50 of 50 devices", timeout=30_000)
    expect(page.get_by_test_id("live-counts")).to_contain_text("50 bound")
    assert len(dashboard.lab.leases()) == 50
    filters.get_by_label("Status").select_option("")
    shot(page, "fifty-bound")

    grid = page.get_by_role("grid", name="Devices")
    grid.locator('[role="row"][data-index="0"]').focus()
    page.keyboard.press("End")  # the virtualised grid scrolls the last row in and focuses it
    expect(grid.locator('[role="row"][data-index="49"]')).to_be_focused()
    page.keyboard.press("Space")
    expect(page.get_by_role("toolbar", name="Selected devices")).to_contain_text("1 selected")
    page.keyboard.press("Home")
    expect(grid.locator('[role="row"][data-index="0"]')).to_be_focused()

    page.get_by_role("button", name="Stop All").click()
    filters.get_by_label("Status").select_option("stopped")
    expect(filters).to_contain_text("50 of 50 devices", timeout=30_000)
    poll.until(lambda: not dashboard.lab.leases(), what="every lease released")
    shot(page, "fifty-stopped")


def test_fleet_view_scales_a_fleet(page: Page, dashboard: Dashboard) -> None:
    fleet = {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTFleet",
        "metadata": {"name": "cams"},
        "spec": {"replicas": 10, "template": {"profile": "dahua-ipc-hdw4431c-a"}, "running": True},
    }
    seed(dashboard, fleet)
    page.get_by_role("tab", name="Fleets").click()
    row = page.locator('tr[data-fleet="cams"]')
    expect(row.get_by_test_id("fleet-desired")).to_have_text("10")
    expect(row.get_by_test_id("fleet-bound")).to_have_text("10", timeout=30_000)
    row.get_by_label("Replicas of cams").fill("25")
    row.get_by_role("button", name="Scale").click()
    expect(row.get_by_test_id("fleet-desired")).to_have_text("25")
    expect(row.get_by_test_id("fleet-bound")).to_have_text("25", timeout=30_000)
    shot(page, "fleets")
    poll.until(lambda: len(dashboard.lab.leases()) == 25, what="25 leases")


def test_connection_banner_when_the_service_goes_away(page: Page, dashboard: Dashboard, tmp_path: Path) -> None:
    dashboard.process.terminate()
    dashboard.process.wait(timeout=20)
    banner = page.get_by_test_id("connection-banner")
    expect(banner).to_contain_text("Live updates are disconnected")
    expect(banner).to_contain_text("Reconnecting in")
    expect(page.get_by_test_id("connection-state")).to_have_text("Reconnecting")
    shot(page, "connection-lost")
