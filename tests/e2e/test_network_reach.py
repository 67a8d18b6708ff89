"""VLAN, IPv6 and 802.1X in the browser, devices run by the real emulator in a lab.

First a phone added through the form with VLAN 20, IPv6 and its 802.1X supplicant on, in a lab with
no authenticator and nothing on VLAN 20: its EAPOL-Starts go unanswered (Connecting for maxStart x
startPeriod, 90 s) while IPv6 comes up at link-up, so the grid and panel show the 802.1X state and a
link-local address the device formed itself. (The tags on the wire are tests/lab/test_vlan_lab.py's.)

Then the real servers: hostapd (wired) with FreeRADIUS behind it on the gateway's port, DHCP held
until the port is authorized, and radvd: the phone's EAP-MD5 is accepted (Authorized, EAP-Success,
a lease, a SLAAC address of the lab's prefix), a Polycom whose identity RADIUS does not know is
refused (Held, EAP-Failure with its retry).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from iot_emulator.lab import dot1x as lab_dot1x
from iot_emulator.lab import ipv6 as lab_ipv6
from iot_emulator.profiles import catalog
from tests.e2e.conftest import Dashboard, shot

pytestmark = pytest.mark.lab

PHONE = "desk-phone"
PROFILE = "yealink-sip-t46s"  # its supplicant ships off (EAP-MD5): the form turns it on
LINK_LOCAL = re.compile(r"fe80::[0-9a-f:]+")
SLAAC = re.compile(re.escape(str(lab_ipv6.PREFIX.network_address).rstrip(":")) + r":[0-9a-f:]+")


def add_through_the_form(page: Page, device_id: str, profile: str, vlan: str = "", priority: str = "") -> None:
    page.get_by_role("toolbar", name="Device actions").get_by_role("button", name="Add Device").click()
    dialog = page.get_by_role("dialog", name="Add device")
    dialog.get_by_label("Device ID").fill(device_id)
    dialog.get_by_label("Profile", exact=True).select_option(profile)
    dot1x = dialog.get_by_label("802.1X")
    expect(dot1x).to_contain_text("The profile's (EAP-MD5, off)")
    dot1x.select_option("on")
    if vlan:
        dialog.get_by_label("VLAN id (802.1Q)").fill(vlan)
        dialog.get_by_label("Priority (802.1p)").fill(priority or "0")
    dialog.get_by_role("checkbox", name="IPv6 (link-local, SLAAC, DHCPv6)").check()
    expect(dialog.get_by_role("checkbox", name="ipv6", exact=True)).to_be_checked()
    shot(page, f"device-form-{device_id}")
    dialog.get_by_role("button", name="Add device").click()
    expect(dialog).to_be_hidden()


def test_a_phone_on_vlan_20_with_ipv6_and_8021x_from_the_form(page: Page, dashboard: Dashboard) -> None:
    add_through_the_form(page, PHONE, PROFILE, vlan="20", priority="5")

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


@pytest.mark.parametrize("dnsmasq_lab", [{"ipv6": "slaac"}], indirect=True)
def test_authorized_and_held_against_hostapd_and_freeradius(page: Page, dashboard: Dashboard) -> None:
    phone = catalog.builtin().get(PROFILE)
    assert phone.dot1x is not None and phone.dot1x.identity == "{hostname}"
    identity = phone.hostname_for(phone.ouis[0] + ":00:00:01")  # "{model}": every T46S says SIP-T46S
    servers = lab_dot1x.start(dashboard.lab, [lab_dot1x.User(identity, password=phone.dot1x.password)])

    add_through_the_form(page, PHONE, PROFILE)
    stranger = {"profile": "polycom-vvx-310", "dot1x": True, "running": True}  # its MAC as identity: unknown
    assert dashboard.api().post("/api/devices", json={"name": "lobby-phone", "spec": stranger}).status_code == 201

    row = page.locator(f'[role="row"][data-device="{PHONE}"]')
    expect(row.locator('[data-col="auth"]')).to_have_text("Authorized", timeout=30_000)
    expect(row.locator('[data-col="status"]')).to_have_text("Bound", timeout=30_000)  # DHCP after the port opened
    held = page.locator('[role="row"][data-device="lobby-phone"]')
    expect(held.locator('[data-col="auth"]')).to_have_text("Held", timeout=30_000)
    expect(held.locator('[data-col="ip"]')).to_have_text("\N{EN DASH}")  # the port stays shut: no lease

    row.click()
    panel = page.get_by_test_id("device-detail")
    expect(panel.get_by_test_id("detail-auth-last")).to_contain_text("EAP-Success (EAP-MD5)")
    expect(panel.get_by_test_id("detail-auth-last")).to_contain_text(identity)
    expect(panel.get_by_test_id("detail-ipv6")).to_contain_text(SLAAC, timeout=30_000)  # from radvd's prefix
    shot(page, "device-detail-8021x-authorized")
    held.click()
    last = page.get_by_test_id("device-detail").get_by_test_id("detail-auth-last")
    expect(last).to_have_attribute("data-result", "failure")
    expect(last).to_contain_text(re.compile(r"EAP-Failure \(EAP-MD5\), retry in \d"))
    shot(page, "device-detail-8021x-held")
    assert f'User-Name = "{identity}"' in servers.radius_log.read_text()  # what a NAC reads, from the form's device
