"""The chart with the real helm CLI on a real API server: install, upgrade, uninstall, values schema."""

from __future__ import annotations

import json

from tests.cluster.conftest import CHART, OPERATOR_SA, RELEASE, RELEASE_NS, Kube, wait_for


def test_install_creates_crds_rbac_policy_and_deployments(chart: Kube) -> None:
    for crd in ("iotdevices.iotemu.io", "iotfleets.iotemu.io", "clusterkopfpeerings.kopf.dev"):
        conditions = chart.get("crd", crd)["status"]["conditions"]
        assert any(c["type"] == "Established" and c["status"] == "True" for c in conditions), crd
    assert chart.get("serviceaccount", OPERATOR_SA, "-n", RELEASE_NS)
    role = chart.get("clusterrole", OPERATOR_SA)
    assert {"pods"} <= {r for rule in role["rules"] for r in rule["resources"]}
    assert chart.get("validatingadmissionpolicy", f"{RELEASE}-iot-emulator-profiles.iotemu.io")
    assert chart.get("clusterkopfpeering", "iot-operator")
    deployments = {d["metadata"]["name"] for d in chart.get("deployments", "-n", RELEASE_NS)["items"]}
    assert deployments == {f"{RELEASE}-iot-emulator-operator", f"{RELEASE}-iot-emulator-dashboard"}


def test_the_operator_service_account_may_do_exactly_what_it_needs(chart: Kube) -> None:
    who = f"--as=system:serviceaccount:{RELEASE_NS}:{OPERATOR_SA}"
    allowed = [
        ("create", "pods"),
        ("delete", "pods"),
        ("patch", "iotfleets.iotemu.io/status"),
        ("watch", "iotdevices.iotemu.io"),
        ("create", "events"),
        ("patch", "clusterkopfpeerings.kopf.dev/iot-operator"),
    ]
    denied = [
        ("update", "pods"),
        ("get", "secrets"),
        ("create", "iotfleets.iotemu.io"),
        ("delete", "iotdevices.iotemu.io"),
        ("patch", "clusterkopfpeerings.kopf.dev/someone-else"),
        ("create", "customresourcedefinitions"),
    ]
    for verb, resource in allowed:
        assert chart("auth", "can-i", verb, resource, who, "-A", check=False).stdout.strip() == "yes", (verb, resource)
    for verb, resource in denied:
        assert chart("auth", "can-i", verb, resource, who, "-A", check=False).stdout.strip() == "no", (verb, resource)


def test_upgrade_changes_the_operator_and_keeps_the_release(chart: Kube) -> None:
    chart.helm("upgrade", RELEASE, str(CHART), "-n", RELEASE_NS, "--reuse-values", "--set", "operator.resyncInterval=7")
    deployment = chart.get("deployment", f"{RELEASE}-iot-emulator-operator", "-n", RELEASE_NS)
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["IOT_OPERATOR_RESYNC_INTERVAL"] == "7"
    assert env["IOT_OPERATOR_PEERING"] == "iot-operator"
    [release] = json.loads(chart.helm("list", "-n", RELEASE_NS, "-o", "json").stdout)
    assert release["revision"] == "2" and release["status"] == "deployed"


def test_values_schema_refuses_bad_values_naming_them(chart: Kube) -> None:
    bad = chart.helm(
        "upgrade",
        RELEASE,
        str(CHART),
        "-n",
        RELEASE_NS,
        "--reuse-values",
        "--set",
        "operator.workerLimit=0",
        check=False,
    )
    assert bad.returncode != 0 and "workerLimit" in bad.stderr
    racing = chart.helm("template", "x", str(CHART), "--set", "operator.replicas=2", check=False)
    assert racing.returncode != 0 and "operator.peering.enabled" in racing.stderr


def test_a_second_release_installs_and_uninstalls_cleanly(kube: Kube, chart: Kube) -> None:
    name, namespace = "iot2", "iot-second"
    kube.helm(
        "install", name, str(CHART), "-n", namespace, "--create-namespace", "--set", "admissionPolicy.enabled=false"
    )
    assert kube.get("clusterrole", f"{name}-iot-emulator-operator")
    kube.helm("uninstall", name, "-n", namespace, "--wait")
    gone = kube("get", "clusterrole", f"{name}-iot-emulator-operator", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    assert kube.get("deployments", "-n", namespace)["items"] == []
    assert kube.get("crd", "iotdevices.iotemu.io")  # Helm never deletes the CRDs of crds/
    kube("delete", "namespace", namespace, "--wait=false")
    wait_for(
        "the first release still deployed", lambda: chart.helm("status", RELEASE, "-n", RELEASE_NS).returncode == 0
    )


def test_the_token_secrets_survive_an_upgrade(chart: Kube) -> None:
    name, capture = f"{RELEASE}-iot-emulator-dashboard-token", f"{RELEASE}-iot-emulator-capture-token"
    before = chart.get("secret", name, "-n", RELEASE_NS)["data"]["token"]
    capture_before = chart.get("secret", capture, "-n", RELEASE_NS)["data"]["token"]
    chart.helm(
        "upgrade", RELEASE, str(CHART), "-n", RELEASE_NS, "--reuse-values", "--set", "dashboard.allowedHosts={x.lab}"
    )
    assert chart.get("secret", name, "-n", RELEASE_NS)["data"]["token"] == before  # `lookup` kept it
    assert chart.get("secret", capture, "-n", RELEASE_NS)["data"]["token"] == capture_before
    deployment = chart.get("deployment", f"{RELEASE}-iot-emulator-dashboard", "-n", RELEASE_NS)
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["IOTEMU_DASHBOARD_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "token"}
    assert "x.lab" in json.loads(env["IOTEMU_DASHBOARD_ALLOWED_HOSTS"]["value"])


def test_the_capture_token_reaches_every_watched_namespace_and_goes_with_the_release(
    kube: Kube, chart: Kube, namespace: str
) -> None:
    """One token in the release's namespace and in the watched one (pods read Secrets of their own
    namespace), the same after an upgrade, removed by the uninstall."""
    name, release_ns = "iot3", "iot-third"
    secret = f"{name}-iot-emulator-capture-token"
    watched = f"operator.watchNamespaces={{{namespace}}}"
    off = ("--set", "admissionPolicy.enabled=false", "--set", "operator.replicas=0", "--set", "dashboard.replicas=0")
    kube.helm("install", name, str(CHART), "-n", release_ns, "--create-namespace", "--set", watched, *off)
    try:
        tokens = {ns: kube.get("secret", secret, "-n", ns)["data"]["token"] for ns in (release_ns, namespace)}
        assert len(set(tokens.values())) == 1, "one token for the dashboard and the pods"
        kube.helm("upgrade", name, str(CHART), "-n", release_ns, "--reuse-values", "--set", "operator.resyncInterval=9")
        assert {ns: kube.get("secret", secret, "-n", ns)["data"]["token"] for ns in tokens} == tokens
        operator = kube.get("deployment", f"{name}-iot-emulator-operator", "-n", release_ns)
        env = {e["name"]: e.get("value") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["IOT_OPERATOR_CAPTURE_SECRET"] == secret
    finally:
        kube.helm("uninstall", name, "-n", release_ns, "--wait", check=False)
        kube("delete", "namespace", release_ns, "--wait=false", check=False)
    gone = kube("get", "secret", secret, "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
