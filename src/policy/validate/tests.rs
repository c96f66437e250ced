use super::*;
use crate::policy::document::{
    CooldownScope, Metadata, PolicySpec, PushSourceSpec, ScalableTargetAction, Statistic,
};
use crate::policy::load::{LoadError, is_policy_file, load_file, load_str, parse_document};

/// A valid document: a target tracking policy (`policies[0]`), a step scale-out (`policies[1]`)
/// and a step scale-in (`policies[2]`) policy, and one scheduled action.
const BASE: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: orders-api}
spec:
  scalableTarget: {minCapacity: 2, maxCapacity: 50}
  metrics:
    backlog: {push: {period: 60}}
    cpu: {push: {period: 60, staleAfterSeconds: 300}}
  alarms:
    cpuHigh: {metric: cpu, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 60,
              evaluationPeriods: 3, datapointsToAlarm: 2}
    cpuLow: {metric: cpu, comparisonOperator: LessThanOrEqualToThreshold, threshold: 40,
             evaluationPeriods: 5}
  policies:
  - policyName: backlog-per-task
    targetTracking: {metric: backlog, perTask: true, targetValue: 100}
  - policyName: cpu-out
    stepScaling:
      alarm: cpuHigh
      adjustmentType: ChangeInCapacity
      cooldown: 60
      stepAdjustments:
      - {metricIntervalLowerBound: 0, metricIntervalUpperBound: 10, scalingAdjustment: 1}
      - {metricIntervalLowerBound: 10, scalingAdjustment: 3}
  - policyName: cpu-in
    stepScaling:
      alarm: cpuLow
      adjustmentType: PercentChangeInCapacity
      minAdjustmentMagnitude: 1
      stepAdjustments:
      - {metricIntervalUpperBound: 0, scalingAdjustment: -10}
  scheduledActions:
  - scheduledActionName: weekday-peak
    schedule: cron(0 8 ? * MON-FRI *)
    timezone: America/New_York
    scalableTargetAction: {minCapacity: 10, maxCapacity: 80}
"#;

fn base() -> ScalingPolicySet {
    parse_document(BASE, "base").expect("the base document parses")
}

/// Every error of a document that must not compile, as `path: message` lines.
fn errors_of(document: &ScalingPolicySet) -> Vec<String> {
    match compile(document) {
        Ok(_) => panic!("the document compiled, but errors were expected"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

/// Asserts that the document has exactly one error, at `path`, whose message contains `needle`.
fn assert_single_error(document: &ScalingPolicySet, path: &str, needle: &str) {
    let errors = compile(document)
        .expect_err("the document must not compile")
        .0;
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    assert_eq!(errors[0].path, path, "{errors:#?}");
    assert!(
        errors[0].message.contains(needle),
        "`{}` does not contain `{needle}`",
        errors[0].message
    );
}

/// The parse error message (with its field path) of a text that must not parse.
fn parse_error(text: &str) -> String {
    match parse_document(text, "test.yaml") {
        Ok(_) => panic!("the text parsed, but an error was expected"),
        Err(LoadError::Parse { origin, message }) => {
            assert_eq!(origin, "test.yaml");
            message
        }
        Err(other) => panic!("expected a parse error, got {other}"),
    }
}

/// `BASE` with one piece of text replaced (which must be present).
fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "`{from}` is not in the base document");
    BASE.replacen(from, to, 1)
}

fn step_policy(document: &mut ScalingPolicySet, index: usize) -> &mut StepScalingSpec {
    document.spec.policies[index]
        .step_scaling
        .as_mut()
        .expect("a step scaling policy")
}

fn target_tracking(document: &mut ScalingPolicySet, index: usize) -> &mut TargetTrackingSpec {
    document.spec.policies[index]
        .target_tracking
        .as_mut()
        .expect("a target tracking policy")
}

fn step(lower: Option<f64>, upper: Option<f64>, adjustment: i32) -> StepAdjustmentSpec {
    StepAdjustmentSpec {
        metric_interval_lower_bound: lower,
        metric_interval_upper_bound: upper,
        scaling_adjustment: adjustment,
    }
}

/// The base document with the steps of the scale-in policy (`policies[2]`) replaced.
fn with_steps(steps: Vec<StepAdjustmentSpec>) -> ScalingPolicySet {
    let mut document = base();
    step_policy(&mut document, 2).step_adjustments = steps;
    document
}

const STEPS_PATH: &str = "spec.policies[2].stepScaling.stepAdjustments";

fn push_metric(period: u32) -> MetricSpec {
    MetricSpec::Push(PushSourceSpec {
        period,
        stale_after_seconds: None,
    })
}

fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().expect("an RFC 3339 instant")
}

// ---------------------------------------------------------------------------------------------
// The valid document and what it compiles to
// ---------------------------------------------------------------------------------------------

#[test]
fn valid_document_compiles_with_names_resolved_to_indices() {
    let compiled = compile(&base()).expect("the base document compiles");
    assert_eq!(compiled.id, PolicySetId::new("default", "orders-api"));
    assert_eq!((compiled.min_capacity, compiled.max_capacity), (2, 50));
    assert_eq!(compiled.metrics.len(), 2);
    assert_eq!(compiled.metrics[0].name, "backlog");
    assert_eq!(compiled.metrics[1].name, "cpu");
    // Two declared alarms, then the two implicit alarms of the target tracking policy.
    assert_eq!(compiled.alarms.len(), 4);
    assert_eq!(compiled.policies.len(), 3);
    let names: Vec<&str> = compiled.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["backlog-per-task", "cpu-out", "cpu-in"]);
    let PolicyKind::StepScaling(out) = &compiled.policies[1].kind else {
        panic!("cpu-out is a step scaling policy");
    };
    let alarm = &compiled.alarms[out.alarm];
    assert_eq!(alarm.name, "cpuHigh");
    assert_eq!(alarm.origin, AlarmOrigin::Declared);
    assert_eq!(compiled.metrics[alarm.metric].name, "cpu");
    assert_eq!(
        (alarm.evaluation_periods, alarm.datapoints_to_alarm),
        (3, 2)
    );
    assert_eq!(out.cooldown, 60);
    assert_eq!(out.min_adjustment_magnitude, 0, "unset is 0");
    let PolicyKind::StepScaling(in_policy) = &compiled.policies[2].kind else {
        panic!("cpu-in is a step scaling policy");
    };
    assert_eq!(in_policy.min_adjustment_magnitude, 1);
    assert_eq!(in_policy.cooldown, 300, "the AAS default cooldown");
    assert_eq!(compiled.scheduled_actions.len(), 1);
    assert_eq!(compiled.scheduled_actions[0].name, "weekday-peak");
    assert_eq!(compiled.scheduled_actions[0].min_capacity, Some(10));
    assert_eq!(compiled.scheduled_actions[0].max_capacity, Some(80));
    assert_eq!(compiled.behavior.reinvocation_interval_seconds, 60);
}

#[test]
fn datapoints_to_alarm_defaults_to_evaluation_periods() {
    let compiled = compile(&base()).unwrap();
    let low = compiled.alarms.iter().find(|a| a.name == "cpuLow").unwrap();
    assert_eq!((low.evaluation_periods, low.datapoints_to_alarm), (5, 5));
}

