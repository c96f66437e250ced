//! `ecs-scaler import --from-dir`: golden runs on realistic AWS CLI output, KEDA's CRD schema,
//! our own validation, the written files, the exit codes, and a round trip through `simulate`.
//!
//! Each directory of `tests/fixtures/import/` holds what the AWS CLI prints
//! (`describe-scalable-targets.json`, `describe-scaling-policies.json`,
//! `describe-scheduled-actions.json`, optionally `describe-alarms.json`), the extra arguments of
//! the run (`args`, optional), and the expected output: `expected.yaml` (the documents, stdout)
//! and `expected-report.md` (the report, stderr). After an intended change, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test --test import` and review the diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The scenarios and their exit codes (0 exact, 1 approximations or decisions).
const SCENARIOS: [(&str, i32); 9] = [
    // Step (percent) + target tracking + scheduled actions; alarms on the ECS service's CPU.
    ("step-tt-scheduled", 1),
    // The same on application metrics: everything exact.
    ("exact", 0),
    // SQS backlog per task (metric math), a metric-math alarm, CLI v2 timestamps, scale to zero.
    ("sqs-backlog", 1),
    // Two services: CPU and memory target tracking; ALBRequestCountPerTarget with a mapping.
    ("shop", 1),
    // SuspendedState, alarms found through their actions, Kubernetes 1.32 (no tolerance).
    ("suspended", 1),
    // Predictive scaling, per-task metric math, Kubernetes 1.34 (feature gate).
    ("predictive", 1),
    // Target tracking policies whose AlarmLow, AlarmHigh or both alarms were deleted.
    ("tt-deleted-alarms", 1),
    // Step policies whose only alarm, or one of two, was deleted.
    ("step-deleted-alarm", 0),
    // `rate(...)` scheduled actions with and without StartTime.
    ("rate-schedule", 1),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/import")
}

fn ecs_scaler(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecs-scaler"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// `import --from-dir tests/fixtures/import/<scenario>` with the scenario's `args` and `extra`.
fn import(scenario: &str, extra: &[&str]) -> Output {
    let dir = format!("tests/fixtures/import/{scenario}");
    let args_file = fixtures().join(scenario).join("args");
    let scenario_args = std::fs::read_to_string(args_file).unwrap_or_default();
    let mut args = vec!["import", "--from-dir", dir.as_str()];
    args.extend(scenario_args.split_whitespace());
    args.extend(extra);
    ecs_scaler(&args)
}

fn check_golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        actual == expected,
        "{} differs from the golden output; rerun with UPDATE_GOLDEN=1 and review the diff.\n\
         --- actual ---\n{actual}",
        path.display()
    );
}

fn golden(scenario: &str, exit: i32) {
    let output = import(scenario, &["--output", "-"]);
    assert_eq!(
        output.status.code(),
        Some(exit),
        "{scenario}: stderr:\n{}",
        text(&output.stderr)
    );
    let dir = fixtures().join(scenario);
    check_golden(&dir.join("expected.yaml"), &text(&output.stdout));
    check_golden(&dir.join("expected-report.md"), &text(&output.stderr));
}

#[test]
fn golden_step_target_tracking_and_scheduled_actions() {
    golden(SCENARIOS[0].0, SCENARIOS[0].1);
}

#[test]
fn golden_everything_exact() {
    golden(SCENARIOS[1].0, SCENARIOS[1].1);
}

#[test]
fn golden_sqs_backlog_per_task() {
    golden(SCENARIOS[2].0, SCENARIOS[2].1);
}

#[test]
fn golden_cpu_memory_and_alb_services() {
    golden(SCENARIOS[3].0, SCENARIOS[3].1);
}

#[test]
fn golden_suspended_on_kubernetes_1_32() {
    golden(SCENARIOS[4].0, SCENARIOS[4].1);
}

#[test]
fn golden_predictive_on_kubernetes_1_34() {
    golden(SCENARIOS[5].0, SCENARIOS[5].1);
}

/// The documents `import` writes for a scenario, and its report.
fn documents(scenario: &str) -> (Vec<Value>, String) {
    let output = import(scenario, &["--output", "-"]);
    let documents = serde_saphyr::from_str_multiple(&text(&output.stdout)).unwrap();
    (documents, text(&output.stderr))
}

/// The policy set of the service `name` among `documents`.
fn policy_set<'a>(documents: &'a [Value], name: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["kind"] == "ScalingPolicySet" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no policy set `{name}`"))
}

