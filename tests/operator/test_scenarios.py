"""The real operator (kopf and every handler) against the stand-in cluster: pods, scaling, status."""

from __future__ import annotations

import json
from typing import Any

import yaml

from iot_emulator.config import manifests, models
from iot_emulator.profiles import catalog
from iot_operator import pods
from iot_operator import settings as settings_mod
from tests import poll
from tests.operator import harness
from tests.operator.conftest import running_operator
from tests.operator.harness import NS

MULTUS = {"mode": "multus", "attachment": "lab/lan-bridge"}


def device(name: str = "cam1", **spec: Any) -> dict[str, Any]:
    spec = {"profile": "tiny-cam", **spec}
    return {
        "apiVersion": models.API_VERSION,
        "kind": "IoTDevice",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def fleet(name: str = "cams", replicas: int = 1000, **spec: Any) -> dict[str, Any]:
    spec = {"replicas": replicas, "devicesPerPod": 250, "template": {"profile": "tiny-cam"}, **spec}
    return {
        "apiVersion": models.API_VERSION,
        "kind": "IoTFleet",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def devices_of(pod: dict[str, Any], library: catalog.Library) -> list[tuple[str, str]]:
    """(device id, MAC) of what the emulator in the pod will run, from the manifest it will read."""
    text = pod["metadata"]["annotations"][pods.MANIFEST]
    return [(d.device_id, d.mac) for d in manifests.expand(manifests.parse_documents(text), library)]


async def pods_named(cluster: harness.Cluster, names: set[str]) -> dict[str, dict[str, Any]] | None:
    current = await cluster.pods()
    return current if set(current) == names else None


async def no_pods(cluster: harness.Cluster) -> bool:
    return not await cluster.pods()


async def test_an_iotdevice_gets_one_pod_with_the_right_spec(
    cluster: harness.Cluster, operator: settings_mod.OperatorSettings, tiny_library: catalog.Library
) -> None:
    created = await cluster.apply(device(network=MULTUS, protocols=["arp", "dhcp"]))
    pod = (await poll.until_async(lambda: pods_named(cluster, {"iotdev-cam1"}), what="the device's pod"))["iotdev-cam1"]

    meta, spec = pod["metadata"], pod["spec"]
    assert meta["ownerReferences"] == [
        {
            "apiVersion": models.API_VERSION,
            "kind": "IoTDevice",
            "name": "cam1",
            "uid": created["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "iot-operator"
    assert meta["labels"]["app.kubernetes.io/instance"] == "cam1"
    [container] = spec["containers"]
    assert container["image"] == "registry.example/iot-emulator:1.2.3"
    assert container["command"] == ["iotemu", "run"]
    assert container["args"][:4] == ["-f", "/etc/iotemu/manifest.yaml", "--interface", "net1"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "hostNetwork" not in spec
    [(device_id, mac)] = devices_of(pod, tiny_library)
    assert device_id == "cam1"
    assert json.loads(meta["annotations"]["k8s.v1.cni.cncf.io/networks"]) == [
        {"name": "lan-bridge", "namespace": "lab", "interface": "net1", "mac": mac}
    ]


async def test_host_network_device_uses_the_node_interface(
    cluster: harness.Cluster, operator: settings_mod.OperatorSettings
) -> None:
    await cluster.apply(device(network={"interface": "enp3s0", "promiscuous": True, "nodeSelector": {"lab": "a"}}))
    pod = (await poll.until_async(lambda: pods_named(cluster, {"iotdev-cam1"}), what="the device's pod"))["iotdev-cam1"]
    spec, [container] = pod["spec"], pod["spec"]["containers"]
    assert spec["hostNetwork"] is True and spec["nodeSelector"] == {"lab": "a"}
    assert container["args"][2:4] == ["--interface", "enp3s0"] and "--promiscuous" in container["args"]
    port = container["ports"][0]
    assert port["hostPort"] == port["containerPort"] == int(pod["metadata"]["annotations"][pods.PORT])


async def test_a_fleet_is_sharded_and_scaling_never_moves_a_device(
    cluster: harness.Cluster, operator: settings_mod.OperatorSettings, tiny_library: catalog.Library
) -> None:
    await cluster.apply(fleet(replicas=1000))
    names = {f"iotfleet-cams-{k}" for k in range(4)}
    first = await poll.until_async(lambda: pods_named(cluster, names), what="4 pods of 250")
    assert [len(devices_of(first[f"iotfleet-cams-{k}"], tiny_library)) for k in range(4)] == [250] * 4
    before = {d for pod in first.values() for d in devices_of(pod, tiny_library)}
    assert len(before) == 1000 and len({mac for _, mac in before}) == 1000

    scale = await cluster.scale("cams", 1200)
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1200
    grown = await poll.until_async(lambda: pods_named(cluster, names | {"iotfleet-cams-4"}), what="a 5th pod")
    for name in names:  # untouched: same object, same devices
        assert grown[name]["metadata"]["uid"] == first[name]["metadata"]["uid"]
    after = {d for pod in grown.values() for d in devices_of(pod, tiny_library)}
    assert before < after and len(after) == 1200

    await cluster.scale("cams", 300)
    shrunk = await poll.until_async(
        lambda: pods_named(cluster, {"iotfleet-cams-0", "iotfleet-cams-1"}), what="2 pods left"
    )
    assert shrunk["iotfleet-cams-0"]["metadata"]["uid"] == first["iotfleet-cams-0"]["metadata"]["uid"]
    kept = {d for pod in shrunk.values() for d in devices_of(pod, tiny_library)}
    assert len(kept) == 300 and kept < before  # the last shard was cut, never renumbered


async def test_running_false_removes_the_pods_and_keeps_the_resource(
    cluster: harness.Cluster, operator: settings_mod.OperatorSettings
) -> None:
    await cluster.apply(fleet(replicas=500))
    await poll.until_async(lambda: pods_named(cluster, {"iotfleet-cams-0", "iotfleet-cams-1"}), what="2 pods")
    await cluster.patch("iotfleets", "cams", {"spec": {"running": False}})
    await poll.until_async(lambda: no_pods(cluster), what="no pod")

    async def stopped() -> dict[str, Any] | None:
        ready = await cluster.condition("iotfleets", "cams", "Ready")
        return ready if ready and ready["reason"] == "Stopped" else None

    ready = await poll.until_async(stopped, what="Ready=False, reason Stopped")
    assert ready["status"] == "False" and ready["observedGeneration"] == 2
    assert await cluster.get("iotfleets", "cams") is not None


async def test_a_spec_change_rolls_the_pod(cluster: harness.Cluster, operator: settings_mod.OperatorSettings) -> None:
    await cluster.apply(device())
    old = (await poll.until_async(lambda: pods_named(cluster, {"iotdev-cam1"}), what="the pod"))["iotdev-cam1"]
    await cluster.patch("iotdevices", "cam1", {"spec": {"trafficInterval": 30}})

    async def replaced() -> dict[str, Any] | None:
        pod = (await cluster.pods()).get("iotdev-cam1")
        return pod if pod and pod["metadata"]["uid"] != old["metadata"]["uid"] else None

    new = await poll.until_async(replaced, what="a new pod")
    assert new["metadata"]["annotations"][pods.HASH] != old["metadata"]["annotations"][pods.HASH]
    assert yaml.safe_load(new["metadata"]["annotations"][pods.MANIFEST])["spec"]["trafficInterval"] == 30
    await poll.until_async(lambda: _events(cluster, "cam1", "RollingPods"), what="a RollingPods event")


async def test_device_status_comes_from_the_pods_stats(
    cluster: harness.Cluster, operator: settings_mod.OperatorSettings, kubelet: harness.Kubelet
) -> None:
    await cluster.apply(device())
    await poll.until_async(lambda: pods_named(cluster, {"iotdev-cam1"}), what="the pod")
    await kubelet.start("iotdev-cam1")

    async def bound() -> dict[str, Any] | None:
        obj = await cluster.get("iotdevices", "cam1")
        return obj if obj and (obj.get("status") or {}).get("phase") == "Bound" else None

    status = (await poll.until_async(bound, what="status.phase Bound"))["status"]
    assert status["ip"] == "10.77.0.2" and status["pod"] == "iotdev-cam1"
    assert status["traffic"]["packetsSent"] == 10 and status["protocols"] == {"dhcp": 4, "arp": 6}
    assert status["observedGeneration"] == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True" and conditions["Ready"]["observedGeneration"] == 1
    assert conditions["Degraded"]["status"] == "False"
    # kopf posts events asynchronously
    await poll.until_async(lambda: _events(cluster, "cam1", "Ready"), what="a Ready event")
    assert await _events(cluster, "cam1", "PodsCreated")


async def test_a_crashing_pod_degrades_the_resource_and_posts_a_warning(
    cluster: harness.Cluster, operator: settings_mod.OperatorSettings, kubelet: harness.Kubelet
) -> None:
    await cluster.apply(device())
    await poll.until_async(lambda: pods_named(cluster, {"iotdev-cam1"}), what="the pod")
    await kubelet.crash("iotdev-cam1")

    async def degraded() -> dict[str, Any] | None:
        condition = await cluster.condition("iotdevices", "cam1", "Degraded")
        return condition if condition and condition["status"] == "True" else None

    condition = await poll.until_async(degraded, what="Degraded=True")
    assert condition["reason"] == "EmulatorCrashing" and "CrashLoopBackOff" in condition["message"]
    warnings = await poll.until_async(
        lambda: _events(cluster, "cam1", "EmulatorCrashing"), what="a Warning event about the crash"
    )
    assert warnings[0]["type"] == "Warning"
    assert (await cluster.get("iotdevices", "cam1"))["status"]["phase"] == "Failed"


async def _events(cluster: harness.Cluster, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in await cluster.events(name) if e["reason"] == reason]


async def test_fleet_status_aggregates_its_pods_and_lists_few_failing_devices(
    cluster: harness.Cluster, operator: settings_mod.OperatorSettings, kubelet: harness.Kubelet
) -> None:
    await cluster.apply(fleet(replicas=500))
    await poll.until_async(lambda: pods_named(cluster, {"iotfleet-cams-0", "iotfleet-cams-1"}), what="2 pods")
    await kubelet.start("iotfleet-cams-0")
    await kubelet.start("iotfleet-cams-1", state="binding", uptime=300.0)  # no lease for 5 min

    async def aggregated() -> dict[str, Any] | None:
        obj = await cluster.get("iotfleets", "cams")
        status = (obj or {}).get("status") or {}
        return status if status.get("failingCount") == 250 else None

    status = await poll.until_async(aggregated, what="the fleet's status")
    assert status["boundReplicas"] == 250 and status["replicas"] == 500 and status["pods"] == 2
    assert status["traffic"]["packetsSent"] == 5000
    assert status["selector"] == "iotemu.io/iotfleet=cams"
    assert len(status["failingDevices"]) == models.MAX_FAILING_DEVICES
    assert status["failingDevices"][0]["device"] == "cams-0250"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "False" and conditions["Degraded"]["reason"] == "DevicesNotBound"
    scale = await cluster.call("GET", f"{harness.GROUP_PATH}/iotfleets/cams/scale")
    assert scale["status"] == {"replicas": 500, "selector": "iotemu.io/iotfleet=cams"}


async def test_deleting_the_resource_deletes_its_pods(
    cluster: harness.Cluster, operator: settings_mod.OperatorSettings
) -> None:
    await cluster.apply(fleet(replicas=300))
    await poll.until_async(lambda: pods_named(cluster, {"iotfleet-cams-0", "iotfleet-cams-1"}), what="2 pods")
    await cluster.delete("iotfleets", "cams")
    await poll.until_async(lambda: no_pods(cluster), what="no pod")
    assert await poll.until_async(lambda: _gone(cluster), what="the resource gone (finalizer removed)")


async def _gone(cluster: harness.Cluster) -> bool:
    return await cluster.get("iotfleets", "cams") is None


async def test_a_restarted_operator_adopts_the_pods_it_finds(
    cluster: harness.Cluster, operator_settings: settings_mod.OperatorSettings
) -> None:
    names = {f"iotfleet-cams-{k}" for k in range(4)}
    async with running_operator(operator_settings):
        await cluster.apply(fleet(replicas=1000))
        first = await poll.until_async(lambda: pods_named(cluster, names), what="4 pods")
    async with running_operator(operator_settings):
        await cluster.scale("cams", 1250)  # the new operator's first passes must also see this through
        after = await poll.until_async(lambda: pods_named(cluster, names | {"iotfleet-cams-4"}), what="a 5th pod")
    assert {n: after[n]["metadata"]["uid"] for n in names} == {n: first[n]["metadata"]["uid"] for n in names}


async def test_pods_are_watched_with_a_server_side_selector(
    cluster: harness.Cluster, operator: settings_mod.OperatorSettings
) -> None:
    async def pod_watches() -> list[str]:
        return [r.params.get("labelSelector", "") for r in cluster.api if r.url.path == "/api/v1/pods" and r.params]

    selectors = await poll.until_async(pod_watches, what="kopf's list or watch of pods")
    assert set(selectors) == {"app.kubernetes.io/managed-by=iot-operator"}


async def test_two_resources_deriving_one_mac_run_only_the_older(
    cluster: harness.Cluster, operator: settings_mod.OperatorSettings, tiny_library: catalog.Library
) -> None:
    """cam-222 and cam-4245 (created by kubectl, no spec.mac) derive the same MAC, each in its own pod."""
    await cluster.apply(device("cam-222"))
    first = await poll.until_async(lambda: pods_named(cluster, {"iotdev-cam-222"}), what="the older device's pod")
    await cluster.apply(device("cam-4245"))

    async def clashing() -> dict[str, Any] | None:
        condition = await cluster.condition("iotdevices", "cam-4245", "Degraded")
        return condition if condition and condition["status"] == "True" else None

    condition = await poll.until_async(clashing, what="Degraded=True on the newer device")
    [(_, mac)] = devices_of(first["iotdev-cam-222"], tiny_library)
    assert condition["reason"] == "MacClash"
    assert condition["message"].startswith(f"MAC {mac} is already used by IoTDevice/cam-222; set spec.mac")
    assert set(await cluster.pods()) == {"iotdev-cam-222"}  # no duplicate on the LAN
    ready = await cluster.condition("iotdevices", "cam-222", "Degraded")
    assert ready is None or ready["status"] == "False"
    assert await poll.until_async(
        lambda: _events(cluster, "cam-4245", "MacClash"), what="a Warning event naming the clash"
    )

    await cluster.patch("iotdevices", "cam-4245", {"spec": {"mac": "00:12:34:56:78:01"}})  # a person moves it
    await poll.until_async(
        lambda: pods_named(cluster, {"iotdev-cam-222", "iotdev-cam-4245"}), what="both pods once apart"
    )