#[test]
fn metric_history_covers_its_longest_alarm() {
    let compiled = compile(&base()).unwrap();
    // cpu: cpuHigh needs 3 periods, cpuLow 5, each with its evaluation range (2 more).
    assert_eq!(compiled.metrics[1].history_periods, 5 + 2);
    // backlog: the implicit low alarm of target tracking needs 15, and its range 2 more.
    assert_eq!(compiled.metrics[0].history_periods, 15 + 2);
    assert_eq!(compiled.alarms[0].evaluation_range, 3 + 2);
}

#[test]
fn metric_without_alarm_keeps_one_period_of_history() {
    let mut document = base();
    document
        .spec
        .metrics
        .insert("unused".to_owned(), push_metric(60));
    let compiled = compile(&document).unwrap();
    let unused = compiled
        .metrics
        .iter()
        .find(|m| m.name == "unused")
        .unwrap();
    assert_eq!(unused.history_periods, 1);
}

// ---------------------------------------------------------------------------------------------
// Header: apiVersion, kind, metadata
// ---------------------------------------------------------------------------------------------

#[test]
fn namespace_defaults_to_default() {
    let compiled = load_str(BASE, "base").unwrap();
    assert_eq!(compiled.id.namespace, DEFAULT_NAMESPACE);
    assert_eq!(compiled.id.namespace, "default");
}

#[test]
fn namespace_is_kept_when_given() {
    let text = base_with(
        "metadata: {name: orders-api}",
        "metadata: {name: orders-api, namespace: shop}",
    );
    let compiled = load_str(&text, "t").unwrap();
    assert_eq!(compiled.id, PolicySetId::new("shop", "orders-api"));
    assert_eq!(compiled.id.to_string(), "shop/orders-api");
}

#[test]
fn api_version_is_checked() {
    let mut document = base();
    document.api_version = "ecs-scaler.dev/v1".to_owned();
    assert_single_error(
        &document,
        "apiVersion",
        "expected `ecs-scaler.dev/v1alpha1`",
    );
}

#[test]
fn kind_is_checked() {
    let mut document = base();
    document.kind = "ScaledObject".to_owned();
    assert_single_error(
        &document,
        "kind",
        "expected `ScalingPolicySet`, found `ScaledObject`",
    );
}

#[test]
fn metadata_name_must_be_a_dns_subdomain_name() {
    for bad in [
        "",
        "Orders",
        "orders_api",
        "-orders",
        "orders-",
        "orders api",
        ".orders",
        "orders/api",
        &"a".repeat(254),
    ] {
        let mut document = base();
        document.metadata.name = bad.to_owned();
        assert_single_error(&document, "metadata.name", "is not a valid name");
    }
    for good in [
        "a",
        "orders-api",
        "orders.api",
        "0rders-2",
        &"a".repeat(253),
    ] {
        let mut document = base();
        document.metadata.name = good.to_owned();
        compile(&document).unwrap_or_else(|e| panic!("`{good}` is valid: {e}"));
    }
}

#[test]
fn metadata_namespace_must_be_a_dns_label_of_at_most_63_characters() {
    for bad in ["Shop", "shop_1", "", &"a".repeat(64)] {
        let mut document = base();
        document.metadata.namespace = Some(bad.to_owned());
        assert_single_error(&document, "metadata.namespace", "at most 63");
    }
    let mut document = base();
    document.metadata.namespace = Some("a".repeat(63));
    compile(&document).unwrap();
}

#[test]
fn metadata_labels_and_annotations_are_accepted_but_not_interpreted() {
    let plain = load_str(&base_with("", ""), "t").unwrap();
    let text = base_with(
        "metadata: {name: orders-api}",
        "metadata: {name: orders-api, labels: {team: shop}, annotations: {note: hi}}",
    );
    let labelled = load_str(&text, "t").unwrap();
    assert_eq!(labelled.id, plain.id);
    assert_eq!(
        (
            labelled.min_capacity,
            labelled.max_capacity,
            labelled.policies.len()
        ),
        (plain.min_capacity, plain.max_capacity, plain.policies.len())
    );
    assert_ne!(
        labelled.fingerprint, plain.fingerprint,
        "a different document, served anew"
    );
}

#[test]
fn equal_documents_have_equal_fingerprints() {
    let text = base_with("", "");
    let once = load_str(&text, "t").unwrap();
    let twice = load_str(&text, "t").unwrap();
    assert_eq!(once.fingerprint, twice.fingerprint);
    let other = load_str(&text.replace("maxCapacity: 50}", "maxCapacity: 51}"), "t").unwrap();
    assert_ne!(once.fingerprint, other.fingerprint);
}

// ---------------------------------------------------------------------------------------------
// Errors carry their field path and are all collected
// ---------------------------------------------------------------------------------------------

#[test]
fn every_error_has_its_field_path() {
    let mut document = with_steps(vec![
        step(None, Some(-5.0), -20),
        step(Some(-10.0), Some(0.0), -10),
    ]);
    document.spec.policies[1].policy_name = "cpu-in".to_owned();
    let errors = errors_of(&document);
    assert_eq!(
        errors,
        [
            "spec.policies[2].policyName: duplicate policy name `cpu-in`",
            "spec.policies[2].stepScaling.stepAdjustments[1]: overlaps the previous interval",
        ]
    );
}

#[test]
fn overlap_is_reported_on_the_later_step_in_document_numbering() {
    let document = with_steps(vec![
        step(None, Some(-5.0), -20),
        step(Some(-10.0), Some(0.0), -10),
    ]);
    let errors = compile(&document).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "spec.policies[2].stepScaling.stepAdjustments[1]: overlaps the previous interval"
    );
}

#[test]
fn errors_are_collected_five_problems_report_five() {
    let mut document = base();
    document.kind = "Deployment".to_owned(); // 1
    document.spec.scalable_target.min_capacity = 60; // 2: min > max
    document
        .spec
        .alarms
        .get_mut("cpuHigh")
        .unwrap()
        .inline_mut()
        .unwrap()
        .datapoints_to_alarm = Some(4); // 3: M > N
    target_tracking(&mut document, 0).metric = "queue".to_owned(); // 4: unknown metric
    document.spec.scheduled_actions[0].timezone = Some("Mars/Olympus".to_owned()); // 5
    let errors = compile(&document).unwrap_err();
    let paths: Vec<&str> = errors.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "kind",
            "spec.scalableTarget",
            "spec.alarms.cpuHigh.datapointsToAlarm",
            "spec.policies[0].targetTracking.metric",
            "spec.scheduledActions[0].timezone",
        ]
    );
    // One line per error when displayed.
    assert_eq!(errors.to_string().lines().count(), 5);
}

#[test]
fn errors_of_every_policy_and_action_are_collected() {
    let mut document = base();
    step_policy(&mut document, 1).alarm = "nope".to_owned();
    step_policy(&mut document, 2).step_adjustments.clear();
    document.spec.scheduled_actions[0].schedule = "cron(0 8 * * * *)".to_owned();
    document.spec.scheduled_actions[0].scalable_target_action = ScalableTargetAction {
        min_capacity: None,
        max_capacity: None,
    };
    let paths: Vec<String> = compile(&document)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        paths,
        [
            "spec.policies[1].stepScaling.alarm",
            "spec.policies[2].stepScaling.stepAdjustments",
            "spec.scheduledActions[0].scalableTargetAction",
            "spec.scheduledActions[0].schedule",
        ]
    );
}