/// The report line of the ECS setting that starts with `setting`.
fn report_line<'a>(report: &'a str, setting: &str) -> &'a str {
    report
        .lines()
        .find(|line| line.starts_with(&format!("| {setting}")))
        .unwrap_or_else(|| panic!("no row for {setting}:\n{report}"))
}

#[test]
fn golden_target_tracking_alarms_deleted() {
    golden(SCENARIOS[6].0, SCENARIOS[6].1);
}

#[test]
fn golden_step_alarm_deleted() {
    golden(SCENARIOS[7].0, SCENARIOS[7].1);
}

#[test]
fn golden_rate_without_start_time() {
    golden(SCENARIOS[8].0, SCENARIOS[8].1);
}

#[test]
fn target_tracking_without_its_alarm_low_never_scales_in() {
    let (documents, report) = documents("tt-deleted-alarms");
    let policies = policy_set(&documents, "api")["spec"]["policies"]
        .as_array()
        .unwrap();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0]["targetTracking"]["disableScaleIn"], true);
    let row = report_line(&report, "policy `api-activesessions`");
    assert!(row.contains("DisableScaleIn false"), "{row}");
    assert!(row.contains("AlarmLow"), "{row}");
    assert!(row.ends_with("| exact |"), "{row}");
}

#[test]
fn target_tracking_without_its_alarm_high_never_scales_out_a_decision() {
    let (documents, report) = documents("tt-deleted-alarms");
    let policies = policy_set(&documents, "reports")["spec"]["policies"]
        .as_array()
        .unwrap();
    assert_eq!(policies.len(), 1, "written as it is");
    assert_eq!(policies[0]["targetTracking"]["disableScaleIn"], false);
    let row = report_line(&report, "policy `reports-queuedrenders`");
    assert!(row.contains("| decide: "), "{row}");
    assert!(row.contains("never scales out"), "{row}");
    // The alarm that is left keeps its shape: 15 of 15 below 0.9 x the target.
    assert!(row.contains("15 of 15 below 0.9x"), "{row}");
}

#[test]
fn target_tracking_without_both_alarms_never_runs() {
    let (documents, report) = documents("tt-deleted-alarms");
    assert_eq!(
        policy_set(&documents, "audit")["spec"]["policies"],
        Value::Array(Vec::new())
    );
    let row = report_line(&report, "policy `audit-pendingentries`");
    assert!(row.contains("ECS never runs it"), "{row}");
    assert!(row.ends_with("| exact |"), "{row}");
}

#[test]
fn a_step_policy_whose_alarm_was_deleted_never_runs() {
    let (documents, report) = documents("step-deleted-alarm");
    let spec = &policy_set(&documents, "billing")["spec"];
    let names: Vec<&str> = spec["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["policyName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["billing-burst", "billing-in"]);
    assert_eq!(
        spec["policies"][0]["stepScaling"]["alarm"],
        "billing-burst-latency"
    );
    let out = report_line(&report, "policy `billing-out`");
    assert!(out.contains("ECS never runs it"), "{out}");
    assert!(!out.contains("import again"), "{out}");
    let burst = report_line(&report, "policy `billing-burst`");
    assert!(burst.contains("`billing-burst-5xx`"), "{burst}");
    assert!(!burst.contains("import again"), "{burst}");
}

#[test]
fn a_rate_without_start_time_is_counted_from_its_creation_time() {
    let (documents, report) = documents("rate-schedule");
    let actions = policy_set(&documents, "exporter")["spec"]["scheduledActions"]
        .as_array()
        .unwrap();
    let by_name = |name: &str| {
        actions
            .iter()
            .find(|a| a["scheduledActionName"] == name)
            .unwrap()
    };
    // CLI v2 prints `2025-06-21T08:05:37.204000+00:00`.
    assert_eq!(
        by_name("refresh-floor")["startTime"],
        "2025-06-21T08:05:37.204Z"
    );
    assert_eq!(
        by_name("drain-window")["startTime"],
        "2025-07-01T02:00:00Z",
        "a StartTime stays as it is"
    );
    let row = report_line(&report, "scheduled action `refresh-floor`");
    assert!(row.contains("| approximate: "), "{row}");
    assert!(row.contains("CreationTime"), "{row}");
    let row = report_line(&report, "scheduled action `drain-window`");
    assert!(row.ends_with("| exact |"), "{row}");
}

