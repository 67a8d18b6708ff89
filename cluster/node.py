"""A real node for the test cluster: containerd + runc and a kubelet, in a network namespace of their own.

The node's network namespace is a lab's device namespace (`iotemu lab up`): its pods, and so every
hostNetwork emulator pod, see the lab segment (`lab0`, a real DHCP server behind it) and never the
host's interfaces. Pods on the pod network get addresses from a CNI bridge (`cni0`, 10.244.0.0/24)
inside the same namespace. The API server stays on the host's loopback; a forwarder listens on
127.0.0.1:<port> inside the node's namespace and connects to it (no host interface is involved).

The node's CNI is Multus (thin plugin, built from its pinned Go module by `cluster/build.sh`): it gives
every pod the bridge network above as `eth0` and reads a pod's `k8s.v1.cni.cncf.io/networks`
annotation for more interfaces, from NetworkAttachmentDefinitions (their CRD is installed with the
node). `lab0` is a port of the Linux bridge `br-lab`, as a user's node bridges the NIC that faces the
lab: a NAD of the `bridge` CNI on `br-lab` puts a pod's `net1` on the lab segment, where the lab's
DHCP server answers it. The segment is also a trunk: frames tagged `LAB_VLAN` reach that VLAN's own
DHCP server (the lab's VLAN switch, `lab/vlan_switch.py`), as a switch's trunk port would, so a fleet
whose emulator tags its frames (`spec.vlan`) is served by its VLAN's server through the same NAD.

What this sandbox needs and a usual node does not: the process lacks CAP_SYS_RESOURCE, so containerd
must not lower a container's oom_score_adj (`restrict_oom_score_adj`) and the kubelet cannot raise
its file limit (a logged error only); the machine uses cgroup v1 with the cgroupfs driver, which
kubelets from 1.35 refuse unless told (`failCgroupV1: false`). The pod sandbox ("pause") image is
built here from `cluster/pause/` (no registry can be pulled from).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

import controlplane
import images
import pki
from iot_emulator.lab import build, handle, record, teardown, vlans
from iot_emulator.lab.config import LabConfig

NODE_NAME = "iotemu-node"
NODE_IP = "10.250.0.2"
"""The node's address, on a veth pair whose both ends stay inside the node's namespace: kubelets refuse
loopback node addresses, and this one is reached by nothing outside the namespace."""
POD_SUBNET = "10.244.0.0/24"
PAUSE_IMAGE = images.PAUSE_IMAGE
CNI_BIN = Path("/usr/lib/cni")
"""Debian's containernetworking-plugins (bridge, host-local, tuning, ...); the node's own CNI binary
directory links to them and to Multus."""
LAB_BRIDGE = "br-lab"
"""The Linux bridge in the node's namespace that enslaves `lab0` (the chart's NAD default)."""
MULTUS_USER = "system:multus"
MULTUS_RBAC = f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: iotemu-multus}}
rules:
  - {{apiGroups: [k8s.cni.cncf.io], resources: [network-attachment-definitions], verbs: [get, list, watch]}}
  - {{apiGroups: [""], resources: [pods, pods/status], verbs: [get, update]}}
  - {{apiGroups: ["", events.k8s.io], resources: [events], verbs: [create, patch, update]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: iotemu-multus}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: iotemu-multus}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{MULTUS_USER}"}}]
"""
"""What Multus reads and writes as the node's CNI (its upstream ClusterRole, narrowed to reads of NADs):
the pod and its NADs, the pod's `network-status` annotation, events."""
COMPONENTS = ("api-forwarder", "containerd", "kubelet", "kube-proxy")
PYTHON = Path(sys.executable)
"""The forwarder runs on this interpreter (the venv's: it imports the emulator's netns helper)."""


