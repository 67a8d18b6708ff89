"""The React "IoT Devices" tab on the real cluster: the chart's dashboard (its Kubernetes backend, in its
pod on the node, serving the tab built into the app image) shows the devices of emulator pods running
on the real kubelet, and scales their fleet.

Debian's Chromium runs in the node's network namespace (`nsenter --net`: pod addresses live only
there; Playwright drives it over a pipe, so that needs no network), as a person on the node's network
would open the dashboard. Screenshots go to test-artifacts/e2e/ (not committed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect

import node as node_mod
from tests.cluster.conftest import ROOT, Kube, wait_for
from tests.cluster.test_emulator_pods import BIND, EXAMPLE, RELEASE, RELEASE_NS, bound, images, leases, release
from tests.cluster.test_node import node
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, playwright, shot

__all__ = ["images", "node", "playwright", "release"]  # fixtures shared with the other suites
DEVICES = ROOT / "examples" / "cluster" / "devices.yaml"
"""Two single devices, one pod each, as the user's example has them."""


@pytest.fixture
def context(playwright: Playwright, node: node_mod.Node, tmp_path: Path) -> Iterator[BrowserContext]:
    """Debian's Chromium in the node's network namespace, headless, with a new empty profile."""
    wrapper = tmp_path / "chromium-in-node"
    wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/run/netns/{node.netns} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=str(wrapper),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1440, "height": 900},
    )
    context.set_default_timeout(30_000)
    yield context
    context.close()


def open_tab(context: BrowserContext, kube: Kube, token: str) -> Page:
    """The dashboard pod's page, the token in the fragment (as the service prints it), live."""
    selector = f"app.kubernetes.io/component=dashboard,app.kubernetes.io/instance={RELEASE}"
    [pod] = kube.get("pods", "-n", RELEASE_NS, "-l", selector)["items"]
    page = context.pages[0] if context.pages else context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"http://{pod['status']['podIP']}:8080/#token={token}")
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "open")
    assert errors == [], errors
    return page


def test_the_tab_shows_pods_devices_on_the_real_node_and_scales_their_fleet(
    chart: Kube, namespace: str, release: str, context: BrowserContext
) -> None:
    chart("apply", "-n", namespace, "-f", str(EXAMPLE), "-f", str(DEVICES))
    wait_for("20 fleet members bound", lambda: bound(chart, namespace, 20), timeout=BIND)
    devices = wait_for("both devices bound", lambda: _bound_devices(chart, namespace), timeout=BIND)
    assert len(devices) == 2
    page = open_tab(context, chart, release)

    expect(page.get_by_test_id("live-counts")).to_contain_text("2 bound")
    held = leases()
    for device in devices:  # each from its own pod: the operator's status and the pod's live events
        row = page.locator(f'[role="row"][data-device="{device["metadata"]["name"]}"]')
        expect(row.locator('[data-col="ip"]')).to_have_text(held[device["status"]["mac"]])
        expect(row.locator('[data-col="status"]')).to_contain_text("bound", ignore_case=True)
    shot(page, "cluster-devices")

    page.get_by_role("tab", name="Fleets").click()
    row = page.locator('tr[data-fleet="cams"]')
    expect(row.get_by_test_id("fleet-desired")).to_have_text("20")
    expect(row.get_by_test_id("fleet-bound")).to_have_text("20")
    row.get_by_label("Replicas of cams").fill("25")
    row.get_by_role("button", name="Scale").click()
    expect(row.get_by_test_id("fleet-desired")).to_have_text("25")
    assert chart.get("iotfleet", "cams", "-n", namespace)["spec"]["replicas"] == 25, "the tab scaled the resource"
    expect(row.get_by_test_id("fleet-bound")).to_have_text("25", timeout=BIND * 1000)
    assert wait_for("the operator's status at 25", lambda: bound(chart, namespace, 25), timeout=BIND)
    shot(page, "cluster-fleets")


def _bound_devices(kube: Kube, namespace: str) -> list[dict[str, Any]] | None:
    """The namespace's IoTDevices once every one of them is Bound."""
    items: list[dict[str, Any]] = kube.get("iotdevices", "-n", namespace)["items"]
    return items if items and all((d.get("status") or {}).get("phase") == "Bound" for d in items) else None
