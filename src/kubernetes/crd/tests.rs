use std::path::Path;

use super::*;
use crate::policy::load::parse_document;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_crd_is_what_the_code_generates() {
    let path = manifest_dir().join(CRD_PATH);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == crd_yaml(),
        "{CRD_PATH} differs from the CRD the code generates; regenerate it with \
         `cargo run -- crd > {CRD_PATH}` and commit the result"
    );
}

#[test]
fn crd_is_namespaced_v1alpha1_with_status_and_printer_columns() {
    let crd = crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("scalingpolicysets.ecs-scaler.dev")
    );
    assert_eq!(crd.spec.group, "ecs-scaler.dev");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.kind, "ScalingPolicySet");
    assert_eq!(crd.spec.names.short_names, Some(vec!["sps".to_owned()]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let columns: Vec<(&str, &str)> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Min", ".status.lastDecision.min"),
            ("Max", ".status.lastDecision.max"),
            ("Desired", ".status.lastDecision.desired"),
            ("Ready", ".status.conditions[?(@.type==\"Ready\")].status"),
            (
                "Accepted",
                ".status.conditions[?(@.type==\"Accepted\")].status"
            ),
            ("Age", ".metadata.creationTimestamp"),
        ]
    );
}

/// The CRD's `openAPIV3Schema` as a JSON Schema validator.
fn validator() -> jsonschema::Validator {
    let crd = serde_json::to_value(crd()).unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    jsonschema::validator_for(schema).expect("the CRD schema is a JSON schema")
}

fn example_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(manifest_dir().join("examples/policies"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "examples/policies/ has the example policy sets"
    );
    files
}

#[test]
fn every_example_policy_file_is_a_valid_custom_resource() {
    let validator = validator();
    for path in example_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let document = parse_document(&text, &path.display().to_string()).unwrap();
        let mut value = serde_json::to_value(&document).unwrap();
        if value["metadata"]["namespace"].is_null() {
            value["metadata"]["namespace"] = "default".into();
        }
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let resource: ScalingPolicySetResource = serde_json::from_value(value).unwrap();
        let back = to_document(&resource);
        assert_eq!(back.spec, document.spec, "{}", path.display());
        assert_eq!(back.metadata.name, document.metadata.name);
    }
}

#[test]
fn the_schema_refuses_a_wrongly_typed_field() {
    let resource = serde_json::json!({
        "apiVersion": "ecs-scaler.dev/v1alpha1",
        "kind": "ScalingPolicySet",
        "metadata": {"name": "x", "namespace": "default"},
        "spec": {"scalableTarget": {"minCapacity": "two", "maxCapacity": 5}},
    });
    assert!(!validator().is_valid(&resource));
}

#[test]
fn status_serializes_in_camel_case() {
    let status = ScalingPolicySetStatus {
        last_decision: Some(LastDecision {
            desired: 4,
            min: 1,
            max: 10,
            at: "2026-01-05T10:00:00Z".parse().unwrap(),
            reasons: vec!["cpu: scale out to 4 [applied]".to_owned()],
        }),
        conditions: vec![Condition {
            type_: "Ready".to_owned(),
            status: "True".to_owned(),
            reason: "Decided".to_owned(),
            message: String::new(),
            last_transition_time: "2026-01-05T10:00:00Z".parse().unwrap(),
        }],
        observed_generation: Some(3),
    };
    let value = serde_json::to_value(&status).unwrap();
    assert_eq!(value["lastDecision"]["desired"], 4);
    assert_eq!(value["conditions"][0]["type"], "Ready");
    assert_eq!(
        value["conditions"][0]["lastTransitionTime"],
        "2026-01-05T10:00:00Z"
    );
    assert_eq!(value["observedGeneration"], 3);
}
