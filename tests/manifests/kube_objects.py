"""Shared helpers of the manifest tests: loading deploy/, rendering the chart, validating."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXAMPLES = DEPLOY / "examples"
CHART = ROOT / "charts" / "ecs-scaler"
KEDA_CRDS = ROOT / "tests" / "fixtures" / "import" / "keda"
# The ScalingPolicySet CRD, generated from the Rust types (`ecs-scaler crd`).
POLICY_SET_CRD = DEPLOY / "crds" / "scalingpolicysets.yaml"
POLICY_EXAMPLES = ROOT / "examples" / "policies"

# The Kubernetes version the standard objects are validated against (EKS's oldest in standard
# support, and the first with HPA `tolerance` behind a feature gate).
KUBE_VERSION = "1.33"

NAMESPACE = "ecs-scaler"
RELEASE = "ecs-scaler"

# The kinds that kubernetes-validate has no schema for, and what checks them instead.
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
OTHER_CUSTOM_KINDS = {"ServiceMonitor", "ScalingPolicySet"}


def load_documents(text: str, origin: str) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    for doc in docs:
        assert isinstance(doc, dict), f"{origin}: a document is not a mapping: {doc!r}"
        assert "apiVersion" in doc and "kind" in doc, f"{origin}: no apiVersion/kind: {doc!r}"
    return docs


def load_file(path: Path) -> list[dict[str, Any]]:
    return load_documents(path.read_text(), str(path.relative_to(ROOT)))


def deploy_files() -> list[Path]:
    """The manifests of deploy/ that kustomization.yaml applies (not the examples or CRDs)."""
    return sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return (obj["kind"], meta.get("namespace", ""), meta["name"])


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    result: dict[tuple[str, str, str], dict[str, Any]] = {}
    for obj in objects:
        assert key(obj) not in result, f"two objects {key(obj)}"
        result[key(obj)] = obj
    return result


@functools.cache
def deploy_objects() -> tuple[dict[str, Any], ...]:
    return tuple(obj for path in deploy_files() for obj in load_file(path))


def one(objects, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def validate_standard(obj: dict[str, Any]) -> None:
    """Validates a standard object with kubernetes-validate's offline schemas (strict: unknown
    fields are errors). Raises kubernetes_validate.ValidationError with the field path."""
    kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def is_standard(obj: dict[str, Any]) -> bool:
    return obj["kind"] not in KEDA_KINDS | OTHER_CUSTOM_KINDS


@functools.cache
def _crd_validator(kind: str, api_version: str) -> jsonschema.protocols.Validator:
    path = KEDA_CRDS / f"keda.sh_{kind.lower()}s.yaml"
    crd = yaml.safe_load(path.read_text())
    assert crd["spec"]["names"]["kind"] == kind, path
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group, f"{kind}: apiVersion {api_version}, CRD group {crd['spec']['group']}"
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    assert version in versions and versions[version]["served"], f"{kind}: {version} not served by {path}"
    schema = versions[version]["schema"]["openAPIV3Schema"]
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    cls.check_schema(schema)
    return cls(schema)


def validate_keda(obj: dict[str, Any]) -> None:
    """Validates a KEDA object against KEDA's CRD schema; every error, with its path."""
    validator = _crd_validator(obj["kind"], obj["apiVersion"])
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{key(obj)}: {'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
    )


def scaler_binary() -> str:
    binary = os.environ.get("ECS_SCALER_BIN")
    assert binary and Path(binary).is_file(), (
        "ECS_SCALER_BIN must name the built ecs-scaler binary (tests/manifests.rs sets it; "
        "alone: cargo build && ECS_SCALER_BIN=target/debug/ecs-scaler pytest tests/manifests)"
    )
    return binary


@functools.cache
def policy_set_crd() -> dict[str, Any]:
    assert POLICY_SET_CRD.is_file(), f"{POLICY_SET_CRD.relative_to(ROOT)} is missing (written by `ecs-scaler crd`)"
    [crd] = load_file(POLICY_SET_CRD)
    return crd


def validate_policy_set(document: dict[str, Any], origin: str) -> None:
    """Validates a ScalingPolicySet document against the schema of the committed CRD."""
    crd = policy_set_crd()
    group, version = document["apiVersion"].split("/")
    assert (group, document["kind"]) == (crd["spec"]["group"], crd["spec"]["names"]["kind"]), origin
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    assert version in versions and versions[version]["served"], f"{origin}: {version} is not served"
    schema = versions[version]["schema"]["openAPIV3Schema"]
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{origin}: {'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
    )
