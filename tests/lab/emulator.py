"""Drive a real emulator process (`python -m iot_emulator` / `iotemu run`) and read its JSON lines.

A reader thread moves stdout lines into a queue, so a test waits for a message with a deadline
instead of sleeping. Every message read is checked against its model.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from iot_emulator.reporting import message_models

Message = dict[str, Any]


def in_lab(lab: Any, state_dir: Any) -> list[str]:
    """The `iotemu run` options of an emulator on a lab's device link, JSON lines out, leases kept in
    `state_dir`: `Emulator(["run", "-f", manifest, *in_lab(lab, tmp_path / "state"), ...])`."""
    return ["--interface", lab.dev_iface, "--netns", lab.dev_netns, "--json-output", "--state-dir", str(state_dir)]


class Emulator:
    def __init__(self, args: Sequence[str]) -> None:
        self.args = [sys.executable, "-m", "iot_emulator", *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.messages: list[Message] = []
        self.started_macs: dict[str, str] = {}
        """device id -> MAC, from `started` messages (kept when a test clears `messages`)."""
        self._queue: queue.Queue[Message | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                self._queue.put(json.loads(line))
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float, what: str = "") -> Message:
        """The first new message matching `predicate`; fails with the process's stderr on timeout or exit."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                message = self._queue.get(timeout=max(0.0, left))
            except queue.Empty:
                raise AssertionError(f"no {what or 'matching message'} within {timeout}s; {self.tail()}") from None
            if message is None:
                self._queue.put(None)
                raise AssertionError(f"emulator exited before {what or 'the message'}: {self.tail()}")
            self._keep(message)
            if predicate(message):
                return message

    def wait_count(self, type_: str, count: int, timeout: float) -> list[Message]:
        """Wait until `count` distinct devices have sent a message of `type_`."""
        seen: dict[str, Message] = {m["device_id"]: m for m in self.messages if m["type"] == type_}
        deadline = time.monotonic() + timeout
        while len(seen) < count:
            message = self.wait_for(
                lambda m: m["type"] == type_,
                max(0.0, deadline - time.monotonic()),
                f"{type_} from {count} devices (have {len(seen)})",
            )
            seen[message["device_id"]] = message
        return list(seen.values())

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then read everything it printed until it exits; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        while True:
            message = self._queue.get_nowait() if not self._queue.empty() else None
            if message is None:
                break
            self._keep(message)
        return code

    def _keep(self, message: Message) -> None:
        """Every line the real emulator prints fits its model (`message_models`), or the test fails here."""
        message_models.parse(message)
        self.messages.append(message)
        if message["type"] == "started":
            self.started_macs[message["device_id"]] = message["mac"]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self) -> str:
        err = ""
        if self.proc.poll() is not None and self.proc.stderr is not None:
            err = self.proc.stderr.read()[-2000:]
        types = [m["type"] for m in self.messages[-8:]]
        return f"exit={self.proc.poll()} last={types} stderr={err!r}"

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
