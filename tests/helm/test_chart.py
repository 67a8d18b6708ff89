"""The Helm chart, linted and rendered by Helm's own Go SDK (helm-python-sdk, no helm binary), and every
rendered manifest validated against the Kubernetes schemas (kubernetes-validate, offline)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from iot_dashboard import origin
from iot_dashboard import settings as dashboard_settings
from iot_operator import crdgen
from iot_operator import settings as settings_mod

CHART = Path(__file__).resolve().parents[2] / "helm" / "iot-emulator"
KUBE_VERSION = "1.30.0"
NON_DEFAULT: dict[str, Any] = {
    "app": {"image": {"repository": "registry.lab/iot-app", "tag": "2.0.0"}},
    "emulator": {"image": {"repository": "registry.lab/iot-emulator", "tag": "2.0.0", "pullPolicy": "Always"}},
    "operator": {
        "watchNamespaces": ["lab-a", "lab-b"],
        "resyncInterval": 10,
        "logLevel": "DEBUG",
        "extraEnv": {"IOT_OPERATOR_STATS_TIMEOUT": "5"},
    },
    "dashboard": {
        "ingress": {"enabled": True, "className": "nginx", "host": "iot.lab.example"},
        "service": {"type": "NodePort", "port": 8080},
    },
    "networkAttachment": {"create": True, "bridge": "br-lan"},
}


def render_files(values: dict[str, Any]) -> dict[str, str]:
    with helm.Chart.load(CHART) as chart:
        return chart.render(values, name="lab", namespace="iot", is_install=True)  # type: ignore[no-any-return]


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    files = render_files(values)
    return [d for path, text in files.items() if path.endswith(".yaml") for d in yaml.safe_load_all(text) if d]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def test_lint_is_clean() -> None:
    for values in ({}, NON_DEFAULT):
        report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSION}")
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("values", [{}, NON_DEFAULT], ids=["default", "non-default"])
def test_every_rendered_manifest_is_valid(values: dict[str, Any]) -> None:
    objects = render(values)
    assert objects
    for obj in objects:
        if obj["kind"] == "NetworkAttachmentDefinition":  # a CRD of Multus: no schema here
            assert obj["apiVersion"] == "k8s.cni.cncf.io/v1" and isinstance(obj["spec"]["config"], str)
            continue
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def test_default_install() -> None:
    objects = render({})
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Secret",
        "Service",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    [deployment] = find(objects, "Deployment", "lab-iot-emulator-operator")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "iot-emulator-app:0.1.0" and container["command"] == ["iot-operator"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["IOT_OPERATOR_EMULATOR_IMAGE"] == "iot-emulator:0.1.0" and env["IOT_OPERATOR_NAMESPACES"] == "[]"
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"


def test_operator_environment_is_understood_by_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    [deployment] = find(render(NON_DEFAULT), "Deployment", "lab-iot-emulator-operator")
    for variable in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        monkeypatch.setenv(variable["name"], variable["value"])
    settings = settings_mod.OperatorSettings()
    assert settings.namespaces == ["lab-a", "lab-b"] and settings.resync_interval == 10
    assert settings.emulator_image == "registry.lab/iot-emulator:2.0.0" and settings.image_pull_policy == "Always"
    assert settings.stats_timeout == 5 and settings.liveness_endpoint == "http://0.0.0.0:8081/healthz"


def test_operator_and_dashboard_are_restricted() -> None:
    for deployment in find(render({}), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
            assert security["readOnlyRootFilesystem"] is True


def rules(objects: list[dict[str, Any]], kind: str, name: str) -> set[tuple[str, str, str]]:
    [role] = find(objects, kind, name)[:1]
    return {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }


def test_rbac_is_least_privilege() -> None:
    objects = render({})
    operator = rules(objects, "ClusterRole", "lab-iot-emulator-operator")
    assert {r for _, r, _ in operator} == {
        "iotdevices",
        "iotfleets",
        "iotdevices/status",
        "iotfleets/status",
        "pods",
        "events",
    }
    assert ("", "pods", "create") in operator and ("", "pods", "delete") in operator
    assert ("", "pods", "patch") not in operator and ("", "events", "create") in operator
    dashboard = rules(objects, "ClusterRole", "lab-iot-emulator-dashboard")
    assert ("iotemu.io", "iotfleets/scale", "patch") in dashboard and ("", "pods", "create") not in dashboard
    for role in find(objects, "ClusterRole"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "secrets" not in rule["resources"]


def test_watched_namespaces_get_roles_not_cluster_roles() -> None:
    objects = render(NON_DEFAULT)
    assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding")
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in find(objects, "Role")}
    assert roles == {(ns, f"lab-iot-emulator-{c}") for ns in ("lab-a", "lab-b") for c in ("operator", "dashboard")}
    for binding in find(objects, "RoleBinding"):
        assert binding["subjects"][0]["namespace"] == "iot"  # the service accounts live with the release
    nads = find(objects, "NetworkAttachmentDefinition")
    assert {n["metadata"]["namespace"] for n in nads} == {"lab-a", "lab-b"}
    config = yaml.safe_load(nads[0]["spec"]["config"])
    assert [p["type"] for p in config["plugins"]] == ["bridge", "tuning"]
    assert config["plugins"][0]["bridge"] == "br-lan" and config["plugins"][1]["capabilities"] == {"mac": True}
    [ingress] = find(objects, "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == "iot.lab.example"


def test_components_can_be_left_out() -> None:
    objects = render({"dashboard": {"enabled": False}})
    assert {o["metadata"]["name"] for o in find(objects, "Deployment")} == {"lab-iot-emulator-operator"}
    assert not find(objects, "Service")


@pytest.mark.parametrize(
    "values",
    [
        {"operator": {"resyncInterval": "fast"}},
        {"operator": {"watchNamespaces": ["Not_A_Namespace"]}},
        {"operator": {"extraEnv": {"PATH": "/tmp"}}},
        {"emulator": {"image": {"pullPolicy": "Sometimes"}}},
        {"dashboard": {"env": {"IOTEMU_DASHBOARD_TOKEN": "a-literal-token-in-the-manifest"}}},
        {"dashboard": {"env": {"IOTEMU_DASHBOARD_ALLOWED_HOSTS": '["*"]'}}},
        {"dashboard": {"auth": {"existingSecret": "Not A Name"}}},
        {"dashboard": {"allowedHosts": ["evil.example/path"]}},
        {"dashboard": {"env": {"IOTEMU_DASHBOARD_KUBE__CAPTURE_TOKEN": "a-literal-capture-token"}}},
        {"capture": {"existingSecret": "Not A Name"}},
        {"capture": {"token": "literal"}},
        {"unknown": True},
    ],
)
def test_values_schema_rejects_mistakes(values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError), helm.Chart.load(CHART) as chart:
        chart.render(values, name="lab", namespace="iot")


def test_chart_crds_are_the_generated_ones_and_kopfs_peerings() -> None:
    with helm.Chart.load(CHART) as chart:
        names = sorted(Path(c["name"]).name for c in chart.crds)
    assert names == sorted([*crdgen.render(), "kopf.dev-peerings.yaml"])


def test_extra_environment_overrides_the_defaults_once() -> None:
    values = {
        "operator": {"extraEnv": {"IOT_OPERATOR_LOG_LEVEL": "DEBUG"}},
        "dashboard": {"env": {"IOTEMU_DASHBOARD_KUBE__NAMESPACE": "lab"}},
    }
    objects = render(values)
    for name, variable, value in [
        ("lab-iot-emulator-operator", "IOT_OPERATOR_LOG_LEVEL", "DEBUG"),
        ("lab-iot-emulator-dashboard", "IOTEMU_DASHBOARD_KUBE__NAMESPACE", "lab"),
    ]:
        [deployment] = find(objects, "Deployment", name)
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        names = [e["name"] for e in env]
        assert len(names) == len(set(names)), names  # server-side apply refuses duplicate names
        assert {e["name"]: e.get("value") for e in env}[variable] == value


def dashboard_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [deployment] = find(objects, "Deployment", "lab-iot-emulator-dashboard")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def test_dashboard_token_comes_from_a_secret_the_chart_makes() -> None:
    objects = render({})
    [secret] = find(objects, "Secret", "lab-iot-emulator-dashboard-token")
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{48}", token)
    dashboard_settings.Settings(token=token)  # a token the dashboard accepts
    env = {e["name"]: e for e in dashboard_container(objects)["env"]}
    assert env["IOTEMU_DASHBOARD_TOKEN"] == {
        "name": "IOTEMU_DASHBOARD_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "lab-iot-emulator-dashboard-token", "key": "token"}},
    }
    deployments = json.dumps(find(objects, "Deployment"))
    assert token not in deployments and secret["data"]["token"] not in deployments
    other = base64.b64decode(find(render({}), "Secret", secret["metadata"]["name"])[0]["data"]["token"]).decode()
    assert other != token  # random per install; `lookup` keeps it on upgrade (tests/cluster/test_helm.py)


def test_dashboard_token_from_an_existing_secret() -> None:
    objects = render({"dashboard": {"auth": {"existingSecret": "lab-dashboard-auth", "secretKey": "bearer"}}})
    assert not find(objects, "Secret", "lab-iot-emulator-dashboard-token")
    env = {e["name"]: e for e in dashboard_container(objects)["env"]}
    assert env["IOTEMU_DASHBOARD_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "lab-dashboard-auth", "key": "bearer"}
    }


def test_capture_token_is_made_for_the_release_and_every_watched_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """One random token, in a Secret of each namespace where emulator pods run (they read it from their own)
    and of the dashboard's; the operator gets the Secret's name, the dashboard the value from the Secret."""
    objects = render(NON_DEFAULT)
    secrets = find(objects, "Secret", "lab-iot-emulator-capture-token")
    assert sorted(s["metadata"]["namespace"] for s in secrets) == ["iot", "lab-a", "lab-b"]
    assert len({s["data"]["token"] for s in secrets}) == 1
    token = base64.b64decode(secrets[0]["data"]["token"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{48}", token)
    [operator] = find(objects, "Deployment", "lab-iot-emulator-operator")
    for variable in operator["spec"]["template"]["spec"]["containers"][0]["env"]:
        monkeypatch.setenv(variable["name"], variable["value"])
    assert settings_mod.OperatorSettings().capture_secret == "lab-iot-emulator-capture-token"
    env = {e["name"]: e for e in dashboard_container(objects)["env"]}
    assert env["IOTEMU_DASHBOARD_KUBE__CAPTURE_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "lab-iot-emulator-capture-token", "key": "token"}
    }
    deployments = json.dumps(find(objects, "Deployment"))
    assert token not in deployments and secrets[0]["data"]["token"] not in deployments


def test_capture_token_from_an_existing_secret_or_none() -> None:
    objects = render({"capture": {"existingSecret": "lab-capture"}})
    assert not find(objects, "Secret", "lab-iot-emulator-capture-token")
    [operator] = find(objects, "Deployment", "lab-iot-emulator-operator")
    env = {e["name"]: e.get("value") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["IOT_OPERATOR_CAPTURE_SECRET"] == "lab-capture"
    dashboard = {e["name"]: e for e in dashboard_container(objects)["env"]}
    assert dashboard["IOTEMU_DASHBOARD_KUBE__CAPTURE_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "lab-capture"

    off = render({"capture": {"enabled": False}})
    assert not find(off, "Secret", "lab-iot-emulator-capture-token")
    assert "CAPTURE" not in json.dumps(find(off, "Deployment"))


def test_notes_say_how_to_read_the_token() -> None:
    notes = render_files({})["iot-emulator/templates/NOTES.txt"]
    assert "kubectl -n iot get secret lab-iot-emulator-dashboard-token -o jsonpath='{.data.token}' | base64 -d" in notes
    custom = render_files({"dashboard": {"auth": {"existingSecret": "mine", "secretKey": "bearer"}}})
    assert "get secret mine -o jsonpath='{.data.bearer}'" in custom["iot-emulator/templates/NOTES.txt"]


@pytest.mark.parametrize("values", [{}, NON_DEFAULT], ids=["default", "ingress"])
def test_dashboard_answers_to_its_service_names(monkeypatch: pytest.MonkeyPatch, values: dict[str, Any]) -> None:
    for variable in dashboard_container(render(values))["env"]:
        if "value" in variable:
            monkeypatch.setenv(variable["name"], variable["value"])
    settings = dashboard_settings.Settings()
    guard = origin.Guard(lambda *_: None, settings.allowed_hosts, settings.cors_origins)  # type: ignore[arg-type]
    service = "lab-iot-emulator-dashboard"
    for host in (service, f"{service}:80", f"{service}.iot", f"{service}.iot.svc", f"{service}.iot.svc.cluster.local"):
        assert guard.host_allowed(host), host
    assert guard.host_allowed("localhost:8080") and not guard.host_allowed("evil.example")
    assert guard.host_allowed("iot.lab.example") is bool(values)  # the ingress host, when there is one


def test_more_allowed_hosts_can_be_given() -> None:
    env = {
        e["name"]: e.get("value")
        for e in dashboard_container(render({"dashboard": {"allowedHosts": [".lab.example"]}}))["env"]
    }
    assert ".lab.example" in json.loads(env["IOTEMU_DASHBOARD_ALLOWED_HOSTS"])
