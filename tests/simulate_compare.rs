//! `simulate --compare` on the example traces: golden runs and the CLI contract.
//!
//! The golden files in `tests/golden/` are the table output of each run. After an intended
//! change of behaviour, regenerate them with `UPDATE_GOLDEN=1 cargo test --test simulate_compare`
//! and review the diff.

use std::path::Path;
use std::process::Command;

fn ecs_scaler(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ecs-scaler"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn golden(name: &str, policy: &str, trace: &str) {
    let output = ecs_scaler(&[
        "simulate",
        "--compare",
        "--policy",
        policy,
        "--trace",
        trace,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let actual = String::from_utf8(output.stdout).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        actual == expected,
        "{} differs from the golden output; rerun with UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
    assert!(actual.contains("verdict: MATCHES"), "{actual}");
}

#[test]
fn golden_queue_burst_through_orders_api() {
    golden(
        "queue-burst.txt",
        "examples/policies/orders-api.yaml",
        "examples/traces/queue-burst.csv",
    );
}

#[test]
fn golden_flash_sale_through_checkout() {
    golden(
        "flash-sale.txt",
        "examples/policies/checkout.yaml",
        "examples/traces/flash-sale.csv",
    );
}

#[test]
fn golden_diurnal_users_through_checkout() {
    golden(
        "diurnal-users.txt",
        "examples/policies/checkout.yaml",
        "examples/traces/diurnal-users.csv",
    );
}

#[test]
fn compare_json_has_rows_summaries_and_a_verdict_and_plots_svg() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("plot.svg");
    let output = ecs_scaler(&[
        "simulate",
        "--compare",
        "--policy",
        "examples/policies/checkout.yaml",
        "--trace",
        "examples/traces/flash-sale.csv",
        "--format",
        "json",
        "--pod-start-delay",
        "30",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let row = &result["rows"][0];
    for key in ["time", "ecs", "eks", "naive"] {
        assert!(row.get(key).is_some(), "missing {key}: {row}");
    }
    for key in [
        "maxAbsDiff",
        "replicaMinutesOver",
        "replicaMinutesUnder",
        "scaleOutLagsSeconds",
        "stepsLostToTolerance",
    ] {
        assert!(result["eks"].get(key).is_some(), "missing {key}");
    }
    assert!(result["verdict"].is_string());
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(
        picture.starts_with("<svg"),
        "{}",
        &picture[..80.min(picture.len())]
    );
    assert!(picture.contains("EKS with ecs-scaler"));
}

#[test]
fn compare_reads_the_scaled_object_and_reports_lost_steps() {
    let dir = tempfile::tempdir().unwrap();
    let scaled_object = dir.path().join("so.yaml");
    // No behavior: HPA defaults, tolerance 0.1, scale-down stabilization 300 s.
    std::fs::write(
        &scaled_object,
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: web-app}\n\
         spec: {scaleTargetRef: {name: web-app}, minReplicaCount: 1, maxReplicaCount: 10}\n",
    )
    .unwrap();
    let trace = dir.path().join("cpu.csv");
    let mut text = String::from("time,metric,value\n");
    for minute in 0..10 {
        text.push_str(&format!(
            "{},cpu,{}\n",
            minute * 60,
            if minute < 4 { 80 } else { 10 }
        ));
    }
    std::fs::write(&trace, text).unwrap();
    let output = ecs_scaler(&[
        "simulate",
        "--compare",
        "--policy",
        "examples/policies/web-app.json",
        "--trace",
        trace.to_str().unwrap(),
        "--scaled-object",
        scaled_object.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("naive KEDA triggers: no built-in equivalent"),
        "{text}"
    );
    assert!(text.contains("verdict:"), "{text}");
}

#[test]
fn compare_options_need_compare_and_bad_scaled_objects_exit_2() {
    let output = ecs_scaler(&[
        "simulate",
        "--policy",
        "examples/policies/checkout.yaml",
        "--trace",
        "examples/traces/flash-sale.csv",
        "--plot",
        "x.svg",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("so.yaml");
    std::fs::write(&bad, "kind: ScaledObject\nspec: {maxReplicaCount: lots}\n").unwrap();
    let output = ecs_scaler(&[
        "simulate",
        "--compare",
        "--policy",
        "examples/policies/checkout.yaml",
        "--trace",
        "examples/traces/flash-sale.csv",
        "--scaled-object",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("maxReplicaCount"), "{error}");
}

/// A trace of the CPU metric that `import` writes for `step-tt-scheduled`: quiet, an hour of
/// load, quiet again.
fn cpu_trace(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("time,metric,value\n");
    for minute in 0..60 {
        let value = if (5..25).contains(&minute) { 85 } else { 20 };
        text.push_str(&format!("{},CPUUtilization,{value}\n", minute * 60));
    }
    let path = dir.join("cpu.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn without_scaled_object_compare_replays_exactly_what_import_writes() {
    // Issue 12: the default EKS pipeline is the ScaledObject `import` writes for the policy
    // set, for each Kubernetes and KEDA version (tolerance 0, or none below 1.33 / KEDA 2.18).
    for (kubernetes, keda) in [
        ("1.35", "2.18"),
        ("1.34", "2.18"),
        ("1.35", "2.17"),
        ("1.30", "2.17"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let versions = ["--kubernetes-version", kubernetes, "--keda-version", keda];
        let mut import = vec![
            "import",
            "--from-dir",
            "tests/fixtures/import/step-tt-scheduled",
            "--output",
            out.to_str().unwrap(),
        ];
        import.extend(versions);
        let imported = ecs_scaler(&import);
        assert!(
            matches!(imported.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
        let trace = cpu_trace(dir.path());
        let policy = out.join("policies/web-app.yaml");
        let scaled_object = out.join("scaledobjects/web-app.yaml");
        let mut simulate = vec![
            "simulate",
            "--compare",
            "--policy",
            policy.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
        ];
        simulate.extend(versions);
        let default = ecs_scaler(&simulate);
        simulate.extend(["--scaled-object", scaled_object.to_str().unwrap()]);
        let from_file = ecs_scaler(&simulate);
        assert!(
            default.status.success() && from_file.status.success(),
            "{}{}",
            String::from_utf8_lossy(&default.stderr),
            String::from_utf8_lossy(&from_file.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&default.stdout),
            String::from_utf8_lossy(&from_file.stdout),
            "Kubernetes {kubernetes}, KEDA {keda}"
        );
        let written = std::fs::read_to_string(&scaled_object).unwrap();
        assert_eq!(
            written.contains("tolerance: 0"),
            kubernetes >= "1.33" && keda >= "2.18",
            "Kubernetes {kubernetes}, KEDA {keda}: {written}"
        );
    }
}

#[test]
fn bad_versions_and_tolerances_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let compare = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            "--compare",
            "--policy",
            "examples/policies/checkout.yaml",
            "--trace",
            "examples/traces/flash-sale.csv",
        ];
        args.extend(extra);
        let output = ecs_scaler(&args);
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let error = compare(&["--kubernetes-version", "one"]);
    assert!(
        error.contains("--kubernetes-version") && error.contains("such as 1.33"),
        "{error}"
    );
    let error = compare(&["--keda-version", "1.9"]);
    assert!(
        error.contains("--keda-version") && error.contains("such as 2.17 or 2.18"),
        "{error}"
    );
    let error = compare(&[
        "--kubernetes-version",
        "1.32",
        "--hpa-configurable-tolerance",
    ]);
    assert!(error.contains("from 1.33"), "{error}");
    let bad = dir.path().join("so.yaml");
    std::fs::write(
        &bad,
        "kind: ScaledObject\nspec:\n  advanced:\n    horizontalPodAutoscalerConfig:\n      \
         behavior:\n        scaleUp: {tolerance: 0.05}\n",
    )
    .unwrap();
    let error = compare(&["--scaled-object", bad.to_str().unwrap()]);
    assert!(
        error.contains("behavior.scaleUp.tolerance") && error.contains(r#"write "0.05""#),
        "{error}"
    );
    let output = ecs_scaler(&[
        "import",
        "--from-dir",
        "tests/fixtures/import/step-tt-scheduled",
        "--keda-version",
        "latest",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--keda-version"));
}
