"""The operator at scale on the real API server: 100 fleets, 50,000 devices, over 10 simulated nodes.

Simulated nodes run no containers: a fake-node agent (this script) registers Node objects, renews
their leases, marks every pod scheduled on them Running with an address of its own (127.77.x.y),
and a stats server answers each pod's /stats with synthetic totals (every device bound). The
operator runs as its own process, in a network namespace of its own (where 127.0.0.0/8 is its loopback
and the stats server listens; the API server is reached through `cluster/apiforward.py`).

Measured: seconds until every fleet's status shows all devices bound and Ready; API requests per
second by the operator in steady state (the audit log, by its user name); the operator's RSS and CPU.
Baseline, in the same run: the API server's own floor for the same objects, i.e. a plain client
creating the same number of pods and patching their status once each.

    sudo .venv/bin/python bench/cluster_scale.py [--fleets 100 --devices 500 --nodes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client import ApiClient, CoordinationV1Api, CoreV1Api

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "cluster"))
import controlplane  # noqa: E402
import pki  # noqa: E402
from iot_emulator.lab import netns  # noqa: E402
from iot_kube import client as kube_client  # noqa: E402
from iot_kube import connection  # noqa: E402

STATS_PORT = 18080
OPERATOR_USER = "iot-bench-operator"
NODE_LABEL = "iotemu.io/simulated-node"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeNodes:
    """Node objects, their leases and their pods' status: what kubelets would do, without containers."""

    def __init__(self, api: ApiClient, count: int) -> None:
        self.core, self.leases = CoreV1Api(api), CoordinationV1Api(api)
        self.names = [f"sim-node-{i:02d}" for i in range(count)]
        self.pods: dict[str, int] = {}
        """Pod IP -> devices it runs (its annotation), for the stats server."""
        self._next = 0

    async def register(self) -> None:
        for name in self.names:
            node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {NODE_LABEL: "true"}}}
            await kube_client.send(self.core.create_node(node, **kube_client.RAW))
        await self.heartbeat()

    async def heartbeat(self) -> None:
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "500"}
        for name in self.names:
            status = {
                "status": {
                    "capacity": capacity,
                    "allocatable": capacity,
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "simulated",
                            "lastHeartbeatTime": now(),
                            "lastTransitionTime": now(),
                        }
                    ],
                }
            }
            await kube_client.send(
                self.core.patch_node_status(name, status, **kube_client.MERGE_PATCH, **kube_client.RAW)
            )
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": name,
                    "leaseDurationSeconds": 40,
                    "renewTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                },
            }
            try:
                await kube_client.send(self.leases.create_namespaced_lease("kube-node-lease", lease, **kube_client.RAW))
            except kube_client.ApiException:  # renewed: only the time moves
                renew = {"spec": lease["spec"]}
                await kube_client.send(
                    self.leases.patch_namespaced_lease(
                        name, "kube-node-lease", renew, **kube_client.MERGE_PATCH, **kube_client.RAW
                    )
                )

    async def run_pods(self, namespace: str) -> None:
        """Every pod scheduled on a simulated node: Running and Ready, with an address of its own."""
        seen: set[str] = set()
        while True:
            body = await kube_client.send(self.core.list_namespaced_pod(namespace, **kube_client.RAW))
            for pod in body["items"]:
                name, node = pod["metadata"]["name"], pod["spec"].get("nodeName")
                if node in self.names and name not in seen and not pod["metadata"].get("deletionTimestamp"):
                    seen.add(name)
                    self._next += 1
                    ip = f"127.77.{self._next // 250}.{self._next % 250 + 1}"
                    self.pods[ip] = int((pod["metadata"].get("annotations") or {}).get("iotemu.io/devices", "0"))
                    with contextlib.suppress(kube_client.ApiException):  # gone meanwhile
                        await kube_client.send(
                            self.core.patch_namespaced_pod_status(
                                name, namespace, running(ip), **kube_client.MERGE_PATCH, **kube_client.RAW
                            )
                        )
            await asyncio.sleep(0.5)

    async def remove(self) -> None:
        for name in self.names:
            with contextlib.suppress(kube_client.ApiException):
                await kube_client.send(self.core.delete_node(name, **kube_client.RAW))
            with contextlib.suppress(kube_client.ApiException):
                await kube_client.send(self.leases.delete_namespaced_lease(name, "kube-node-lease", **kube_client.RAW))


