"""A device's life in the browser: added from a profile, started, bound by the lab's DHCP server
(its IP in the grid, its charts moving, its DHCP timeline), stopped (released)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests import poll
from tests.e2e.conftest import Dashboard, shot

pytestmark = pytest.mark.lab

IP = re.compile(r"^10\.77\.\d+\.\d+$")
NONE = "\N{EN DASH}"  # what an empty cell shows


def row(page: Page, device_id: str) -> Locator:
    return page.locator(f'[role="row"][data-device="{device_id}"]')


def add_device(page: Page, device_id: str, profile: str) -> None:
    page.get_by_role("toolbar", name="Device actions").get_by_role("button", name="Add Device").click()
    dialog = page.get_by_role("dialog", name="Add device")
    dialog.get_by_label("Device ID").fill(device_id)
    dialog.get_by_label("Profile", exact=True).select_option(profile)
    expect(dialog.get_by_role("region", name=f"Profile {profile}")).to_contain_text("Option 55")
    dialog.get_by_role("checkbox", name="Start it now").uncheck()
    shot(page, "device-form")
    dialog.get_by_role("button", name="Add device").click()
    expect(dialog).to_be_hidden()


def test_add_start_bind_chart_timeline_stop(page: Page, dashboard: Dashboard) -> None:
    add_device(page, "lobby-cam", "hikvision-ds-2cd2042fwd")
    cam = row(page, "lobby-cam")
    expect(cam.locator('[data-col="status"]')).to_have_text("Stopped")
    expect(cam).to_contain_text("Hikvision")
    expect(cam.locator('[data-col="mac"]')).to_have_text(re.compile(r"^44:19:b6:"))

    cam.get_by_role("button", name="Start lobby-cam").click()
    expect(cam.locator('[data-col="status"]')).to_have_text("Bound", timeout=20_000)
    ip = cam.locator('[data-col="ip"]')
    expect(ip).to_have_text(IP)
    address = ip.inner_text()
    mac = cam.locator('[data-col="mac"]').inner_text()
    assert dashboard.lab.leases()[mac][0] == address  # the server's own lease file agrees

    cam.click()
    panel = page.get_by_test_id("device-detail")
    expect(panel.get_by_test_id("detail-ip")).to_have_text(address)
    expect(panel).to_contain_text("Renew (T1)")
    expect(panel).to_contain_text(str(dashboard.lab.gateway_ip))
    packets = panel.get_by_role("figure").first
    expect(packets).to_have_attribute("data-points", re.compile(r"^([3-9]|\d\d+)$"), timeout=20_000)
    points = int(packets.get_attribute("data-points") or 0)
    expect(packets).not_to_have_attribute("data-points", str(points), timeout=10_000)  # the chart moves
    expect(panel.locator(".recharts-area-curve").first).to_be_visible()
    shot(page, "device-detail-traffic")

    panel.get_by_role("tab", name="DHCP").click()
    timeline = panel.get_by_role("list", name="DHCP timeline")
    for step in ("DISCOVER", "OFFER", "REQUEST", "ACK"):
        expect(timeline).to_contain_text(step)
    ack = timeline.locator('[data-type="dhcp_ack"]').first
    expect(ack).to_contain_text(f"assigns {address}")
    expect(ack).to_contain_text(f"server {dashboard.lab.gateway_ip}")
    shot(page, "device-detail-dhcp")

    panel.get_by_role("tab", name="Log").click()
    expect(panel.get_by_role("list", name="Device log")).to_contain_text("DHCP")
    shot(page, "device-detail-log")

    panel.get_by_role("button", name="Stop").click()
    expect(cam.locator('[data-col="status"]')).to_have_text("Stopped", timeout=15_000)
    expect(cam.locator('[data-col="ip"]')).to_have_text(NONE)
    panel.get_by_role("tab", name="DHCP").click()
    expect(timeline.locator('[data-type="dhcp_release"]')).to_have_count(1)
    poll.until(lambda: mac not in dashboard.lab.leases(), what="DHCPRELEASE reached the server")
    shot(page, "device-stopped")
