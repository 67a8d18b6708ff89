"""The devices' memory of their last lease, on disk, so a restarted device asks for its old IP.

Real devices keep their last address in flash and open with INIT-REBOOT (or a DISCOVER with
option 50) after a power cycle; DHCP servers and NAC products see that. One JSON file per state
directory, keyed by MAC; writes are atomic (temp file + rename) and merged under a lock, so
several emulator processes can share a directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
from pathlib import Path
from typing import Any

from iot_emulator.config import bounded


@dataclasses.dataclass(slots=True)
class Remembered:
    address: str
    server_id: str | None
    expires_at: float  # wall-clock seconds
    released: bool = False

    def valid(self, wall: float) -> bool:
        """Still ours to claim with INIT-REBOOT: not released and not expired."""
        return not self.released and self.expires_at > wall


class LeaseCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, Remembered] = {}
        self._dirty: dict[str, Remembered] = {}

    def load(self) -> None:
        self._entries = {mac: entry for mac, entry in self._read().items()}

    def get(self, mac: str) -> Remembered | None:
        return self._entries.get(mac)

    def remember(self, mac: str, entry: Remembered) -> None:
        self._entries[mac] = entry
        self._dirty[mac] = entry

    def mark_released(self, mac: str) -> None:
        entry = self._entries.get(mac)
        if entry is not None and not entry.released:
            entry.released = True
            self._dirty[mac] = entry

    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    def save(self) -> None:
        """Merge this process's changes into the file, atomically."""
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            merged = self._read()
            merged.update(self._dirty)
            payload = {mac: dataclasses.asdict(e) for mac, e in merged.items()}
            # a cache: a lost write costs a DISCOVER, while an fsync would stall the engine's loop
            bounded.write_atomic(self.path, json.dumps(payload, separators=(",", ":")), durable=False)
        self._dirty.clear()

    def _read(self) -> dict[str, Remembered]:
        try:
            raw: dict[str, Any] = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):  # a damaged cache only costs a fresh DISCOVER
            return {}
        out = {}
        for mac, fields in raw.items():
            with contextlib.suppress(TypeError):
                out[mac] = Remembered(**fields)
        return out

    @contextlib.contextmanager
    def _locked(self):  # type: ignore[no-untyped-def]
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
