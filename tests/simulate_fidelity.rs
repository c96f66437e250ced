//! `ecs-scaler simulate` against AWS's documented outcomes where real data is imperfect: the
//! CloudWatch User Guide's two tables of alarm outcomes with missing data, a metric that
//! arrives every 2 minutes, and a step scale-in beside a target tracking policy. The policies
//! and traces are in `tests/fixtures/simulate/`; each run is the real binary's `--format json`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/simulate");

/// Runs `simulate --format json` on `policy` and `trace` (paths); returns its rows.
fn simulate(policy: &Path, trace: &Path, extra: &[&str]) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_ecs-scaler"))
        .arg("simulate")
        .arg("--policy")
        .arg(policy)
        .arg("--trace")
        .arg(trace)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    rows.as_array().unwrap().clone()
}

/// The state of alarm `name` in `row`.
fn alarm<'r>(row: &'r Value, name: &str) -> &'r str {
    row["alarms"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no alarm {name} in {row}"))
}

/// One row of the guide's tables: the datapoints (oldest first; `0` fine, `X` breaching, `-`
/// missing) and the outcome per mode (missing, ignore, breaching, notBreaching), `retain` for
/// "Retain current state".
type GuideRow = (&'static str, [&'static str; 4]);

const THREE_OF_THREE: [GuideRow; 5] = [
    ("0 - X - X", ["OK", "OK", "OK", "OK"]),
    ("0 - - - -", ["OK", "OK", "OK", "OK"]),
    ("- - - - -", ["INSUFFICIENT_DATA", "retain", "ALARM", "OK"]),
    ("0 X X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]),
    ("- - - - X", ["INSUFFICIENT_DATA", "retain", "ALARM", "OK"]),
];

const TWO_OF_THREE: [GuideRow; 5] = [
    ("0 - X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]),
    ("0 0 X 0 X", ["ALARM", "ALARM", "ALARM", "ALARM"]),
    ("0 - X - -", ["OK", "OK", "ALARM", "OK"]),
    ("- - - - 0", ["OK", "OK", "ALARM", "OK"]),
    ("- - - - X", ["INSUFFICIENT_DATA", "retain", "ALARM", "OK"]),
];

const MODES: [&str; 4] = ["missing", "ignore", "breaching", "notBreaching"];

/// Replays each row as five one-minute periods and compares every alarm's state when the
/// fifth period has ended (the replay's last evaluation) with the guide's outcome. "Retain
/// current state" is the state of the evaluation one minute before.
fn check_table(prefix: &str, rows: &[GuideRow]) {
    let dir = tempfile::tempdir().unwrap();
    let policy = Path::new(FIXTURES).join("guide-tables.yaml");
    for (row, outcomes) in rows {
        let mut trace = String::from("time,metric,value\n");
        for (k, cell) in row.split_whitespace().enumerate() {
            let value = match cell {
                "0" => Some(0.0),
                "X" => Some(80.0),
                _ => None,
            };
            if let Some(value) = value {
                trace.push_str(&format!("{},m,{value}\n", k * 60 + 30));
            }
        }
        // Evaluations every minute up to the end of the fifth period.
        trace.push_str("300,clock,0\n");
        let path = dir.path().join("trace.csv");
        std::fs::write(&path, trace).unwrap();
        let replay = simulate(&policy, &path, &[]);
        let (last, before) = (&replay[replay.len() - 1], &replay[replay.len() - 2]);
        assert_eq!(last["time"], "2026-01-05T00:05:00Z");
        for (mode, expected) in MODES.iter().zip(outcomes) {
            let name = format!("{prefix}-of-three-{mode}");
            let expected = match *expected {
                "retain" => alarm(before, &name),
                state => state,
            };
            assert_eq!(
                alarm(last, &name),
                expected,
                "{prefix} of 3, `{row}`, treatMissingData {mode}"
            );
        }
    }
}

#[test]
fn simulate_gives_the_cloudwatch_guide_outcomes_3_of_3() {
    check_table("three", &THREE_OF_THREE);
}

#[test]
fn simulate_gives_the_cloudwatch_guide_outcomes_2_of_3() {
    check_table("two", &TWO_OF_THREE);
}

/// A metric every 2 minutes at twice its target: target tracking's high alarm sees `X - X - X`
/// over the evaluation range when the third datapoint's period ends, and scales 4 tasks to 8.
#[test]
fn simulate_scales_out_on_a_metric_every_two_minutes() {
    let rows = simulate(
        &Path::new(FIXTURES).join("sparse-metric.yaml"),
        &Path::new(FIXTURES).join("sparse-metric.csv"),
        &["--initial-capacity", "4"],
    );
    let desired: Vec<u64> = rows
        .iter()
        .map(|r| r["desired"].as_u64().unwrap())
        .collect();
    assert_eq!(desired[..6], [4, 4, 4, 4, 4, 8], "{desired:?}");
    assert_eq!(
        alarm(&rows[5], "TargetTracking-activeUsers-AlarmHigh"),
        "ALARM"
    );
    assert_eq!(rows[5]["reasons"][0]["applied"], true);
}

/// PutScalingPolicy: a step scale-in "will not be blocked" by a target tracking policy that is
/// not ready to scale in (here: it has data and is inside its band).
#[test]
fn simulate_does_not_block_a_step_scale_in_by_target_tracking() {
    let rows = simulate(
        &Path::new(FIXTURES).join("step-and-target-tracking.yaml"),
        &Path::new(FIXTURES).join("step-and-target-tracking.csv"),
        &["--initial-capacity", "10"],
    );
    let row = &rows[1];
    assert_eq!(row["time"], "2026-01-05T00:01:00Z");
    assert_eq!(row["desired"], 9, "{row}");
    assert_eq!(alarm(row, "cpu-low"), "ALARM");
    assert_eq!(alarm(row, "TargetTracking-activeUsers-AlarmHigh"), "OK");
    assert_eq!(row["reasons"][1]["policy"], "cpu-in");
    assert_eq!(row["reasons"][1]["applied"], true);
}
