"""`make cluster` / `make cluster-down` on a second control plane (its own home and ports): it comes up
as a user's cluster does, and down leaves no process and no state behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import controlplane


def test_up_then_down_leaves_nothing(plane: controlplane.ControlPlane, tmp_path: Path) -> None:
    (tmp_path / "bin").symlink_to(plane.bin.resolve())
    # below the ephemeral range (32768-60999): a client connection cannot hold them when etcd binds
    ports = controlplane.Ports(
        etcd_client=28790, etcd_peer=28800, apiserver=26443, controller_manager=30257, scheduler=30259
    )
    second = controlplane.ControlPlane(home=tmp_path, ports=ports)
    try:
        second.up()
        pids = second.status()
        assert all(pids.values()), pids
        assert (
            second.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout == "kubernetes-admin"
        )
        forged = subprocess.run(
            [
                str(second.bin / "kubectl"),
                "--kubeconfig=/dev/null",
                f"--server={second.server}",
                "--token=forged",
                f"--certificate-authority={second.pki_dir / 'ca.crt'}",
                "get",
                "pods",
                "-A",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        # a 401: kubectl says "Unauthorized", or (its discovery refused first) that the server asked for credentials
        refused = ("Unauthorized", "the server has asked for the client to provide credentials")
        assert forged.returncode != 0 and any(text in forged.stderr for text in refused), forged.stderr
        assert (second.kubeconfig.stat().st_mode & 0o777) == 0o600
        assert (second.pki_dir / "ca.key").stat().st_mode & 0o077 == 0
    finally:
        second.down()
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids.values() if pid)
    assert not second.run_dir.exists() and not second.kubeconfig.exists()
    assert all(plane.status().values()), "the suite's control plane was touched"
