"""deploy/: every object valid, hardened, least-privilege, consistent with the others, and
the scaler in cluster mode (`serve --kubernetes`)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from kube_objects import (
    DEPLOY,
    EXAMPLES,
    KEDA_KINDS,
    NAMESPACE,
    POLICY_EXAMPLES,
    POLICY_SET_CRD,
    ROOT,
    deploy_files,
    deploy_objects,
    example_files,
    is_standard,
    key,
    load_file,
    one,
    policy_set_crd,
    scaler_binary,
    validate_keda,
    validate_policy_set,
    validate_standard,
)

ALL_FILES = deploy_files() + example_files()
SELECTOR = {"app.kubernetes.io/name": "ecs-scaler", "app.kubernetes.io/instance": "ecs-scaler"}

# What `serve --kubernetes` does with the Kubernetes API, rule by rule (see deploy/rbac.yaml):
# reflectors list and watch, the status is a server-side apply PATCH, other scale targets are
# read through /scale, a push's token and permission are reviewed (TokenReview,
# SubjectAccessReview: what system:auth-delegator grants), and the status writer's Lease is read,
# created and updated.
CLUSTER_RULES = [
    {"apiGroups": ["ecs-scaler.dev"], "resources": ["scalingpolicysets"], "verbs": ["list", "watch"]},
    {"apiGroups": ["ecs-scaler.dev"], "resources": ["scalingpolicysets/status"], "verbs": ["patch"]},
    {"apiGroups": ["keda.sh"], "resources": ["scaledobjects"], "verbs": ["list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["list", "watch"]},
    {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["get"]},
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
]
LEASE_RULES = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
]


def test_deploy_and_examples_are_not_empty():
    assert len(deploy_files()) >= 7, deploy_files()
    assert len(example_files()) >= 4, example_files()


def test_kustomization_lists_every_manifest_of_deploy():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), listed
    for entry in listed:
        assert (DEPLOY / entry).exists(), f"kustomization.yaml lists {entry}, which does not exist"
    files = {p.name for p in deploy_files()}
    assert files <= set(listed), f"not in kustomization.yaml: {sorted(files - set(listed))}"
    # The CRD too, so that `kubectl apply -k deploy/` alone gives the scaler what it watches;
    # nothing else (the examples belong to application namespaces).
    assert set(listed) - files == {"crds/scalingpolicysets.yaml"}, listed
    assert (DEPLOY / "crds/scalingpolicysets.yaml").resolve() == POLICY_SET_CRD.resolve()
    # The image the Deployment names is the one kustomization.yaml rewrites.
    image = one(deploy_objects(), "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.split(":")[0] in {i["name"] for i in kustomization["images"]}


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_standard_objects_are_valid(path: Path):
    objects = load_file(path)
    assert objects, f"{path} has no object"
    for obj in objects:
        if is_standard(obj):
            validate_standard(obj)
        elif obj["kind"] == "ScalingPolicySet":
            validate_policy_set(obj, str(path.relative_to(ROOT)))
        else:
            assert obj["kind"] in KEDA_KINDS, f"{path}: {key(obj)} has no schema to validate it"


def _scaled_object_files() -> list[Path]:
    return [p for p in example_files() if p.name.startswith("scaledobject-")]


@pytest.mark.parametrize("path", _scaled_object_files(), ids=lambda p: p.name)
def test_keda_objects_match_kedas_crds(path: Path):
    keda = [o for o in load_file(path) if o["kind"] in KEDA_KINDS]
    assert keda, f"{path} has no KEDA object"
    for obj in keda:
        validate_keda(obj)


def test_crd_validation_catches_a_mistake():
    """The KEDA schemas are really applied: a misspelt field and a wrong type are both caught."""
    obj = load_file(EXAMPLES / "scaledobject-orders-api.yaml")[0]
    obj["spec"]["pollingInterval"] = "fifteen"
    with pytest.raises(AssertionError, match="pollingInterval"):
        validate_keda(obj)
    auth = one(load_file(EXAMPLES / "scaledobject-web-app-tls.yaml"), "TriggerAuthentication")
    del auth["spec"]["secretTargetRef"][0]["name"]
    with pytest.raises(AssertionError, match="'name' is a required property"):
        validate_keda(auth)


def test_standard_validation_catches_a_mistake():
    import kubernetes_validate

    deployment = json.loads(json.dumps(one(deploy_objects(), "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_standard(deployment)


def test_every_namespaced_object_is_in_the_scaler_namespace():
    for obj in deploy_objects():
        if obj["kind"] in {"Namespace", "ClusterRole", "ClusterRoleBinding"}:
            assert "namespace" not in obj["metadata"], key(obj)
        else:
            assert obj["metadata"].get("namespace") == NAMESPACE, key(obj)
    assert one(deploy_objects(), "Namespace")["metadata"]["name"] == NAMESPACE


def test_service_account_has_the_irsa_placeholder():
    sa = one(deploy_objects(), "ServiceAccount", "ecs-scaler")
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/.+", sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"])
    text = (DEPLOY / "serviceaccount.yaml").read_text()
    assert "Pod Identity" in text and "create-pod-identity-association" in text


def test_deployment_is_hardened_and_probed():
    deployment = one(deploy_objects(), "Deployment", "ecs-scaler")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"] == SELECTOR
    pod = spec["template"]["spec"]
    assert spec["template"]["metadata"]["labels"] == SELECTOR
    assert pod["serviceAccountName"] == "ecs-scaler"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["runAsNonRoot"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    # Cluster mode: no policy files; ScalingPolicySets, scale targets and ScaledObjects are read
    # from the API server with the service account.
    assert container["args"] == ["serve", "--kubernetes"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 9090, "grpc-tls": 9443, "http": 8080}
    probes = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in probes.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}, kind
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # With a read-only root, every writable path is a volume: /tmp, and nothing else is mounted
    # (no policies ConfigMap in cluster mode).
    assert set(mounts) == {"/tmp"}, mounts
    assert set(volumes) == {mounts["/tmp"]}, volumes
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert not [o for o in deploy_objects() if o["kind"] == "ConfigMap"], "no policies ConfigMap"


def test_deployment_passes_the_pod_identity_for_the_status_lease():
    """POD_NAME (the Lease holder) and POD_NAMESPACE (where the Lease is) from the downward API."""
    deployment = one(deploy_objects(), "Deployment", "ecs-scaler")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"] == {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert env["POD_NAMESPACE"] == {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }
    assert len(env) == len(container["env"]), "a variable is set twice"
    # The Role that allows the Lease is in the namespace POD_NAMESPACE resolves to.
    role = one(deploy_objects(), "Role")
    assert role["metadata"]["namespace"] == deployment["metadata"]["namespace"] == NAMESPACE


def test_selectors_select_the_scaler_pods():
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        obj = one(deploy_objects(), kind)
        selector = obj["spec"]["selector" if kind == "PodDisruptionBudget" else "podSelector"]
        assert selector == {"matchLabels": SELECTOR}, kind
    assert one(deploy_objects(), "Service")["spec"]["selector"] == SELECTOR
    assert one(deploy_objects(), "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_service_ports():
    ports = one(deploy_objects(), "Service", "ecs-scaler")["spec"]["ports"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in ports] == [
        ("grpc", 9090, "grpc"),
        ("grpc-tls", 9443, "grpc-tls"),
        ("http", 8080, "http"),
    ]


def test_network_policy_admits_grpc_from_keda_only():
    spec = one(deploy_objects(), "NetworkPolicy", "ecs-scaler")["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    rules = {rule["ports"][0]["port"]: rule["from"] for rule in spec["ingress"]}
    assert all(len(rule["ports"]) == 1 for rule in spec["ingress"])
    keda = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}]
    assert rules[9090] == rules[9443] == keda
    assert rules[8080] == [{"namespaceSelector": {}}]  # any pod of the cluster, nothing outside
    assert set(rules) == {9090, 9443, 8080}


def test_rbac_is_least_privilege():
    objects = deploy_objects()
    assert one(objects, "ClusterRole", "ecs-scaler")["rules"] == CLUSTER_RULES
    role = one(objects, "Role")
    assert role["rules"] == LEASE_RULES
    subject = [{"kind": "ServiceAccount", "name": "ecs-scaler", "namespace": NAMESPACE}]
    for binding_kind, role_kind, role_name in (
        ("ClusterRoleBinding", "ClusterRole", "ecs-scaler"),
        ("RoleBinding", "Role", role["metadata"]["name"]),
    ):
        binding = one(objects, binding_kind)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name}
        assert binding["subjects"] == subject
    forbidden = {"*", "delete", "deletecollection", "escalate", "bind", "impersonate"}
    for rule in CLUSTER_RULES:  # cluster-wide, nothing is updated: replicas are the HPA's
        assert not (forbidden | {"update"}) & set(rule["verbs"]), rule
    for rule in LEASE_RULES:
        assert not forbidden & set(rule["verbs"]), rule


def test_iam_policy_has_only_the_calls_made():
    policy = json.loads((DEPLOY / "iam-policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert set(statements) == {"Scaler", "Importer"}
    assert sorted(statements["Scaler"]["Action"]) == [
        "cloudwatch:DescribeAlarms",
        "cloudwatch:GetMetricData",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    ]
    assert sorted(statements["Importer"]["Action"]) == [
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
        "application-autoscaling:DescribeScheduledActions",
        "cloudwatch:DescribeAlarms",
    ]
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"])


def test_iam_policy_names_every_aws_call_of_the_code():
    """Each SDK operation the source calls (`.operation_name()` on a client) has its action."""
    policy = json.loads((DEPLOY / "iam-policy.json").read_text())
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    calls = {
        "get_queue_url": "sqs:GetQueueUrl",
        "get_queue_attributes": "sqs:GetQueueAttributes",
        "get_metric_data": "cloudwatch:GetMetricData",
        "describe_alarms": "cloudwatch:DescribeAlarms",
        "describe_scalable_targets": "application-autoscaling:DescribeScalableTargets",
        "describe_scaling_policies": "application-autoscaling:DescribeScalingPolicies",
        "describe_scheduled_actions": "application-autoscaling:DescribeScheduledActions",
    }
    source = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.rs"))
    for call, action in calls.items():
        assert re.search(rf"\.{call}\(\)", source), f"the code no longer calls {call}: update the IAM policy"
        assert action in actions
    assert actions == set(calls.values())


def test_dockerfile_is_multi_stage_and_non_root():
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE)
    assert stages[0] == ("rust:1.95", "builder"), stages
    runtime = stages[-1][0]
    assert runtime.startswith("gcr.io/distroless/") and runtime.endswith(":nonroot"), runtime
    assert "cargo build --release --locked" in text
    assert re.search(r"^COPY --from=builder ", text, re.MULTILINE)
    assert re.search(r"^USER 65532", text, re.MULTILINE)
    assert 'ENTRYPOINT ["/usr/local/bin/ecs-scaler"]' in text
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert "target/" in ignored


def _scaled_objects():
    return [o for p in example_files() for o in load_file(p) if o["kind"] == "ScaledObject"]


def _example_policy_sets():
    return [o for p in example_files() for o in load_file(p) if o["kind"] == "ScalingPolicySet"]


def test_example_triggers_reach_the_service():
    """Plaintext triggers on the `grpc` port, TLS ones on `grpc-tls`: KEDA pools a connection
    per address and TLS settings, and each port speaks one of the two."""
    service = one(deploy_objects(), "Service", "ecs-scaler")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    types = set()
    for so in _scaled_objects():
        for trigger in so["spec"]["triggers"]:
            types.add(trigger["type"])
            tls = trigger["metadata"].get("enableTLS") == "true"
            port = ports["grpc-tls" if tls else "grpc"]
            assert trigger["metadata"]["scalerAddress"] == f"{host}:{port}", key(so)
            assert trigger["metricType"] == "AverageValue", key(so)
    assert types == {"external", "external-push"}


def test_example_policies_exist():
    """Each example trigger names a policy set of examples/policies/ in its namespace."""
    sets = set()
    for path in POLICY_EXAMPLES.iterdir():
        doc = yaml.safe_load(path.read_text())  # JSON is YAML
        sets.add((doc["metadata"].get("namespace", "default"), doc["metadata"]["name"]))
    for so in _scaled_objects():
        for trigger in so["spec"]["triggers"]:
            namespace = trigger["metadata"].get("policyNamespace", so["metadata"]["namespace"])
            assert (namespace, trigger["metadata"]["policy"]) in sets, key(so)


def test_tls_example_uses_a_trigger_authentication_with_the_three_secrets():
    tls = [so for so in _scaled_objects() if any(t["metadata"].get("enableTLS") == "true" for t in so["spec"]["triggers"])]
    assert len(tls) == 1
    [so] = tls
    auths = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for p in example_files()
        for o in load_file(p)
        if o["kind"] == "TriggerAuthentication"
    }
    [trigger] = so["spec"]["triggers"]
    auth = auths[(so["metadata"]["namespace"], trigger["authenticationRef"]["name"])]
    params = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
    assert params == {"caCert", "tlsClientCert", "tlsClientKey"}


def test_example_policy_set_serves_an_example_scaled_object():
    """deploy/examples/ has a ScalingPolicySet for cluster mode, the one an example trigger names
    (same name and namespace), scaling the same workload within the same replica envelope."""
    policy_sets = {(o["metadata"].get("namespace", "default"), o["metadata"]["name"]): o for o in _example_policy_sets()}
    assert policy_sets, "no ScalingPolicySet in deploy/examples/"
    served = {}
    for so in _scaled_objects():
        for trigger in so["spec"]["triggers"]:
            namespace = trigger["metadata"].get("policyNamespace", so["metadata"]["namespace"])
            served[(namespace, trigger["metadata"]["policy"])] = so
    for id_, policy_set in policy_sets.items():
        assert id_ in served, f"no example ScaledObject names the ScalingPolicySet {id_}"
        so = served[id_]
        ref = policy_set["spec"].get("scaleTargetRef")
        if ref is not None:  # else the scaler takes the ScaledObject's
            target = so["spec"]["scaleTargetRef"]
            assert ref["name"] == target["name"], id_
            assert ref.get("kind", "Deployment") == target.get("kind", "Deployment"), id_
            assert ref.get("apiVersion", "apps/v1") == target.get("apiVersion", "apps/v1"), id_
        # min/maxReplicaCount are the envelope of the ECS bounds, scheduled actions included.
        spec = policy_set["spec"]
        bounds = [spec["scalableTarget"]] + [a["scalableTargetAction"] for a in spec.get("scheduledActions", [])]
        mins = [b["minCapacity"] for b in bounds if "minCapacity" in b]
        maxes = [b["maxCapacity"] for b in bounds if "maxCapacity" in b]
        assert so["spec"]["minReplicaCount"] == min(mins), id_
        assert so["spec"]["maxReplicaCount"] == max(maxes), id_


def test_example_policy_set_is_the_one_of_examples_policies():
    """deploy/examples/scalingpolicyset-orders-api.yaml does not drift from the file that the
    file-mode examples and the Rust tests use."""
    [deployed] = load_file(EXAMPLES / "scalingpolicyset-orders-api.yaml")
    assert deployed == yaml.safe_load((POLICY_EXAMPLES / "orders-api.yaml").read_text())


def test_example_policy_sets_pass_ecs_scaler_validate():
    files = [p for p in example_files() if any(o["kind"] == "ScalingPolicySet" for o in load_file(p))]
    assert files
    result = subprocess.run(
        [scaler_binary(), "validate", *map(str, files)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_policy_set_crd_is_valid_and_matches_the_rbac():
    crd = policy_set_crd()
    validate_standard(crd)
    rules = one(deploy_objects(), "ClusterRole", "ecs-scaler")["rules"]
    group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    assert {"apiGroups": [group], "resources": [plural], "verbs": ["list", "watch"]} in rules
    assert {"apiGroups": [group], "resources": [f"{plural}/status"], "verbs": ["patch"]} in rules
    [version] = [v for v in crd["spec"]["versions"] if v["storage"]]
    assert "status" in version.get("subresources", {}), "the status is written through its subresource"
    columns = {c["name"] for c in version.get("additionalPrinterColumns", [])}
    assert {"Min", "Max", "Desired"} <= columns, columns  # what the README's `kubectl get` shows


def test_policy_documents_match_the_crd_schema():
    """The ScalingPolicySets of deploy/examples/ and the policy files of examples/ are valid
    ScalingPolicySet objects."""
    for obj in _example_policy_sets():
        validate_policy_set(obj, f"deploy/examples {key(obj)}")
    for path in sorted(POLICY_EXAMPLES.iterdir()):
        validate_policy_set(yaml.safe_load(path.read_text()), str(path.relative_to(ROOT)))


def test_crd_schema_catches_a_mistake():
    document = yaml.safe_load((POLICY_EXAMPLES / "checkout.yaml").read_text())
    document["spec"]["scalableTarget"]["minCapacity"] = "one"
    with pytest.raises(AssertionError, match="minCapacity"):
        validate_policy_set(document, "checkout.yaml")


PUSH_AUTH_EXAMPLE = EXAMPLES / "push-auth-checkout.yaml"


def _serve_help() -> str:
    result = subprocess.run([scaler_binary(), "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _default_audience() -> str:
    """The scaler's default --push-token-audience, as `serve --help` states it."""
    match = re.search(r"--push-token-audience <AUDIENCE>.*?\[default: ([^\]]+)\]", _serve_help(), re.DOTALL)
    assert match, "serve --help documents --push-token-audience and its default"
    return match.group(1)


