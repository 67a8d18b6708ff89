"""The running dashboard against the people who must not drive it: a page of another origin in real
Chromium, a DNS-rebinding page, and another local user (`nobody`). Each attack is refused and the
store is unchanged afterwards; the legitimate page (opened with its `#token=`) still works.

The service runs as it ships (`python -m iot_dashboard`, the built web tab) with the fake
emulator (`tests/dashboard/fake_emulator.py`): what is under test is who gets in, not DHCP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Playwright, expect

from iot_dashboard.settings import DEFAULT_WEB_DIR
from tests.dashboard.conftest import FAKE_EMULATOR
from tests.e2e.conftest import _wait_for_url, launch

TOKEN = "e2e-security-token-0123456789abcdef"
SEED = """\
apiVersion: iotemu.io/v1alpha1
kind: IoTDevice
metadata: {name: cam-1}
spec: {profile: tiny-cam, running: false}
"""


@dataclass
class Service:
    url: str
    port: int
    data_file: Path
    token_file: Path
    pid: int

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    def state(self) -> list[tuple[str, bool]]:
        """What an attack must not change: the devices and whether they should run."""
        with self.api() as api:
            return [(d["name"], d["spec"]["running"]) for d in api.get("/api/devices").json()]


@pytest.fixture
def service(tmp_path: Path, profiles_dir: Path) -> Iterator[Service]:
    if not (DEFAULT_WEB_DIR / "index.html").is_file():
        pytest.fail(f"the web tab is not built ({DEFAULT_WEB_DIR} is missing): run `make web`", pytrace=False)
    data = tmp_path / "devices.yaml"
    data.write_text(SEED)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    env = {
        **os.environ,
        "IOTEMU_DASHBOARD_PORT": "0",
        "IOTEMU_DASHBOARD_LOCAL__DATA_FILE": str(data),
        "IOTEMU_DASHBOARD_LOCAL__INTERFACE": "fake0",
        "IOTEMU_DASHBOARD_LOCAL__PROFILES_DIR": str(profiles_dir),
        "IOTEMU_DASHBOARD_LOCAL__SOCKET_DIR": str(tmp_path),
        "IOTEMU_DASHBOARD_LOCAL__EMULATOR_COMMAND": json.dumps([sys.executable, str(FAKE_EMULATOR)]),
    }
    env.pop("IOTEMU_DASHBOARD_TOKEN", None)
    log = tmp_path / "dashboard.log"
    argv = [sys.executable, "-m", "iot_dashboard", "--token-file", str(token_file)]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=out)
    try:
        url = _wait_for_url(process, log)
        yield Service(url, int(url.rsplit(":", 1)[1]), data, token_file, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert TOKEN not in log.read_text(errors="replace")  # nothing it logged holds the token


@dataclass
class AttackerSite:
    """A web server of another origin (127.0.0.1, another port): its page is what the victim opens."""

    origin: str
    hits: list[str]


def _attacker_page(target: str) -> bytes:
    """Every request a page can make without a preflight, and a WebSocket, aimed at the dashboard."""
    return f"""<!doctype html><html><body>
<form id="f" method="POST" action="{target}/api/devices/start-all" target="sink"><input name="x" value="1"></form>
<iframe name="sink" id="sink"></iframe>
<script>
window.results = {{}};
const body = JSON.stringify({{name: "evil", spec: {{profile: "tiny-cam", running: true}}}});
const done = [
  fetch("{target}/api/devices", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}})
    .then(() => "sent", (e) => "error: " + e),
  fetch("{target}/api/devices/start-all", {{method: "POST", mode: "no-cors", credentials: "include"}})
    .then(() => "sent", (e) => "error: " + e),
  fetch("{target}/api/devices", {{method: "POST", headers: {{"Content-Type": "application/json"}}, body}})
    .then((r) => "read " + r.status, (e) => "blocked: " + e),
  new Promise((resolve) => {{ document.getElementById("sink").onload = () => resolve("form posted"); }}),
  new Promise((resolve) => {{
    const ws = new WebSocket("{target.replace("http", "ws")}/ws", ["iotemu.v1"]);
    ws.onmessage = (m) => resolve("message: " + String(m.data).slice(0, 40));
    ws.onclose = (c) => resolve("closed " + c.code);
  }}),
];
document.getElementById("f").submit();
Promise.all(done).then((r) => {{ window.results = r; document.title = "done"; }});
</script></body></html>""".encode()


@pytest.fixture
def attacker(service: Service) -> Iterator[AttackerSite]:
    hits: list[str] = []
    page = _attacker_page(service.url)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield AttackerSite(f"http://127.0.0.1:{server.server_address[1]}", hits)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    """Chromium resolving `evil.example` to 127.0.0.1: what a rebinding attacker's DNS achieves."""
    context = launch(playwright, tmp_path, "--host-resolver-rules=MAP evil.example 127.0.0.1")
    yield context
    context.close()


def test_a_page_of_another_origin_cannot_drive_the_dashboard(
    browser: BrowserContext, service: Service, attacker: AttackerSite
) -> None:
    before = service.state()
    assert before == [("cam-1", False)]
    own = browser.new_page()
    own.goto(f"{service.url}/#token={TOKEN}")  # the victim has the dashboard open and signed in
    expect(own.get_by_test_id("connection-state")).to_have_attribute("data-state", "open")
    page = browser.new_page()
    page.goto(attacker.origin + "/")
    expect(page).to_have_title("done")
    sent_plain, sent_start_all, read_json, form, ws = page.evaluate("window.results")
    assert form == "form posted"
    assert (sent_plain, sent_start_all) == ("sent", "sent")  # opaque: the page learns nothing...
    assert read_json.startswith("blocked")  # ...a readable request needs CORS, which is off
    assert ws == "closed 1006"  # the handshake was answered 403 (foreign Origin)
    assert service.state() == before  # ...and nothing changed (not the form either)
    assert own.get_by_test_id("connection-state").get_attribute("data-state") == "open"


def test_a_dns_rebinding_page_is_refused(browser: BrowserContext, service: Service) -> None:
    before = service.state()
    page = browser.new_page()
    response = page.goto(f"http://evil.example:{service.port}/")
    assert response is not None and response.status == 400  # the page itself is not served
    status = page.evaluate(
        """async () => (await fetch("/api/devices/start-all", {method: "POST", headers: {"Content-Type":
        "text/plain"}, body: "{}"})).status"""
    )
    assert status == 400
    with httpx.Client() as raw:  # the same without a browser, with the token even
        headers = {"Host": "evil.example", "Authorization": f"Bearer {TOKEN}"}
        assert raw.post(f"{service.url}/api/devices/start-all", headers=headers).status_code == 400
    assert service.state() == before


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "nobody", "--", *argv], capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to user nobody needs root")
def test_another_local_user_gets_401_and_cannot_find_the_token(service: Service) -> None:
    before = service.state()
    start_all = f"{service.url}/api/devices/start-all"
    code = _as_nobody("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", start_all)
    assert code.stdout == "401"
    guessed = _as_nobody(
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "POST",
        "-H",
        "Authorization: Bearer guessed-token-0123456789",
        start_all,
    )
    assert guessed.stdout == "401"
    assert service.state() == before
    assert _as_nobody("cat", str(service.token_file)).returncode != 0
    assert service.token_file.stat().st_mode & 0o777 == 0o600
    cmdline = _as_nobody("cat", f"/proc/{service.pid}/cmdline")
    assert cmdline.returncode == 0 and TOKEN not in cmdline.stdout  # --token-file, never the token
    assert _as_nobody("cat", f"/proc/{service.pid}/environ").returncode != 0
