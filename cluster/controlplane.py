"""A real Kubernetes control plane on this machine, as a user's cluster runs it: `make cluster`.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler, built from pinned Go modules by
`cluster/build.sh`, run as processes bound to loopback. The API server serves TLS with a CA made at
start, authenticates components and the admin by client certificates and pods by bound
service-account tokens, authorises with the Node and RBAC authorizers and runs the default
admission plugins (ServiceAccount, PodSecurity, ValidatingAdmissionPolicy...); the controller manager
runs every default controller (garbage collector, namespace, service-account, token...).

    python cluster/controlplane.py up      # leaves .cluster/kubeconfig (admin) and .cluster/bin/
    python cluster/controlplane.py down    # no process, no state left
    python cluster/controlplane.py status

The state (certificates, etcd's data, logs, pids) lives in `.cluster/run/`; `down` removes it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pki

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".cluster"
SERVICE_RANGE = "10.96.0.0/16"
ADVERTISE = "10.250.0.2"
"""The `kubernetes` Service's endpoint: the test node's address, where a forwarder inside the node's
namespace leads to this loopback-bound API server (kube-proxy takes pods there). Nothing outside the
node's namespace has this address."""  # virtual addresses in etcd only: no kube-proxy, nothing is routed
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    resources: [{group: coordination.k8s.io, resources: [leases]}]
  - level: Metadata
