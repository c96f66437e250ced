//! Doctor tests: each check, alone, on a ScaledObject that otherwise passes D through.

use serde_json::json;

use super::*;

/// A ScaledObject that passes D through (the README's), with a trigger naming `orders`.
fn passing() -> Value {
    json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "orders-api", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"name": "orders-api"},
            "minReplicaCount": 2,
            "maxReplicaCount": 50,
            "fallback": {"failureThreshold": 3, "replicas": 10},
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "tolerance": 0,
                            "policies": [{"type": "Pods", "value": 1000, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "tolerance": 0,
                              "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
            }}},
            "triggers": [{"type": "external-push", "name": "ecs-desired", "metricType": "AverageValue",
                          "metadata": {"scalerAddress": "ecs-scaler.ecs-scaler.svc:9090", "policy": "orders"}}],
        },
    })
}

fn max_20(id: &PolicySetId) -> Option<u32> {
    (id == &PolicySetId::new("shop", "orders")).then_some(20)
}

fn paths(object: &Value, tolerance: Tolerance) -> Vec<String> {
    check(object, max_20, tolerance)
        .into_iter()
        .map(|f| f.path)
        .collect()
}

#[test]
fn a_scaled_object_that_passes_d_through_has_no_finding() {
    for tolerance in [
        Tolerance::Honoured,
        Tolerance::FeatureGate,
        Tolerance::Ignored,
    ] {
        assert_eq!(paths(&passing(), tolerance), Vec::<String>::new());
    }
}

#[test]
fn metric_type_value_is_found_on_its_trigger_with_the_fix() {
    let mut object = passing();
    object["spec"]["triggers"][0]["metricType"] = json!("Value");
    let findings = check(&object, max_20, Tolerance::Honoured);
    assert_eq!(findings.len(), 1, "{findings:?}");
    let finding = &findings[0];
    assert_eq!(finding.path, "spec.triggers[0].metricType");
    assert_eq!(finding.policy_set, Some(PolicySetId::new("shop", "orders")));
    assert!(
        finding.problem.contains("ceil(current replicas x D)"),
        "{finding}"
    );
    assert_eq!(finding.fix, "`metricType: AverageValue`");
    // Absent is KEDA's default, AverageValue.
    object["spec"]["triggers"][0]
        .as_object_mut()
        .unwrap()
        .remove("metricType");
    assert!(check(&object, max_20, Tolerance::Honoured).is_empty());
}

#[test]
fn behaviour_that_holds_d_back_is_found_field_by_field() {
    let behavior = "spec.advanced.horizontalPodAutoscalerConfig.behavior";
    let mut object = passing();
    let rules = &mut object["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"];
    rules["scaleDown"]["stabilizationWindowSeconds"] = json!(60);
    rules["scaleUp"]["policies"] = json!([{"type": "Pods", "value": 4, "periodSeconds": 15}]);
    rules["scaleUp"]["tolerance"] = json!(0.1);
    rules["scaleDown"]["selectPolicy"] = json!("Disabled");
    assert_eq!(
        paths(&object, Tolerance::Honoured),
        [
            format!("{behavior}.scaleUp.policies"),
            format!("{behavior}.scaleUp.tolerance"),
            format!("{behavior}.scaleDown.stabilizationWindowSeconds"),
            format!("{behavior}.scaleDown.selectPolicy"),
        ]
    );
    let findings = check(&object, max_20, Tolerance::Honoured);
    assert!(findings.iter().all(|f| f.policy_set.is_none()));
}