@dataclasses.dataclass
class Node:
    """The node of `plane`, in network namespace `netns` (which must exist: a lab's device namespace)."""

    plane: controlplane.ControlPlane
    netns: str

    @property
    def dir(self) -> Path:
        return self.plane.run_dir / "node"

    @property
    def containerd_socket(self) -> Path:
        return self.dir / "containerd" / "containerd.sock"

    def pid(self, component: str) -> int | None:
        exe = Path(os.path.realpath(PYTHON)).name if component == "api-forwarder" else component
        return controlplane.running_pid(self.dir / f"{component}.pid", exe)

    # -- lifecycle -------------------------------------------------------------------------------

    def up(self, timeout: float = 120.0) -> None:
        if not (self.dir / "pki" / "kubelet.kubeconfig").exists():
            self._make_state()
        for component in COMPONENTS:  # a pid file of a process gone before (killed with its lab) says nothing
            if self.pid(component) is None:
                (self.dir / f"{component}.pid").unlink(missing_ok=True)
        if self._ip("link", "show", "node0", check=False).returncode != 0:
            self._make_node_address()
        if self._ip("link", "show", LAB_BRIDGE, check=False).returncode != 0:
            self._make_lab_bridge()
        forwarder = [
            str(PYTHON),
            str(Path(__file__).with_name("apiforward.py")),
            self.netns,
            str(self.plane.ports.apiserver),
            "127.0.0.1",
            NODE_IP,  # where the `kubernetes` Service leads (the API server advertises this address)
        ]
        self._start("api-forwarder", forwarder, enter=False)
        # Multus's CRD and rights, before any pod asks for an attachment (as its daemonset installs them).
        self.plane.kubectl("apply", "-f", str(self.plane.bin / "nad-crd.yaml"))
        self.plane.kubectl("apply", "-f", "-", input=MULTUS_RBAC)
        self._start("containerd", ["containerd", "--config", str(self.dir / "containerd.toml")])
        self._wait(lambda: self.containerd_socket.exists(), "containerd", timeout)
        self.import_image(self.plane.bin / "pause-image.tar")
        self._start(
            "kubelet",
            [
                str(self.plane.bin / "kubelet"),
                f"--config={self.dir / 'kubelet.yaml'}",
                f"--kubeconfig={self.dir / 'pki' / 'kubelet.kubeconfig'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                f"--root-dir={self.dir / 'kubelet'}",
                "--v=1",
            ],
        )
        self._wait(self._ready, "the node Ready", timeout)
        self._start(
            "kube-proxy",
            [str(self.plane.bin / "kube-proxy"), f"--config={self.dir / 'kube-proxy.yaml'}", "--v=1"],
        )

    def down(self) -> None:
        """Stops the kubelet (its pods first: containers, mounts), containerd and the forwarder."""
        if self.pid("kubelet") is not None:
            self.plane.kubectl("delete", "node", NODE_NAME, "--wait=false", check=False)
        self._remove_containers()
        for component in reversed(COMPONENTS):
            controlplane.terminate(self.dir / f"{component}.pid")
        _unmount_below(self.dir)

    def import_image(self, archive: Path) -> None:
        """Imports a `docker save` archive into the node's containerd (the CRI's `k8s.io` namespace)."""
        subprocess.run(
            ["ctr", "-a", str(self.containerd_socket), "-n", "k8s.io", "images", "import", str(archive)],
            check=True,
            capture_output=True,
            timeout=600,
        )

    # -- internals -------------------------------------------------------------------------------

    def _start(self, component: str, argv: list[str], enter: bool = True) -> None:
        if self.pid(component) is None:
            if enter:  # the network namespace only: the mounts (cgroups) stay the host's, unlike `ip netns exec`
                argv = ["nsenter", f"--net=/run/netns/{self.netns}", *argv]
            controlplane.spawn(argv, self.dir / f"{component}.pid", self.plane.log(component), self.dir)

    def _wait(self, probe: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            for component in COMPONENTS:
                if controlplane.exited(self.dir / f"{component}.pid"):
                    raise controlplane.ClusterError(f"{component} exited; see {self.plane.log(component)}")
            if time.monotonic() > deadline:
                raise controlplane.ClusterError(f"{what}: not in {timeout:.0f} s; see {self.plane.log('kubelet')}")
            time.sleep(0.25)

    def _ready(self) -> bool:
        result = self.plane.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if result.returncode != 0:
            return False
        conditions = json.loads(result.stdout)["status"].get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "-n", self.netns, *args], capture_output=True, text=True, check=check)

    def _make_node_address(self) -> None:
        self._ip("link", "add", "node0", "type", "veth", "peer", "name", "node0p")
        self._ip("addr", "add", f"{NODE_IP}/32", "dev", "node0")
        self._ip("link", "set", "node0", "up")
        self._ip("link", "set", "node0p", "up")
        self._ip("link", "set", "lo", "up")

    def _make_lab_bridge(self) -> None:
        """`br-lab` with `lab0` as its port. hostNetwork emulators keep using `lab0`: their AF_PACKET
        socket sees its frames before the bridge does. Bridged frames skip the node's iptables (where
        kube-proxy's rules live): the lab segment is layer 2 only (`-e`: without br_netfilter loaded the
        key does not exist, and bridged frames skip iptables anyway)."""
        self._ip("link", "add", LAB_BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        self._ip("link", "set", build.DEV_IFACE, "master", LAB_BRIDGE)
        self._ip("link", "set", LAB_BRIDGE, "up")
        subprocess.run(
            ["ip", "netns", "exec", self.netns, "sysctl", "-eqw", "net.bridge.bridge-nf-call-iptables=0"],
            check=True,
            capture_output=True,
        )

    def _make_state(self) -> None:
        for sub in ("containerd/root", "containerd/state", "cni", "cni-bin", "cni-default", "kubelet", "pki"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        ca = pki.Authority.load(self.plane.pki_dir, self.dir / "pki")
        crt, key = ca.issue("kubelet-client", f"system:node:{NODE_NAME}", ["system:nodes"])
        ca.issue("kubelet-serving", f"system:node:{NODE_NAME}", server_names=[NODE_IP, NODE_NAME])
        ca.kubeconfig(self.dir / "pki" / "kubelet.kubeconfig", self.plane.server, "kubelet", crt, key)
        crt, key = ca.issue("multus", MULTUS_USER)
        ca.kubeconfig(self.dir / "pki" / "multus.kubeconfig", self.plane.server, "multus", crt, key)
        cni_bin = self.dir / "cni-bin"
        for plugin in [*sorted(CNI_BIN.iterdir()), self.plane.bin / "multus"]:
            (cni_bin / plugin.name).symlink_to(plugin.resolve())
        (self.dir / "containerd.toml").write_text(CONTAINERD.format(dir=self.dir, pause=PAUSE_IMAGE, cni=cni_bin))
        # One plugin in a `.conf`, not a `.conflist`: Multus 4.2 keeps only the fields of the CNI's generic
        # types of a conflist given as its clusterNetwork, so the bridge's DEL would get no IPAM ranges
        # ("no IP ranges specified") and pods on the pod network could never be deleted (upstream
        # k8snetworkplumbingwg/multus-cni#1449; its fix, PR #1521, is newer than v4.3.0, the newest release
        # the Go module proxy serves here); a `.conf` is passed as it is.
        cni = {
            "cniVersion": "1.0.0",
            "name": "iotemu-pods",
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": True,
            "ipMasq": False,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": POD_SUBNET}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": str(self.dir / "cni-ipam"),  # not the host's /var/lib/cni
            },
        }
        default = self.dir / "cni-default" / "10-iotemu.conf"
        default.write_text(json.dumps(cni))
        multus = {
            "cniVersion": "0.3.1",
            "name": "multus-cni-network",
            "type": "multus",
            "kubeconfig": str(self.dir / "pki" / "multus.kubeconfig"),
            "clusterNetwork": str(default),  # every pod's eth0
            "binDir": str(cni_bin),
            "cniDir": str(self.dir / "multus"),  # its cache of delegates, not the host's /var/lib/cni
            "confDir": str(self.dir / "cni-default"),
            "logFile": str(self.plane.log("multus")),
            "logLevel": "verbose",
            "logToStderr": False,
        }
        (self.dir / "cni" / "00-multus.conf").write_text(json.dumps(multus))
        (self.dir / "kubelet.yaml").write_text(yaml.safe_dump(self._kubelet_config()))
        crt, key = ca.issue("kube-proxy", "system:kube-proxy")  # bound to system:node-proxier by default
        ca.kubeconfig(self.dir / "pki" / "kube-proxy.kubeconfig", self.plane.server, "kube-proxy", crt, key)
        (self.dir / "kube-proxy.yaml").write_text(yaml.safe_dump(self._kube_proxy_config()))

    def _kubelet_config(self) -> dict[str, object]:
        pki_dir = self.dir / "pki"
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "failSwapOn": False,
            "failCgroupV1": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "address": NODE_IP,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(pki_dir / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": str(pki_dir / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(pki_dir / "kubelet-serving.key"),
            "enforceNodeAllocatable": [],
            "localStorageCapacityIsolation": False,
            # The node shares the machine's disk with everything else: evict only when it is really full.
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "resolvConf": "/etc/resolv.conf",
            "podLogsDir": str(self.dir / "pod-logs"),  # not the host's /var/log/pods: `down` removes it
        }

    def _kube_proxy_config(self) -> dict[str, object]:
        """iptables mode in the node's namespace: Services (above all `kubernetes`) reach their endpoints."""
        return {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(self.dir / "pki" / "kube-proxy.kubeconfig")},
            "hostnameOverride": NODE_NAME,
            "clusterCIDR": POD_SUBNET,
            "bindAddress": NODE_IP,
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            # the namespace shares the machine's conntrack table: leave its size alone
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }

    def _remove_containers(self) -> None:
        """What the kubelet left running (it does not stop its pods when it stops): every task, by force."""
        if not self.containerd_socket.exists():
            return
        for task in _ctr(self.containerd_socket, "tasks", "ls", "-q").split():
            _ctr(self.containerd_socket, "tasks", "kill", "-s", "SIGKILL", task)


