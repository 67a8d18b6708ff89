"""The pods a resource should have: `desired_pods(resource, owner, settings, library)`, a pure function.

An IoTDevice gets one pod. An IoTFleet is cut into shards of at most `devicesPerPod` members, member
`i` always in shard `i // devicesPerPod`: scaling up adds shards at the end, scaling down removes the
last ones, and no device ever moves to another pod or changes MAC. Each pod carries the manifest of
its own devices (an IoTFleet document with `spec.members`, or the IoTDevice) in an annotation that a
downward-API volume shows to `iotemu run -f` as a file. Why not a ConfigMap per pod: one object
instead of two (no ordering, no orphans, no extra RBAC), and a pod's manifest cannot change under
it, which is what the roll logic wants: a pod whose desired form changed is replaced, never edited.

The `iotemu.io/spec-hash` annotation is a hash of everything else in the desired pod: when it differs
from the running pod's, the pod is replaced. Things that do not change a pod's devices (another
shard's size, the fleet's replicas beyond this shard) are kept out of the pod, so they roll nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zlib
from typing import Any

import yaml

from iot_emulator.config import manifests, models
from iot_emulator.profiles import catalog
from iot_emulator.scenarios import firmware
from iot_kube import emulator_pods
from iot_operator import settings as settings_mod

PART_OF = "iot-emulator"
MANAGER = emulator_pods.MANAGER
MANAGED_BY = emulator_pods.MANAGED_BY
KIND_LABEL = emulator_pods.KIND_LABEL
SHARD_LABEL = "iotemu.io/shard"
HASH = "iotemu.io/spec-hash"
MANIFEST = "iotemu.io/manifest"
DEVICES = "iotemu.io/devices"
MEMBERS = "iotemu.io/members"
PORT = emulator_pods.HTTP_PORT
NETWORKS = "k8s.v1.cni.cncf.io/networks"
MANIFEST_DIR = "/etc/iotemu"
STATE_DIR = "/var/lib/iotemu"
CONTAINER = "emulator"


class SpecError(ValueError):
    """The resource passed the schema but cannot be run (e.g. an unknown profile); the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class Owner:
    """The resource a pod belongs to, as its ownerReference and labels name it."""

    kind: str
    name: str
    namespace: str
    uid: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.kind, self.name)

    @property
    def selector(self) -> str:
        """Label selector of the resource's pods (IoTFleet.status.selector, the scale subresource's)."""
        return f"{KIND_LABEL[self.kind]}={self.name}"


