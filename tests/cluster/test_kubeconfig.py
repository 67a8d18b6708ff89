"""`iot_kube.connection` reads what users have, and the real API server accepts what it read:
client certificates inline, tokenFile, an exec credential plugin, several files in $KUBECONFIG,
a context chosen by name. No key material is left on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import AuthenticationV1Api

from iot_kube import client, connection
from tests.cluster.conftest import OPERATOR_SA, Kube, wait_for

EXEC_PLUGIN = """\
import json, os, sys
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1",
    "kind": "ExecCredential",
    "status": {"token": open(os.environ["TOKEN_FILE"]).read().strip(), "expirationTimestamp": "2099-01-01T00:00:00Z"},
}))
"""


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("iotemu-kube-*")}


async def _whoami(conn: connection.Connection) -> str:
    api = client.api_client(conn, user_agent="test")
    try:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        review = await client.send(AuthenticationV1Api(api).create_self_subject_review(body, **client.RAW))
        return str(review["status"]["userInfo"]["username"])
    finally:
        await api.close()


async def test_client_certificate_inline_and_nothing_left_on_disk(kube: Kube) -> None:
    before = _leftovers()
    conn = await connection.load(kubeconfig=kube.plane.kubeconfig)
    assert conn.cert_data and conn.key_data and conn.ca_data and conn.token is None
    assert await _whoami(conn) == "kubernetes-admin"
    assert _leftovers() == before
    assert "PRIVATE" not in repr(conn) and "kubernetes-admin" not in repr(conn)


async def test_token_file_of_a_service_account(chart: Kube, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(chart.token(OPERATOR_SA))
    conn = await connection.load(kubeconfig=chart.kubeconfig_for(tmp_path / "config", token_file=token))
    assert await _whoami(conn) == f"system:serviceaccount:iot-system:{OPERATOR_SA}"


async def test_exec_credential_plugin(chart: Kube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text(chart.token(OPERATOR_SA))
    plugin = tmp_path / "plugin.py"
    plugin.write_text(EXEC_PLUGIN)
    monkeypatch.setenv("TOKEN_FILE", str(token))
    config = chart.kubeconfig_for(tmp_path / "config", exec_argv=[sys.executable, str(plugin)])
    conn = await connection.load(kubeconfig=config)
    assert conn.expires is not None and conn.expires.year == 2099
    assert await _whoami(conn) == f"system:serviceaccount:iot-system:{OPERATOR_SA}"


async def test_several_files_in_kubeconfig_and_a_named_context(
    kube: Kube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = yaml.safe_load(kube.plane.kubeconfig.read_text())
    clusters = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "contexts": [
            {
                "name": "lab",
                "context": {"cluster": admin["clusters"][0]["name"], "user": "lab-admin", "namespace": "lab"},
            },
            {"name": "broken", "context": {"cluster": "nowhere", "user": "nobody"}},
        ],
        "current-context": "broken",
    }
    users = {"apiVersion": "v1", "kind": "Config", "users": [{"name": "lab-admin", "user": admin["users"][0]["user"]}]}
    (tmp_path / "clusters").write_text(yaml.safe_dump(clusters))
    (tmp_path / "users").write_text(yaml.safe_dump(users))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'clusters'}:{tmp_path / 'users'}")
    conn = await connection.load(context="lab")
    assert conn.namespace == "lab"
    assert await _whoami(conn) == "kubernetes-admin"
    with pytest.raises(connection.NoConnection, match="clusters"):
        await connection.load()  # the current context names a cluster no file has


def test_the_operator_process_logs_in_through_an_exec_plugin(
    chart: Kube, namespace: str, tmp_path: Path, profiles_dir: Path
) -> None:
    """`iot-operator` as a user runs it: its own process, its settings from the environment."""
    token = tmp_path / "token"
    token.write_text(chart.token(OPERATOR_SA))
    plugin = tmp_path / "plugin.py"
    plugin.write_text(EXEC_PLUGIN)
    config = chart.kubeconfig_for(tmp_path / "config", exec_argv=[sys.executable, str(plugin)])
    device = {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTDevice",
        "metadata": {"name": "cam"},
        "spec": {"profile": "tiny-cam", "network": {"nodeSelector": {"iotemu.io/test": "no-such-node"}}},
    }
    chart.apply(device, "-n", namespace)
    env = {
        **os.environ,
        "TOKEN_FILE": str(token),
        "IOT_OPERATOR_KUBECONFIG": str(config),
        "IOT_OPERATOR_PROFILES_DIR": str(profiles_dir),
        "IOT_OPERATOR_NAMESPACES": json.dumps([namespace]),
    }
    log = tmp_path / "operator.log"
    with open(log, "wb") as out:
        operator = subprocess.Popen(
            [str(Path(sys.executable).parent / "iot-operator")], env=env, stdout=out, stderr=out
        )
    try:
        wait_for("the device's pod", lambda: chart.get("pod", "iotdev-cam", "-n", namespace))
        wait_for(
            "its status",
            lambda: (chart.get("iotdevice", "cam", "-n", namespace).get("status") or {}).get("conditions"),
        )
    finally:
        operator.send_signal(signal.SIGTERM)
        assert operator.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert str(token.read_text()) not in log.read_text()  # the credential never reaches the log
