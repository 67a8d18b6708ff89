"""Two open tabs stay consistent without reloads: what one (or a program) creates, scales or deletes,
the other shows, through the `resource:changed` events of `/ws`."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import Dashboard, shot

pytestmark = pytest.mark.lab


def test_the_other_tab_follows_creations_scaling_and_deletions(
    page: Page, context: BrowserContext, dashboard: Dashboard
) -> None:
    other = context.new_page()
    other.goto(dashboard.page_url)
    expect(other.get_by_test_id("connection-state")).to_have_attribute("data-state", "open")
    filters = other.get_by_role("search")
    expect(filters).to_contain_text("0 devices")
    with dashboard.api() as api:
        brief = {"devices": [{"id": "camera_01", "vendor": "Hikvision"}, {"id": "plug_01", "vendor": "Sonoff"}]}
        assert api.post("/api/import", content=json.dumps(brief)).status_code == 200
        expect(filters).to_contain_text("2 devices")  # created elsewhere, never started: no device event
        expect(other.get_by_role("grid", name="Devices")).to_contain_text("camera-01")
        assert api.delete("/api/devices/plug-01").status_code == 204
        expect(filters).to_contain_text("1 device")
        expect(other.get_by_role("grid", name="Devices")).not_to_contain_text("plug-01")
        fleet = {"name": "cams", "spec": {"replicas": 3, "running": False, "template": {"profile": "sonoff-mini"}}}
        assert api.post("/api/fleets", json=fleet).status_code == 201
    other.get_by_role("tab", name="Fleets").click()
    row = other.locator('tr[data-fleet="cams"]')
    expect(row.get_by_test_id("fleet-desired")).to_have_text("3")
    # the first tab scales it; the other shows the new size at once (its poll is every 3 s, the wait 1.5 s)
    page.get_by_role("tab", name="Fleets").click()
    mine = page.locator('tr[data-fleet="cams"]')
    mine.get_by_label("Replicas of cams").fill("7")
    mine.get_by_role("button", name="Scale").click()
    expect(row.get_by_test_id("fleet-desired")).to_have_text("7", timeout=1_500)
    shot(other, "two-tabs")
