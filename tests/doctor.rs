//! `ecs-scaler doctor` on ScaledObject files: golden outputs and exit codes.
//!
//! Each case is `tests/golden/doctor/<case>.yaml` (or the files it names) with its expected
//! stdout in `<case>.<version>.out`. To accept a change: `UPDATE_GOLDEN=1 cargo test --test
//! doctor` and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

const GOLDEN: &str = "tests/golden/doctor";

fn doctor(files: &[&str], version: &str) -> (i32, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_ecs-scaler"))
        .current_dir(root)
        .arg("doctor")
        .args(["--kubernetes-version", version])
        .args(files)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(GOLDEN)
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the golden output; rerun with UPDATE_GOLDEN=1 and review the diff.\n\
         expected:\n{expected}\nactual:\n{actual}",
        path.display()
    );
}

#[test]
fn misconfigured_scaled_objects_are_reported_with_their_fix() {
    let file = format!("{GOLDEN}/misconfigured.yaml");
    let (code, stdout, stderr) = doctor(&[&file], "1.35");
    assert_eq!(code, 1, "{stderr}");
    assert_golden("misconfigured.1.35.out", &stdout);
    // Before 1.35 a missing tolerance cannot be required (1.33-1.34 need a feature gate).
    let (code, stdout, _) = doctor(&[&file], "1.33");
    assert_eq!(code, 1);
    assert_golden("misconfigured.1.33.out", &stdout);
}

#[test]
fn the_deploy_examples_pass_decisions_through() {
    let files = [
        "deploy/examples/scaledobject-orders-api.yaml",
        "deploy/examples/scaledobject-checkout-external.yaml",
        "deploy/examples/scaledobject-web-app-tls.yaml",
        "deploy/examples/scalingpolicyset-orders-api.yaml",
    ];
    let (code, stdout, stderr) = doctor(&files, "1.35");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_golden("deploy-examples.1.35.out", &stdout);
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    let (code, _, stderr) = doctor(&["no/such/file.yaml"], "1.35");
    assert_eq!(code, 2);
    assert!(stderr.contains("no/such/file.yaml"), "{stderr}");
    let (code, _, stderr) = doctor(
        &["deploy/examples/scalingpolicyset-orders-api.yaml"],
        "1.35",
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("no ScaledObject"), "{stderr}");
    let (code, _, stderr) = doctor(&["deploy/examples/scaledobject-orders-api.yaml"], "one");
    assert_eq!(code, 2);
    assert!(stderr.contains("--kubernetes-version"), "{stderr}");
}
