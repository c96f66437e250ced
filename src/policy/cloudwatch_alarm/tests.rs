//! `spec.alarms` entries: both forms parse, errors name their field, references validate,
//! and resolution compiles the referenced alarm over a generated CloudWatch metric.

use super::*;
use crate::policy::compile;
use crate::policy::document::{AlarmMode, MetricSpec};
use crate::policy::load::{LoadError, load_str, parse_document};

const DOCUMENT: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: orders-api, namespace: shop}
spec:
  scalableTarget: {minCapacity: 1, maxCapacity: 20}
  metrics:
    cpu: {push: {period: 60}}
  alarms:
    cpuHigh: {metric: cpu, comparisonOperator: GreaterThanThreshold, threshold: 70,
              evaluationPeriods: 3}
    queueHigh:
      cloudwatchAlarm: {alarmName: orders-queue-high, awsRegion: eu-west-1, refreshSeconds: 60}
  policies:
  - policyName: cpu-out
    stepScaling:
      alarm: cpuHigh
      adjustmentType: ChangeInCapacity
      stepAdjustments: [{metricIntervalLowerBound: 0, scalingAdjustment: 1}]
  - policyName: queue-out
    stepScaling:
      alarm: queueHigh
      adjustmentType: ChangeInCapacity
      stepAdjustments: [{metricIntervalLowerBound: 0, scalingAdjustment: 2}]
"#;

fn with(from: &str, to: &str) -> String {
    assert!(DOCUMENT.contains(from), "`{from}` is not in the document");
    DOCUMENT.replacen(from, to, 1)
}

fn parse_error(text: &str) -> String {
    match parse_document(text, "test.yaml") {
        Ok(document) => panic!("parsed: {document:?}"),
        Err(LoadError::Parse { message, .. }) => message,
        Err(other) => panic!("{other}"),
    }
}

/// The definition CloudWatch gives the `orders-queue-high` alarm.
pub(crate) fn queue_alarm() -> AlarmDefinition {
    AlarmDefinition {
        alarm_name: "orders-queue-high".to_owned(),
        namespace: Some("AWS/SQS".to_owned()),
        metric_name: Some("ApproximateNumberOfMessagesVisible".to_owned()),
        dimensions: [("QueueName".to_owned(), "orders".to_owned())].into(),
        statistic: Some("Maximum".to_owned()),
        period: Some(60),
        threshold: Some(1000.0),
        comparison_operator: Some("GreaterThanOrEqualToThreshold".to_owned()),
        evaluation_periods: Some(5),
        datapoints_to_alarm: Some(3),
        treat_missing_data: Some("notBreaching".to_owned()),
        ..AlarmDefinition::default()
    }
}

#[test]
fn both_forms_parse_and_serialize_back() {
    let document = parse_document(DOCUMENT, "test").unwrap();
    let inline = document.spec.alarms["cpuHigh"].inline().unwrap();
    assert_eq!(inline.threshold, 70.0);
    let reference = &document.spec.alarms["queueHigh"]
        .cloudwatch()
        .unwrap()
        .reference;
    assert_eq!(reference.alarm_name, "orders-queue-high");
    assert_eq!(reference.aws_region.as_deref(), Some("eu-west-1"));
    assert_eq!(reference.mode, AlarmMode::Evaluate);
    assert_eq!(reference.refresh_seconds, 60);
    let json = serde_json::to_value(&document).unwrap();
    assert_eq!(
        json["spec"]["alarms"]["queueHigh"],
        serde_json::json!({"cloudwatchAlarm": {"alarmName": "orders-queue-high",
            "awsRegion": "eu-west-1", "mode": "evaluate", "refreshSeconds": 60}})
    );
    assert_eq!(json["spec"]["alarms"]["cpuHigh"]["threshold"], 70.0);
    let again: ScalingPolicySet = serde_json::from_value(json).unwrap();
    assert_eq!(again, document);
}

#[test]
fn mode_and_refresh_have_defaults() {
    let document = parse_document(
        &with(
            "awsRegion: eu-west-1, refreshSeconds: 60",
            "mode: trustState",
        ),
        "test",
    )
    .unwrap();
    let reference = &document.spec.alarms["queueHigh"]
        .cloudwatch()
        .unwrap()
        .reference;
    assert_eq!(reference.mode, AlarmMode::TrustState);
    assert_eq!(reference.refresh_seconds, 300);
    assert_eq!(reference.aws_region, None);
}