#[test]
fn load_str_reports_validation_errors_with_the_origin() {
    let text = base_with("minCapacity: 2", "minCapacity: 51");
    match load_str(&text, "orders.yaml") {
        Err(LoadError::Invalid { origin, errors }) => {
            assert_eq!(origin, "orders.yaml");
            assert_eq!(errors.0.len(), 1);
            assert_eq!(errors.0[0].path, "spec.scalableTarget");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let message = load_str(&text, "orders.yaml").unwrap_err().to_string();
    assert_eq!(
        message,
        "orders.yaml: spec.scalableTarget: minCapacity 51 is greater than maxCapacity 50"
    );
}

// ---------------------------------------------------------------------------------------------
// Parsing: YAML and JSON, unknown fields, wrong types
// ---------------------------------------------------------------------------------------------

#[test]
fn yaml_and_json_are_both_accepted() {
    let yaml = base();
    let json = serde_json::to_string_pretty(&yaml).unwrap();
    assert!(json.trim_start().starts_with('{'));
    let from_json = parse_document(&json, "base.json").expect("the JSON form parses");
    assert_eq!(from_json, yaml);
    compile(&from_json).unwrap();
    // JSON preceded by blank lines is still read as JSON.
    assert_eq!(parse_document(&format!("\n\n  {json}"), "j").unwrap(), yaml);
}

#[test]
fn json_written_by_hand_is_accepted() {
    let json = r#"{
      "apiVersion": "ecs-scaler.dev/v1alpha1", "kind": "ScalingPolicySet",
      "metadata": {"name": "web-app", "namespace": "web"},
      "spec": {"scalableTarget": {"minCapacity": 0, "maxCapacity": 3},
               "metrics": {"users": {"push": {}}},
               "policies": [{"policyName": "users",
                             "targetTracking": {"metric": "users", "targetValue": 10.5}}]}
    }"#;
    let compiled = load_str(json, "web.json").unwrap();
    assert_eq!(compiled.id, PolicySetId::new("web", "web-app"));
    assert_eq!(
        compiled.metrics[0].period_seconds, 60,
        "push period defaults to 60"
    );
    assert_eq!(
        compiled.min_capacity, 0,
        "min capacity 0 is allowed, as on ECS"
    );
}

#[test]
fn invalid_yaml_and_json_are_reported_as_such() {
    let message = parse_error(&base_with("maxCapacity: 50}", "maxCapacity: 50"));
    assert!(message.starts_with("invalid YAML"), "{message}");
    let message = parse_error("{\"apiVersion\": ");
    assert!(message.starts_with("invalid JSON"), "{message}");
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let cases = [
        (
            "kind: ScalingPolicySet",
            "kind: ScalingPolicySet\nstatus: {}",
            "status: unknown field `status`",
        ),
        (
            "  scalableTarget:",
            "  replicas: 3\n  scalableTarget:",
            "spec.replicas: unknown field `replicas`",
        ),
        (
            "maxCapacity: 50}",
            "maxCapacity: 50, desiredCount: 3}",
            "spec.scalableTarget.desiredCount: unknown field `desiredCount`",
        ),
        (
            "{push: {period: 60}}",
            "{push: {period: 60, queue: x}}",
            "spec.metrics.backlog.push.queue: unknown field `queue`",
        ),
        (
            "evaluationPeriods: 5}",
            "evaluationPeriods: 5, period: 60}",
            "spec.alarms.cpuLow.period: unknown field `period`",
        ),
        (
            "targetValue: 100}",
            "targetValue: 100, predefinedMetricType: X}",
            "spec.policies[0].targetTracking.predefinedMetricType: unknown field",
        ),
        (
            "{metricIntervalLowerBound: 10, scalingAdjustment: 3}",
            "{metricIntervalLowerBound: 10, scalingAdjustment: 3, weight: 1}",
            "spec.policies[1].stepScaling.stepAdjustments[1].weight: unknown field `weight`",
        ),
        (
            "    timezone: America/New_York",
            "    timeZone: America/New_York",
            "spec.scheduledActions[0].timeZone: unknown field `timeZone`, expected one of",
        ),
        (
            "{minCapacity: 10, maxCapacity: 80}",
            "{minCapacity: 10, desired: 80}",
            "spec.scheduledActions[0].scalableTargetAction.desired: unknown field",
        ),
    ];
    for (from, to, expected) in cases {
        let message = parse_error(&base_with(from, to));
        assert!(
            message.starts_with(expected),
            "`{message}` should start with `{expected}`"
        );
    }
}

#[test]
fn unknown_behavior_settings_are_rejected_with_their_path() {
    let text = base_with(
        "  scheduledActions:",
        "  behavior: {cooldownScop: PerPolicy}\n  scheduledActions:",
    );
    let message = parse_error(&text);
    assert!(
        message.starts_with("spec.behavior.cooldownScop: unknown field `cooldownScop`"),
        "{message}"
    );
}

#[test]
fn unknown_metric_source_is_rejected_with_its_path() {
    let message = parse_error(&base_with("{push: {period: 60}}", "{kafka: {topic: q}}"));
    // The list of sources grows; each one it names is a source.
    assert!(
        message.starts_with(
            "spec.metrics.backlog: unknown variant `kafka`, expected one of `push`, `sqs`"
        ),
        "{message}"
    );
    assert!(message.contains("`prometheus`"), "{message}");
}

#[test]
fn wrong_types_are_named_with_their_path() {
    let cases = [
        (
            "threshold: 60",
            "threshold: sixty",
            "spec.alarms.cpuHigh.threshold: invalid type: string \"sixty\", expected f64",
        ),
        (
            "targetValue: 100}",
            "targetValue: \"100\"}",
            "spec.policies[0].targetTracking.targetValue: invalid type: string \"100\", expected f64",
        ),
        (
            "minCapacity: 2",
            "minCapacity: -1",
            "spec.scalableTarget.minCapacity: invalid value: integer `-1`, expected u32",
        ),
        (
            "{metricIntervalLowerBound: 10, scalingAdjustment: 3}",
            "{metricIntervalLowerBound: 10, scalingAdjustment: 1.5}",
            "spec.policies[1].stepScaling.stepAdjustments[1].scalingAdjustment: invalid type: floating point `1.5`, expected i32",
        ),
        (
            "alarm: cpuHigh",
            "alarm: [cpuHigh]",
            "spec.policies[1].stepScaling.alarm: invalid type: sequence, expected a string",
        ),
        (
            "perTask: true",
            "perTask: yes please",
            "spec.policies[0].targetTracking.perTask: invalid type: string",
        ),
        (
            "comparisonOperator: GreaterThanOrEqualToThreshold",
            "comparisonOperator: GreaterThan",
            "spec.alarms.cpuHigh.comparisonOperator: unknown variant `GreaterThan`, expected one of",
        ),
        (
            "adjustmentType: ChangeInCapacity",
            "adjustmentType: changeInCapacity",
            "spec.policies[1].stepScaling.adjustmentType: unknown variant `changeInCapacity`",
        ),
        (
            "policies:\n  - policyName: backlog-per-task",
            "policies:\n  - policyName: 7",
            "spec.policies[0].policyName: invalid type: integer `7`, expected a string",
        ),
    ];
    for (from, to, expected) in cases {
        let message = parse_error(&base_with(from, to));
        assert!(
            message.starts_with(expected),
            "`{message}` should start with `{expected}`"
        );
    }
}

#[test]
fn missing_required_fields_are_named_with_their_parent_path() {
    let message = parse_error(&base_with("threshold: 60,", ""));
    assert_eq!(message, "spec.alarms.cpuHigh: missing field `threshold`");
    let message = parse_error(&base_with("metadata: {name: orders-api}", "metadata: {}"));
    assert_eq!(message, "metadata: missing field `name`");
    let message = parse_error("apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\n");
    assert_eq!(message, "missing field `metadata`");
}

#[test]
fn schedule_times_are_read_as_utc_instants() {
    let text = base_with(
        "    timezone: America/New_York",
        "    timezone: America/New_York\n    startTime: 2025-01-01T00:00:00Z\n    endTime: \"2025-12-31T23:00:00+00:00\"",
    );
    let document = parse_document(&text, "t").unwrap();
    let action = &document.spec.scheduled_actions[0];
    assert_eq!(action.start_time, Some(utc("2025-01-01T00:00:00Z")));
    assert_eq!(action.end_time, Some(utc("2025-12-31T23:00:00Z")));
    compile(&document).unwrap();
    let message = parse_error(&base_with(
        "    timezone: America/New_York",
        "    startTime: tomorrow",
    ));
    assert!(
        message.starts_with("spec.scheduledActions[0].startTime:"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Scalable target
// ---------------------------------------------------------------------------------------------

#[test]
fn min_capacity_must_not_exceed_max_capacity() {
    let mut document = base();
    document.spec.scalable_target.min_capacity = 51;
    assert_single_error(
        &document,
        "spec.scalableTarget",
        "minCapacity 51 is greater than maxCapacity 50",
    );
    document.spec.scalable_target.min_capacity = 50;
    compile(&document).expect("min == max is allowed");
    document.spec.scalable_target.min_capacity = 0;
    compile(&document).expect("min 0 is allowed (ECS)");
}

#[test]
fn suspended_state_is_carried_into_the_compiled_set() {
    let text = base_with(
        "maxCapacity: 50}",
        "maxCapacity: 50, suspendedState: {dynamicScalingInSuspended: true}}",
    );
    let compiled = load_str(&text, "t").unwrap();
    assert!(compiled.suspended.dynamic_scaling_in_suspended);
    assert!(!compiled.suspended.dynamic_scaling_out_suspended);
    assert!(!compiled.suspended.scheduled_scaling_suspended);
}

// ---------------------------------------------------------------------------------------------
// Step scaling: step interval rules (spec B.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn step_intervals_must_not_overlap() {
    let document = with_steps(vec![
        step(None, Some(0.0), -10),
        step(Some(-5.0), Some(10.0), -5),
        step(Some(10.0), None, 1),
    ]);
    assert_single_error(
        &document,
        &format!("{STEPS_PATH}[1]"),
        "overlaps the previous interval",
    );
}

#[test]
fn step_intervals_must_not_leave_a_gap() {
    let mut document = base();
    step_policy(&mut document, 1).step_adjustments =
        vec![step(Some(0.0), Some(10.0), 1), step(Some(20.0), None, 3)];
    assert_single_error(
        &document,
        "spec.policies[1].stepScaling.stepAdjustments[1]",
        "leaves a gap after the previous interval (from 10 to 20)",
    );
}

#[test]
fn steps_that_touch_neither_overlap_nor_leave_a_gap() {
    let compiled = compile(&with_steps(vec![
        step(None, Some(-20.0), -30),
        step(Some(-20.0), Some(-10.0), -20),
        step(Some(-10.0), Some(0.0), -10),
    ]))
    .unwrap();
    let PolicyKind::StepScaling(policy) = &compiled.policies[2].kind else {
        panic!("a step scaling policy");
    };
    assert_eq!(policy.steps.len(), 3);
}

#[test]
fn steps_are_sorted_by_lower_bound_and_keep_their_document_index() {
    let mut document = base();
    step_policy(&mut document, 1).step_adjustments =
        vec![step(Some(10.0), None, 3), step(Some(0.0), Some(10.0), 1)];
    let compiled = compile(&document).unwrap();
    let PolicyKind::StepScaling(policy) = &compiled.policies[1].kind else {
        panic!("a step scaling policy");
    };
    assert_eq!(
        policy.steps,
        [
            Step {
                index: 1,
                lower: 0.0,
                upper: 10.0,
                adjustment: 1
            },
            Step {
                index: 0,
                lower: 10.0,
                upper: f64::INFINITY,
                adjustment: 3
            },
        ]
    );
}

#[test]
fn absent_bounds_compile_to_infinities() {
    let compiled = compile(&base()).unwrap();
    let PolicyKind::StepScaling(policy) = &compiled.policies[2].kind else {
        panic!("a step scaling policy");
    };
    assert_eq!(policy.steps[0].lower, f64::NEG_INFINITY);
    assert_eq!(policy.steps[0].upper, 0.0);
}

#[test]
fn at_most_one_step_may_omit_the_lower_bound() {
    let document = with_steps(vec![
        step(None, Some(-10.0), -20),
        step(None, Some(0.0), -10),
    ]);
    let errors = errors_of(&document);
    assert!(
        errors.contains(&format!(
            "{STEPS_PATH}: at most one step may omit metricIntervalLowerBound"
        )),
        "{errors:#?}"
    );
}

#[test]
fn at_most_one_step_may_omit_the_upper_bound() {
    let mut document = base();
    step_policy(&mut document, 1).step_adjustments =
        vec![step(Some(0.0), None, 1), step(Some(10.0), None, 3)];
    let errors = errors_of(&document);
    assert!(
        errors.contains(
            &"spec.policies[1].stepScaling.stepAdjustments: at most one step may omit \
              metricIntervalUpperBound"
                .to_owned()
        ),
        "{errors:#?}"
    );
}

#[test]
fn a_step_may_not_omit_both_bounds() {
    let document = with_steps(vec![step(None, None, -10)]);
    assert_single_error(
        &document,
        &format!("{STEPS_PATH}[0]"),
        "not both may be absent",
    );
}

#[test]
fn step_upper_bound_must_be_greater_than_lower_bound() {
    for (lower, upper) in [(0.0, 0.0), (5.0, 1.0)] {
        let mut document = base();
        step_policy(&mut document, 1).step_adjustments = vec![
            step(Some(lower), Some(upper), 1),
            step(Some(upper.max(lower)), None, 3),
        ];
        let errors = compile(&document).unwrap_err().0;
        assert_eq!(
            errors[0],
            ValidationError {
                path: "spec.policies[1].stepScaling.stepAdjustments[0]".to_owned(),
                message: format!(
                    "metricIntervalUpperBound {upper} must be greater than \
                     metricIntervalLowerBound {lower}"
                ),
            }
        );
    }
}

#[test]
fn negative_lower_bound_requires_a_step_without_lower_bound() {
    let document = with_steps(vec![step(Some(-10.0), Some(0.0), -10)]);
    assert_single_error(
        &document,
        STEPS_PATH,
        "a negative metricIntervalLowerBound requires a step without a lower bound",
    );
    // With the open-ended step below it, the same interval is fine.
    compile(&with_steps(vec![
        step(None, Some(-10.0), -20),
        step(Some(-10.0), Some(0.0), -10),
    ]))
    .unwrap();
}

#[test]
fn positive_upper_bound_requires_a_step_without_upper_bound() {
    let mut document = base();
    step_policy(&mut document, 1).step_adjustments = vec![step(Some(0.0), Some(10.0), 1)];
    assert_single_error(
        &document,
        "spec.policies[1].stepScaling.stepAdjustments",
        "a positive metricIntervalUpperBound requires a step without an upper bound",
    );
}

#[test]
fn zero_bounds_need_no_open_ended_step() {
    // [0, +inf) and (-inf, 0] alone are the two simplest valid policies.
    let mut document = base();
    step_policy(&mut document, 1).step_adjustments = vec![step(Some(0.0), None, 1)];
    step_policy(&mut document, 2).step_adjustments = vec![step(None, Some(0.0), -1)];
    compile(&document).unwrap();
}

#[test]
fn step_scaling_needs_at_least_one_step() {
    let document = with_steps(vec![]);
    assert_single_error(
        &document,
        STEPS_PATH,
        "at least one step adjustment is required",
    );
}

#[test]
fn step_bounds_must_be_finite() {
    let document = with_steps(vec![step(None, Some(f64::NAN), -1)]);
    assert_single_error(&document, &format!("{STEPS_PATH}[0]"), "must be finite");
}

#[test]
fn exact_capacity_adjustments_must_not_be_negative() {
    let mut document = base();
    let policy = step_policy(&mut document, 2);
    policy.adjustment_type = AdjustmentType::ExactCapacity;
    policy.min_adjustment_magnitude = None;
    policy.step_adjustments = vec![step(None, Some(-10.0), -1), step(Some(-10.0), Some(0.0), 0)];
    assert_single_error(
        &document,
        &format!("{STEPS_PATH}[0].scalingAdjustment"),
        "must be zero or more with adjustmentType ExactCapacity",
    );
    step_policy(&mut document, 2).step_adjustments[0].scaling_adjustment = 0;
    compile(&document).expect("ExactCapacity 0 is allowed");
}

#[test]
fn negative_adjustments_are_fine_for_change_and_percent() {
    let mut document = base();
    step_policy(&mut document, 2).adjustment_type = AdjustmentType::ChangeInCapacity;
    step_policy(&mut document, 2).min_adjustment_magnitude = None;
    compile(&document).unwrap();
    step_policy(&mut document, 2).adjustment_type = AdjustmentType::PercentChangeInCapacity;
    compile(&document).unwrap();
}

#[test]
fn min_adjustment_magnitude_only_with_percent_change_in_capacity() {
    for adjustment_type in [
        AdjustmentType::ChangeInCapacity,
        AdjustmentType::ExactCapacity,
    ] {
        let mut document = base();
        let policy = step_policy(&mut document, 1);
        policy.adjustment_type = adjustment_type;
        policy.min_adjustment_magnitude = Some(2);
        assert_single_error(
            &document,
            "spec.policies[1].stepScaling.minAdjustmentMagnitude",
            "only valid with adjustmentType PercentChangeInCapacity",
        );
    }
    let mut document = base();
    let policy = step_policy(&mut document, 1);
    policy.adjustment_type = AdjustmentType::PercentChangeInCapacity;
    policy.min_adjustment_magnitude = Some(2);
    let compiled = compile(&document).unwrap();
    let PolicyKind::StepScaling(policy) = &compiled.policies[1].kind else {
        panic!("a step scaling policy");
    };
    assert_eq!(policy.min_adjustment_magnitude, 2);
}

// ---------------------------------------------------------------------------------------------
// Names: unknown references, duplicates, policy shape
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_metric_lists_the_declared_metrics() {
    let mut document = base();
    target_tracking(&mut document, 0).metric = "queue".to_owned();
    assert_single_error(
        &document,
        "spec.policies[0].targetTracking.metric",
        "unknown metric `queue`; declared: [backlog, cpu]",
    );
    let mut document = base();
    document
        .spec
        .alarms
        .get_mut("cpuLow")
        .unwrap()
        .inline_mut()
        .unwrap()
        .metric = "memory".to_owned();
    let errors = errors_of(&document);
    assert_eq!(
        errors,
        [
            "spec.alarms.cpuLow.metric: unknown metric `memory`; declared: [backlog, cpu]",
            // The alarm could not be compiled, so the policy using it cannot find it either.
            "spec.policies[2].stepScaling.alarm: unknown alarm `cpuLow`; declared: [cpuHigh]",
        ]
    );
}

#[test]
fn unknown_alarm_lists_the_declared_alarms() {
    let mut document = base();
    step_policy(&mut document, 1).alarm = "cpu-high".to_owned();
    assert_single_error(
        &document,
        "spec.policies[1].stepScaling.alarm",
        "unknown alarm `cpu-high`; declared: [cpuHigh, cpuLow]",
    );
}

#[test]
fn unknown_reference_with_nothing_declared_lists_an_empty_set() {
    let mut document = base();
    document.spec.alarms.clear();
    document.spec.policies.truncate(1);
    document.spec.metrics.clear();
    assert_single_error(
        &document,
        "spec.policies[0].targetTracking.metric",
        "unknown metric `backlog`; declared: []",
    );
}

#[test]
fn duplicate_policy_names_are_rejected() {
    let mut document = base();
    document.spec.policies[2].policy_name = "cpu-out".to_owned();
    assert_single_error(
        &document,
        "spec.policies[2].policyName",
        "duplicate policy name `cpu-out`",
    );
}

#[test]
fn policy_name_must_not_be_empty() {
    let mut document = base();
    document.spec.policies[1].policy_name = "  ".to_owned();
    assert_single_error(
        &document,
        "spec.policies[1].policyName",
        "must not be empty",
    );
}

#[test]
fn a_policy_sets_exactly_one_of_target_tracking_and_step_scaling() {
    let mut document = base();
    document.spec.policies[0].step_scaling = document.spec.policies[1].step_scaling.clone();
    assert_single_error(
        &document,
        "spec.policies[0]",
        "set exactly one of `targetTracking` and `stepScaling`",
    );
    let mut document = base();
    document.spec.policies.push(PolicySpec {
        policy_name: "empty".to_owned(),
        target_tracking: None,
        step_scaling: None,
    });
    assert_single_error(&document, "spec.policies[3]", "set exactly one of");
}

#[test]
fn target_value_must_be_a_positive_number() {
    for value in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let mut document = base();
        target_tracking(&mut document, 0).target_value = value;
        assert_single_error(
            &document,
            "spec.policies[0].targetTracking.targetValue",
            "must be a positive number",
        );
    }
}

#[test]
fn metric_name_must_not_contain_a_slash() {
    let mut document = base();
    document
        .spec
        .metrics
        .insert("a/b".to_owned(), push_metric(60));
    assert_single_error(&document, "spec.metrics.a/b", "contain no `/`");
}

// ---------------------------------------------------------------------------------------------
// Alarms: M of N, periods, one-day window
// ---------------------------------------------------------------------------------------------

#[test]
fn datapoints_to_alarm_must_not_exceed_evaluation_periods() {
    let mut document = base();
    document
        .spec
        .alarms
        .get_mut("cpuHigh")
        .unwrap()
        .inline_mut()
        .unwrap()
        .datapoints_to_alarm = Some(4);
    assert_single_error(
        &document,
        "spec.alarms.cpuHigh.datapointsToAlarm",
        "4 must be between 1 and evaluationPeriods (3)",
    );
    document
        .spec
        .alarms
        .get_mut("cpuHigh")
        .unwrap()
        .inline_mut()
        .unwrap()
        .datapoints_to_alarm = Some(3);
    compile(&document).expect("M == N is allowed");
    document
        .spec
        .alarms
        .get_mut("cpuHigh")
        .unwrap()
        .inline_mut()
        .unwrap()
        .datapoints_to_alarm = Some(1);
    compile(&document).expect("M == 1 is allowed");
}

#[test]
fn datapoints_to_alarm_must_be_at_least_one() {
    let mut document = base();
    document
        .spec
        .alarms
        .get_mut("cpuHigh")
        .unwrap()
        .inline_mut()
        .unwrap()
        .datapoints_to_alarm = Some(0);
    assert_single_error(
        &document,
        "spec.alarms.cpuHigh.datapointsToAlarm",
        "0 must be between 1",
    );
}

#[test]
fn evaluation_periods_must_be_at_least_one() {
    let mut document = base();
    let alarm = document
        .spec
        .alarms
        .get_mut("cpuLow")
        .unwrap()
        .inline_mut()
        .unwrap();
    alarm.evaluation_periods = 0;
    let errors = errors_of(&document);
    assert_eq!(
        errors[0],
        "spec.alarms.cpuLow.evaluationPeriods: must be at least 1"
    );
}

#[test]
fn alarm_threshold_must_be_finite() {
    let mut document = base();
    document
        .spec
        .alarms
        .get_mut("cpuHigh")
        .unwrap()
        .inline_mut()
        .unwrap()
        .threshold = f64::NAN;
    assert_single_error(&document, "spec.alarms.cpuHigh.threshold", "finite");
}

#[test]
fn metric_period_is_10_20_30_or_a_multiple_of_60() {
    for period in [10, 20, 30, 60, 120, 300, 3600] {
        assert!(is_valid_period(period), "{period}");
        let mut document = base();
        document
            .spec
            .metrics
            .insert("cpu".to_owned(), push_metric(period));
        compile(&document).unwrap_or_else(|e| panic!("period {period}: {e}"));
    }
    for period in [0, 1, 5, 15, 40, 45, 59, 90, 61, 100] {
        assert!(!is_valid_period(period), "{period}");
        let mut document = base();
        document
            .spec
            .metrics
            .insert("cpu".to_owned(), push_metric(period));
        let errors = compile(&document).unwrap_err().0;
        assert_eq!(
            errors[0].path, "spec.metrics.cpu.push.period",
            "{errors:#?}"
        );
        assert!(
            errors[0]
                .message
                .contains("use 10, 20, 30 or a multiple of 60"),
            "{errors:#?}"
        );
    }
}

#[test]
fn stale_after_seconds_must_be_positive() {
    let mut document = base();
    document.spec.metrics.insert(
        "cpu".to_owned(),
        MetricSpec::Push(PushSourceSpec {
            period: 60,
            stale_after_seconds: Some(0),
        }),
    );
    assert_single_error(
        &document,
        "spec.metrics.cpu.push.staleAfterSeconds",
        "must be positive",
    );
}

#[test]
fn alarm_evaluation_window_is_at_most_one_day() {
    let mut document = base();
    let alarm = document
        .spec
        .alarms
        .get_mut("cpuLow")
        .unwrap()
        .inline_mut()
        .unwrap();
    alarm.evaluation_periods = 1440; // 1440 x 60 s = exactly one day
    compile(&document).expect("exactly one day is allowed");
    document
        .spec
        .alarms
        .get_mut("cpuLow")
        .unwrap()
        .inline_mut()
        .unwrap()
        .evaluation_periods = 1441;
    assert_single_error(
        &document,
        "spec.alarms.cpuLow.evaluationPeriods",
        "1441 periods of 60 s exceed CloudWatch's one-day evaluation window",
    );
}

#[test]
fn target_tracking_implicit_alarms_must_fit_in_one_day() {
    // The implicit low alarm evaluates 15 periods: 15 x 6000 s = 25 h.
    let mut document = base();
    document
        .spec
        .metrics
        .insert("backlog".to_owned(), push_metric(6000));
    assert_single_error(
        &document,
        "spec.policies[0].targetTracking.metric",
        "15 periods of 6000 s exceed CloudWatch's one-day evaluation window",
    );
    // 15 x 5760 s = exactly one day.
    document
        .spec
        .metrics
        .insert("backlog".to_owned(), push_metric(5760));
    compile(&document).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Target tracking: the two implicit alarms (spec B.3)
// ---------------------------------------------------------------------------------------------

#[test]
fn target_tracking_gets_two_implicit_alarms_with_the_default_shape() {
    let compiled = compile(&base()).unwrap();
    let PolicyKind::TargetTracking(policy) = &compiled.policies[0].kind else {
        panic!("a target tracking policy");
    };
    assert_eq!(policy.target_value, 100.0);
    assert!(policy.per_task);
    assert_eq!(
        (policy.scale_out_cooldown, policy.scale_in_cooldown),
        (300, 300)
    );
    assert!(!policy.disable_scale_in);
    let implicit: Vec<&AlarmDef> = compiled
        .alarms
        .iter()
        .filter(|a| a.origin != AlarmOrigin::Declared)
        .collect();
    assert_eq!(implicit.len(), 2);

    let high = &compiled.alarms[policy.high_alarm];
    assert_eq!(high.origin, AlarmOrigin::TargetTrackingHigh(0));
    assert_eq!(high.operator, ComparisonOperator::GreaterThanThreshold);
    assert_eq!(high.threshold, 100.0);
    assert_eq!((high.evaluation_periods, high.datapoints_to_alarm), (3, 3));
    assert_eq!(high.metric, policy.metric);
    assert!(high.per_task);
    assert_eq!(high.treat_missing_data, TreatMissingData::Missing);
    assert!(high.name.contains("AlarmHigh"), "{}", high.name);

    let low = &compiled.alarms[policy.low_alarm];
    assert_eq!(low.origin, AlarmOrigin::TargetTrackingLow(0));
    assert_eq!(low.operator, ComparisonOperator::LessThanThreshold);
    assert!(
        (low.threshold - 90.0).abs() < 1e-9,
        "0.9 x target, got {}",
        low.threshold
    );
    assert_eq!((low.evaluation_periods, low.datapoints_to_alarm), (15, 15));
    assert_eq!(low.metric, policy.metric);
    assert!(low.per_task);
    assert_eq!(low.treat_missing_data, TreatMissingData::Missing);
    assert!(low.name.contains("AlarmLow"), "{}", low.name);
}

#[test]
fn target_tracking_policy_settings_are_compiled() {
    let text = base_with(
        "targetValue: 100}",
        "targetValue: 100, statistic: Maximum, scaleOutCooldown: 60, scaleInCooldown: 600, \
         disableScaleIn: true}",
    );
    let compiled = load_str(&text, "t").unwrap();
    let PolicyKind::TargetTracking(policy) = &compiled.policies[0].kind else {
        panic!("a target tracking policy");
    };
    assert_eq!(policy.statistic, Statistic::Maximum);
    assert_eq!(
        (policy.scale_out_cooldown, policy.scale_in_cooldown),
        (60, 600)
    );
    assert!(policy.disable_scale_in);
    assert_eq!(
        compiled.alarms[policy.high_alarm].statistic,
        Statistic::Maximum
    );
    assert_eq!(
        compiled.alarms[policy.low_alarm].statistic,
        Statistic::Maximum
    );
}

#[test]
fn behavior_settings_override_the_implicit_alarms() {
    let text = base_with(
        "  scheduledActions:",
        "  behavior:
    targetTrackingHighAlarm: {evaluationPeriods: 2, datapointsToAlarm: 1, thresholdRatio: 1.1}
    targetTrackingLowAlarm: {evaluationPeriods: 10, datapointsToAlarm: 8, thresholdRatio: 0.5}
  scheduledActions:",
    );
    let compiled = load_str(&text, "t").unwrap();
    let PolicyKind::TargetTracking(policy) = &compiled.policies[0].kind else {
        panic!("a target tracking policy");
    };
    let high = &compiled.alarms[policy.high_alarm];
    assert_eq!(high.operator, ComparisonOperator::GreaterThanThreshold);
    assert!((high.threshold - 110.0).abs() < 1e-9);
    assert_eq!((high.evaluation_periods, high.datapoints_to_alarm), (2, 1));
    let low = &compiled.alarms[policy.low_alarm];
    assert_eq!(low.operator, ComparisonOperator::LessThanThreshold);
    assert!((low.threshold - 50.0).abs() < 1e-9);
    assert_eq!((low.evaluation_periods, low.datapoints_to_alarm), (10, 8));
    // The backlog metric now needs only the 10 periods of the longest implicit alarm, and the
    // 2 more of its evaluation range.
    assert_eq!(compiled.metrics[0].history_periods, 10 + 2);
}

#[test]
fn behavior_defaults_are_the_documented_choices() {
    let compiled = compile(&base()).unwrap();
    let behavior = compiled.behavior;
    assert_eq!(behavior.cooldown_scope, CooldownScope::PerTarget);
    assert!(behavior.scale_in_blocked_during_scale_out_cooldown);
    assert_eq!(behavior.reinvocation_interval_seconds, 60);
    assert!(behavior.min_adjustment_magnitude_on_scale_in);
}

#[test]
fn behavior_settings_are_compiled() {
    let text = base_with(
        "  scheduledActions:",
        "  behavior:
    cooldownScope: PerPolicy
    scaleInBlockedDuringScaleOutCooldown: false
    reinvocationIntervalSeconds: 120
    minAdjustmentMagnitudeOnScaleIn: false
  scheduledActions:",
    );
    let behavior = load_str(&text, "t").unwrap().behavior;
    assert_eq!(behavior.cooldown_scope, CooldownScope::PerPolicy);
    assert!(!behavior.scale_in_blocked_during_scale_out_cooldown);
    assert_eq!(behavior.reinvocation_interval_seconds, 120);
    assert!(!behavior.min_adjustment_magnitude_on_scale_in);
}

#[test]
fn implicit_alarm_settings_are_validated() {
    let mut document = base();
    document.spec.behavior.target_tracking_high_alarm = ImplicitAlarmSpec {
        evaluation_periods: 3,
        datapoints_to_alarm: 4,
        threshold_ratio: 1.0,
    };
    document
        .spec
        .behavior
        .target_tracking_low_alarm
        .threshold_ratio = 0.0;
    assert_eq!(
        errors_of(&document),
        [
            "spec.behavior.targetTrackingHighAlarm.datapointsToAlarm: 4 must be between 1 and \
             evaluationPeriods (3)",
            "spec.behavior.targetTrackingLowAlarm.thresholdRatio: must be a positive number",
        ]
    );
}

#[test]
fn reinvocation_interval_must_be_at_least_one_second() {
    let mut document = base();
    document.spec.behavior.reinvocation_interval_seconds = 0;
    assert_single_error(
        &document,
        "spec.behavior.reinvocationIntervalSeconds",
        "must be at least 1",
    );
}

#[test]
fn evaluation_range_extra_periods_size_every_alarm_and_its_metric() {
    let mut document = base();
    document.spec.behavior.alarm_evaluation_range_extra_periods = 0;
    let compiled = compile(&document).unwrap();
    assert_eq!(compiled.alarms[0].evaluation_range, 3);
    assert_eq!(compiled.metrics[1].history_periods, 5);
    document.spec.behavior.alarm_evaluation_range_extra_periods = 7;
    let compiled = compile(&document).unwrap();
    assert_eq!(compiled.alarms[0].evaluation_range, 3 + 7);
    assert_eq!(compiled.metrics[0].history_periods, 15 + 7);
}

#[test]
fn evaluation_range_extra_periods_are_bounded_naming_the_setting() {
    let mut document = base();
    document.spec.behavior.alarm_evaluation_range_extra_periods = 61;
    assert_single_error(
        &document,
        "spec.behavior.alarmEvaluationRangeExtraPeriods",
        "61 is more than 60",
    );
}

// ---------------------------------------------------------------------------------------------
// Scheduled actions
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_scheduled_action_names_are_rejected() {
    let mut document = base();
    let copy = document.spec.scheduled_actions[0].clone();
    document.spec.scheduled_actions.push(copy);
    assert_single_error(
        &document,
        "spec.scheduledActions[1].scheduledActionName",
        "duplicate scheduled action name `weekday-peak`",
    );
}

#[test]
fn bad_time_zone_is_rejected() {
    for zone in ["Mars/Olympus", "EST5", "america/new_york", ""] {
        let mut document = base();
        document.spec.scheduled_actions[0].timezone = Some(zone.to_owned());
        assert_single_error(
            &document,
            "spec.scheduledActions[0].timezone",
            "is not an IANA time zone",
        );
    }
}

#[test]
fn bad_time_zone_does_not_hide_a_bad_schedule() {
    let mut document = base();
    document.spec.scheduled_actions[0].timezone = Some("Mars/Olympus".to_owned());
    document.spec.scheduled_actions[0].schedule = "every day".to_owned();
    let paths: Vec<String> = compile(&document)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        paths,
        [
            "spec.scheduledActions[0].timezone",
            "spec.scheduledActions[0].schedule"
        ]
    );
}

#[test]
fn time_zone_defaults_to_utc() {
    let mut document = base();
    document.spec.scheduled_actions[0].timezone = None;
    let compiled = compile(&document).unwrap();
    let schedule = &compiled.scheduled_actions[0].schedule;
    // Friday 2025-07-04: 08:00 UTC.
    assert_eq!(
        schedule.next_after(utc("2025-07-04T00:00:00Z")),
        Some(utc("2025-07-04T08:00:00Z"))
    );
}

#[test]
fn scheduled_action_is_read_in_its_time_zone() {
    let compiled = compile(&base()).unwrap();
    let schedule = &compiled.scheduled_actions[0].schedule;
    // 08:00 in New York on Friday 2025-07-04 (EDT) is 12:00 UTC.
    assert_eq!(
        schedule.next_after(utc("2025-07-04T00:00:00Z")),
        Some(utc("2025-07-04T12:00:00Z"))
    );
}

#[test]
fn end_time_must_be_after_start_time() {
    for (start, end) in [
        ("2025-06-01T00:00:00Z", "2025-05-01T00:00:00Z"),
        ("2025-06-01T00:00:00Z", "2025-06-01T00:00:00Z"),
    ] {
        let mut document = base();
        document.spec.scheduled_actions[0].start_time = Some(utc(start));
        document.spec.scheduled_actions[0].end_time = Some(utc(end));
        assert_single_error(
            &document,
            "spec.scheduledActions[0].endTime",
            "must be after startTime",
        );
    }
    let mut document = base();
    document.spec.scheduled_actions[0].end_time = Some(utc("2020-01-01T00:00:00Z"));
    compile(&document).expect("an end time alone is fine, even in the past");
}

#[test]
fn scheduled_action_sets_min_max_or_both() {
    let mut document = base();
    document.spec.scheduled_actions[0].scalable_target_action = ScalableTargetAction {
        min_capacity: None,
        max_capacity: None,
    };
    assert_single_error(
        &document,
        "spec.scheduledActions[0].scalableTargetAction",
        "set minCapacity, maxCapacity or both",
    );
    for (min, max) in [(Some(3), None), (None, Some(7))] {
        document.spec.scheduled_actions[0].scalable_target_action = ScalableTargetAction {
            min_capacity: min,
            max_capacity: max,
        };
        let compiled = compile(&document).unwrap();
        assert_eq!(compiled.scheduled_actions[0].min_capacity, min);
        assert_eq!(compiled.scheduled_actions[0].max_capacity, max);
    }
}

#[test]
fn scheduled_action_min_must_not_exceed_its_max() {
    let mut document = base();
    document.spec.scheduled_actions[0].scalable_target_action = ScalableTargetAction {
        min_capacity: Some(9),
        max_capacity: Some(8),
    };
    assert_single_error(
        &document,
        "spec.scheduledActions[0].scalableTargetAction",
        "minCapacity 9 is greater than maxCapacity 8",
    );
}

#[test]
fn bad_schedule_expression_is_reported_on_the_schedule_field() {
    for (expression, needle) in [
        ("every day", "is not a schedule"),
        (
            "cron(0 8 * * MON-FRI *)",
            "exactly one of day-of-month and day-of-week must be `?`",
        ),
        ("cron(0 8 ? * MON-FRI)", "expected 6 fields"),
        ("rate(0 minutes)", "N a positive integer"),
        ("at(2025-06-01 08:00)", "yyyy-mm-ddThh:mm:ss"),
    ] {
        let mut document = base();
        document.spec.scheduled_actions[0].schedule = expression.to_owned();
        assert_single_error(&document, "spec.scheduledActions[0].schedule", needle);
    }
}

#[test]
fn every_schedule_kind_compiles() {
    for expression in [
        "at(2025-06-01T08:00:00)",
        "rate(5 minutes)",
        "rate(1 day)",
        "cron(0 8 ? * MON-FRI *)",
        "cron(0/15 * * * ? *)",
        "cron(0 20 L * ? 2025-2030)",
    ] {
        let mut document = base();
        document.spec.scheduled_actions[0].schedule = expression.to_owned();
        compile(&document).unwrap_or_else(|e| panic!("{expression}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// The example documents
// ---------------------------------------------------------------------------------------------

#[test]
fn every_example_policy_document_compiles() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| is_policy_file(path))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["checkout.yaml", "orders-api.yaml", "web-app.json"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} is missing: {names:?}"
        );
    }
    for file in &files {
        let compiled = load_file(file).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !compiled.policies.is_empty(),
            "{}: no policy",
            file.display()
        );
    }
}

#[test]
fn example_orders_api_has_the_documented_shape() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies/orders-api.yaml");
    let compiled = load_file(&path).unwrap();
    let kinds: Vec<&str> = compiled
        .policies
        .iter()
        .map(|p| match p.kind {
            PolicyKind::TargetTracking(_) => "tt",
            PolicyKind::StepScaling(_) => "step",
        })
        .collect();
    assert_eq!(kinds, ["tt", "step", "step"]);
    assert_eq!(compiled.scheduled_actions.len(), 2);
    // The morning action fires at 08:00 New York time on weekdays only.
    let morning = &compiled.scheduled_actions[0].schedule;
    assert_eq!(
        morning.next_after(utc("2025-07-05T00:00:00Z")), // a Saturday
        Some(utc("2025-07-07T12:00:00Z"))                // Monday 08:00 EDT
    );
}