def running(ip: str) -> dict[str, Any]:
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": now()}
    container = {
        "name": "emulator",
        "ready": True,
        "restartCount": 0,
        "image": "iot-emulator:bench",
        "imageID": "",
        "state": {"running": {"startedAt": now()}},
    }
    return {
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [ready],
            "containerStatuses": [container],
            "startTime": now(),
        }
    }


async def stats_server(namespace_name: str, nodes: FakeNodes) -> web.AppRunner:
    """/stats for every simulated pod, told apart by the address it was reached at."""

    async def stats(request: web.Request) -> web.Response:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        devices = nodes.pods.get(sock[0] if sock else "", 0)
        totals = {
            "devices": devices,
            "bound": devices,
            "packets_sent": devices * 10,
            "bytes_sent": devices * 1000,
            "packets_received": devices * 10,
            "bytes_received": devices * 1000,
        }
        return web.json_response({"totals": totals, "devices": []})

    app = web.Application()
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    listener = netns.socket_in(namespace_name, socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", STATS_PORT))  # inside the bench's own namespace: its loopback only
    await web.SockSite(runner, listener).start()
    return runner


def fleet(index: int, devices: int, per_pod: int) -> dict[str, Any]:
    network = {"mode": "multus", "attachment": "lan", "nodeSelector": {NODE_LABEL: "true"}}
    spec = {
        "replicas": devices,
        "devicesPerPod": per_pod,
        "template": {"profile": "axis-p3224-lv"},
        "network": network,
        # One OUI per fleet (locally administered): 50,000 MACs hashed into one OUI's 2^24 addresses
        # collide ~74 times (n^2 / 2^25), and the operator rightly refuses a fleet whose MAC another has.
        "macOui": f"02:{index >> 8:02x}:{index & 0xFF:02x}",
    }
    return {
        "apiVersion": "iotemu.io/v1alpha1",
        "kind": "IoTFleet",
        "metadata": {"name": f"fleet-{index:03d}"},
        "spec": spec,
    }


def all_ready(plane: controlplane.ControlPlane, namespace: str, fleets: int, devices: int) -> bool:
    items = json.loads(plane.kubectl("get", "iotfleets", "-n", namespace, "-o", "json").stdout)["items"]
    done = [
        i
        for i in items
        if (i.get("status") or {}).get("boundReplicas") == devices
        and any(c["type"] == "Ready" and c["status"] == "True" for c in i["status"].get("conditions") or [])
    ]
    return len(done) == fleets


def audit_rate(plane: controlplane.ControlPlane, since: float, until: float) -> float:
    count = 0
    with open(plane.audit_log) as log:
        for line in log:
            event = json.loads(line)
            when = dt.datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
            if since <= when <= until and event["user"]["username"] == OPERATOR_USER:
                count += 1
    return count / (until - since)


def process_usage(pid: int) -> tuple[float, float]:
    """(RSS in MB, CPU seconds) of a process and its children (the operator is one process)."""
    rss = (
        int(
            next(
                line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS")
            ).split()[1]
        )
        / 1024
    )
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu


async def baseline(api: ApiClient, namespace: str, pods: int, node: str) -> float:
    """A plain client: create `pods` pods and mark each Running once (the API server's floor for the same work)."""
    core = CoreV1Api(api)
    start = time.monotonic()
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"floor-{i}"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "none"}]},
        }
        async with sem:
            await kube_client.send(core.create_namespaced_pod(namespace, pod, **kube_client.RAW))
            await kube_client.send(
                core.patch_namespaced_pod_status(
                    f"floor-{i}", namespace, running("127.0.0.2"), **kube_client.MERGE_PATCH, **kube_client.RAW
                )
            )

    await asyncio.gather(*(one(i) for i in range(pods)))
    return time.monotonic() - start


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", type=int, default=100)
    parser.add_argument("--devices", type=int, default=500, help="devices per fleet")
    parser.add_argument("--per-pod", type=int, default=250)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of steady state to measure")
    args = parser.parse_args()
    with controlplane.running(controlplane.ControlPlane()) as plane:
        return await run(plane, args)


