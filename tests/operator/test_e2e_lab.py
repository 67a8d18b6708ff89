"""End to end: the operator's pods really run (LabKubelet) in a throw-away lab against dnsmasq.

IoTFleet applied -> pods -> `iotemu run` processes with the pods' own arguments -> devices bind
against a real DHCP server -> the fleet's status says so. Then scale 10 -> 50, a new operator,
scale -> 40 -> 5, `running: false`, a template change, delete; pods, processes, the DHCP server's
leases and the status checked at each step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import models
from iot_operator import settings as settings_mod
from tests import poll
from tests.operator import harness
from tests.operator.conftest import running_operator
from tests.operator.harness import NS
from tests.operator.labkubelet import LabKubelet

pytestmark = pytest.mark.lab
DEADLINE = 60.0


def fleet(replicas: int) -> dict[str, Any]:
    spec = {
        "replicas": replicas,
        "devicesPerPod": 25,
        "template": {"profile": "sonoff-mini", "protocols": ["arp", "dhcp"]},
    }
    return {
        "apiVersion": models.API_VERSION,
        "kind": "IoTFleet",
        "metadata": {"name": "plugs", "namespace": NS},
        "spec": spec,
    }


async def status_where(cluster: harness.Cluster, **expected: Any) -> dict[str, Any] | None:
    obj = await cluster.get("iotfleets", "plugs")
    status = (obj or {}).get("status") or {}
    conditions = {c["type"]: c for c in status.get("conditions", [])}
    ready = conditions.get("Ready", {})
    seen = {**status, "ready": ready.get("status"), "readyGeneration": ready.get("observedGeneration")}
    return status if all(seen.get(k) == v for k, v in expected.items()) else None


async def test_a_fleet_binds_scales_stops_changes_and_goes(
    cluster: harness.Cluster, operator_settings: settings_mod.OperatorSettings, dnsmasq_lab: iotlab.Lab, tmp_path: Path
) -> None:
    lab = dnsmasq_lab
    kubelet = LabKubelet(cluster, operator_settings, lab, tmp_path / "node")

    async def bound(n: int, generation: int) -> dict[str, Any]:
        try:
            return await poll.until_async(
                lambda: status_where(cluster, boundReplicas=n, ready="True", readyGeneration=generation),
                DEADLINE,
                f"{n} devices bound, Ready (generation {generation})",
            )
        except AssertionError as exc:
            logs = {name: kubelet.log(name) for name in kubelet.running}
            raise AssertionError(f"{exc}\nemulator logs: {logs}") from None

    async with kubelet:
        async with running_operator(operator_settings):
            await cluster.apply(fleet(10))
            status = await bound(10, 1)
            assert status["pods"] == 1 and len(lab.leases()) == 10

            await cluster.scale("plugs", 50)
            await bound(50, 2)
            assert set(kubelet.running) == {"iotfleet-plugs-0", "iotfleet-plugs-1"}
            assert await poll.until_async(lambda: _leases(lab, 50), DEADLINE, "50 leases in dnsmasq")
            pids = {name: p.proc.pid for name, p in kubelet.running.items()}

        async with running_operator(operator_settings):  # a new operator adopts the pods it finds
            await cluster.scale("plugs", 40)  # the second shard shrinks and is replaced; the first stays full
            await bound(40, 3)
            assert kubelet.running["iotfleet-plugs-0"].proc.pid == pids["iotfleet-plugs-0"]  # never restarted
            assert kubelet.running["iotfleet-plugs-1"].proc.pid != pids["iotfleet-plugs-1"]

            await cluster.scale("plugs", 5)
            status = await bound(5, 4)
            assert status["pods"] == 1 and status["replicas"] == 5
            assert await poll.until_async(lambda: _leases(lab, 5), DEADLINE, "45 leases released")

            await cluster.patch("iotfleets", "plugs", {"spec": {"running": False}})
            await poll.until_async(lambda: _no_processes(kubelet), DEADLINE, "every emulator stopped")
            assert await poll.until_async(lambda: _leases(lab, 0), DEADLINE, "every lease released")

            changed = {"running": True, "template": {"profile": "amazon-echo-dot"}}
            await cluster.patch("iotfleets", "plugs", {"spec": changed})
            await bound(5, 6)

            await cluster.delete("iotfleets", "plugs")
            await poll.until_async(lambda: _no_processes(kubelet), DEADLINE, "the pods gone with their fleet")


async def _leases(lab: iotlab.Lab, count: int) -> bool:
    return len(lab.leases()) == count


async def _no_processes(kubelet: LabKubelet) -> bool:
    return not kubelet.running
