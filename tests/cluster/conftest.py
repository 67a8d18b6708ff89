"""Fixtures of the real-cluster suite: a real control plane (etcd, kube-apiserver, controller manager,
scheduler built from pinned Go modules), the real helm CLI, the chart installed, the operator run as a
process outside the cluster with the chart's service-account token.

The control plane is the one `make cluster` left running, or one this session starts and removes.
Each test works in namespaces of its own (`namespace` fixture), deleted after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import controlplane
from iot_operator import cli
from iot_operator import settings as settings_mod
from tests import poll

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "iot-emulator"
RELEASE, RELEASE_NS = "iot", "iot-system"
OPERATOR_SA = f"{RELEASE}-iot-emulator-operator"
DASHBOARD_SA = f"{RELEASE}-iot-emulator-dashboard"
DEADLINE = 60.0


@pytest.fixture(scope="session")
def plane() -> Iterator[controlplane.ControlPlane]:
    with controlplane.running(controlplane.ControlPlane()) as running:
        yield running


class HelmError(subprocess.CalledProcessError):
    """A failed helm command whose message carries helm's stderr (why it failed), which a plain
    CalledProcessError leaves out."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr.strip()}"


class Kube:
    """kubectl and helm (the built ones) as the cluster admin, with JSON out."""

    def __init__(self, plane: controlplane.ControlPlane) -> None:
        self.plane = plane

    def __call__(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.plane.kubectl(*args, input=input, check=check)

    def get(self, *args: str) -> Any:
        return json.loads(self("get", "-o", "json", *args).stdout)

    def apply(
        self, docs: list[dict[str, Any]] | dict[str, Any], *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        docs = docs if isinstance(docs, list) else [docs]
        return self("apply", "-f", "-", *args, input=yaml.safe_dump_all(docs), check=check)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.plane.bin / "helm"), f"--kubeconfig={self.plane.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and result.returncode != 0:
            raise HelmError(result.returncode, result.args, result.stdout, result.stderr)
        return result

    def token(self, service_account: str, namespace: str = RELEASE_NS) -> str:
        """A bound token of the service account (the TokenRequest API, as a pod's projected token)."""
        return self("create", "token", service_account, "-n", namespace, "--duration=2h").stdout.strip()

    def kubeconfig_for(self, path: Path, *, token_file: Path | None = None, exec_argv: list[str] | None = None) -> Path:
        """A kubeconfig with the cluster's CA and a user that authenticates with a tokenFile or an exec plugin."""
        user: dict[str, Any] = {}
        if token_file is not None:
            user["tokenFile"] = str(token_file)
        if exec_argv is not None:
            user["exec"] = {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": exec_argv[0],
                "args": exec_argv[1:],
                "interactiveMode": "Never",
            }
        admin = yaml.safe_load(self.plane.kubeconfig.read_text())
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": admin["clusters"],
            "users": [{"name": "sa", "user": user}],
            "contexts": [{"name": "sa", "context": {"cluster": admin["clusters"][0]["name"], "user": "sa"}}],
            "current-context": "sa",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path


@pytest.fixture(scope="session")
def kube(plane: controlplane.ControlPlane) -> Kube:
    return Kube(plane)


@pytest.fixture(scope="session")
def chart(kube: Kube) -> Iterator[Kube]:
    """The chart installed by the real helm CLI (CRDs, RBAC, the admission policy; its operator and
    dashboard scaled to 0: the tests run their own). Uninstalled at the end of the session."""
    kube.helm("uninstall", RELEASE, "-n", RELEASE_NS, "--wait", check=False)
    kube.helm(
        "install",
        RELEASE,
        str(CHART),
        "-n",
        RELEASE_NS,
        "--create-namespace",
        "--set",
        "operator.peering.enabled=true",
        "--set",
        "profiles.extra={tiny-cam}",
        "--set",
        "operator.replicas=0",  # the tests run their own operators; a node may run this release's pods
        "--set",
        "dashboard.replicas=0",
    )
    wait_for("the admission policy in force", lambda: _policy_in_force(kube))
    yield kube
    kube.helm("uninstall", RELEASE, "-n", RELEASE_NS, check=False)


def _policy_in_force(kube: Kube) -> bool:
    """The API server loads a new policy and its parameters asynchronously: wait until both judge."""

    def dry_run(profile: str) -> subprocess.CompletedProcess[str]:
        document = {"apiVersion": "iotemu.io/v1alpha1", "kind": "IoTDevice", "metadata": {"name": "probe"}}
        return kube.apply({**document, "spec": {"profile": profile}}, "-n", "default", "--dry-run=server", check=False)

    return "unknown profile" in dry_run("no-such-profile").stderr and dry_run("tiny-cam").returncode == 0


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A namespace for the test, ready for pods (its `default` service account exists). At the end its
    devices and fleets lose the operator's finalizer (no operator runs any more to remove it), so the
    namespace really goes and later cluster-wide operators do not inherit its leftovers."""
    name = f"t-{secrets.token_hex(4)}"
    kube("create", "namespace", name)
    wait_for("the namespace's default service account", lambda: kube.get("serviceaccount", "default", "-n", name))
    yield name
    for kind in ("iotdevices", "iotfleets"):
        listed = kube("get", kind, "-n", name, "-o", "json", check=False)  # fails when the chart (CRDs) is not in
        for item in json.loads(listed.stdout)["items"] if listed.returncode == 0 else []:
            unlock = '{"metadata": {"finalizers": null}}'
            kube("patch", kind, item["metadata"]["name"], "-n", name, "--type=merge", "-p", unlock, check=False)
    kube("delete", "namespace", name, "--wait=false", check=False)


def built_images() -> dict[str, Path]:
    """The emulator and app images as `docker save` archives (`cluster/images.sh`: built by Docker from a
    debootstrapped Debian, or taken from its cache), by repository name."""
    out = subprocess.run(
        ["bash", str(ROOT / "cluster" / "images.sh")], capture_output=True, text=True, check=True, timeout=1800
    ).stdout.split()
    archives = [Path(p) for p in out if p.endswith(".tar")]
    return {p.name.rsplit("-", 1)[0]: p for p in archives}


def wait_for(what: str, probe: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """`tests.poll.until` for the API server, which offers no event for 'converged': a failed `kubectl`
    counts as not yet, and a look costs a process, so it comes every quarter second."""

    def look() -> Any:
        with contextlib.suppress(subprocess.CalledProcessError):
            return probe()
        return None

    return poll.until(look, timeout, what, every=0.25)


async def until(what: str, probe: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """`wait_for` for async tests: the event loop (and the code under test on it) runs meanwhile."""
    return await poll.until_async(probe, timeout, what)


def operator_settings(kubeconfig: Path, **overrides: Any) -> settings_mod.OperatorSettings:
    """A fast operator on the real API server: short intervals, the chart's service account."""
    values: dict[str, Any] = {
        "kubeconfig": kubeconfig,
        "resync_interval": 1.0,
        "status_min_interval": 0.5,
        "backoff_base": 1.0,
        "emulator_image": "iot-emulator:test",
        "namespaces": [],
        **overrides,
    }
    return settings_mod.OperatorSettings(**values)


class OperatorRun:
    """The real operator (kopf, every handler) in a thread with its own event loop, until stopped."""

    def __init__(self, settings: settings_mod.OperatorSettings) -> None:
        self.settings = settings
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="operator", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(cli.run(self.settings, stop_flag=self._stop, ready_flag=self._ready))
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.errors.append(exc)

    def start(self) -> OperatorRun:
        self._thread.start()
        assert self._ready.wait(DEADLINE), f"operator not ready: {self.errors}"
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "operator did not stop"
        assert not self.errors, self.errors


@contextlib.contextmanager
def running_operator(settings: settings_mod.OperatorSettings) -> Iterator[OperatorRun]:
    run = OperatorRun(settings).start()
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture
def release_values() -> list[str]:
    """More `--set` values for the node release (`test_emulator_pods.release`); a module overrides this."""
    return []


@pytest.fixture
def operator_kubeconfig(chart: Kube, tmp_path: Path) -> Path:
    """A kubeconfig that authenticates as the chart's operator service account (tokenFile)."""
    token = tmp_path / "operator.token"
    token.write_text(chart.token(OPERATOR_SA))
    token.chmod(0o600)
    return chart.kubeconfig_for(tmp_path / "operator.kubeconfig", token_file=token)