LAB = "iotk8s"
"""The lab the test node lives in: `iotk8s-dev` holds the node, `iotk8s-gw` the DHCP server (dnsmasq)."""
LAB_VLAN = vlans.Vlan(20)
"""The VLAN the lab's trunk serves beside untagged frames (172.16.20.0/24, a dnsmasq of its own)."""


def up_in_lab(plane: controlplane.ControlPlane) -> Node:
    """The lab (made when missing) and the node in its device namespace."""
    if LAB in record.running() and LAB_VLAN not in handle.attach(LAB).config.vlans:
        teardown.down(LAB)  # a lab left by an older checkout, without the VLAN
    if LAB not in record.running():
        build.up(LabConfig(name=LAB, vlans=(LAB_VLAN,)))
    lab = handle.attach(LAB)
    node = Node(plane, lab.dev_netns)
    node.up()
    return node


def down_in_lab(plane: controlplane.ControlPlane) -> None:
    """The node (when any) and its lab, gone."""
    if LAB in record.running():
        Node(plane, handle.attach(LAB).dev_netns).down()
        teardown.down(LAB)


CONTAINERD = """\
version = 2
root = "{dir}/containerd/root"
state = "{dir}/containerd/state"
[grpc]
  address = "{dir}/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{dir}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni}"
    conf_dir = "{dir}/cni"
"""


def _ctr(socket: Path, *args: str) -> str:
    result = subprocess.run(["ctr", "-a", str(socket), "-n", "k8s.io", *args], capture_output=True, text=True)
    return result.stdout


def _unmount_below(directory: Path) -> None:
    """Unmounts what the kubelet and containerd mounted under `directory`, deepest first, until none is
    left (the kubelet mounts its root directory onto itself, so a point can be mounted twice)."""
    prefix = str(directory.resolve()) + "/"
    for _ in range(10):
        with open("/proc/self/mounts") as mounts:
            points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