#[test]
fn a_malformed_creation_time_exits_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "describe-scalable-targets.json",
        "describe-scaling-policies.json",
        "describe-alarms.json",
    ] {
        std::fs::copy(
            fixtures().join("rate-schedule").join(name),
            dir.path().join(name),
        )
        .unwrap();
    }
    let actions =
        std::fs::read_to_string(fixtures().join("rate-schedule/describe-scheduled-actions.json"))
            .unwrap()
            .replace("2025-06-21T08:05:37.204000+00:00", "last June");
    std::fs::write(dir.path().join("describe-scheduled-actions.json"), actions).unwrap();
    let output = ecs_scaler(&["import", "--from-dir", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("ScheduledActions[1].CreationTime"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

/// The JSON schema of a ScaledObject, out of KEDA's CRD.
fn scaled_object_schema() -> jsonschema::Validator {
    let path = fixtures().join("keda/keda.sh_scaledobjects.yaml");
    let crd: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schema = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v1alpha1")
        .unwrap()["schema"]["openAPIV3Schema"]
        .clone();
    jsonschema::validator_for(&schema).unwrap()
}

fn schema_errors(validator: &jsonschema::Validator, object: &Value) -> Vec<String> {
    validator
        .iter_errors(object)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Checks one document: a ScaledObject against KEDA's schema, a ScalingPolicySet through our
/// own parser and validation. Returns its kind.
fn check_document(validator: &jsonschema::Validator, document: &Value, origin: &str) -> String {
    let kind = document["kind"].as_str().unwrap_or_default().to_owned();
    match kind.as_str() {
        "ScaledObject" => {
            let errors = schema_errors(validator, document);
            assert!(errors.is_empty(), "{origin}: {errors:#?}\n{document:#}");
            assert_eq!(document["apiVersion"], "keda.sh/v1alpha1");
            let triggers = document["spec"]["triggers"].as_array().unwrap();
            let external: Vec<&Value> = triggers
                .iter()
                .filter(|t| t["type"] == "external")
                .collect();
            assert_eq!(external.len(), 1, "{origin}: one external trigger");
            assert_eq!(
                external[0]["metadata"]["policy"], document["metadata"]["name"],
                "{origin}"
            );
        }
        "ScalingPolicySet" => {
            let text = serde_json::to_string(document).unwrap();
            if let Err(error) = ecs_scaler::policy::load::load_str(&text, origin) {
                panic!("{origin}: {error}");
            }
        }
        other => panic!("{origin}: unexpected kind {other:?}"),
    }
    kind
}

#[test]
fn every_scaled_object_matches_kedas_crd_and_every_policy_set_compiles() {
    let validator = scaled_object_schema();
    for (scenario, _) in SCENARIOS {
        let yaml = import(scenario, &["--output", "-"]);
        let documents: Vec<Value> = serde_saphyr::from_str_multiple(&text(&yaml.stdout)).unwrap();
        let json = import(scenario, &["--output", "-", "--format", "json"]);
        let list: Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(list["kind"], "List", "{scenario}");
        let items = list["items"].as_array().unwrap();
        assert_eq!(items, &documents, "{scenario}: YAML and JSON agree");
        let kinds: Vec<String> = documents
            .iter()
            .map(|d| check_document(&validator, d, scenario))
            .collect();
        assert!(!kinds.is_empty(), "{scenario}");
        // A policy set, then its ScaledObject, per service.
        for pair in kinds.chunks(2) {
            assert_eq!(pair, ["ScalingPolicySet", "ScaledObject"], "{scenario}");
        }
    }
}

#[test]
fn the_schema_check_catches_a_broken_scaled_object() {
    let validator = scaled_object_schema();
    let output = import("exact", &["--output", "-", "--format", "json"]);
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut scaled_object = list["items"][1].clone();
    assert!(schema_errors(&validator, &scaled_object).is_empty());
    scaled_object["spec"]["pollingInterval"] = Value::from(0);
    scaled_object["spec"]["triggers"][0]["metadata"]["policy"] = Value::from(3);
    scaled_object["spec"]["scaleTargetRef"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let errors = schema_errors(&validator, &scaled_object);
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

#[test]
fn output_dir_holds_policies_scaled_objects_and_the_report() {
    for (scenario, exit) in SCENARIOS {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        let output = import(scenario, &["--output", out]);
        assert_eq!(output.status.code(), Some(exit), "{scenario}");
        let report = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
        let stdout = text(&output.stdout);
        assert!(
            stdout.starts_with(&report),
            "{scenario}: the report is printed"
        );
        let golden_report =
            std::fs::read_to_string(fixtures().join(scenario).join("expected-report.md")).unwrap();
        assert_eq!(report, golden_report, "{scenario}");

        let policies: Vec<PathBuf> = std::fs::read_dir(dir.path().join("policies"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let scaled_objects = std::fs::read_dir(dir.path().join("scaledobjects"))
            .unwrap()
            .count();
        assert!(!policies.is_empty(), "{scenario}");
        assert_eq!(policies.len(), scaled_objects, "{scenario}");
        let mut args = vec!["validate"];
        args.extend(policies.iter().map(|p| p.to_str().unwrap()));
        let validate = ecs_scaler(&args);
        assert!(
            validate.status.success(),
            "{scenario}: {}{}",
            text(&validate.stdout),
            text(&validate.stderr)
        );

        // The same documents as on stdout, one service per file.
        let stream = text(&import(scenario, &["--output", "-"]).stdout);
        for policy in &policies {
            let name = policy.file_name().unwrap();
            let policy_text = std::fs::read_to_string(policy).unwrap();
            let scaled_object_text =
                std::fs::read_to_string(dir.path().join("scaledobjects").join(name)).unwrap();
            assert!(
                stream.contains(&format!("---\n{policy_text}---\n{scaled_object_text}")),
                "{scenario}: {name:?}"
            );
        }
    }
}

#[test]
fn json_files_are_written_with_format_json() {
    let dir = tempfile::tempdir().unwrap();
    let output = import(
        "sqs-backlog",
        &["--output", dir.path().to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(1));
    let policy = dir.path().join("policies/orders-worker.json");
    let scaled_object: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("scaledobjects/orders-worker.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(scaled_object["spec"]["minReplicaCount"], 0);
    assert_eq!(scaled_object["spec"]["cooldownPeriod"], 0);
    let validate = ecs_scaler(&["validate", policy.to_str().unwrap()]);
    assert!(validate.status.success(), "{}", text(&validate.stderr));
}

/// The desired capacity of each evaluation of `simulate --format csv`.
fn desired_column(csv: &str) -> Vec<u32> {
    csv.lines()
        .skip(1)
        .map(|line| line.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn import_then_simulate_reproduces_the_ecs_worked_example() {
    // AWS's step scaling example (spec B.1): threshold 50, +10% at 60, +30% at 70, -10% at 40,
    // -30% at 30, from 10 tasks: 10 -> 11 -> 14 -> 13 -> 10.
    let dir = tempfile::tempdir().unwrap();
    let output = import(
        "step-tt-scheduled",
        &["--output", dir.path().to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let trace = dir.path().join("cpu.csv");
    let mut csv = String::from("time,metric,value\n");
    for (minute, cpu) in [50, 50, 60, 50, 70, 50, 40, 50, 30, 50, 50, 50]
        .iter()
        .enumerate()
    {
        csv.push_str(&format!("{},CPUUtilization,{cpu}\n", minute * 60));
    }
    std::fs::write(&trace, csv).unwrap();
    let policy = dir.path().join("policies/web-app.yaml");
    let simulated = ecs_scaler(&[
        "simulate",
        "--policy",
        policy.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
        "--initial-capacity",
        "10",
        "--format",
        "csv",
    ]);
    assert!(simulated.status.success(), "{}", text(&simulated.stderr));
    let mut changes = desired_column(&text(&simulated.stdout));
    changes.dedup();
    assert_eq!(changes, [10, 11, 14, 13, 10], "{}", text(&simulated.stdout));

    // Through KEDA and the HPA with the ScaledObject written: `tolerance: 0` keeps every step.
    let scaled_object = dir.path().join("scaledobjects/web-app.yaml");
    let mut compare_args = vec![
        "simulate",
        "--compare",
        "--policy",
        policy.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
        "--initial-capacity",
        "10",
        "--scaled-object",
        scaled_object.to_str().unwrap(),
    ];
    let compared = ecs_scaler(&compare_args);
    let report = text(&compared.stdout);
    assert!(compared.status.success(), "{}", text(&compared.stderr));
    assert!(report.contains("0 step(s) lost to tolerance"), "{report}");

    // Kubernetes 1.32: no tolerance field; the report names the steps the 10% tolerance
    // swallows (14 -> 13 among them), and the HPA model loses them.
    let old = tempfile::tempdir().unwrap();
    let output = import(
        "step-tt-scheduled",
        &[
            "--output",
            old.path().to_str().unwrap(),
            "--kubernetes-version",
            "1.32",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let import_report = text(&output.stdout);
    assert!(
        import_report.contains("`web-app-cpu-low` -10% at 10-40 replicas"),
        "{import_report}"
    );
    let old_scaled_object = old.path().join("scaledobjects/web-app.yaml");
    let written = std::fs::read_to_string(&old_scaled_object).unwrap();
    assert!(!written.contains("tolerance"), "{written}");
    compare_args[9] = old_scaled_object.to_str().unwrap();
    let compared = ecs_scaler(&compare_args);
    let report = text(&compared.stdout);
    assert!(compared.status.success(), "{}", text(&compared.stderr));
    assert!(
        report.contains("verdict: DEVIATES: the HPA tolerance swallowed"),
        "{report}"
    );
}

#[test]
fn without_describe_alarms_step_policies_are_reported_unresolved() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "describe-scalable-targets.json",
        "describe-scaling-policies.json",
        "describe-scheduled-actions.json",
    ] {
        std::fs::copy(fixtures().join("exact").join(name), dir.path().join(name)).unwrap();
    }
    let output = ecs_scaler(&["import", "--from-dir", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let report = text(&output.stderr);
    assert!(
        report.contains("describe-alarms.json is absent"),
        "{report}"
    );
    assert!(
        report.contains("decide: its alarm(s) `ledger-cpu-high` are unresolved"),
        "{report}"
    );
    let documents: Vec<Value> = serde_saphyr::from_str_multiple(&text(&output.stdout)).unwrap();
    let policies = documents[0]["spec"]["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "only the target tracking policy");
    assert_eq!(policies[0]["policyName"], "ledger-sessions");
}

#[test]
fn alb_request_count_without_a_mapping_needs_a_decision() {
    let output = ecs_scaler(&[
        "import",
        "--from-dir",
        "tests/fixtures/import/shop",
        "--scale-target-name",
        "Storefront_Web=storefront",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report = text(&output.stderr);
    assert!(
        report.contains(
            "--target-group-map targetgroup/storefront-tg/943f017f100becff=<new target group"
        ),
        "{report}"
    );
    let documents: Vec<Value> = serde_saphyr::from_str_multiple(&text(&output.stdout)).unwrap();
    assert_eq!(documents[0]["metadata"]["name"], "storefront-web");
    assert_eq!(documents[0]["spec"]["policies"], Value::Array(Vec::new()));
}

#[test]
fn bad_input_exits_2() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["import", "--from-dir", "tests/fixtures/import/none"],
            "describe-scalable-targets.json: missing",
        ),
        (
            &[
                "import",
                "--from-dir",
                "tests/fixtures/import/shop",
                "--scale-target-name",
                "web",
            ],
            "names one workload for 2 services",
        ),
        (
            &[
                "import",
                "--from-dir",
                "tests/fixtures/import/shop",
                "--scale-target-name",
                "nope=web",
            ],
            "no imported ECS service is named `nope`",
        ),
        (
            &[
                "import",
                "--from-dir",
                "tests/fixtures/import/exact",
                "--namespace",
                "Shop_Prod",
            ],
            "is not a Kubernetes namespace name",
        ),
        (
            &[
                "import",
                "--from-dir",
                "tests/fixtures/import/exact",
                "--target-group-map",
                "a=b",
            ],
            "expected a target group",
        ),
        (
            &[
                "import",
                "--cluster",
                "prod",
                "--from-dir",
                "tests/fixtures/import/exact",
            ],
            "cannot be used with",
        ),
    ];
    for (args, message) in cases {
        let output = ecs_scaler(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing written");
    }
}

#[test]
fn malformed_or_empty_input_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |name: &str| {
        std::fs::copy(fixtures().join("exact").join(name), dir.path().join(name)).unwrap();
    };
    copy("describe-scaling-policies.json");
    copy("describe-scheduled-actions.json");
    std::fs::write(
        dir.path().join("describe-scalable-targets.json"),
        r#"{"ScalableTargets": [{"ServiceNamespace": "ecs", "ResourceId": "service/a/b",
            "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": "one",
            "MaxCapacity": 2}]}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let args = [
        "import",
        "--from-dir",
        dir.path().to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ];
    let output = ecs_scaler(&args);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("ScalableTargets[0].MinCapacity"),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("describe-scalable-targets.json"),
        r#"{"ScalableTargets": [{"ServiceNamespace": "dynamodb", "ResourceId": "table/t",
            "ScalableDimension": "dynamodb:table:ReadCapacityUnits", "MinCapacity": 1,
            "MaxCapacity": 2, "CreationTime": "2025-01-01T00:00:00Z"}]}"#,
    )
    .unwrap();
    let output = ecs_scaler(&args);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("nothing written"), "{stderr}");
    assert!(
        stderr.contains("scaling policy `ledger-cpu-high` of service/payments/ledger ignored"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing written");
}
