//! The ScaledObject the importer writes, by KEDA and Kubernetes version (spec C.1, C.2, D.3).

use super::*;
use crate::policy::load::parse_document;

const STEPPER: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: web}
spec:
  scalableTarget: {minCapacity: 1, maxCapacity: 30}
  metrics:
    cpu: {push: {period: 60}}
  alarms:
    high: {metric: cpu, comparisonOperator: GreaterThanThreshold, threshold: 60, evaluationPeriods: 1}
  policies:
  - policyName: out
    stepScaling:
      alarm: high
      adjustmentType: ChangeInCapacity
      stepAdjustments: [{metricIntervalLowerBound: 0, scalingAdjustment: 1}]
"#;

fn k8s(text: &str) -> KubernetesVersion {
    text.parse().unwrap()
}

fn keda(text: &str) -> KedaVersion {
    text.parse().unwrap()
}

#[test]
fn keda_before_2_18_has_no_tolerance_field() {
    // KEDA's ScaledObject CRD has `behavior.*.tolerance` from 2.18; Kubernetes from 1.33.
    assert_eq!(tolerance_field(k8s("1.35"), keda("2.18")), Some(0));
    assert_eq!(tolerance_field(k8s("1.33"), keda("2.19")), Some(0));
    assert_eq!(tolerance_field(k8s("1.35"), keda("2.17")), None);
    assert_eq!(tolerance_field(k8s("1.32"), keda("2.18")), None);
    assert_eq!(
        tolerance_field(k8s("1.35"), NEWEST_KEDA.parse().unwrap()),
        Some(0)
    );
}

#[test]
fn keda_version_accepts_a_v_prefix_and_a_patch_and_says_what_it_expects() {
    assert_eq!(keda("v2.17.1"), keda("2.17"));
    assert!(keda("2.9") < keda("2.18"));
    for bad in ["two", "2", "1.9", ""] {
        let error = bad.parse::<KedaVersion>().unwrap_err();
        assert!(error.contains("such as 2.17 or 2.18"), "{bad}: {error}");
    }
}

#[test]
fn pass_through_writes_cooldown_0_only_from_zero_and_pods_above_any_decision() {
    let from_zero = ScaledObject::pass_through("web", "shop", "scaler:9090", (0, 40), Some(0));
    assert_eq!(from_zero.spec.cooldown_period, Some(0));
    assert_eq!(from_zero.spec.polling_interval, 15);
    let behavior = &from_zero
        .spec
        .advanced
        .horizontal_pod_autoscaler_config
        .behavior;
    assert_eq!(behavior.scale_up.policies[0].value, 1000);
    assert_eq!(behavior.scale_up.tolerance, Some(0));
    let big = ScaledObject::pass_through("web", "shop", "scaler:9090", (2, 5000), None);
    assert_eq!(big.spec.cooldown_period, None);
    let behavior = &big.spec.advanced.horizontal_pod_autoscaler_config.behavior;
    assert_eq!(behavior.scale_up.policies[0].value, 5000);
    assert_eq!(behavior.scale_down.tolerance, None);
    assert_eq!(big.spec.triggers[0].metadata["policy"], "web");
}

#[test]
fn swallowed_steps_1_33_also_holds_back_exactly_10_percent() {
    // +1 from C is lost when the HPA keeps C for a ratio (C + 1) / C: up to 1.32 from 11 (10 ->
    // 11 is 0.10000000000000009 from 1), from 1.33 from 10 (11 / 10 == 1.0 + 0.1).
    let spec = parse_document(STEPPER, "test").unwrap().spec;
    assert_eq!(
        swallowed_steps(&spec, 1, 30, ToleranceRule::Distance),
        ["`out` +1 at 11-29 replicas"]
    );
    assert_eq!(
        swallowed_steps(&spec, 1, 30, ToleranceRule::Band),
        ["`out` +1 at 10-29 replicas"]
    );
}

#[test]
fn replica_counts_are_written_as_ranges() {
    assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
}
