//! The command line contract: exit codes and output of `validate` and `simulate`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ecs_scaler(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecs-scaler"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

const POLICY: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: web}
spec:
  scalableTarget: {minCapacity: 10, maxCapacity: 100}
  metrics:
    cpu: {push: {period: 60}}
  alarms:
    high: {metric: cpu, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 50, evaluationPeriods: 1}
  policies:
  - policyName: cpu-out
    stepScaling:
      alarm: high
      adjustmentType: PercentChangeInCapacity
      cooldown: 0
      stepAdjustments:
      - {metricIntervalLowerBound: 0, metricIntervalUpperBound: 10, scalingAdjustment: 10}
      - {metricIntervalLowerBound: 10, scalingAdjustment: 30}
"#;

#[test]
fn validate_accepts_the_examples() {
    let output = ecs_scaler(&[
        "validate",
        "examples/policies/orders-api.yaml",
        "examples/policies/web-app.json",
        "examples/policies/checkout.yaml",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).matches(": ok").count(), 3);
}

#[test]
fn validate_prints_every_error_with_its_path_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let broken = POLICY
        .replace("minCapacity: 10", "minCapacity: 200")
        .replace(
            "metricIntervalLowerBound: 10,",
            "metricIntervalLowerBound: 5,",
        );
    let file = write(dir.path(), "broken.yaml", &broken);
    let output = ecs_scaler(&["validate", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let errors = text(&output.stderr);
    assert!(
        errors.contains("spec.scalableTarget: minCapacity 200 is greater than maxCapacity 100"),
        "{errors}"
    );
    assert!(
        errors.contains(
            "spec.policies[0].stepScaling.stepAdjustments[1]: overlaps the previous interval"
        ),
        "{errors}"
    );
}

#[test]
fn validate_reports_unreadable_and_malformed_files_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let malformed = write(dir.path(), "bad.yaml", "apiVersion: [unclosed");
    let output = ecs_scaler(&[
        "validate",
        "does-not-exist.yaml",
        malformed.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let errors = text(&output.stderr);
    assert!(
        errors.contains("does-not-exist.yaml: cannot read"),
        "{errors}"
    );
    assert!(errors.contains("bad.yaml: invalid YAML"), "{errors}");
}

#[test]
fn simulate_reproduces_the_step_scaling_worked_example() {
    // 10 -> +10% -> 11 -> +30% -> 14 (spec B.1): a 55% minute, then a 65% minute.
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "web.yaml", POLICY);
    let trace = write(
        dir.path(),
        "trace.csv",
        "time,metric,value\n0,cpu,55\n60,cpu,65\n120,cpu,20\n",
    );
    let output = ecs_scaler(&[
        "simulate",
        "--policy",
        policy.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let desired: Vec<u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["desired"].as_u64().unwrap())
        .collect();
    assert_eq!(desired, [10, 11, 14]);
    assert_eq!(rows[1]["reasons"][0]["kind"], "scaleOut");
    assert_eq!(rows[1]["reasons"][0]["step"], 0);
    assert_eq!(rows[0]["min"], 10);
    assert_eq!(rows[0]["max"], 100);
}

#[test]
fn simulate_csv_and_table_formats() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "web.yaml", POLICY);
    let trace = write(
        dir.path(),
        "trace.csv",
        "time,metric,value\n0,cpu,55\n60,cpu,65\n",
    );
    let args = |format| {
        ecs_scaler(&[
            "simulate",
            "--policy",
            policy.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
            "--start",
            "2026-03-02T09:00:00Z",
            "--step",
            "30",
            "--initial-capacity",
            "12",
            "--format",
            format,
        ])
    };
    let csv = text(&args("csv").stdout);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("time,desired,min,max,reasons"));
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("2026-03-02T09:00:00+00:00,12,10,100,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4, "ticks at 0, 30 and 60 s:\n{csv}");
    let table = text(&args("table").stdout);
    assert!(table.starts_with("time"), "{table}");
}

#[test]
fn simulate_bad_input_exits_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "web.yaml", POLICY);
    let trace = write(dir.path(), "trace.csv", "time,metric,value\n0,memory,55\n");
    let output = ecs_scaler(&[
        "simulate",
        "--policy",
        policy.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("unknown metric `memory`"),
        "{}",
        text(&output.stderr)
    );
    let output = ecs_scaler(&["simulate", "--policy", policy.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a missing argument is bad input too"
    );
}

#[test]
fn a_cloudwatch_alarm_reference_validates_but_cannot_be_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "web.yaml",
        &POLICY.replace(
            "high: {metric: cpu, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 50, evaluationPeriods: 1}",
            "high: {cloudwatchAlarm: {alarmName: web-cpu-high, awsRegion: eu-west-1}}",
        ),
    );
    let policy = policy.to_str().unwrap();
    let output = ecs_scaler(&["validate", policy]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("1 CloudWatch alarms read with DescribeAlarms when served"),
        "{}",
        text(&output.stdout)
    );
    let trace = write(dir.path(), "trace.csv", "time,metric,value\n0,cpu,80\n");
    let output = ecs_scaler(&[
        "simulate",
        "--policy",
        policy,
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains(
            "spec.alarms.high is the CloudWatch alarm `web-cpu-high`, whose definition only \
             `serve` reads"
        ),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn serve_with_a_bad_push_token_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = write(dir.path(), "tokens.yaml", "tokens:\n- sha256: not-hex\n");
    let output = ecs_scaler(&[
        "serve",
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--push-tokens",
        tokens.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("push tokens"), "{stderr}");
    assert!(stderr.contains("tokens.yaml"), "{stderr}");
}
