"""VLAN, IPv6 and 802.1X in the browser: a phone added through the form with VLAN 20, IPv6 and its
802.1X supplicant on, run by the real emulator in the lab; the grid and the panel show what it does.

The lab has no authenticator and nothing on VLAN 20: the phone's EAPOL-Starts go unanswered (its
supplicant stays Connecting for maxStart x startPeriod, 90 s) while IPv6 comes up at link-up, so the
test sees the 802.1X state and a link-local address the device formed itself, both read from the
emulator's stats through the service. (The tags on the wire are tests/lab/test_vlan_lab.py's.)
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Dashboard, shot

pytestmark = pytest.mark.lab

PHONE = "desk-phone"
PROFILE = "yealink-sip-t46s"  # its supplicant ships off (EAP-MD5): the form turns it on
LINK_LOCAL = re.compile(r"fe80::[0-9a-f:]+")


def test_a_phone_on_vlan_20_with_ipv6_and_8021x_from_the_form(page: Page, dashboard: Dashboard) -> None:
    page.get_by_role("toolbar", name="Device actions").get_by_role("button", name="Add Device").click()
    dialog = page.get_by_role("dialog", name="Add device")
    dialog.get_by_label("Device ID").fill(PHONE)
    dialog.get_by_label("Profile", exact=True).select_option(PROFILE)
    dot1x = dialog.get_by_label("802.1X")
    expect(dot1x).to_contain_text("The profile's (EAP-MD5, off)")
    dot1x.select_option("on")
    dialog.get_by_label("VLAN id (802.1Q)").fill("20")
    dialog.get_by_label("Priority (802.1p)").fill("5")
    dialog.get_by_role("checkbox", name="IPv6 (link-local, SLAAC, DHCPv6)").check()
    expect(dialog.get_by_role("checkbox", name="ipv6", exact=True)).to_be_checked()
    shot(page, "device-form-vlan-ipv6-8021x")
    dialog.get_by_role("button", name="Add device").click()
    expect(dialog).to_be_hidden()

    spec = dashboard.api().get(f"/api/devices/{PHONE}").json()["spec"]
    assert (spec["vlan"], spec["vlanPriority"], spec["dot1x"]) == (20, 5, True)
    assert "ipv6" in spec["protocols"]

    row = page.locator(f'[role="row"][data-device="{PHONE}"]')
    expect(row.locator('[data-col="vlan"]')).to_have_text("20")
    expect(row.locator('[data-col="auth"]')).to_have_text("Connecting", timeout=20_000)  # EAPOL-Starts unanswered
    page.get_by_role("search").get_by_label("VLAN").select_option("20")
    expect(page.locator('[role="row"][data-device]')).to_have_count(1)

    row.click()
    panel = page.get_by_test_id("device-detail")
    expect(panel.get_by_test_id("device-vlan")).to_have_text("VLAN 20, priority 5")
    expect(panel.get_by_test_id("detail-auth")).to_contain_text("Connecting")
    expect(panel.get_by_test_id("detail-auth")).to_contain_text("EAP-MD5")
    expect(panel.get_by_test_id("detail-ipv6")).to_have_text(LINK_LOCAL, timeout=20_000)
    shown = LINK_LOCAL.search(panel.get_by_test_id("detail-ipv6").inner_text())
    assert shown is not None
    status = dashboard.api().get(f"/api/devices/{PHONE}").json()["status"]
    assert shown.group(0) in (status["ipv6"] or [])  # the panel shows what the emulator reported
    assert status["auth"] == "connecting"
    shot(page, "device-detail-vlan-ipv6-8021x")
