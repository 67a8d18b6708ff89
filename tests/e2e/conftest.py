"""End-to-end fixtures: the real dashboard service in local mode inside a real lab, and Debian's Chromium.

The service runs as it ships (`python -m iot_dashboard`, the built web tab from
`dashboard/web/dist`) with its emulator processes in a throw-away lab (dnsmasq, network
namespaces: `tests/conftest.py`), listening on 127.0.0.1 only. Chromium is `/usr/bin/chromium`
(browser downloads do not work on these machines), headless, with a new empty profile per test
and no background networking. Screenshots go to `test-artifacts/e2e/` (not committed).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect, sync_playwright

from iot_dashboard import service as dashboard_service
from iot_dashboard.settings import DEFAULT_WEB_DIR
from iot_emulator import lab as iotlab
from tests import poll

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
URL_LINE = re.compile(r"iotemu dashboard: (http://\S+)")


@dataclass
class Dashboard:
    url: str
    lab: iotlab.Lab
    process: subprocess.Popen[bytes]
    log: Path
    token: str

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self.token}"})

    @property
    def page_url(self) -> str:
        """The address a person opens: the token in the fragment, which the page takes and hides."""
        return f"{self.url}/#token={self.token}"


def _wait_for_url(process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> str:
    """The URL the service prints once it listens (it is the condition we wait on)."""

    def printed() -> str | None:
        match = URL_LINE.search(log.read_text(errors="replace")) if log.exists() else None
        if match:
            return match.group(1).rstrip("/")
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        return None

    return poll.until(printed, timeout, "the dashboard's URL line")


@pytest.fixture
def dashboard(dnsmasq_lab: iotlab.Lab, tmp_path: Path) -> Iterator[Dashboard]:
    """`python -m iot_dashboard` in local mode, its emulators in the lab, stats every second."""
    if not (DEFAULT_WEB_DIR / "index.html").is_file():
        pytest.fail(f"the web tab is not built ({DEFAULT_WEB_DIR} is missing): run `make web`", pytrace=False)
    env = dashboard_service.lab_environment(dnsmasq_lab, tmp_path)
    log = tmp_path / "dashboard.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "iot_dashboard"], env=env, stdout=out, stderr=out)
    try:
        yield Dashboard(_wait_for_url(process, log), dnsmasq_lab, process, log, env["IOTEMU_DASHBOARD_TOKEN"])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the service stops its emulators (leases released)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def playwright() -> Iterator[Playwright]:
    """Per test: Playwright's sync API runs an event loop in this thread while it is open, and the
    suites after this one (pytest-asyncio) cannot start theirs until it is closed."""
    with sync_playwright() as p:
        yield p


def launch(playwright: Playwright, tmp_path: Path, *extra_args: str) -> BrowserContext:
    """Debian's Chromium, headless, with a new empty profile (user-data-dir) under `tmp_path`."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, *extra_args],
        viewport={"width": 1440, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def context(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    """Chromium with a new empty profile for this test."""
    context = launch(playwright, tmp_path)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, dashboard: Dashboard) -> Iterator[Page]:
    """The standalone shell, loaded and live (its WebSocket open)."""
    page = context.pages[0] if context.pages else context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(dashboard.page_url)
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "open")
    yield page
    assert errors == [], f"errors in the page: {errors}"


def shot(page: Page, name: str) -> Path:
    """A screenshot of the whole viewport under test-artifacts/e2e/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path)
    return path
