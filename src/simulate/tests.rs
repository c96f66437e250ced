//! Simulation tests: trace parsing and replay.

use super::*;
use crate::policy::load::load_str;

const POLICY: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: worker}
spec:
  scalableTarget: {minCapacity: 1, maxCapacity: 10}
  metrics:
    backlog: {push: {period: 60}}
  policies:
  - policyName: backlog-per-task
    targetTracking: {metric: backlog, perTask: true, targetValue: 100, scaleOutCooldown: 60}
"#;

fn set() -> Arc<CompiledPolicySet> {
    Arc::new(load_str(POLICY, "test").unwrap())
}

#[test]
fn trace_accepts_offsets_and_rfc3339_times() {
    let text =
        "time,metric,value\n0,backlog,5\n2026-01-05T00:02:00Z,backlog,7\n# comment\n60,backlog,6\n";
    let (points, start) = parse_trace(text, &set(), None).unwrap();
    assert_eq!(
        start,
        "2026-01-05T00:02:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    // Offsets count from the first RFC 3339 time: 0 and 00:02 coincide, 60 is a minute later.
    assert_eq!(values, [5.0, 7.0, 6.0]);
    let (_, start) = parse_trace("time,metric,value\n0,backlog,1\n", &set(), None).unwrap();
    assert_eq!(start.to_rfc3339(), "2026-01-05T00:00:00+00:00");
}

#[test]
fn trace_errors_name_the_line_and_what_is_expected() {
    for (text, expected) in [
        ("t,m,v\n", "expected `time,metric,value`"),
        ("time,metric,value\nsoon,backlog,1\n", "line 2: time `soon`"),
        (
            "time,metric,value\n0,cpu,1\n",
            "line 2: unknown metric `cpu`",
        ),
        (
            "time,metric,value\n0,backlog,lots\n",
            "line 2: value `lots`",
        ),
        ("time,metric,value\n-5,backlog,1\n", "line 2: time `-5`"),
    ] {
        let error = parse_trace(text, &set(), None).unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{error} should contain {expected}"
        );
    }
}

#[test]
fn simulation_scales_out_after_three_complete_minutes_above_target() {
    let mut text = String::from("time,metric,value\n");
    for minute in 0..6 {
        text.push_str(&format!("{},backlog,450\n", minute * 60));
    }
    let (trace, start) = parse_trace(&text, &set(), None).unwrap();
    let rows = run(set(), &trace, start, 60, Some(1));
    let desired: Vec<u32> = rows.iter().map(|r| r.desired).collect();
    // Minutes 0-2 complete at 1:00, 2:00, 3:00: the 3-of-3 high alarm fires at 3:00.
    assert_eq!(desired, [1, 1, 1, 5, 5, 5]);
    assert!(rows[3].reasons[0].applied);
    assert_eq!(
        rows[3].reasons[0].outcome,
        crate::engine::reason::Outcome::ScaleOut {
            step: None,
            capacity: 5
        }
    );
}

#[test]
fn render_formats_have_the_contract_columns() {
    let (trace, start) = parse_trace(
        "time,metric,value\n0,backlog,1\n60,backlog,1\n",
        &set(),
        None,
    )
    .unwrap();
    let rows = run(set(), &trace, start, 60, None);
    let csv = render(&rows, Format::Csv);
    assert!(csv.starts_with("time,desired,min,max,reasons\n"), "{csv}");
    assert_eq!(csv.lines().count(), 3);
    let json: serde_json::Value = serde_json::from_str(&render(&rows, Format::Json)).unwrap();
    let first = &json[0];
    for key in ["time", "desired", "min", "max", "reasons"] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    let table = render(&rows, Format::Table);
    assert!(table.lines().next().unwrap().contains("desired"), "{table}");
}
