"""The traffic views and the list tools in a real browser: a fleet boot shows as DHCP bars in the timeline,
the protocol mix lists the protocols the members report, filters narrow the list (profile, fleet), the
export of the shown rows holds exactly those rows, and a fleet's capture downloads as a pcap."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests import poll
from tests.e2e.conftest import Dashboard, shot

pytestmark = pytest.mark.lab

FLEET = {
    "apiVersion": "iotemu.io/v1alpha1",
    "kind": "IoTFleet",
    "metadata": {"name": "cams"},
    "spec": {"replicas": 12, "template": {"profile": "dahua-ipc-hdw4431c-a"}, "running": True},
}
DEVICES = {
    "devices": [
        {"id": "hik_01", "vendor": "Hikvision"},
        {"id": "hik_02", "vendor": "Hikvision"},
        {"id": "plug_01", "vendor": "TP-Link"},
    ]
}


def seed(dashboard: Dashboard, body: object) -> None:
    with dashboard.api() as api:
        response = api.post("/api/import", content=json.dumps(body))
        assert response.status_code == 200, response.text


def download(page: Page, item: str, timeout: float = 15_000) -> Path:
    page.get_by_role("button", name="Export").click()
    with page.expect_download(timeout=timeout) as info:
        page.get_by_role("menuitem", name=item).click()
    path = info.value.path()
    assert path is not None
    return Path(path)


def test_a_fleet_boot_in_the_timeline_and_the_protocol_mix(page: Page, dashboard: Dashboard) -> None:
    page.get_by_role("tab", name="Traffic").click()
    storm = page.get_by_test_id("dhcp-storm")
    expect(storm).to_have_attribute("data-total", "0")
    seed(dashboard, FLEET)  # the page is open: its DHCP steps arrive live
    busy = storm.locator('.iot-storm__col:not([data-total="0"])')
    expect(busy.first).to_be_visible(timeout=30_000)
    expect(storm.locator('li[data-kind="ack"] strong')).to_have_text("12", timeout=30_000)
    assert int(storm.locator('li[data-kind="discover"] strong').inner_text()) >= 12
    assert storm.locator('.iot-storm__seg[data-kind="discover"]').count() >= 1  # a bar, drawn
    shot(page, "traffic-dhcp-timeline")

    mix = page.get_by_test_id("protocol-mix")
    row = mix.locator('tr[data-group="cams"]')
    expect(row).to_be_visible(timeout=30_000)  # after the members' first stats
    with dashboard.api() as api:
        stats: dict[str, Any] = {}
        poll.until(lambda: stats.update(api.get("/api/devices/cams-0000/stats").json()) or stats.get("stats"))
    seen = [name for name, count in stats["stats"]["protocols"].items() if count > 0]
    assert "dhcp" in seen
    for name in seen:
        expect(row.locator(f'li[data-protocol="{name}"]')).to_be_visible()
    mix.get_by_role("tab", name="By profile").click()
    expect(mix.locator('tr[data-group="dahua-ipc-hdw4431c-a"] li[data-protocol="dhcp"]')).to_be_visible()
    shot(page, "traffic-protocol-mix")

    page.get_by_role("tab", name="Fleets").click()
    fleet = page.locator('tr[data-fleet="cams"]')
    expect(fleet.get_by_test_id("fleet-bound")).to_have_text("12", timeout=30_000)
    with page.expect_download(timeout=30_000) as info:
        fleet.get_by_role("button", name="Capture").click()  # 10 s, the default
        expect(fleet.get_by_test_id("capture-running")).to_be_visible()
    assert info.value.suggested_filename.startswith("fleet-cams-") and info.value.suggested_filename.endswith(".pcap")
    pcap = Path(str(info.value.path())).read_bytes()
    assert struct.unpack("<I", pcap[:4])[0] == 0xA1B2C3D4 and len(pcap) > 24


def test_filters_narrow_the_list_and_the_export_holds_the_shown_rows(page: Page, dashboard: Dashboard) -> None:
    seed(dashboard, DEVICES)
    seed(dashboard, {**FLEET, "spec": {**FLEET["spec"], "replicas": 4, "running": False}})  # type: ignore[dict-item]
    page.reload()
    filters = page.get_by_role("search")
    expect(filters).to_contain_text("3 devices")
    profiles = filters.get_by_label("Profile").locator("option").all_inner_texts()
    hik = next(p for p in profiles if p.startswith("hikvision"))
    filters.get_by_label("Profile").select_option(hik)
    expect(filters).to_contain_text("2 of 3 devices")
    grid = page.get_by_role("grid", name="Devices")
    expect(grid.locator("[data-device]")).to_have_count(2)
    shown = sorted(grid.locator("[data-device]").evaluate_all("rows => rows.map(r => r.dataset.device)"))
    assert shown == ["hik-01", "hik-02"]

    rows = list(csv.DictReader(download(page, "Shown rows (CSV)").read_text().splitlines()))
    assert sorted(r["ID"] for r in rows) == shown
    columns = ["ID", "Name", "Vendor / model", "Class", "MAC", "IP", "Status", "Packets", "Pkt/s", "Last seen"]
    assert list(rows[0]) == columns
    assert all(r["Status"] == "Stopped" and r["Vendor / model"].startswith("Hikvision") for r in rows)
    as_json = json.loads(download(page, "Shown rows (JSON)").read_text())
    assert sorted(r["ID"] for r in as_json) == shown

    filters.get_by_label("Profile").select_option("")
    filters.get_by_label("Fleet").select_option("cams")
    expect(filters).to_contain_text("4 members")
    expect(grid.locator("[data-device]")).to_have_count(4)
    expect(grid.locator('[data-device="cams-0000"]').get_by_role("button")).to_have_count(0)  # read-only rows
    expect(grid.locator('[data-device="cams-0000"]').get_by_role("checkbox")).to_be_disabled()
    members = json.loads(download(page, "Shown rows (JSON)").read_text())
    assert [m["ID"] for m in members] == ["cams-0000", "cams-0001", "cams-0002", "cams-0003"]
    with dashboard.api() as api:
        macs = [m["mac"] for m in api.get("/api/fleets/cams/members").json()["items"]]
    assert [m["MAC"] for m in members] == macs
    shot(page, "filters-fleet-members")
