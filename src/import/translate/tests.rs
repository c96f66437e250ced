use serde_json::json;

use super::*;
use crate::import::aws::{
    AwsInput, DescribeAlarms, DescribeScalableTargets, DescribeScalingPolicies,
};

fn input(
    targets: serde_json::Value,
    policies: serde_json::Value,
    alarms: serde_json::Value,
) -> AwsInput {
    let targets: DescribeScalableTargets = serde_json::from_value(targets).unwrap();
    let policies: DescribeScalingPolicies = serde_json::from_value(policies).unwrap();
    let alarms: DescribeAlarms = serde_json::from_value(alarms).unwrap();
    AwsInput {
        scalable_targets: targets.scalable_targets,
        scaling_policies: policies.scaling_policies,
        scheduled_actions: Vec::new(),
        alarms: Ok(alarms.metric_alarms),
    }
}

fn target(resource_id: &str) -> serde_json::Value {
    json!({"ServiceNamespace": "ecs", "ResourceId": resource_id,
           "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 30})
}

const ARN: &str = "arn:aws:autoscaling:us-east-1:111122223333:scalingPolicy:abc:resource/ecs/service/c/web:policyName/out";

fn step_policy(alarms: serde_json::Value) -> serde_json::Value {
    json!({"PolicyARN": ARN, "PolicyName": "out", "ServiceNamespace": "ecs",
           "ResourceId": "service/c/web", "ScalableDimension": "ecs:service:DesiredCount",
           "PolicyType": "StepScaling",
           "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity",
               "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]},
           "Alarms": alarms})
}

fn alarm(name: &str, actions: &[&str], operator: &str) -> serde_json::Value {
    json!({"AlarmName": name, "AlarmActions": actions, "MetricName": "Depth",
           "Namespace": "App", "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 2,
           "Threshold": 5.0, "ComparisonOperator": operator})
}

#[test]
fn arns_give_their_region_and_account() {
    assert_eq!(
        arn_region_account(ARN),
        Some(("us-east-1".to_owned(), "111122223333".to_owned()))
    );
}

#[test]
fn services_of_the_same_name_in_two_clusters_get_the_cluster_in_their_names() {
    let data = input(
        json!({"ScalableTargets": [target("service/blue/Web"), target("service/green/web"), target("service/c/api")]}),
        json!({"ScalingPolicies": []}),
        json!({"MetricAlarms": []}),
    );
    let translation = translate(&data, &Options::default()).unwrap();
    let names: Vec<&str> = translation
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["blue-web", "api", "green-web"]);
}

#[test]
fn alarms_are_found_through_their_actions_and_shared_metrics_are_written_once() {
    let data = input(
        json!({"ScalableTargets": [target("service/c/web")]}),
        json!({"ScalingPolicies": [step_policy(json!([]))]}),
        json!({"MetricAlarms": [
            alarm("depth-high", &[ARN], "GreaterThanThreshold"),
            alarm("depth-very-high", &[ARN, "arn:aws:sns:us-east-1:111122223333:pager"], "GreaterThanOrEqualToThreshold"),
            alarm("someone-else", &[&format!("{ARN}-other")], "GreaterThanThreshold"),
        ]}),
    );
    let service = &translate(&data, &Options::default()).unwrap().services[0];
    let spec = &service.policy_set.spec;
    assert_eq!(spec.metrics.keys().collect::<Vec<_>>(), ["Depth"]);
    assert_eq!(
        spec.alarms.keys().collect::<Vec<_>>(),
        ["depth-high", "depth-very-high"]
    );
    let policies: Vec<&str> = spec
        .policies
        .iter()
        .map(|p| p.policy_name.as_str())
        .collect();
    assert_eq!(policies, ["out", "out-depth-very-high"]);
    let row = service
        .report
        .rows
        .iter()
        .find(|r| r.setting.starts_with("policy `out`"))
        .unwrap();
    assert!(
        matches!(&row.status, Status::Approximate(why) if why.contains("2 alarms invoke it")),
        "{row:?}"
    );
    assert!(crate::policy::compile(&service.policy_set).is_ok());
}

#[test]
fn an_anomaly_detection_alarm_needs_a_decision() {
    let mut anomaly = alarm("odd", &[ARN], "LessThanLowerOrGreaterThanUpperThreshold");
    anomaly["ThresholdMetricId"] = json!("ad1");
    let data = input(
        json!({"ScalableTargets": [target("service/c/web")]}),
        json!({"ScalingPolicies": [step_policy(json!([{"AlarmName": "odd", "AlarmARN": "x"}]))]}),
        json!({"MetricAlarms": [anomaly]}),
    );
    let service = &translate(&data, &Options::default()).unwrap().services[0];
    assert!(service.policy_set.spec.policies.is_empty());
    assert!(!service.report.is_exact());
    let row = &service.report.rows[2];
    assert!(
        matches!(&row.status, Status::Decide(what) if what.contains("anomaly detection")),
        "{row:?}"
    );
}

/// The first service of `data`, translated for a cluster of these Kubernetes and KEDA
/// versions.
fn translate_on(data: &AwsInput, kubernetes: &str, keda: &str) -> ServiceImport {
    let options = Options {
        kubernetes_version: kubernetes.parse().unwrap(),
        keda_version: keda.parse().unwrap(),
        ..Options::default()
    };
    translate(data, &options).unwrap().services.remove(0)
}

/// The `tolerance` of the ScaledObject (the same for scaleUp and scaleDown).
fn written_tolerance(service: &ServiceImport) -> Option<u32> {
    let behavior = &service
        .scaled_object
        .spec
        .advanced
        .horizontal_pod_autoscaler_config
        .behavior;
    assert_eq!(behavior.scale_up.tolerance, behavior.scale_down.tolerance);
    behavior.scale_up.tolerance
}

/// `service/c/web` (1 to 30 tasks) with the step policy `out` (+1), translated for these
/// versions: the ScaledObject's `tolerance` and the report's tolerance row.
fn tolerance_on(kubernetes: &str, keda: &str) -> (Option<u32>, crate::import::report::Row) {
    let data = input(
        json!({"ScalableTargets": [target("service/c/web")]}),
        json!({"ScalingPolicies": [step_policy(json!([]))]}),
        json!({"MetricAlarms": [alarm("depth-high", &[ARN], "GreaterThanThreshold")]}),
    );
    let service = translate_on(&data, kubernetes, keda);
    let row = service
        .report
        .rows
        .iter()
        .find(|r| r.setting == crate::import::scaled_object::TOLERANCE_SETTING)
        .unwrap()
        .clone();
    (written_tolerance(&service), row)
}

#[test]
fn the_tolerance_swallows_small_steps_only() {
    // Kubernetes 1.30 has no `tolerance`: +1 from C is lost when |1 - (C + 1) / C| <= 0.1 in
    // floats, i.e. from 11 replicas on (10 -> 11 is 0.10000000000000009 from 1).
    let (tolerance, row) = tolerance_on("1.30", "2.18");
    assert_eq!(tolerance, None);
    assert!(
        matches!(&row.status, Status::Approximate(why) if why.contains("`out` +1 at 11-29 replicas")),
        "{row:?}"
    );
    let (tolerance, row) = tolerance_on("1.35", "2.18");
    assert_eq!((tolerance, row.status), (Some(0), Status::Exact));
}

#[test]
fn lost_steps_on_1_33_and_1_34_follow_the_band_rule_that_holds_exactly_10_percent() {
    // From 1.33 the HPA keeps the replicas for 0.9 <= ratio <= 1.1 (KEP-4951): 10 -> 11 is a
    // ratio of exactly 1.1, held, so +1 is lost from 10 replicas, not 11 as up to 1.32.
    for kubernetes in ["1.33", "1.34"] {
        for keda in ["2.18", "2.17"] {
            let (tolerance, row) = tolerance_on(kubernetes, keda);
            assert_eq!(
                tolerance,
                (keda == "2.18").then_some(0),
                "{kubernetes} {keda}"
            );
            assert!(
                matches!(&row.status, Status::Approximate(why)
                    if why.contains("`out` +1 at 10-29 replicas")),
                "{kubernetes} {keda}: {row:?}"
            );
        }
    }
}

#[test]
fn keda_before_2_18_omits_tolerance_and_reports_the_steps_the_10_percent_swallows() {
    let (tolerance, row) = tolerance_on("1.35", "2.17");
    assert_eq!(tolerance, None);
    assert!(row.became.contains("KEDA 2.17"), "{row:?}");
    assert!(
        matches!(&row.status, Status::Approximate(why)
            if why.contains("KEDA 2.17 has no `tolerance`") && why.contains("+1 at 10-29 replicas")),
        "{row:?}"
    );
    // Kubernetes 1.32 tests |1 - ratio|: 10 -> 11 passes.
    let (tolerance, row) = tolerance_on("1.32", "2.17");
    assert_eq!(tolerance, None);
    assert!(
        matches!(&row.status, Status::Approximate(why) if why.contains("+1 at 11-29 replicas")),
        "{row:?}"
    );
}

/// A target tracking policy of `service/c/web` listing its two implicit alarms.
fn target_tracking_policy(config: serde_json::Value) -> serde_json::Value {
    json!({"PolicyARN": ARN, "PolicyName": "track", "ServiceNamespace": "ecs",
           "ResourceId": "service/c/web", "ScalableDimension": "ecs:service:DesiredCount",
           "PolicyType": "TargetTrackingScaling",
           "TargetTrackingScalingPolicyConfiguration": config,
           "Alarms": [
               {"AlarmName": "TargetTracking-service/c/web-AlarmHigh-1", "AlarmARN": "x"},
               {"AlarmName": "TargetTracking-service/c/web-AlarmLow-2", "AlarmARN": "y"}]})
}

fn policy_row<'r>(service: &'r ServiceImport, name: &str) -> &'r crate::import::report::Row {
    service
        .report
        .rows
        .iter()
        .find(|r| r.setting.starts_with(&format!("policy `{name}`")))
        .unwrap()
}

