"""Import and export through the browser: a file with one bad entry is refused whole by the dry run (the error
shown against that entry, nothing created); the corrected file is imported; every export format
is downloaded and read back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Dashboard, shot

pytestmark = pytest.mark.lab

GOOD = [
    {"id": "camera_01", "name": "Lobby camera", "vendor": "Hikvision", "mac": "44:19:b6:00:00:01"},
    {"id": "plug_02", "name": "Desk plug", "vendor": "TP-Link"},
    {"id": "hub_03", "vendor": "Philips", "dhcp_mode": "static", "static_ip": "10.77.0.50"},
]
BAD = {"id": "printer_04", "vendor": "HP", "mac": "not-a-mac"}


def choose_file(page: Page, path: Path, entries: int) -> None:
    page.get_by_role("toolbar", name="Device actions").get_by_role("button", name="Import").click()
    dialog = page.get_by_role("dialog", name="Import devices")
    dialog.locator('input[type="file"]').set_input_files(path)
    expect(dialog.get_by_role("region", name="Entries to import").locator("tbody tr")).to_have_count(entries)


def import_file(page: Page, path: Path, entries: int) -> None:
    choose_file(page, path, entries)
    dialog = page.get_by_role("dialog", name="Import devices")
    # the service's dry run has accepted the file before the import is offered
    expect(dialog.get_by_test_id("import-check")).to_contain_text("The service accepts this file")
    dialog.get_by_role("button", name=f"Import {entries} entries").click()


def download(page: Page, item: str) -> Path:
    page.get_by_role("button", name="Export").click()
    with page.expect_download() as info:
        page.get_by_role("menuitem", name=item).click()
    path = info.value.path()
    assert path is not None
    return Path(path)


def test_import_all_or_nothing_then_export_round_trip(page: Page, dashboard: Dashboard, tmp_path: Path) -> None:
    bad_file = tmp_path / "iot_devices.json"
    bad_file.write_text(json.dumps({"devices": [*GOOD, BAD]}))
    choose_file(page, bad_file, 4)
    dialog = page.get_by_role("dialog", name="Import devices")
    # the dry run refuses it as soon as it is read: the import is not even offered
    expect(dialog.get_by_test_id("import-errors")).to_contain_text("Nothing can be imported")
    expect(dialog.get_by_role("button", name="Import 4 entries")).to_be_disabled()
    bad_row = dialog.locator('tr[data-entry="4"]')
    expect(bad_row).to_have_class("is-invalid")
    expect(bad_row).to_contain_text("mac: 'not-a-mac' is not a MAC address")
    expect(dialog.locator("tr.is-invalid")).to_have_count(1)
    shot(page, "import-refused")
    with dashboard.api() as api:
        assert api.get("/api/devices").json() == []  # all or nothing
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(page.get_by_text("No devices yet")).to_be_visible()

    good_file = tmp_path / "iot_devices_fixed.json"
    good_file.write_text(json.dumps({"devices": GOOD}))
    import_file(page, good_file, 3)  # its dry run said "it would create 3" (the vitest checks the wording)
    expect(page.get_by_role("dialog")).to_be_hidden()
    grid = page.get_by_role("grid", name="Devices")
    for name in ("camera-01", "plug-02", "hub-03"):
        expect(grid.locator(f'[data-device="{name}"]')).to_be_visible()
    expect(grid.locator('[data-device="camera-01"]')).to_contain_text("Lobby camera")
    shot(page, "imported")

    manifests = json.loads(download(page, "Manifests (JSON)").read_text())
    assert manifests["kind"] == "List"
    by_name = {item["metadata"]["name"]: item for item in manifests["items"]}
    assert set(by_name) == {"camera-01", "plug-02", "hub-03"}
    assert by_name["camera-01"]["spec"]["mac"] == "44:19:b6:00:00:01"
    assert by_name["hub-03"]["spec"]["dhcp"] == {"mode": "static", "address": "10.77.0.50"}

    documents = list(yaml.safe_load_all(download(page, "Manifests (YAML)").read_text()))
    assert {d["metadata"]["name"] for d in documents} == set(by_name)
    assert all(d["kind"] == "IoTDevice" and d["apiVersion"] == "iotemu.io/v1alpha1" for d in documents)

    brief = json.loads(download(page, "iot_devices.json (brief format)").read_text())
    assert [d["id"] for d in brief["devices"]] == [d["id"] for d in GOOD]

    rows = list(csv.DictReader(download(page, "Statistics (CSV)").read_text().splitlines()))
    assert {r["device_id"] for r in rows} == set(by_name)
    assert {r["phase"] for r in rows} == {"stopped"}

    # The exported YAML imports again unchanged (merge: the three are updated, none created).
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump_all(documents))
    import_file(page, again, 3)
    expect(page.get_by_test_id("notice").last).to_contain_text("3 updated")
