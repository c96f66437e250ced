"""charts/ecs-scaler: linted, rendered with Helm v4 (helm-python-sdk, no cluster), every object
valid, the same objects as deploy/ by default (cluster mode, `policyStore: kubernetes`), file mode
with `policyStore: files`, and the same CRD as deploy/crds/."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from kube_objects import (
    CHART,
    NAMESPACE,
    POLICY_EXAMPLES,
    POLICY_SET_CRD,
    RELEASE,
    by_key,
    deploy_objects,
    is_standard,
    key,
    load_documents,
    one,
    scaler_binary,
    validate_policy_set,
    validate_standard,
)

TLS_VALUES = {
    "tls": {"secretName": "ecs-scaler-tls", "clientCA": True},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
}
FILES_VALUES = {
    "policyStore": "files",
    "policies": {"orders-api.yaml": (POLICY_EXAMPLES / "orders-api.yaml").read_text()},
}
VALUE_SETS = [{}, TLS_VALUES, FILES_VALUES]
VALUE_SET_IDS = ["defaults", "tls+servicemonitor", "policystore-files"]
POLICIES_DIR = "/etc/ecs-scaler/policies"


def render(values: dict[str, Any] | None = None, name: str = RELEASE) -> list[dict[str, Any]]:
    rendered = helm.Chart.load(CHART).render(values=values or {}, name=name, namespace=NAMESPACE)
    objects = []
    for template, text in sorted(rendered.items()):
        if template.endswith(".yaml"):
            objects.extend(load_documents(text, template))
    return objects


def containers(objects) -> dict[str, Any]:
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def notes(values: dict[str, Any] | None = None) -> str:
    rendered = helm.Chart.load(CHART).render(values=values or {}, name=RELEASE, namespace=NAMESPACE)
    [text] = [text for template, text in rendered.items() if template.endswith("/NOTES.txt")]
    return text


@pytest.mark.parametrize("values", VALUE_SETS, ids=VALUE_SET_IDS)
def test_lint_is_clean(values):
    report = helm.lint(CHART, values=values, strict=True)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


@pytest.mark.parametrize("values", VALUE_SETS, ids=VALUE_SET_IDS)
def test_rendered_objects_are_valid(values):
    objects = render(values)
    by_key(objects)  # no duplicate
    for obj in objects:
        if is_standard(obj):
            validate_standard(obj)
        else:
            assert obj["kind"] == "ServiceMonitor", key(obj)
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"


def _without_helm_labels(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    for label in ("app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"):
        obj["metadata"].get("labels", {}).pop(label, None)
    obj["metadata"].get("labels", {}).pop("app.kubernetes.io/part-of", None)
    return obj


def test_defaults_render_the_objects_of_deploy():
    chart = by_key(render())
    deploy = by_key(list(deploy_objects()))
    # The Namespace is Helm's (--create-namespace); everything else is the same object.
    expected = {k for k in deploy if k[0] != "Namespace"}
    assert set(chart) == expected, f"chart only: {set(chart) - expected}; deploy only: {expected - set(chart)}"
    for k in expected:
        assert _without_helm_labels(chart[k])["metadata"].get("labels") == deploy[k]["metadata"].get("labels"), k


def test_defaults_match_deploy_field_by_field():
    chart = by_key(render())
    deploy = by_key(list(deploy_objects()))
    same = {
        ("ClusterRole", "", "ecs-scaler"): ["rules"],
        ("Role", NAMESPACE, "ecs-scaler-leader-election"): ["rules"],
        ("ClusterRoleBinding", "", "ecs-scaler"): ["roleRef", "subjects"],
        ("RoleBinding", NAMESPACE, "ecs-scaler-leader-election"): ["roleRef", "subjects"],
        ("Service", NAMESPACE, "ecs-scaler"): ["spec"],
        ("NetworkPolicy", NAMESPACE, "ecs-scaler"): ["spec"],
        ("PodDisruptionBudget", NAMESPACE, "ecs-scaler"): ["spec"],
    }
    for k, fields in same.items():
        for field in fields:
            assert chart[k][field] == deploy[k][field], f"{k} {field}"
    chart_deployment = chart[("Deployment", NAMESPACE, "ecs-scaler")]
    deploy_deployment = deploy[("Deployment", NAMESPACE, "ecs-scaler")]
    assert chart_deployment["spec"]["replicas"] == deploy_deployment["spec"]["replicas"]
    assert chart_deployment["spec"]["selector"] == deploy_deployment["spec"]["selector"]
    chart_pod = chart_deployment["spec"]["template"]["spec"]
    deploy_pod = deploy_deployment["spec"]["template"]["spec"]
    for field in ("serviceAccountName", "securityContext", "volumes", "topologySpreadConstraints"):
        assert chart_pod[field] == deploy_pod[field], field
    chart_container, deploy_container = chart_pod["containers"][0], deploy_pod["containers"][0]
    for field in (
        "name", "args", "ports", "livenessProbe", "readinessProbe", "resources", "securityContext",
        "volumeMounts", "imagePullPolicy", "image", "env",
    ):
        assert chart_container[field] == deploy_container[field], field
    # Service accounts: the chart leaves the role ARN to the values.
    assert "annotations" not in chart[("ServiceAccount", NAMESPACE, "ecs-scaler")]["metadata"]


def test_defaults_run_the_scaler_in_cluster_mode():
    """Stated on its own, not only as "same as deploy/": `serve --kubernetes`, the pod's name and
    namespace for the status Lease, no policies ConfigMap or volume."""
    objects = render()
    container = containers(objects)
    assert container["args"] == ["serve", "--kubernetes"]
    env = {e["name"]: e.get("valueFrom") for e in container["env"]}
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]
    assert not [o for o in objects if o["kind"] == "ConfigMap"]
    # The Lease's Role is in the namespace the pods run in (POD_NAMESPACE).
    assert one(objects, "Role")["metadata"]["namespace"] == one(objects, "Deployment")["metadata"]["namespace"]
    assert "policyStore: kubernetes" in notes() and "kubectl get scalingpolicysets -A" in notes()


def test_policy_store_files_mounts_the_policies_configmap(tmp_path: Path):
    """`policyStore: files` is the file mode: the ConfigMap of `policies`, mounted read-only,
    `serve --policies`, and no pod identity (no Lease, no status is written in file mode)."""
    objects = render(FILES_VALUES, name="scaling")
    configmap = one(objects, "ConfigMap", "scaling-ecs-scaler-policies")
    assert configmap["metadata"]["namespace"] == NAMESPACE
    assert set(configmap["data"]) == {"orders-api.yaml"}
    container = containers(objects)
    assert container["args"] == ["serve", "--policies", POLICIES_DIR]
    assert not {"POD_NAME", "POD_NAMESPACE"} & {e["name"] for e in container["env"]}
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == POLICIES_DIR]
    assert mount["readOnly"] is True
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mount["name"]] == {"name": mount["name"], "configMap": {"name": "scaling-ecs-scaler-policies"}}
    assert "emptyDir" in volumes[next(m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp")]
    # TLS flags follow the policy flags.
    tls = containers(render({**FILES_VALUES, "tls": {"secretName": "ecs-scaler-tls"}}))
    assert tls["args"][:3] == ["serve", "--policies", POLICIES_DIR] and "--tls-cert" in tls["args"]
    # Without policies the ConfigMap is still there, empty, so the mount never dangles.
    assert one(render({"policyStore": "files"}), "ConfigMap")["data"] == {}
    assert "policyStore: files" in notes(FILES_VALUES)
    # The file reaches the scaler as written, and the scaler accepts it.
    path = tmp_path / "orders-api.yaml"
    path.write_text(configmap["data"]["orders-api.yaml"])
    result = subprocess.run([scaler_binary(), "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unknown_policy_store_is_refused():
    with pytest.raises(helm.HelmError, match=r'policyStore must be "kubernetes" .* or "files" .*not "bogus"'):
        render({"policyStore": "bogus"})
    with pytest.raises(helm.HelmError, match="policyStore must be"):
        render({"policyStore": "Kubernetes"})  # no case folding: the value is passed through as is


def test_policies_without_the_files_store_are_refused():
    """Policy files given to the kubernetes store would never be read: an error, not a silent drop."""
    with pytest.raises(helm.HelmError, match="policies is only read with policyStore: files"):
        render({"policies": FILES_VALUES["policies"]})


def test_chart_crd_is_deploys_byte_for_byte():
    """crds/ holds the generated CRD unchanged (regenerate deploy/crds/, then copy it here)."""
    chart_crd = CHART / "crds" / "scalingpolicysets.yaml"
    assert chart_crd.read_bytes() == POLICY_SET_CRD.read_bytes(), (
        "charts/ecs-scaler/crds/scalingpolicysets.yaml differs from deploy/crds/scalingpolicysets.yaml: "
        "cp deploy/crds/scalingpolicysets.yaml charts/ecs-scaler/crds/"
    )
    # And Helm sees it as the chart's only CRD (installed before the templates).
    crds = helm.Chart.load(CHART).crds
    assert [c["name"] for c in crds] == ["crds/scalingpolicysets.yaml"], crds
    # Helm never templates crds/: the default objects hold no CRD of their own.
    assert not [o for o in render() if o["kind"] == "CustomResourceDefinition"]


def test_tls_mounts_the_secret_and_passes_the_flags():
    objects = render(TLS_VALUES)
    container = containers(objects)
    assert container["args"] == [
        "serve", "--kubernetes",
        "--grpc-tls-listen", "0.0.0.0:9443",
        "--tls-cert", "/etc/ecs-scaler/tls/tls.crt",
        "--tls-key", "/etc/ecs-scaler/tls/tls.key",
        "--tls-client-ca", "/etc/ecs-scaler/tls/ca.crt",
    ]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/ecs-scaler/tls")
    assert mount["readOnly"] is True
    volumes = {v["name"]: v for v in one(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mount["name"]]["secret"] == {"secretName": "ecs-scaler-tls"}
    # Without clientCA: server TLS only.
    server_only = containers(render({"tls": {"secretName": "ecs-scaler-tls"}}))
    assert "--tls-client-ca" not in server_only["args"] and "--tls-cert" in server_only["args"]


def test_client_ca_without_a_secret_is_refused():
    with pytest.raises(helm.HelmError, match="tls.clientCA needs tls.secretName"):
        render({"tls": {"clientCA": True}})


def test_service_monitor_scrapes_metrics_on_the_http_port():
    objects = render(TLS_VALUES)
    monitor = one(objects, "ServiceMonitor", "ecs-scaler")
    assert monitor["metadata"]["namespace"] == NAMESPACE
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = one(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]} and endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    assert not [o for o in render() if o["kind"] == "ServiceMonitor"], "off by default"


def test_values_reach_the_objects():
    values = {
        "image": {"repository": "111122223333.dkr.ecr.us-east-1.amazonaws.com/ecs-scaler", "tag": "1.2.3", "pullPolicy": "Always"},
        "replicaCount": 3,
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/x"}},
        "resources": {"requests": {"cpu": "200m", "memory": "64Mi"}, "limits": {"cpu": "2", "memory": "128Mi"}},
        "env": [{"name": "AWS_REGION", "value": "eu-west-1"}],
        "networkPolicy": {"kedaNamespace": "keda-system"},
        "podDisruptionBudget": {"minAvailable": 2},
        "extraArgs": ["--inline-idle-timeout", "7200"],
    }
    objects = render(values)
    for obj in objects:
        if is_standard(obj):
            validate_standard(obj)
    container = containers(objects)
    assert container["image"] == "111122223333.dkr.ecr.us-east-1.amazonaws.com/ecs-scaler:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == values["resources"]
    assert {"name": "AWS_REGION", "value": "eu-west-1"} in container["env"]
    assert container["args"] == ["serve", "--kubernetes", "--inline-idle-timeout", "7200"]
    assert one(objects, "Deployment")["spec"]["replicas"] == 3
    assert one(objects, "ServiceAccount")["metadata"]["annotations"] == values["serviceAccount"]["annotations"]
    grpc_rule = one(objects, "NetworkPolicy")["spec"]["ingress"][0]
    assert grpc_rule["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "keda-system"}
    assert one(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 2


def test_network_policy_and_pdb_can_be_turned_off():
    kinds = {o["kind"] for o in render({"networkPolicy": {"enabled": False}, "podDisruptionBudget": {"enabled": False}})}
    assert "NetworkPolicy" not in kinds and "PodDisruptionBudget" not in kinds and "Deployment" in kinds


def test_another_release_name_keeps_the_objects_wired():
    objects = render(name="scaling")
    names = {o["metadata"]["name"] for o in objects}
    assert "scaling-ecs-scaler" in names
    deployment = one(objects, "Deployment", "scaling-ecs-scaler")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "scaling-ecs-scaler"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert one(objects, "Service")["spec"]["selector"].items() <= labels.items()
    assert one(objects, "ClusterRoleBinding")["subjects"][0]["name"] == "scaling-ecs-scaler"
    assert one(objects, "RoleBinding")["subjects"][0]["name"] == "scaling-ecs-scaler"


def test_policies_become_files_that_ecs_scaler_accepts(tmp_path: Path):
    checkout = yaml.safe_load((POLICY_EXAMPLES / "checkout.yaml").read_text())
    orders_text = (POLICY_EXAMPLES / "orders-api.yaml").read_text()
    web_app = yaml.safe_load((POLICY_EXAMPLES / "web-app.json").read_text())
    values = {
        "policyStore": "files",
        "policies": {"checkout.yaml": checkout, "orders-api.yaml": orders_text, "web-app.yaml": web_app},
    }
    data = one(render(values), "ConfigMap")["data"]
    assert set(data) == set(values["policies"])
    assert yaml.safe_load(data["checkout.yaml"]) == checkout
    assert data["orders-api.yaml"].rstrip("\n") == orders_text.rstrip("\n")  # a string is kept as written
    assert yaml.safe_load(data["web-app.yaml"]) == web_app
    files = []
    for name, text in data.items():
        validate_policy_set(yaml.safe_load(text), f"ConfigMap {name}")
        files.append(tmp_path / name)
        files[-1].write_text(text)
    result = subprocess.run([scaler_binary(), "validate", *map(str, files)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_values_schema_refuses_a_misspelt_value():
    with pytest.raises(helm.HelmError, match="replicas"):
        render({"replicas": 3})  # the value is replicaCount
    with pytest.raises(helm.HelmError, match="pullPolicy"):
        render({"image": {"pullPolicy": "Sometimes"}})
    with pytest.raises(helm.HelmError):
        render({"policyStore": "files", "policies": {"checkout.txt": {}}})
    with pytest.raises(helm.HelmError, match="policyStore"):
        render({"policyStore": 1})


def test_lint_reports_a_broken_template(tmp_path: Path):
    """The clean lint above means something: the same chart with a broken template fails."""
    broken = tmp_path / "ecs-scaler"
    shutil.copytree(CHART, broken)
    (broken / "templates" / "broken.yaml").write_text("{{ .Values.missing.deeper }}\n")
    report = helm.lint(broken, strict=True)
    assert report["errors"] and "broken.yaml" in report["errors"][0], report


PUSH_TOKENS = "/etc/ecs-scaler/push-tokens"


def _serve_flags() -> set[str]:
    result = subprocess.run([scaler_binary(), "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"--[a-z][a-z-]+", result.stdout))


def test_push_auth_values_reach_the_flags():
    """Reviews by default (no flag: what deploy/ runs); `required: false`, another audience and a
    token Secret each become the scaler's flags, and every flag is one `serve` knows."""
    assert "--unauthenticated-pushes" not in containers(render())["args"]
    open_ = containers(render({"pushAuth": {"required": False}}))
    assert open_["args"] == ["serve", "--kubernetes", "--unauthenticated-pushes"]
    audience = containers(render({"pushAuth": {"audience": "scaler.example.com"}}))
    assert audience["args"] == ["serve", "--kubernetes", "--push-token-audience", "scaler.example.com"]
    for values, store_args in (({}, ["--kubernetes"]), (FILES_VALUES, ["--policies", POLICIES_DIR])):
        objects = render({**values, "pushAuth": {"tokensSecret": "push-tokens"}})
        container = containers(objects)
        assert container["args"] == ["serve", *store_args, "--push-tokens", f"{PUSH_TOKENS}/tokens.yaml"]
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == PUSH_TOKENS]
        assert mount["readOnly"] is True
        volumes = {v["name"]: v for v in one(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]}
        assert volumes[mount["name"]]["secret"] == {"secretName": "push-tokens"}
        for obj in objects:
            if is_standard(obj):
                validate_standard(obj)
    # File mode without a Secret: no push flag (pushes open, as the scaler's log says).
    assert containers(render(FILES_VALUES))["args"] == ["serve", "--policies", POLICIES_DIR]
    used = {a for v in ({"pushAuth": {"required": False}}, {"pushAuth": {"audience": "x"}}, {"pushAuth": {"tokensSecret": "s"}})
            for a in containers(render(v))["args"] if a.startswith("--")}
    assert used <= _serve_flags(), used - _serve_flags()
    with pytest.raises(helm.HelmError, match="pushAuth"):
        render({"pushAuth": {"requried": False}})
    # The notes say what a push needs.
    assert "audience ecs-scaler" in notes() and "scalingpolicysets/metrics" in notes()
    assert "not authenticated" in notes({"pushAuth": {"required": False}})
    assert "not authenticated" in notes(FILES_VALUES)
    assert "the Secret push-tokens (key tokens.yaml)" in notes({"pushAuth": {"tokensSecret": "push-tokens"}})


def test_chart_rbac_lets_the_scaler_review_push_tokens():
    rules = one(render(), "ClusterRole")["rules"]
    assert {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]} in rules
    assert {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]} in rules