#[test]
fn target_tracking_without_its_alarm_high_and_with_disable_scale_in_never_runs() {
    let mut low = alarm(
        "TargetTracking-service/c/web-AlarmLow-2",
        &[ARN],
        "LessThanThreshold",
    );
    low["Threshold"] = json!(45.0);
    let data = input(
        json!({"ScalableTargets": [target("service/c/web")]}),
        json!({"ScalingPolicies": [target_tracking_policy(json!({
            "TargetValue": 50.0, "DisableScaleIn": true,
            "CustomizedMetricSpecification": {"MetricName": "Depth", "Namespace": "App",
                                              "Statistic": "Average"}}))]}),
        json!({"MetricAlarms": [low]}),
    );
    let service = &translate(&data, &Options::default()).unwrap().services[0];
    assert!(service.policy_set.spec.policies.is_empty());
    let row = policy_row(service, "track");
    assert!(row.became.contains("DisableScaleIn is true"), "{row:?}");
    assert_eq!(row.status, Status::Exact);
}

/// `service/c/web` tracking ECS's CPU utilization at 50%, with these alarms.
fn cpu_target_tracking(alarms: serde_json::Value) -> AwsInput {
    input(
        json!({"ScalableTargets": [target("service/c/web")]}),
        json!({"ScalingPolicies": [target_tracking_policy(json!({
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}))]}),
        json!({"MetricAlarms": alarms}),
    )
}

