"""What the API server itself refuses at `kubectl apply`: the CRD schemas, their CEL rules, and the
chart's admission policy for unknown profiles; each refusal names the field.

The documents are the operator suite's examples (judged there by pydantic and a CEL stand-in), sent
here with a server-side dry run: the real validation and admission chain, nothing stored.
"""

from __future__ import annotations

import pytest

from iot_emulator.config import models
from tests.cluster.conftest import ROOT, Kube
from tests.operator.test_crds import EXAMPLES, device, fleet

FIELD = {
    "static without address": "spec.dhcp",
    "bad address": "spec.dhcp.address",
    "multicast MAC": "spec.mac",
    "zero MAC": "spec.mac",
    "short MAC": "spec.mac",
    "unknown protocol": "spec.protocols[1]",
    "interval too short": "spec.trafficInterval",
    "unknown field": "spec.colour",
    "multus without attachment": "spec.network",
    "attachment without multus": "spec.network",
    "long interface name": "spec.network.interface",
    "members reversed": "spec.members",
    "members empty": "spec.members",
    "too many replicas": "spec.replicas",
    "negative replicas": "spec.replicas",
    "devicesPerPod zero": "spec.devicesPerPod",
    "bad OUI": "spec.macOui",
    "fleet template static": "spec.template.dhcp",
    "name not a DNS label": "metadata.name",
    "unknown device profile": "spec.profile",
    "unknown fleet profile": "spec.template.profile",
    "scenario unknown kind": "spec.scenario.steps[0].behaviour.kind",
    "scenario two targets": "spec.scenario.steps[0].target",
    "scenario repeat without every": "spec.scenario.steps[0]",
    "scenario churn without duration": "spec.scenario.steps[0]",
    "scenario overlapping repeats": "spec.scenario.steps[0]",
    "scenario zero duration": "spec.scenario.steps[0].duration",
    "scenario field of another kind": "spec.scenario.steps[0].behaviour",
    "scenario without steps": "spec.scenario.steps",
    "vlan 4095": "spec.vlan",
    "vlan priority 8": "spec.vlanPriority",
    # rules across fields sit on the object holding them; their message names the field
    "device outer vlan alone": f'spec: Invalid value: "object": {models.OUTER_VLAN_NEEDS_VLAN}',
    "device priority without vlan": f'spec: Invalid value: "object": {models.PRIORITY_NEEDS_VLAN}',
    "fleet outer vlan alone": f'spec.template: Invalid value: "object": {models.OUTER_VLAN_NEEDS_VLAN}',
    "fleet priority without vlan": f'spec.template: Invalid value: "object": {models.PRIORITY_NEEDS_VLAN}',
}
CASES = [
    *EXAMPLES,
    ("unknown device profile", device(profile="no-such-camera"), False),
    ("unknown fleet profile", fleet(template={"profile": "no-such-camera"}), False),
]


def test_every_refused_example_names_its_field() -> None:
    assert {what for what, _, valid in CASES if not valid} == set(FIELD)


@pytest.mark.parametrize(("what", "document", "valid"), CASES, ids=[c[0] for c in CASES])
def test_the_api_server_judges_like_the_models(
    chart: Kube, namespace: str, what: str, document: dict[str, object], valid: bool
) -> None:
    result = chart.apply(document, "-n", namespace, "--dry-run=server", check=False)
    if valid:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0, f"{what} was accepted"
        assert FIELD[what] in result.stderr, result.stderr


def test_the_cluster_examples_are_accepted_as_they_are(chart: Kube, namespace: str) -> None:
    for example in sorted((ROOT / "examples" / "cluster").glob("*.yaml")):
        result = chart("apply", "-n", namespace, "--dry-run=server", "-f", str(example), check=False)
        assert result.returncode == 0, f"{example.name}: {result.stderr}"