#[test]
fn example_web_app_is_the_spec_step_policy() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies/web-app.json");
    let compiled = load_file(&path).unwrap();
    let PolicyKind::StepScaling(policy) = &compiled.policies[0].kind else {
        panic!("a step scaling policy");
    };
    assert_eq!(compiled.policies[0].name, "web-app-cpu-gt-75");
    assert_eq!(
        policy.adjustment_type,
        AdjustmentType::PercentChangeInCapacity
    );
    assert_eq!(policy.cooldown, 60);
    assert_eq!(policy.steps.len(), 1);
    assert_eq!(
        (policy.steps[0].lower, policy.steps[0].adjustment),
        (0.0, 200)
    );
    let alarm = &compiled.alarms[policy.alarm];
    assert_eq!(alarm.operator, ComparisonOperator::GreaterThanThreshold);
    assert_eq!(alarm.threshold, 75.0);
}

#[test]
fn load_file_reports_a_missing_file() {
    let error = load_file(std::path::Path::new("/nonexistent/policy.yaml")).unwrap_err();
    assert!(matches!(error, LoadError::Read { .. }), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/policy.yaml: cannot read")
    );
}

#[test]
fn only_yaml_and_json_files_are_policy_files() {
    for name in ["a.yaml", "a.yml", "a.json"] {
        assert!(is_policy_file(std::path::Path::new(name)), "{name}");
    }
    for name in ["a.txt", "a", "README.md", "a.yaml.bak"] {
        assert!(!is_policy_file(std::path::Path::new(name)), "{name}");
    }
}

#[test]
fn document_round_trips_through_serde() {
    let document = base();
    let yaml_again = parse_document(&serde_json::to_string(&document).unwrap(), "again").unwrap();
    assert_eq!(yaml_again, document);
    // Defaults are filled in when read and written out explicitly.
    assert_eq!(document.spec.behavior, BehaviorSpec::default());
    assert_eq!(
        document.metadata,
        Metadata {
            name: "orders-api".to_owned(),
            namespace: None,
            labels: Default::default(),
            annotations: Default::default(),
        }
    );
}

#[test]
fn capacities_beyond_the_hpa_replica_count_are_refused() {
    let mut document = base();
    document.spec.scalable_target.max_capacity = 2_147_483_648;
    assert_single_error(
        &document,
        "spec.scalableTarget.maxCapacity",
        "32-bit integer",
    );
    let mut document = base();
    document.spec.scalable_target.max_capacity = 2_147_483_647;
    document.spec.scheduled_actions[0]
        .scalable_target_action
        .max_capacity = Some(3_000_000_000);
    assert_single_error(
        &document,
        "spec.scheduledActions[0].scalableTargetAction.maxCapacity",
        "2147483647",
    );
}