#[test]
fn a_cpu_trigger_without_its_alarm_low_still_scales_in_on_the_hpa() {
    let mut high = alarm(
        "TargetTracking-service/c/web-AlarmHigh-1",
        &[ARN],
        "GreaterThanThreshold",
    );
    high["Threshold"] = json!(50.0);
    let data = cpu_target_tracking(json!([high]));
    let service = &translate(&data, &Options::default()).unwrap().services[0];
    let row = policy_row(service, "track");
    assert!(row.became.contains("AlarmLow"), "{row:?}");
    assert!(
        matches!(&row.status, Status::Approximate(why)
            if why.contains("DisableScaleIn cannot be expressed")),
        "{row:?}"
    );
}

#[test]
fn a_cpu_trigger_says_tolerance_0_only_where_the_scaled_object_has_it() {
    let data = cpu_target_tracking(json!([
        alarm(
            "TargetTracking-service/c/web-AlarmHigh-1",
            &[ARN],
            "GreaterThanThreshold"
        ),
        alarm(
            "TargetTracking-service/c/web-AlarmLow-2",
            &[ARN],
            "LessThanThreshold"
        ),
    ]));
    for (kubernetes, keda, written) in [
        ("1.35", "2.18", true),
        ("1.34", "2.18", true),
        ("1.35", "2.17", false),
        ("1.32", "2.18", false),
    ] {
        let service = &translate_on(&data, kubernetes, keda);
        assert_eq!(
            written_tolerance(service).is_some(),
            written,
            "{kubernetes} {keda}"
        );
        let row = policy_row(service, "track");
        assert!(
            matches!(&row.status, Status::Approximate(why)
                if why.contains("(no stabilization, tolerance 0)") == written),
            "{kubernetes} {keda}: {row:?}"
        );
    }
}