#[test]
fn errors_name_the_field_in_either_form() {
    let cases = [
        (
            "      cloudwatchAlarm: {alarmName: orders-queue-high,",
            "      threshold: 5\n      cloudwatchAlarm: {alarmName: orders-queue-high,",
            "spec.alarms.queueHigh: `cloudwatchAlarm` replaces the inline definition: remove \
             `threshold`",
        ),
        (
            "refreshSeconds: 60}",
            "refreshSeconds: 60, period: 60}",
            "spec.alarms.queueHigh.cloudwatchAlarm.period: unknown field `period`, expected one of",
        ),
        (
            "refreshSeconds: 60}",
            "refreshSeconds: 60, mode: trust}",
            "spec.alarms.queueHigh.cloudwatchAlarm.mode: unknown variant `trust`, expected \
             `evaluate` or `trustState`",
        ),
        (
            "{alarmName: orders-queue-high,",
            "{name: orders-queue-high,",
            "spec.alarms.queueHigh.cloudwatchAlarm.name: unknown field `name`",
        ),
        (
            "refreshSeconds: 60}",
            "refreshSeconds: sixty}",
            "spec.alarms.queueHigh.cloudwatchAlarm.refreshSeconds: invalid type: string \"sixty\"",
        ),
        (
            "evaluationPeriods: 3}",
            "evaluationPeriods: 3, cloudwatch: {}}",
            "spec.alarms.cpuHigh.cloudwatch: unknown field `cloudwatch`, expected one of \
             `metric`",
        ),
        (
            "cpuHigh: {metric: cpu,",
            "cpuHigh: {",
            "spec.alarms.cpuHigh: missing field `metric`",
        ),
    ];
    for (from, to, expected) in cases {
        let message = parse_error(&with(from, to));
        assert!(
            message.starts_with(expected),
            "`{message}` should start with `{expected}`"
        );
    }
    let message = parse_error(&with(
        "queueHigh:\n      cloudwatchAlarm: {alarmName: orders-queue-high, awsRegion: eu-west-1, refreshSeconds: 60}",
        "queueHigh: orders-queue-high",
    ));
    assert!(
        message.starts_with(
            "spec.alarms.queueHigh: invalid type: string \"orders-queue-high\", expected an alarm"
        ),
        "{message}"
    );
    // The unknown-field message lists both forms' keys.
    let message = parse_error(&with(
        "evaluationPeriods: 3}",
        "evaluationPeriods: 3, x: 1}",
    ));
    assert!(message.contains("`cloudwatchAlarm`"), "{message}");
}

#[test]
fn an_unresolved_document_validates_and_names_what_is_missing() {
    let set = load_str(DOCUMENT, "test").unwrap();
    let unresolved = set.unresolved_alarms();
    assert_eq!(unresolved.len(), 1);
    assert_eq!(unresolved[0].0, "queueHigh");
    // The reference's alarm and metric are placeholders, never evaluated.
    assert!(set.metrics.iter().any(|m| m.name == "alarm:queueHigh"));
    // The rest of the document is checked as usual.
    let errors = load_str(&with("alarm: queueHigh", "alarm: queueHihg"), "test")
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains(
            "spec.policies[1].stepScaling.alarm: unknown alarm `queueHihg`; declared: [cpuHigh, \
             queueHigh]"
        ),
        "{errors}"
    );
}

#[test]
fn reference_fields_are_checked() {
    let errors = load_str(
        &with(
            "alarmName: orders-queue-high, awsRegion: eu-west-1, refreshSeconds: 60",
            "alarmName: '', refreshSeconds: 5",
        ),
        "test",
    )
    .unwrap_err()
    .to_string();
    assert!(
        errors.contains("spec.alarms.queueHigh.cloudwatchAlarm.alarmName: must not be empty"),
        "{errors}"
    );
    assert!(
        errors.contains(
            "spec.alarms.queueHigh.cloudwatchAlarm.refreshSeconds: 5 is not between 10 and 86400"
        ),
        "{errors}"
    );
    let errors = load_str(
        &with(
            "cpu: {push: {period: 60}}",
            "cpu: {push: {period: 60}}\n    'alarm:queueHigh': {push: {period: 60}}",
        ),
        "test",
    )
    .unwrap_err()
    .to_string();
    assert!(
        errors.contains(
            "spec.metrics.alarm:queueHigh: the name is reserved for the metric of the CloudWatch \
             alarm spec.alarms.queueHigh"
        ),
        "{errors}"
    );
}

#[test]
fn a_resolved_document_compiles_the_alarm_over_a_generated_cloudwatch_metric() {
    let document = parse_document(DOCUMENT, "test").unwrap();
    let definition = queue_alarm();
    let resolved = resolve(&document, |key| (key == "queueHigh").then_some(&definition)).unwrap();
    let set = compile(&resolved).unwrap();
    assert!(set.unresolved_alarms().is_empty());
    let metric = set
        .metrics
        .iter()
        .find(|m| m.name == "alarm:queueHigh")
        .unwrap();
    let MetricSpec::CloudWatch(source) = &metric.source else {
        panic!("{metric:?}")
    };
    assert_eq!(source.aws_region.as_deref(), Some("eu-west-1"));
    assert_eq!(source.namespace.as_deref(), Some("AWS/SQS"));
    assert_eq!(source.stat.as_deref(), Some("Maximum"));
    assert_eq!(source.period, 60);
    assert_eq!(
        metric.history_periods,
        5 + 2,
        "sized for the alarm's evaluation range"
    );
    let alarm = set.alarms.iter().find(|a| a.name == "queueHigh").unwrap();
    assert_eq!(
        alarm.metric,
        set.metrics
            .iter()
            .position(|m| m.name == "alarm:queueHigh")
            .unwrap()
    );
    assert_eq!(
        (alarm.evaluation_periods, alarm.datapoints_to_alarm),
        (5, 3)
    );
    assert_eq!(alarm.threshold, 1000.0);
    assert_eq!(alarm.treat_missing_data, TreatMissingData::NotBreaching);
    assert!(
        alarm.trusted.is_none(),
        "mode evaluate: the engine evaluates it"
    );
    // The resolved document differs from the unresolved one and from another definition, so
    // that the registry replaces a policy set whose alarm changed.
    assert_ne!(resolved, document);
    let mut changed = queue_alarm();
    changed.threshold = Some(2000.0);
    let other = resolve(&document, |_| Some(&changed)).unwrap();
    assert_ne!(other, resolved);
    // It serializes as written.
    assert_eq!(
        serde_json::to_value(&resolved).unwrap(),
        serde_json::to_value(&document).unwrap()
    );
}

