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

#[test]
fn the_tolerance_swallows_small_steps_only() {
    let data = input(
        json!({"ScalableTargets": [target("service/c/web")]}),
        json!({"ScalingPolicies": [step_policy(json!([]))]}),
        json!({"MetricAlarms": [alarm("depth-high", &[ARN], "GreaterThanThreshold")]}),
    );
    let service = &translate(&data, &Options::default()).unwrap().services[0];
    // +1 from C: lost when (C + 1) / C - 1 <= 0.1 in floats, i.e. from 11 replicas on (10 -> 11
    // is 0.10000000000000009).
    assert_eq!(
        swallowed_steps(&service.policy_set.spec, 1, 30),
        ["`out` +1 at 11-29 replicas"]
    );
    let old = Options {
        kubernetes_version: "1.30".parse().unwrap(),
        ..Options::default()
    };
    let service = &translate(&data, &old).unwrap().services[0];
    let behavior = &service
        .scaled_object
        .spec
        .advanced
        .horizontal_pod_autoscaler_config
        .behavior;
    assert_eq!(behavior.scale_up.tolerance, None);
    let row = service
        .report
        .rows
        .iter()
        .find(|r| r.setting.starts_with("HPA tolerance"))
        .unwrap();
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

#[test]
fn a_cpu_trigger_without_its_alarm_low_still_scales_in_on_the_hpa() {
    let mut high = alarm(
        "TargetTracking-service/c/web-AlarmHigh-1",
        &[ARN],
        "GreaterThanThreshold",
    );
    high["Threshold"] = json!(50.0);
    let data = input(
        json!({"ScalableTargets": [target("service/c/web")]}),
        json!({"ScalingPolicies": [target_tracking_policy(json!({
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}))]}),
        json!({"MetricAlarms": [high]}),
    );
    let service = &translate(&data, &Options::default()).unwrap().services[0];
    let row = policy_row(service, "track");
    assert!(row.became.contains("AlarmLow"), "{row:?}");
    assert!(
        matches!(&row.status, Status::Approximate(why)
            if why.contains("DisableScaleIn cannot be expressed")),
        "{row:?}"
    );
}