#[test]
fn the_hpa_defaults_hold_d_back() {
    let mut object = passing();
    object["spec"]["advanced"] = json!({});
    let behavior = "spec.advanced.horizontalPodAutoscalerConfig.behavior";
    // Scale-up: 4 pods or 100% per 15 s cannot go from 2 to 50 at once; scale-down: 300 s.
    assert_eq!(
        paths(&object, Tolerance::FeatureGate),
        [
            format!("{behavior}.scaleUp.policies"),
            format!("{behavior}.scaleDown.stabilizationWindowSeconds"),
        ]
    );
    // Where tolerance is honoured, its absence is one more on each side.
    assert_eq!(paths(&object, Tolerance::Honoured).len(), 4);
    let findings = check(&object, max_20, Tolerance::FeatureGate);
    assert!(
        findings[0]
            .problem
            .contains("(the default: 4 pods or 100% per 15 s)"),
        "{}",
        findings[0]
    );
    assert!(
        findings[1].problem.starts_with("300 s (the default)"),
        "{}",
        findings[1]
    );
}

#[test]
fn rate_policies_are_judged_by_the_largest_step_and_select_policy() {
    let up = |policies: Value, select: &str| {
        let mut object = passing();
        let rules = &mut object["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"];
        rules["scaleUp"]["policies"] = policies;
        rules["scaleUp"]["selectPolicy"] = json!(select);
        paths(&object, Tolerance::Honoured).is_empty()
    };
    // 2 -> 50: 48 pods, or 2400% of 2.
    assert!(up(
        json!([{"type": "Pods", "value": 48, "periodSeconds": 15}]),
        "Max"
    ));
    assert!(!up(
        json!([{"type": "Pods", "value": 47, "periodSeconds": 15}]),
        "Max"
    ));
    assert!(up(
        json!([{"type": "Percent", "value": 2400, "periodSeconds": 15}]),
        "Max"
    ));
    assert!(!up(
        json!([{"type": "Percent", "value": 900, "periodSeconds": 15}]),
        "Max"
    ));
    let mixed = json!([
        {"type": "Pods", "value": 1000, "periodSeconds": 15},
        {"type": "Pods", "value": 1, "periodSeconds": 60},
    ]);
    assert!(up(mixed.clone(), "Max"));
    assert!(!up(mixed, "Min"));
}

#[test]
fn fallback_above_the_policy_sets_maximum_is_found() {
    let mut object = passing();
    object["spec"]["fallback"]["replicas"] = json!(25);
    let findings = check(&object, max_20, Tolerance::Honoured);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].path, "spec.fallback.replicas");
    assert!(
        findings[0]
            .problem
            .contains("maxCapacity 20 of policy set shop/orders")
    );
    assert_eq!(findings[0].fix, "`fallback.replicas` at most 20");
    // Unknown policy set: nothing to compare with.
    object["spec"]["triggers"][0]["metadata"]["policy"] = json!("other");
    assert!(check(&object, max_20, Tolerance::Honoured).is_empty());
    // Inline: the trigger's own maxCapacity (default 100).
    object["spec"]["triggers"][0]["metadata"] = json!({"targetValue": "5", "maxCapacity": "8"});
    let findings = check(&object, max_20, Tolerance::Honoured);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        findings[0].policy_set,
        Some(PolicySetId::new("shop", "orders-api"))
    );
}

#[test]
fn other_triggers_are_not_ours() {
    let mut object = passing();
    object["spec"]["triggers"] = json!([
        {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}},
        {"type": "external", "metricType": "Value", "metadata": {"scalerAddress": "other:9090", "query": "x"}},
    ]);
    object["spec"]["advanced"] = json!({});
    assert!(check(&object, max_20, Tolerance::Honoured).is_empty());
    assert!(policy_sets_of(&object).is_empty());
}

#[test]
fn tolerance_support_follows_the_server_version() {
    assert_eq!(Tolerance::of_version("1", "35"), Tolerance::Honoured);
    assert_eq!(Tolerance::of_version("1", "36+"), Tolerance::Honoured);
    assert_eq!(Tolerance::of_version("1", "33"), Tolerance::FeatureGate);
    assert_eq!(Tolerance::of_version("1", "30"), Tolerance::Ignored);
    assert_eq!(Tolerance::of_version("", ""), Tolerance::FeatureGate);
}
