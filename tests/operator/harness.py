"""The stand-in cluster the operator runs against in tests: API server, kubelet, emulator /stats.

- `Cluster`: the FakeApiServer (kmock) on 127.0.0.1 with the CRDs declared and their schemas
  enforced, plus a tiny client (`kubectl` for tests: apply, patch, scale, get, list, delete) and
  `wait_for`, which polls a condition until a deadline: tests never sleep a fixed time.
- `Kubelet`: plays a node for chosen pods: starts, for each, a real emulator HTTP endpoint
  (`iot_emulator.endpoints.http_api`) on 127.0.0.1 over a fake engine view holding the pod's devices, points
  the operator at it (settings.stats_urls), and reports the pod Running and Ready, or crashing.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import aiohttp
import kmock
import yaml

from iot_emulator.config import models
from iot_emulator.endpoints import http_api
from iot_emulator.reporting import messages
from iot_operator import crdgen, pods
from iot_operator import settings as settings_mod
from tests.operator import crdcheck, fakeapi

DEADLINE = 20.0
"""Seconds a test waits for a condition before failing: a guard against hangs, never a pace."""
NS = "lab"
GROUP_PATH = f"/apis/{models.GROUP}/{models.VERSION}/namespaces/{NS}"
T = TypeVar("T")


def declare_crds(api: kmock.KubernetesEmulator) -> None:
    for crd in (crdgen.iotdevice(), crdgen.iotfleet()):
        spec = crd["spec"]
        version = spec["versions"][0]
        api.resources[f"{spec['group']}/{version['name']}/{spec['names']['plural']}"] = kmock.ResourceInfo(
            kind=spec["names"]["kind"],
            singular=spec["names"]["singular"],
            namespaced=True,
            shortnames=set(spec["names"]["shortNames"]),
            subresources=set(version["subresources"]),
            verbs={"get", "list", "watch", "create", "patch", "update", "delete"},
        )


def crd_validators() -> dict[str, fakeapi.Validator]:
    crds = {models.PLURALS["IoTDevice"]: crdgen.iotdevice(), models.PLURALS["IoTFleet"]: crdgen.iotfleet()}
    return {
        plural: (lambda obj, crd=crd: crdcheck.problems(crd, _without_server_fields(obj)))
        for plural, crd in crds.items()
    }


def _without_server_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """What the schema sees: the API server does not check metadata's own fields against the CRD."""
    return {k: v for k, v in obj.items() if k != "status"} | {"metadata": {"name": obj["metadata"]["name"]}}


@dataclasses.dataclass
class Cluster:
    api: fakeapi.FakeApiServer
    url: str
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        async with self.http.request(method, self.url + path, json=body, headers=headers) as resp:
            payload = await resp.json(content_type=None)
            assert resp.status in ok, (resp.status, payload)
            return payload

    async def apply(self, document: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.call("POST", f"{GROUP_PATH}/{models.PLURALS[document['kind']]}", document))

    async def patch(self, plural: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.call("PATCH", f"{GROUP_PATH}/{plural}/{name}", patch))

    async def scale(self, name: str, replicas: int) -> dict[str, Any]:
        """`kubectl scale iotfleet NAME --replicas=N`."""
        return dict(await self.call("PATCH", f"{GROUP_PATH}/iotfleets/{name}/scale", {"spec": {"replicas": replicas}}))

    async def get(self, plural: str, name: str) -> dict[str, Any] | None:
        async with self.http.get(f"{self.url}{GROUP_PATH}/{plural}/{name}") as resp:
            return dict(await resp.json()) if resp.status == 200 else None

    async def delete(self, plural: str, name: str) -> None:
        await self.call("DELETE", f"{GROUP_PATH}/{plural}/{name}")

    async def pods(self, selector: str = f"{pods.MANAGED_BY}={pods.MANAGER}") -> dict[str, dict[str, Any]]:
        listing = await self.call("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector={selector}")
        return {p["metadata"]["name"]: p for p in listing["items"]}

    async def events(self, name: str) -> list[dict[str, Any]]:
        listing = await self.call("GET", f"/api/v1/namespaces/{NS}/events")
        return [e for e in listing["items"] if e.get("involvedObject", {}).get("name") == name]

    async def condition(self, plural: str, name: str, type_: str) -> dict[str, Any] | None:
        obj = await self.get(plural, name)
        found = [c for c in ((obj or {}).get("status") or {}).get("conditions", []) if c["type"] == type_]
        return found[0] if found else None