"""
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


class ClusterError(RuntimeError):
    """A component did not start, or did not become ready in time; the message names its log."""


@dataclasses.dataclass(frozen=True)
class Ports:
    """Loopback ports of the control plane (the defaults avoid the well-known ones a host may use)."""

    etcd_client: int = 23790
    etcd_peer: int = 23800
    apiserver: int = 16443
    controller_manager: int = 20257
    scheduler: int = 20259


@dataclasses.dataclass
class ControlPlane:
    """One control plane whose files live under `home` (`home/run` is removed by `down`)."""

    home: Path = HOME
    ports: Ports = dataclasses.field(default_factory=Ports)
    extra_server_names: tuple[str, ...] = ()
    """More addresses the API server's certificate is valid for (a node in its own network namespace)."""

    @property
    def bin(self) -> Path:
        return self.home / "bin"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def pki_dir(self) -> Path:
        return self.run_dir / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def log(self, component: str) -> Path:
        return self.run_dir / "logs" / f"{component}.log"

    @property
    def audit_log(self) -> Path:
        """Every request the API server answered (JSON lines, metadata level): who did what, to count calls."""
        return self.run_dir / "logs" / "audit.log"

    # -- lifecycle -------------------------------------------------------------------------------

    def up(self, timeout: float = 120.0) -> None:
        """Starts every component that is not running, from fresh state when there is none."""
        missing = [c for c in (*COMPONENTS, "kubectl") if not (self.bin / c).exists()]
        if missing:
            raise ClusterError(f"{', '.join(missing)} not built: run `bash cluster/build.sh` (or `make cluster`)")
        if not any(self.status().values()):
            busy = [port for port in dataclasses.astuple(self.ports) if _in_use(port)]
            if busy:
                raise ClusterError(
                    f"127.0.0.1 ports {busy} are taken (another control plane? `make cluster-down` there)"
                )
        if not (self.pki_dir / "ca.crt").exists():
            self._make_state()
        deadline = time.monotonic() + timeout
        for component in COMPONENTS:
            if self.pid(component) is None:
                self.start(component)
            self.wait_ready(component, deadline)

    def down(self) -> None:
        """Stops every component (SIGTERM, then SIGKILL) and removes the run state."""
        for component in reversed(COMPONENTS):
            self.stop(component)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)

    def start(self, component: str) -> int:
        """Starts one component in its own session (it outlives this process: `make cluster` returns)."""
        return spawn(self._argv(component), self.run_dir / f"{component}.pid", self.log(component), self.run_dir)

    def stop(self, component: str, grace: float = 10.0) -> None:
        terminate(self.run_dir / f"{component}.pid", grace)

    def restart(self, component: str, timeout: float = 60.0) -> None:
        self.stop(component)
        self.start(component)
        self.wait_ready(component, time.monotonic() + timeout)

    def pid(self, component: str) -> int | None:
        return running_pid(self.run_dir / f"{component}.pid", component)

    def status(self) -> dict[str, int | None]:
        return {component: self.pid(component) for component in COMPONENTS}

    # -- readiness -------------------------------------------------------------------------------

    def wait_ready(self, component: str, deadline: float) -> None:
        probes: dict[str, Callable[[], bool]] = {
            "etcd": lambda: _get(f"http://127.0.0.1:{self.ports.etcd_client}/health"),
            "kube-apiserver": lambda: self._get_api("/readyz"),
            "kube-controller-manager": lambda: _healthz(self.ports.controller_manager) and self._controllers_working(),
            "kube-scheduler": lambda: _healthz(self.ports.scheduler),
        }
        probe = probes[component]
        while True:
            if self.pid(component) is None:
                raise ClusterError(f"{component} exited; see {self.log(component)}:\n{_tail(self.log(component))}")
            with contextlib.suppress(OSError, ValueError):
                if probe():
                    return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{component} not ready in time; see {self.log(component)}:\n{_tail(self.log(component))}"
                )
            time.sleep(0.2)

    def _controllers_working(self) -> bool:
        """The service-account controller has made `default` in `default`: pods can be admitted."""
        return self._get_api("/api/v1/namespaces/default/serviceaccounts/default")

    def _ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
        context.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))
        return context

    def _get_api(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(self.server + path, context=self._ssl(), timeout=5) as resp:
                return bool(resp.status == 200)
        except urllib.error.HTTPError:
            return False

    # -- state and command lines -----------------------------------------------------------------

    def _make_state(self) -> None:
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.run_dir.mkdir(parents=True, mode=0o700)
        ca = pki.Authority(self.pki_dir)
        names = [
            "127.0.0.1",
            ADVERTISE,
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "10.96.0.1",
            *self.extra_server_names,
        ]
        ca.issue("apiserver", "kube-apiserver", server_names=names, client=False)
        ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ["system:masters"])
        ca.service_account_keys()
        front_proxy = pki.Authority(self.pki_dir, "front-proxy-ca")  # the aggregation layer's, as kubeadm makes it
        front_proxy.issue("front-proxy-client", "front-proxy-client")
        for user, organizations in [
            ("admin", ["system:masters"]),
            ("kube-controller-manager", []),
            ("kube-scheduler", []),
        ]:
            common_name = "kubernetes-admin" if user == "admin" else f"system:{user}"
            crt, key = ca.issue(user, common_name, organizations)
            ca.kubeconfig(self.pki_dir / f"{user}.kubeconfig", self.server, user, crt, key)
        (self.run_dir / "audit-policy.yaml").write_text(AUDIT_POLICY)
        shutil.copyfile(self.pki_dir / "admin.kubeconfig", self.kubeconfig)
        self.kubeconfig.chmod(0o600)

    def _argv(self, component: str) -> list[str]:
        p, d = self.ports, self.pki_dir
        exe = str(self.bin / component)
        if component == "etcd":
            return [
                exe,
                "--name=iotemu",
                f"--data-dir={self.run_dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{p.etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{p.etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{p.etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p.etcd_peer}",
                f"--initial-cluster=iotemu=http://127.0.0.1:{p.etcd_peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ]
        if component == "kube-apiserver":
            return [
                exe,
                f"--etcd-servers=http://127.0.0.1:{p.etcd_client}",
                "--bind-address=127.0.0.1",
                f"--advertise-address={ADVERTISE}",
                f"--secure-port={p.apiserver}",
                f"--tls-cert-file={d / 'apiserver.crt'}",
                f"--tls-private-key-file={d / 'apiserver.key'}",
                f"--client-ca-file={d / 'ca.crt'}",
                f"--kubelet-client-certificate={d / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={d / 'apiserver-kubelet-client.key'}",
                f"--kubelet-certificate-authority={d / 'ca.crt'}",
                f"--service-account-key-file={d / 'sa.pub'}",
                f"--service-account-signing-key-file={d / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--requestheader-client-ca-file={d / 'front-proxy-ca.crt'}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={d / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={d / 'front-proxy-client.key'}",
                f"--audit-policy-file={self.run_dir / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-maxsize=200",
                "--audit-log-maxbackup=1",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--service-cluster-ip-range={SERVICE_RANGE}",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ]
        common = ["--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false", "--v=1"]
        if component == "kube-controller-manager":
            kubeconfig = d / "kube-controller-manager.kubeconfig"
            return [
                exe,
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--secure-port={p.controller_manager}",
                f"--service-account-private-key-file={d / 'sa.key'}",
                f"--root-ca-file={d / 'ca.crt'}",
                f"--cluster-signing-cert-file={d / 'ca.crt'}",
                f"--cluster-signing-key-file={d / 'ca.key'}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_RANGE}",
                *common,
            ]
        kubeconfig = d / "kube-scheduler.kubeconfig"
        return [
            exe,
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--secure-port={p.scheduler}",
            *common,
        ]

    # -- for the tests and users ---------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs the built kubectl with the admin kubeconfig."""
        return subprocess.run(
            [str(self.bin / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )


def spawn(argv: list[str], pidfile: Path, log: Path, cwd: Path) -> int:
    """Starts a daemon in its own session, its output appended to `log`, its pid in `pidfile`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd
        )
    pidfile.write_text(str(proc.pid))
    return proc.pid


def running_pid(pidfile: Path, exe: str) -> int | None:
    """The pid in `pidfile` while that process runs `exe` (the file alone is not trusted: pids are reused)."""
    try:
        pid = int(pidfile.read_text())
        running = os.readlink(f"/proc/{pid}/exe")
    except (OSError, ValueError):
        return None
    return pid if Path(running).name == exe and _alive(pid) else None


def exited(pidfile: Path) -> bool:
    """A process was started with `pidfile` and is gone (whatever it runs now: it may still be exec-ing)."""
    try:
        return not _alive(int(pidfile.read_text()))
    except (OSError, ValueError):
        return False


def terminate(pidfile: Path, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace`; waits until the process is gone and removes `pidfile`."""
    try:
        pid: int | None = int(pidfile.read_text())
    except (OSError, ValueError):
        pid = None
    if pid is not None and _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        try:  # started by this process (tests): reap it, once all its threads are gone
            os.waitpid(pid, 0)
        except ChildProcessError:  # started by another (`make cluster`): init reaps it
            while _alive(pid):
                time.sleep(0.02)
    pidfile.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _get(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=5, context=context) as resp:
        return bool(resp.status == 200)


def _healthz(port: int) -> bool:
    """A component's own /healthz (served with a self-signed certificate it makes; open to anyone)."""
    return _get(f"https://127.0.0.1:{port}/healthz", ssl._create_unverified_context())


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def running(plane: ControlPlane) -> Iterator[ControlPlane]:
    """A control plane for the block: reused when one is up already, else started and removed after."""
    started = any(pid is None for pid in plane.status().values())
    try:
        if started:
            plane.up()
        yield plane
    finally:
        if started:
            plane.down()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="controlplane", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--home", type=Path, default=HOME, help="where bin/, run/ and kubeconfig live")
    parser.add_argument("--node", action="store_true", help="with `up`: also a node (kubelet, containerd) in a lab")
    args = parser.parse_args(argv)
    plane = ControlPlane(home=args.home)
    try:
        if args.command == "up":
            plane.up()
            if args.node:
                import node  # the node needs the emulator's lab package: only then

                node.up_in_lab(plane)
            print(f"cluster up: KUBECONFIG={plane.kubeconfig} {plane.bin}/kubectl get nodes")
        elif args.command == "down":
            import node

            node.down_in_lab(plane)
            plane.down()
        else:
            print(json.dumps(plane.status()))
    except ClusterError as exc:
        print(f"controlplane: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