#[test]
fn trust_state_alarms_are_not_evaluated_by_the_engine() {
    let document = parse_document(
        &with(
            "refreshSeconds: 60}",
            "refreshSeconds: 60, mode: trustState}",
        ),
        "test",
    )
    .unwrap();
    let definition = queue_alarm();
    let set = compile(&resolve(&document, |_| Some(&definition)).unwrap()).unwrap();
    let alarm = set.alarms.iter().find(|a| a.name == "queueHigh").unwrap();
    let trusted = alarm.trusted.as_ref().unwrap();
    assert_eq!(trusted.key.alarm_name, "orders-queue-high");
    assert_eq!(trusted.refresh_seconds, 60);
}

#[test]
fn resolution_errors_name_the_alarm() {
    let document = parse_document(DOCUMENT, "test").unwrap();
    let errors = resolve(&document, |_| None).unwrap_err().to_string();
    assert_eq!(
        errors,
        "spec.alarms.queueHigh.cloudwatchAlarm: the definition of CloudWatch alarm \
         `orders-queue-high` has not been read yet"
    );
    let mut band = queue_alarm();
    band.comparison_operator = Some("LessThanLowerOrGreaterThanUpperThreshold".to_owned());
    band.threshold = None;
    band.threshold_metric_id = Some("ad1".to_owned());
    let errors = resolve(&document, |_| Some(&band)).unwrap_err().to_string();
    assert!(
        errors.starts_with(
            "spec.alarms.queueHigh.cloudwatchAlarm: CloudWatch alarm `orders-queue-high`: its \
             comparison operator LessThanLowerOrGreaterThanUpperThreshold compares with an \
             anomaly detection band: unsupported"
        ),
        "{errors}"
    );
    // A definition the rest of the rules refuse is reported at the reference.
    let mut long = queue_alarm();
    long.evaluation_periods = Some(1441);
    long.datapoints_to_alarm = None;
    let errors = compile(&resolve(&document, |_| Some(&long)).unwrap())
        .unwrap_err()
        .to_string();
    assert_eq!(
        errors,
        "spec.alarms.queueHigh.cloudwatchAlarm.evaluationPeriods: 1441 periods of 60 s exceed \
         CloudWatch's one-day evaluation window"
    );
}

#[test]
fn the_readme_examples_are_valid() {
    let readme = include_str!("../../../README.md");
    let row = readme
        .lines()
        .find(|line| line.starts_with("| `alarms.<name>.cloudwatchAlarm`"))
        .expect("the README documents the cloudwatchAlarm form");
    let example = row
        .split("Example: `")
        .nth(1)
        .and_then(|rest| rest.split("` |").next())
        .expect("the row ends with an example");
    let text = with(
        "    queueHigh:\n      cloudwatchAlarm: {alarmName: orders-queue-high, awsRegion: eu-west-1, refreshSeconds: 60}\n",
        &format!("    {example}\n"),
    );
    let set = load_str(&text, "README").unwrap();
    let document = set.pending_document.as_ref().expect("kept until resolved");
    let reference = &document.spec.alarms["queueHigh"]
        .cloudwatch()
        .unwrap()
        .reference;
    assert_eq!(reference.mode, AlarmMode::TrustState);
    for key in [
        "alarmName",
        "awsRegion",
        "awsEndpoint",
        "roleArn",
        "externalId",
        "mode",
        "refreshSeconds",
    ] {
        assert!(
            row.contains(&format!("`{key}`")),
            "{key} is not in the README row"
        );
    }
    // The policy document example of the README, with its CloudWatch alarm.
    let start = readme
        .find("```yaml\napiVersion: ecs-scaler.dev/v1alpha1")
        .expect("the README shows a policy document");
    let document = &readme[start + "```yaml\n".len()..];
    let document = &document[..document.find("```").unwrap()];
    let set = load_str(document, "README").unwrap();
    let unresolved: Vec<&str> = set.unresolved_alarms().iter().map(|(k, _)| *k).collect();
    assert_eq!(unresolved, ["backlogHigh"]);
}
