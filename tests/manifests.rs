//! Runs the Python manifest suite (`tests/manifests`): every object of `deploy/` validated
//! offline (standard kinds with `kubernetes-validate`'s schemas, KEDA objects with KEDA's CRD
//! schemas from `tests/fixtures/import/keda/`) and running the scaler in cluster mode
//! (`serve --kubernetes`, least-privilege RBAC for it), the Helm chart `charts/ecs-scaler` linted
//! and rendered with Helm v4 as a library (`helm-python-sdk`): by default compared with `deploy/`,
//! with `policyStore: files` in file mode, its `crds/` byte for byte `deploy/crds/`; and the
//! policy documents (example ScalingPolicySets, the chart's policy files) checked against
//! `deploy/crds/` and by the built binary's `validate`.
//!
//! The Python interpreter is `ECS_SCALER_PYTHON` (default `target/py-venv/bin/python`), a venv
//! with `tests/manifests/requirements.txt`; `tests/run-all.sh` creates it. A missing
//! interpreter or package fails this test: it never skips.

#[path = "support/pytest.rs"]
mod pytest;

#[test]
fn manifest_suite_passes() {
    pytest::run_suite(
        "manifest",
        "tests/manifests",
        "kubernetes_validate, helm_python, jsonschema, yaml, pytest",
    );
}
