"""`iotemu demo`, the README's first command, end to end: lab, dashboard, devices bound, clean exit."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.lab


def test_demo_binds_the_default_devices_and_cleans_up() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "iotemu", "demo", "--port", "0", "--duration", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    bound = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if re.search(r"^12/12 bound", line):
                bound.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert bound.wait(60), "".join(lines[-30:])
        lab_name = next(m.group(1) for line in lines if (m := re.search(r"in lab (\S+) ", line)))
        assert any("iotemu dashboard: http://127.0.0.1:" in line or "dashboard: http://" in line for line in lines)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - started < 15
        reader.join(5)
        assert any(f"lab {lab_name} removed" in line for line in lines)
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert lab_name not in namespaces
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
