"""`iot_kube.connection` without a server: what it reads from kubeconfigs, also under concurrency."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pki
from iot_kube import connection


def _kubeconfig(tmp_path: Path) -> Path:
    ca = pki.Authority(tmp_path / "pki")
    crt, key = ca.issue("user", "someone")
    return ca.kubeconfig(tmp_path / "config", "https://127.0.0.1:1", "someone", crt, key)


def test_inline_certificates_are_read_into_memory(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path)
    conn = asyncio.run(connection.load(kubeconfig=config))
    assert conn.cert_data == (tmp_path / "pki" / "user.crt").read_bytes()
    assert conn.key_data == (tmp_path / "pki" / "user.key").read_bytes()
    assert "PRIVATE KEY" not in repr(conn)


def test_loads_in_several_threads_at_once_all_succeed(tmp_path: Path) -> None:
    """The official loader's file cache is process-wide: without the lock, one load's cleanup removed the
    files another was reading (two operators in one process failed to log in)."""
    config = _kubeconfig(tmp_path)
    results: list[connection.Connection | BaseException] = []

    def load() -> None:
        try:
            results.append(asyncio.run(connection.load(kubeconfig=config)))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(r, connection.Connection) and r.key_data for r in results), results