async def run(plane: controlplane.ControlPlane, args: argparse.Namespace) -> int:
    namespace, space = f"bench-{secrets.token_hex(3)}", f"iotbench{secrets.token_hex(3)}"
    plane.kubectl("apply", "-f", str(ROOT / "crds"))
    plane.kubectl("create", "namespace", namespace)
    ca = pki.Authority.load(plane.pki_dir, Path(f"/tmp/{space}-pki"))
    crt, key = ca.issue("operator", OPERATOR_USER, ["system:masters"])
    kubeconfig = ca.kubeconfig(Path(f"/tmp/{space}-pki/operator.kubeconfig"), plane.server, OPERATOR_USER, crt, key)
    api = kube_client.api_client(await connection.load(kubeconfig=plane.kubeconfig), user_agent="bench")
    nodes = FakeNodes(api, args.nodes)
    subprocess.run(["ip", "netns", "add", space], check=True)
    subprocess.run(["ip", "-n", space, "link", "set", "lo", "up"], check=True)
    forwarder = subprocess.Popen(
        [sys.executable, str(ROOT / "cluster" / "apiforward.py"), space, str(plane.ports.apiserver)]
    )
    operator: subprocess.Popen[bytes] | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        await nodes.register()

        async def heartbeats() -> None:
            while True:
                await asyncio.sleep(10)
                await nodes.heartbeat()

        tasks = [asyncio.create_task(heartbeats()), asyncio.create_task(nodes.run_pods(namespace))]
        runner = await stats_server(space, nodes)
        pods = args.fleets * -(-args.devices // args.per_pod)
        floor = await baseline(api, namespace, pods, nodes.names[0])
        plane.kubectl("delete", "pods", "-n", namespace, "--all", "--grace-period=0", "--force")
        env = {
            **os.environ,
            "IOT_OPERATOR_KUBECONFIG": str(kubeconfig),
            "IOT_OPERATOR_NAMESPACES": json.dumps([namespace]),
            "IOT_OPERATOR_HTTP_PORT": str(STATS_PORT),
            "IOT_OPERATOR_LOG_LEVEL": os.environ.get("BENCH_OPERATOR_LOG_LEVEL", "WARNING"),
        }
        log = open(f"/tmp/{space}-operator.log", "wb")  # noqa: SIM115 - closed with the process
        operator = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{space}", str(Path(sys.executable).parent / "iot-operator")],
            env=env,
            stdout=log,
            stderr=log,
        )
        start = time.monotonic()
        manifests = [fleet(i, args.devices, args.per_pod) for i in range(args.fleets)]
        plane.kubectl("apply", "-n", namespace, "-f", "-", input="\n---\n".join(json.dumps(m) for m in manifests))
        while not all_ready(plane, namespace, args.fleets, args.devices):
            await asyncio.sleep(1)
        converged = time.monotonic() - start
        steady_from = time.time()
        cpu_before = process_usage(operator.pid)[1]
        await asyncio.sleep(args.steady)
        rate = audit_rate(plane, steady_from, time.time())
        rss, cpu_after = process_usage(operator.pid)
        total = args.fleets * args.devices
        print(f"{total} devices in {args.fleets} fleets ({pods} pods) on {args.nodes} simulated nodes")
        print(
            f"  all Ready after {converged:.1f} s (goal < 60 s); floor for the same pods: {floor:.1f} s "
            f"-> {converged / floor:.2f}x the API server's floor"
        )
        print(f"  steady state: {rate:.2f} API requests/s by the operator (goal < 20/s)")
        busy = (cpu_after - cpu_before) / args.steady * 100
        print(f"  operator: RSS {rss:.0f} MB (goal < 300 MB), CPU {busy:.1f}% of a core in steady state")
        await runner.cleanup()
    finally:
        for task in tasks:
            task.cancel()
        # the operator removes its finalizers as the fleets go; then the namespace can go
        plane.kubectl("delete", "iotfleets", "-n", namespace, "--all", "--timeout=120s", check=False)
        if operator is not None:
            operator.terminate()
            operator.wait(30)
        plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        await nodes.remove()
        await api.close()
        forwarder.terminate()
        forwarder.wait(10)
        subprocess.run(["ip", "netns", "del", space], check=False)
        subprocess.run(["rm", "-rf", f"/tmp/{space}-pki"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