@contextlib.asynccontextmanager
async def cluster() -> AsyncIterator[Cluster]:
    api = fakeapi.FakeApiServer(validators=crd_validators())
    api.resources.load_bundled()
    declare_crds(api)
    async with api, kmock.Server(api), aiohttp.ClientSession() as http:
        yield Cluster(api, str(api.url).rstrip("/"), http)


class FakeEngine:
    """The engine view http_api serves: a pod's devices, as the real engine reports them."""

    def __init__(self, device_ids: list[str], state: str = "bound", uptime: float = 30.0) -> None:
        self.events = messages.Fanout()
        self.rows = {
            d: {
                "device_id": d,
                "mac": f"44:19:b6:00:{i // 256:02x}:{i % 256:02x}",
                "hostname": d,
                "profile": "tiny-cam",
                "state": state,
                "dhcp_state": "bound" if state == "bound" else "selecting",
                "current_ip": f"10.77.{i // 250}.{i % 250 + 2}" if state == "bound" else None,
                "packets_sent": 10,
                "bytes_sent": 1000,
                "packets_received": 4,
                "bytes_received": 400,
                "packet_rate": 0.5,
                "uptime_seconds": uptime,
                "protocols": {"dhcp": 4, "arp": 6},
                "lease": {
                    "server_id": "10.77.0.1",
                    "lease_time": 600,
                    "expires_in": 540.0,
                    "t1_in": 240.0,
                    "t2_in": 465.0,
                }
                if state == "bound"
                else None,
            }
            for i, d in enumerate(device_ids)
        }

    def device_stats(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows.values()]

    def totals(self) -> dict[str, Any]:
        rows = self.rows.values()
        states = {s: sum(1 for r in rows if r["state"] == s) for s in ("pending", "binding", "bound", "stopped")}
        sums = {
            k: sum(int(r[k]) for r in rows)
            for k in ("packets_sent", "bytes_sent", "packets_received", "bytes_received")
        }
        return {"devices": len(self.rows), **states, **sums, "uptime_seconds": 30.0, "interface": "net1"}


class Kubelet:
    """Runs chosen pods: a real /stats endpoint each, and the pod status a kubelet would write."""

    def __init__(self, cluster: Cluster, settings: settings_mod.OperatorSettings) -> None:
        self.cluster = cluster
        self.settings = settings
        self.engines: dict[str, FakeEngine] = {}
        self._servers: list[http_api.Server] = []

    async def start(self, name: str, state: str = "bound", uptime: float = 30.0) -> FakeEngine:
        pod = (await self.cluster.pods())[name]
        manifest = yaml.safe_load(pod["metadata"]["annotations"][pods.MANIFEST])
        engine = FakeEngine(_device_ids(manifest), state, uptime)
        server = await http_api.start(engine, "127.0.0.1", 0)
        self._servers.append(server)
        self.engines[name] = engine
        self.settings.stats_urls[f"{NS}/{name}"] = f"http://127.0.0.1:{server.port}"
        await self.report(name, _running())
        return engine

    async def crash(self, name: str, restarts: int = 3) -> None:
        waiting = {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
        status = _running(ready=False)
        status["containerStatuses"] = [
            {
                "name": pods.CONTAINER,
                "ready": False,
                "restartCount": restarts,
                "state": {"waiting": waiting},
                "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}},
            }
        ]
        await self.report(name, status)

    async def report(self, name: str, status: dict[str, Any]) -> None:
        await self.cluster.call("PATCH", f"/api/v1/namespaces/{NS}/pods/{name}/status", {"status": status})

    async def close(self) -> None:
        for server in self._servers:
            await server.close()


def _running(ready: bool = True) -> dict[str, Any]:
    return {
        "phase": "Running",
        "podIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [{"name": pods.CONTAINER, "ready": ready, "restartCount": 0, "state": {"running": {}}}],
    }


def _device_ids(manifest: dict[str, Any]) -> list[str]:
    if manifest["kind"] == "IoTDevice":
        return [manifest["metadata"]["name"]]
    spec = manifest["spec"]
    members = spec.get("members") or {"start": 0, "end": spec["replicas"]}
    end = min(members["end"], spec["replicas"])
    return [pods.device_id(manifest["metadata"]["name"], i, spec["replicas"]) for i in range(members["start"], end)]