@dataclasses.dataclass(frozen=True, slots=True)
class Shard:
    """Members [start, end) of a fleet, run by pod number `index`."""

    index: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def shards(spec: models.FleetSpec) -> list[Shard]:
    """The fleet's shards: member i in shard i // devicesPerPod, the last one possibly short."""
    per = spec.devices_per_pod
    first = spec.members.start if spec.members else 0
    end = min(spec.members.end, spec.replicas) if spec.members else spec.replicas
    return [
        Shard(k, max(first, k * per), min(end, (k + 1) * per))
        for k in range(first // per, -(-end // per))
        if max(first, k * per) < min(end, (k + 1) * per)
    ]


def pod_name(owner: Owner, shard: Shard | None = None) -> str:
    return f"iotdev-{owner.name}" if shard is None else f"iotfleet-{owner.name}-{shard.index}"


def desired_pods(
    resource: models.IoTDevice | models.IoTFleet,
    owner: Owner,
    settings: settings_mod.OperatorSettings,
    library: catalog.Library,
) -> list[dict[str, Any]]:
    """Every pod the resource should have now, with its hash annotation; none when it is not running."""
    if not resource.spec.running:
        return []
    if resource.spec.scenario is not None and (problems := firmware.check(resource.spec.scenario, library)):
        raise SpecError("; ".join(f"spec.scenario.{p}" for p in problems))  # the emulator would refuse it
    if (problem := _ipv6_problem(resource, library)) is not None:
        raise SpecError(problem)  # the emulator would refuse it
    if isinstance(resource, models.IoTDevice):
        mac = _device_mac(resource, library) if _is_multus(resource.spec.network) else None
        return [_pod(owner, None, _device_manifest(resource), 1, resource.spec.network, mac, settings)]
    return [
        _pod(owner, shard, _shard_manifest(resource, shard), shard.size, resource.spec.network, None, settings)
        for shard in shards(resource.spec)
    ]


def _ipv6_problem(resource: models.IoTDevice | models.IoTFleet, library: catalog.Library) -> str | None:
    """ "ipv6" listed for an IPv4-only profile (`manifests.check_ipv6`), said in the status, not by a failing pod."""
    spec = resource.spec if isinstance(resource, models.IoTDevice) else resource.spec.template
    field = "spec.protocols" if isinstance(resource, models.IoTDevice) else "spec.template.protocols"
    if spec.profile not in library:
        return None  # an unknown profile: the emulator names it (and _device_mac for Multus)
    prof = library.get(spec.profile)
    try:
        manifests.check_ipv6(prof, tuple(spec.protocols if spec.protocols is not None else prof.protocols), field)
    except manifests.NoIpv6 as exc:
        return str(exc)
    return None


def _device_manifest(resource: models.IoTDevice) -> dict[str, Any]:
    spec = resource.spec.model_copy(update={"network": None})
    return {
        "apiVersion": models.API_VERSION,
        "kind": "IoTDevice",
        "metadata": {"name": resource.metadata.name},
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def manifest_replicas(total: int, end: int) -> int:
    """`replicas` for a shard's manifest: its end. Device ids have a fixed width (`<fleet>-0042`,
    growing past 9999 without renaming), so a shard need not know the whole fleet's count, and a
    scale changes only the pods whose devices change."""
    return end


def device_id(fleet: str, index: int, replicas: int) -> str:
    """The id `manifests.expand` gives fleet member `index` (a test keeps the two equal)."""
    return f"{fleet}-{index:04d}"


def _shard_manifest(resource: models.IoTFleet, shard: Shard) -> dict[str, Any]:
    spec = resource.spec.model_copy(
        update={
            "network": None,
            # a scenario's `share`/`count` targets are drawn from the whole fleet: the shard must know its size
            "replicas": resource.spec.replicas
            if resource.spec.scenario
            else manifest_replicas(resource.spec.replicas, shard.end),
            "members": models.MemberRange(start=shard.start, end=shard.end),
        }
    )
    return {
        "apiVersion": models.API_VERSION,
        "kind": "IoTFleet",
        "metadata": {"name": resource.metadata.name},
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def _device_mac(resource: models.IoTDevice, library: catalog.Library) -> str:
    """The device's MAC, as the emulator will derive it (the per-pod Multus MAC must be the same)."""
    running = resource.model_copy(update={"spec": resource.spec.model_copy(update={"running": True})})
    try:
        return manifests.expand([running], library)[0].mac
    except manifests.ManifestError as exc:
        raise SpecError("; ".join(exc.problems)) from None


def _is_multus(network: models.NetworkSpec | None) -> bool:
    return network is not None and network.mode is models.NetworkMode.multus


def http_port(owner: Owner, name: str, host_network: bool, settings: settings_mod.OperatorSettings) -> int:
    """The emulator's HTTP port: fixed in a pod's own namespace, spread by name on a shared node."""
    if not host_network:
        return settings.http_port
    return settings.host_port_base + zlib.crc32(f"{owner.namespace}/{name}".encode()) % settings.host_port_span


def _pod(
    owner: Owner,
    shard: Shard | None,
    manifest: dict[str, Any],
    devices: int,
    network: models.NetworkSpec | None,
    mac: str | None,
    settings: settings_mod.OperatorSettings,
) -> dict[str, Any]:
    network = network or models.NetworkSpec()
    host_network = network.mode is models.NetworkMode.host_network
    name = pod_name(owner, shard)
    port = http_port(owner, name, host_network, settings)
    interface = network.interface or ("eth0" if host_network else "net1")
    labels = {
        "app.kubernetes.io/name": PART_OF,
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": "emulator",
        "app.kubernetes.io/part-of": PART_OF,
        MANAGED_BY: MANAGER,
        KIND_LABEL[owner.kind]: owner.name,
    }
    annotations = {
        MANIFEST: yaml.safe_dump(manifest, sort_keys=False),
        DEVICES: str(devices),
        PORT: str(port),
    }
    if shard is not None:
        labels[SHARD_LABEL] = str(shard.index)
        annotations[MEMBERS] = f"{shard.start}-{shard.end}"
    if not host_network:
        annotations[NETWORKS] = json.dumps([_attachment(network, interface, mac)], separators=(",", ":"))
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": models.API_VERSION,
                    "kind": owner.kind,
                    "name": owner.name,
                    "uid": owner.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": _pod_spec(network, host_network, interface, port, devices, settings),
    }
    pod["metadata"]["annotations"][HASH] = spec_hash(pod)
    return pod


def _attachment(network: models.NetworkSpec, interface: str, mac: str | None) -> dict[str, str]:
    assert network.attachment is not None  # the model's validator: multus needs an attachment
    namespace, _, name = network.attachment.rpartition("/")
    attachment = {"name": name, "interface": interface}
    if namespace:
        attachment["namespace"] = namespace
    if mac is not None:  # one device per pod: the attachment itself gets its MAC (tuning plugin, `mac` capability)
        attachment["mac"] = mac
    return attachment


def _capture_env(settings: settings_mod.OperatorSettings) -> list[dict[str, Any]]:
    """The capture token from its Secret (optional: a pod starts without it and serves no capture)."""
    if settings.capture_secret is None:
        return []
    ref = {"name": settings.capture_secret, "key": "token", "optional": True}
    return [{"name": "IOTEMU_CAPTURE_TOKEN", "valueFrom": {"secretKeyRef": ref}}]


def _pod_spec(
    network: models.NetworkSpec,
    host_network: bool,
    interface: str,
    port: int,
    devices: int,
    settings: settings_mod.OperatorSettings,
) -> dict[str, Any]:
    args = ["-f", f"{MANIFEST_DIR}/manifest.yaml", "--interface", interface, "--http-port", str(port)]
    args += ["--http-host", "$(POD_IP)", "--json-output", "--state-dir", STATE_DIR]
    if network.promiscuous:
        args.append("--promiscuous")
    # NET_RAW for the raw socket; NET_ADMIN where many devices share it: the engine then raises the socket
    # buffers (SO_RCVBUFFORCE), without which thousands of concurrent DHCP exchanges drop frames.
    capabilities = ["NET_RAW", "NET_ADMIN"] if devices > 1 else ["NET_RAW"]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": settings.emulator_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": list(settings.emulator_command),
        "args": args,
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}, *_capture_env(settings)],
        "ports": [{"name": "http", "containerPort": port, **({"hostPort": port} if host_network else {})}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "resources": {
            "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
            "limits": {"memory": settings.memory_limit},
        },
        "securityContext": {
            # Capabilities added to a non-root process end up outside its effective set: the emulator runs
            # as root, with everything else dropped and no way to gain more.
            "runAsUser": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": capabilities},
        },
        "volumeMounts": [
            {"name": "manifest", "mountPath": MANIFEST_DIR, "readOnly": True},
            {"name": "state", "mountPath": STATE_DIR},
        ],
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 15,  # the emulator releases its leases and exits within 5 s
        "automountServiceAccountToken": False,  # the emulator never calls the API server
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [
            {
                "name": "manifest",
                "downwardAPI": {
                    "items": [
                        {"path": "manifest.yaml", "fieldRef": {"fieldPath": f"metadata.annotations['{MANIFEST}']"}}
                    ]
                },
            },
            {"name": "state", "emptyDir": {}},
        ],
    }
    if host_network:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if network.node_selector:
        spec["nodeSelector"] = dict(network.node_selector)
    return spec


def spec_hash(pod: dict[str, Any]) -> str:
    """Hash of the pod as desired, without the hash itself: equal hashes, nothing to roll."""
    annotations = {k: v for k, v in pod["metadata"].get("annotations", {}).items() if k != HASH}
    body = {"metadata": {**pod["metadata"], "annotations": annotations}, "spec": pod["spec"]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