def test_push_auth_example_lets_one_workload_push_to_its_own_policy_set_only():
    """The example Role grants `create` on scalingpolicysets/metrics (the CRD's group and plural,
    what the scaler's SubjectAccessReview asks) for one resourceName, bound to the service
    account the pushing Deployment runs as."""
    objects = load_file(PUSH_AUTH_EXAMPLE)
    for obj in objects:
        validate_standard(obj)
    assert {o["kind"] for o in objects} == {"ServiceAccount", "Role", "RoleBinding", "Deployment"}
    namespaces = {o["metadata"]["namespace"] for o in objects}
    assert len(namespaces) == 1, namespaces
    [namespace] = namespaces
    crd = policy_set_crd()
    group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    role = one(objects, "Role")
    assert role["rules"] == [
        {"apiGroups": [group], "resources": [f"{plural}/metrics"], "resourceNames": ["checkout"], "verbs": ["create"]}
    ]
    # The policy set it names exists (examples/policies/checkout.yaml, in the default namespace).
    policy = yaml.safe_load((POLICY_EXAMPLES / "checkout.yaml").read_text())
    assert (policy["metadata"].get("namespace", "default"), policy["metadata"]["name"]) == (namespace, "checkout")
    account = one(objects, "ServiceAccount")
    binding = one(objects, "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": namespace}]
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    # A projected token for the scaler's audience, mounted where the container reads it.
    [volume] = [v for v in pod["volumes"] if "projected" in v]
    [source] = volume["projected"]["sources"]
    token = source["serviceAccountToken"]
    assert token["audience"] == _default_audience() == "ecs-scaler"
    assert 600 <= token["expirationSeconds"] <= 86400
    [container] = pod["containers"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["ECS_SCALER_TOKEN_FILE"] == f"{mount['mountPath']}/{token['path']}"
    # It pushes to the scaler's Service, to a push metric of its policy set.
    service = one(deploy_objects(), "Service", "ecs-scaler")
    http = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http")
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc:{http}"
    url = re.fullmatch(rf"http://{re.escape(host)}/v1/namespaces/([^/]+)/policysets/([^/]+)/metrics/([^/]+)", env["ECS_SCALER_PUSH_URL"])
    assert url, env["ECS_SCALER_PUSH_URL"]
    assert url.groups()[:2] == (namespace, "checkout")
    assert "push" in policy["spec"]["metrics"][url.group(3)]


def test_the_scaler_requires_push_tokens_in_cluster_mode():
    """deploy/ runs `serve --kubernetes` without --unauthenticated-pushes: reviews are on, and the
    ClusterRole allows them."""
    [container] = one(deploy_objects(), "Deployment", "ecs-scaler")["spec"]["template"]["spec"]["containers"]
    assert "--unauthenticated-pushes" not in container["args"]
    help_text = _serve_help()
    for flag in ("--push-tokens", "--push-token-audience", "--unauthenticated-pushes", "--push-rate-limit"):
        assert flag in help_text, flag
    rules = one(deploy_objects(), "ClusterRole", "ecs-scaler")["rules"]
    for group, resource in (("authentication.k8s.io", "tokenreviews"), ("authorization.k8s.io", "subjectaccessreviews")):
        assert {"apiGroups": [group], "resources": [resource], "verbs": ["create"]} in rules
