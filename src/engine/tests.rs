//! Whole-evaluation tests of [`evaluate`], named after the rules of spec section B they check.

pub(super) mod harness;

use self::harness::{
    CPU, CPU_MEM, Harness, MINUTE, T0, any_breach_above, any_breach_below, policies, step,
    suspended_target, target, tracking,
};
use super::ScheduledRun;
use super::alarm::AlarmState;
use super::reason::{Direction, Outcome};

/// Scale-out steps on a threshold: `[0,10)` by `a`, `[10,+inf)` by `b`.
fn out_steps(a: i32, b: i32) -> String {
    format!(
        "{{metricIntervalLowerBound: 0, metricIntervalUpperBound: 10, scalingAdjustment: {a}}}, \
         {{metricIntervalLowerBound: 10, scalingAdjustment: {b}}}"
    )
}

/// Scale-in steps below a threshold: `(-10,0]` by `a`, `(-inf,-10]` by `b`.
fn in_steps(a: i32, b: i32) -> String {
    format!(
        "{{metricIntervalLowerBound: -10, metricIntervalUpperBound: 0, scalingAdjustment: {a}}}, \
         {{metricIntervalUpperBound: -10, scalingAdjustment: {b}}}"
    )
}

/// Step policies `out` (on `high`, +`up`) and `in` (on `low`, `down`), ChangeInCapacity, with
/// `cooldown`.
fn out_and_in(up: i32, down: i32, cooldown: u32) -> String {
    policies(&[
        step(
            "out",
            "high",
            "ChangeInCapacity",
            cooldown,
            &any_breach_above(up),
            "",
        ),
        step(
            "in",
            "low",
            "ChangeInCapacity",
            cooldown,
            &any_breach_below(down),
            "",
        ),
    ])
}

/// A target tracking policy set on `cpu` with `target`, bounds 1..100 and `extra` policy fields.
fn cpu_tracking(target_value: f64, extra: &str) -> Harness {
    Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[tracking("tt", "cpu", target_value, extra)]),
        ],
        10,
    )
}

// ---------------------------------------------------------------------------------------------
// Worked examples of the spec
// ---------------------------------------------------------------------------------------------

#[test]
fn worked_example_percent_steps_10_11_14_13_10() {
    // Threshold 50 (high) and 30 (low): 55 is +10%, 65 is +30%, 25 is -10%, 15 is -30%.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[
                step(
                    "out",
                    "high",
                    "PercentChangeInCapacity",
                    0,
                    &out_steps(10, 30),
                    "",
                ),
                step(
                    "in",
                    "low",
                    "PercentChangeInCapacity",
                    0,
                    &in_steps(-10, -30),
                    "",
                ),
            ]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 55.0), 11); // +10% of 10 = 1
    assert_eq!(h.tick("cpu", 65.0), 14); // +30% of 11 = 3.3 -> 3
    assert_eq!(h.tick("cpu", 25.0), 13); // -10% of 14 = -1.4 -> -1
    assert_eq!(h.tick("cpu", 15.0), 10); // -30% of 13 = -3.9 -> -3
}

#[test]
fn worked_example_step_plus_2_then_plus_3_during_cooldown_adds_only_1() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[step(
                "out",
                "high",
                "ChangeInCapacity",
                300,
                &out_steps(2, 3),
                "",
            )]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 55.0), 12);
    // +3 during the cooldown: computed from C0 = 10, so 13, one more than 12.
    assert_eq!(h.tick("cpu", 65.0), 13);
    assert_eq!(
        h.outcome(0),
        Outcome::ScaleOut {
            step: Some(1),
            capacity: 13
        }
    );
    // The same +3 again: 13 is not larger than 13.
    assert_eq!(h.tick("cpu", 65.0), 13);
    assert!(matches!(
        h.outcome(0),
        Outcome::ScaleOutCooldown { capacity: 13, .. }
    ));
}

#[test]
fn worked_example_25_percent_of_4_with_min_adjustment_magnitude_2_adds_2() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[step(
                "out",
                "high",
                "PercentChangeInCapacity",
                300,
                &any_breach_above(25),
                ", minAdjustmentMagnitude: 2",
            )]),
        ],
        4,
    );
    assert_eq!(h.tick("cpu", 60.0), 6);
}

#[test]
fn worked_example_plus_3_vs_plus_200_percent_of_10_largest_capacity_wins() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[
                step(
                    "plus3",
                    "high",
                    "ChangeInCapacity",
                    300,
                    &any_breach_above(3),
                    "",
                ),
                step(
                    "plus200",
                    "high",
                    "PercentChangeInCapacity",
                    300,
                    &any_breach_above(200),
                    "",
                ),
            ]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 60.0), 30);
    assert_eq!(
        h.outcome(0),
        Outcome::ScaleOut {
            step: Some(0),
            capacity: 13
        }
    );
    assert_eq!(h.applied(), Some(1));
}

// ---------------------------------------------------------------------------------------------
// B.1 Step selection and adjustment
// ---------------------------------------------------------------------------------------------

/// A harness with one scale-out policy `[0,10)` +1, `[10,+inf)` +3 on `high` (`cpu >= 50`).
fn out_steps_harness() -> Harness {
    Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[step(
                "out",
                "high",
                "ChangeInCapacity",
                300,
                &out_steps(1, 3),
                "",
            )]),
        ],
        10,
    )
}

#[test]
fn step_above_threshold_lower_bound_inclusive_upper_exclusive() {
    // Threshold 50: [0,10) is 50 <= m < 60, [10,+inf) is m >= 60.
    let cases = [
        (49.9, 10),
        (50.0, 11),
        (55.0, 11),
        (59.9, 11),
        (60.0, 13),
        (90.0, 13),
    ];
    for (value, expected) in cases {
        let mut h = out_steps_harness();
        assert_eq!(h.tick("cpu", value), expected, "m = {value}");
    }
}

#[test]
fn step_below_threshold_lower_bound_exclusive_upper_inclusive() {
    // Threshold 50, LessThanOrEqual: (-10,0] is 40 < m <= 50, (-inf,-10] is m <= 40.
    let alarm = "
        metrics:
          cpu: {push: {period: 60}}
        alarms:
          low: {metric: cpu, comparisonOperator: LessThanOrEqualToThreshold, threshold: 50, evaluationPeriods: 1}
    ";
    let cases = [
        (50.1, 10),
        (50.0, 9),
        (45.0, 9),
        (40.1, 9),
        (40.0, 7),
        (10.0, 7),
    ];
    for (value, expected) in cases {
        let mut h = Harness::new(
            &[
                &target(1, 100),
                alarm,
                &policies(&[step(
                    "in",
                    "low",
                    "ChangeInCapacity",
                    300,
                    &in_steps(-1, -3),
                    "",
                )]),
            ],
            10,
        );
        assert_eq!(h.tick("cpu", value), expected, "m = {value}");
    }
}

#[test]
fn at_m_equal_threshold_the_operator_decides_which_bound_rule_applies() {
    // The same steps on two alarms at threshold 50; m = 50 is d = 0, where (-10,0] and [0,10)
    // meet. GreaterThanOrEqual uses the "above" rule ([0,10): +1), LessThanOrEqual the "below"
    // rule ((-10,0]: -1).
    let steps = "{metricIntervalUpperBound: -10, scalingAdjustment: -3}, \
                 {metricIntervalLowerBound: -10, metricIntervalUpperBound: 0, scalingAdjustment: -1}, \
                 {metricIntervalLowerBound: 0, metricIntervalUpperBound: 10, scalingAdjustment: 1}, \
                 {metricIntervalLowerBound: 10, scalingAdjustment: 3}";
    let cases = [
        ("GreaterThanOrEqualToThreshold", 11),
        ("LessThanOrEqualToThreshold", 9),
    ];
    for (operator, expected) in cases {
        let alarm = format!(
            "metrics: {{cpu: {{push: {{period: 60}}}}}}\n\
             alarms: {{a: {{metric: cpu, comparisonOperator: {operator}, threshold: 50, evaluationPeriods: 1}}}}"
        );
        let mut h = Harness::new(
            &[
                &target(1, 100),
                &alarm,
                &policies(&[step("p", "a", "ChangeInCapacity", 300, steps, "")]),
            ],
            10,
        );
        assert_eq!(h.tick("cpu", 50.0), expected, "{operator}");
    }
}

#[test]
fn no_step_matched_no_change() {
    // The only step starts 10 above the threshold: a breach of 5 matches nothing.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[step(
                "out",
                "high",
                "ChangeInCapacity",
                300,
                "{metricIntervalLowerBound: 10, scalingAdjustment: 3}",
                "",
            )]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 55.0), 10);
    assert_eq!(h.outcome(0), Outcome::NoStepMatched { distance: 5.0 });
    assert_eq!(h.tick("cpu", 61.0), 13);
}

#[test]
fn change_in_capacity_and_exact_capacity_through_evaluate() {
    let cases = [
        ("ChangeInCapacity", 2, 12),
        ("ChangeInCapacity", 0, 10),
        ("ExactCapacity", 17, 17),
        ("ExactCapacity", 4, 4), // an exact step below the current capacity scales in
    ];
    for (adjustment_type, adjustment, expected) in cases {
        let mut h = Harness::new(
            &[
                &target(1, 100),
                CPU,
                &policies(&[step(
                    "p",
                    "high",
                    adjustment_type,
                    300,
                    &any_breach_above(adjustment),
                    "",
                )]),
            ],
            10,
        );
        assert_eq!(
            h.tick("cpu", 60.0),
            expected,
            "{adjustment_type} {adjustment}"
        );
    }
}

#[test]
fn metric_aggregation_type_aggregates_the_alarm_datapoints() {
    // Alarm 1 of 3 over 50, 60, 70: average 60 (d = 10), minimum 50 (d = 0), maximum 70 (d = 20).
    let alarm = "
        metrics:
          cpu: {push: {period: 60}}
        alarms:
          high: {metric: cpu, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 50, evaluationPeriods: 3, datapointsToAlarm: 1}
    ";
    let steps = "{metricIntervalLowerBound: 0, metricIntervalUpperBound: 10, scalingAdjustment: 1}, \
                 {metricIntervalLowerBound: 10, metricIntervalUpperBound: 20, scalingAdjustment: 2}, \
                 {metricIntervalLowerBound: 20, scalingAdjustment: 3}";
    let cases = [
        ("", 12),
        (", metricAggregationType: Average", 12),
        (", metricAggregationType: Minimum", 11),
        (", metricAggregationType: Maximum", 13),
    ];
    for (extra, expected) in cases {
        let mut h = Harness::new(
            &[
                &target(1, 100),
                alarm,
                &policies(&[step("p", "high", "ChangeInCapacity", 300, steps, extra)]),
            ],
            10,
        );
        for value in [50.0, 60.0, 70.0] {
            h.push("cpu", value);
            h.advance(MINUTE);
        }
        assert_eq!(h.evaluate(), expected, "aggregation{extra}");
    }
}

#[test]
fn step_reinvoked_once_per_reinvocation_interval_while_alarm_stays_in_alarm() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[step(
                "out",
                "high",
                "ChangeInCapacity",
                0,
                &any_breach_above(1),
                "",
            )]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 60.0), 11); // invoked at T0 + 60
    h.push("cpu", 60.0);
    h.advance(30);
    assert_eq!(h.evaluate(), 11);
    assert_eq!(
        h.outcome(0),
        Outcome::WaitingForReinvocation {
            next_at: T0 + 2 * MINUTE
        }
    );
    h.advance(29);
    assert_eq!(h.evaluate(), 11);
    h.advance(1);
    assert_eq!(h.evaluate(), 12); // invoked again at T0 + 120
    // And every minute after that while the alarm stays in ALARM.
    assert_eq!(h.ticks("cpu", 60.0, 3), [13, 14, 15]);
}

#[test]
fn reinvocation_interval_is_a_setting() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[step(
                "out",
                "high",
                "ChangeInCapacity",
                0,
                &any_breach_above(1),
                "",
            )]),
            "behavior: {reinvocationIntervalSeconds: 180}",
        ],
        10,
    );
    // Invoked at T0 + 60, then at T0 + 240, T0 + 420.
    assert_eq!(h.ticks("cpu", 60.0, 7), [11, 11, 11, 12, 12, 12, 13]);
}

#[test]
fn alarm_leaving_alarm_state_resets_the_reinvocation_clock() {
    // 10-second periods: the alarm leaves ALARM and comes back within one reinvocation interval;
    // the policy acts again as soon as it does.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            "
            metrics:
              cpu: {push: {period: 10}}
            alarms:
              high: {metric: cpu, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 50, evaluationPeriods: 1}
            ",
            &policies(&[step("out", "high", "ChangeInCapacity", 0, &any_breach_above(1), "")]),
        ],
        10,
    );
    let mut seen = Vec::new();
    for value in [60.0, 10.0, 60.0] {
        h.push("cpu", value);
        h.advance(10);
        seen.push(h.evaluate());
    }
    assert_eq!(seen, [11, 11, 12]);
}

#[test]
fn min_adjustment_magnitude_on_scale_in_is_a_setting() {
    // -25% of 4 is -1; MinAdjustmentMagnitude 2 makes it -2 unless the setting is off.
    for (setting, expected) in [
        ("", 2),
        ("behavior: {minAdjustmentMagnitudeOnScaleIn: false}", 3),
    ] {
        let mut parts = vec![
            target(1, 100),
            CPU.to_owned(),
            policies(&[step(
                "in",
                "low",
                "PercentChangeInCapacity",
                300,
                &any_breach_below(-25),
                ", minAdjustmentMagnitude: 2",
            )]),
        ];
        if !setting.is_empty() {
            parts.push(setting.to_owned());
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let mut h = Harness::new(&refs, 4);
        assert_eq!(h.tick("cpu", 20.0), expected, "{setting}");
    }
}

/// Whether a document with `CPU` and one step policy on `high` with `steps` (flow mappings)
/// and `adjustment` type compiles.
fn steps_compile(adjustment: &str, steps: &str) -> bool {
    let yaml = harness::document(&[
        &target(1, 100),
        CPU,
        &policies(&[step("p", "high", adjustment, 300, steps, "")]),
    ]);
    crate::policy::load::load_str(&yaml, "test").is_ok()
}

#[test]
fn step_intervals_validation_no_overlap_no_gap_and_bound_rules() {
    let l = |lower: i32, adj: i32| {
        format!("{{metricIntervalLowerBound: {lower}, scalingAdjustment: {adj}}}")
    };
    let u = |upper: i32, adj: i32| {
        format!("{{metricIntervalUpperBound: {upper}, scalingAdjustment: {adj}}}")
    };
    let lu = |lower: i32, upper: i32, adj: i32| {
        format!(
            "{{metricIntervalLowerBound: {lower}, metricIntervalUpperBound: {upper}, \
             scalingAdjustment: {adj}}}"
        )
    };
    let cases: Vec<(&str, String, bool)> = vec![
        (
            "contiguous",
            format!("{}, {}", lu(0, 10, 1), l(10, 2)),
            true,
        ),
        (
            "both sides of the threshold",
            format!("{}, {}", u(0, -1), l(0, 1)),
            true,
        ),
        ("overlap", format!("{}, {}", lu(0, 15, 1), l(10, 2)), false),
        ("gap", format!("{}, {}", lu(0, 10, 1), l(20, 2)), false),
        (
            "two null lower bounds",
            format!("{}, {}", u(-10, -2), u(0, -1)),
            false,
        ),
        (
            "two null upper bounds",
            format!("{}, {}", l(0, 1), l(10, 2)),
            false,
        ),
        (
            "negative lower bound without a null lower",
            lu(-10, 0, -1),
            false,
        ),
        (
            "positive upper bound without a null upper",
            lu(0, 10, 1),
            false,
        ),
        (
            "both bounds null",
            "{scalingAdjustment: 1}".to_owned(),
            false,
        ),
        (
            "upper not above lower",
            format!("{}, {}", lu(5, 5, 1), l(5, 2)),
            false,
        ),
    ];
    for (what, steps, valid) in cases {
        assert_eq!(
            steps_compile("ChangeInCapacity", &steps),
            valid,
            "{what}: {steps}"
        );
    }
    assert!(steps_compile("ExactCapacity", &l(0, 0)));
    assert!(
        !steps_compile("ExactCapacity", &l(0, -1)),
        "ExactCapacity must be >= 0"
    );
}

// ---------------------------------------------------------------------------------------------
// B.1 Clamping
// ---------------------------------------------------------------------------------------------

/// Policies `out` (+2 on `high`) and `in` (-1 on `low`) with bounds `min..max` from `capacity`.
fn bounded(min: u32, max: u32, capacity: u32) -> Harness {
    Harness::new(&[&target(min, max), CPU, &out_and_in(2, -1, 300)], capacity)
}

#[test]
fn below_min_scale_out_goes_to_min_first_then_scales_out() {
    let mut h = bounded(5, 100, 2);
    assert_eq!(h.tick("cpu", 60.0), 7);
}

#[test]
fn below_min_scale_in_does_nothing_but_move_to_min() {
    let mut h = bounded(5, 100, 2);
    assert_eq!(h.tick("cpu", 20.0), 5);
    assert_eq!(h.outcome(1), Outcome::AtMinimum { capacity: 4 });
}

#[test]
fn above_max_scale_in_goes_to_max_first_then_scales_in() {
    let mut h = bounded(1, 10, 15);
    assert_eq!(h.tick("cpu", 20.0), 9);
}

#[test]
fn above_max_scale_out_does_nothing_but_move_to_max() {
    let mut h = bounded(1, 10, 15);
    assert_eq!(h.tick("cpu", 60.0), 10);
    assert_eq!(h.outcome(0), Outcome::AtMaximum { capacity: 12 });
}

#[test]
fn capacity_outside_bounds_moves_into_range_without_any_policy() {
    for (capacity, expected) in [(2, 5), (15, 10), (7, 7)] {
        let mut h = bounded(5, 10, capacity);
        h.advance(MINUTE);
        assert_eq!(h.evaluate(), expected, "from {capacity}");
    }
}

#[test]
fn policies_never_go_outside_min_and_max() {
    let mut h = bounded(5, 10, 9);
    assert_eq!(h.tick("cpu", 60.0), 10); // +2 from 9 stops at 10
    let mut h = Harness::new(&[&target(5, 10), CPU, &out_and_in(2, -5, 300)], 6);
    assert_eq!(h.tick("cpu", 20.0), 5); // -5 from 6 stops at 5
}

// ---------------------------------------------------------------------------------------------
// B.1 / B.3 / B.7 Missing data
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_data_never_scales() {
    // No datapoint at all: the step alarm is INSUFFICIENT_DATA, the target tracking policy has
    // nothing to track; out-of-range capacity still moves into range.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[
                step(
                    "out",
                    "high",
                    "ChangeInCapacity",
                    0,
                    &any_breach_above(2),
                    "",
                ),
                tracking("tt", "cpu", 50.0, ""),
            ]),
        ],
        10,
    );
    for _ in 0..20 {
        h.advance(MINUTE);
        assert_eq!(h.evaluate(), 10);
    }
    assert_eq!(h.alarm("high"), AlarmState::InsufficientData);
    assert_eq!(h.outcome(0), Outcome::InsufficientData);
    assert_eq!(h.outcome(1), Outcome::InsufficientData);
}

#[test]
fn missing_data_treated_as_breaching_never_scales_without_a_datapoint() {
    // The alarm goes to ALARM on missing data alone, but there is nothing to choose a step with.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            "
            metrics:
              cpu: {push: {period: 60}}
            alarms:
              high: {metric: cpu, comparisonOperator: GreaterThanThreshold, threshold: 50, evaluationPeriods: 2, treatMissingData: breaching}
            ",
            &policies(&[step("out", "high", "ChangeInCapacity", 0, &any_breach_above(2), "")]),
        ],
        10,
    );
    h.advance(MINUTE);
    assert_eq!(h.evaluate(), 10);
    assert_eq!(h.alarm("high"), AlarmState::Alarm);
    assert_eq!(h.outcome(0), Outcome::InsufficientData);
}

#[test]
fn missing_data_never_causes_scale_in() {
    // Target tracking at 50: 14 periods below 45 and one gap is not 15 of 15.
    let mut h = cpu_tracking(50.0, "");
    h.ticks("cpu", 40.0, 14);
    h.advance(MINUTE);
    assert_eq!(h.evaluate(), 10);
    assert_ne!(h.alarm("TargetTracking-cpu-AlarmLow"), AlarmState::Alarm);
    // Data stops altogether: still no change.
    for _ in 0..20 {
        h.advance(MINUTE);
        assert_eq!(h.evaluate(), 10);
    }
}

#[test]
fn alarms_evaluate_only_complete_periods_through_evaluate() {
    let mut h = out_steps_harness();
    // A breaching sample in the period that is still filling is not seen.
    h.advance(30);
    h.push("cpu", 90.0);
    assert_eq!(h.evaluate(), 10);
    assert_eq!(h.alarm("high"), AlarmState::InsufficientData);
    h.advance(30);
    assert_eq!(h.evaluate(), 13);
}

/// Whether a document with metric `cpu` of `period` seconds and alarm `a` made of `alarm`
/// (flow mapping fields after `metric: cpu`) compiles.
fn alarm_compiles(period: u32, alarm: &str) -> Result<crate::policy::CompiledPolicySet, String> {
    let yaml = harness::document(&[
        &target(1, 100),
        &format!("metrics: {{cpu: {{push: {{period: {period}}}}}}}"),
        &format!("alarms: {{a: {{metric: cpu, {alarm}}}}}"),
    ]);
    crate::policy::load::load_str(&yaml, "test").map_err(|e| e.to_string())
}

#[test]
fn alarm_period_is_10_20_30_or_a_multiple_of_60() {
    let alarm = "comparisonOperator: GreaterThanThreshold, threshold: 1, evaluationPeriods: 1";
    for period in [10, 20, 30, 60, 120, 300, 3600] {
        assert!(alarm_compiles(period, alarm).is_ok(), "{period}");
    }
    for period in [0, 5, 15, 45, 90, 100] {
        assert!(alarm_compiles(period, alarm).is_err(), "{period}");
    }
}

#[test]
fn alarm_datapoints_to_alarm_defaults_to_evaluation_periods() {
    let set = alarm_compiles(
        60,
        "comparisonOperator: GreaterThanThreshold, threshold: 1, evaluationPeriods: 4",
    )
    .expect("valid");
    assert_eq!(set.alarms[0].evaluation_periods, 4);
    assert_eq!(set.alarms[0].datapoints_to_alarm, 4);
    assert!(
        alarm_compiles(
            60,
            "comparisonOperator: GreaterThanThreshold, threshold: 1, evaluationPeriods: 2, \
             datapointsToAlarm: 3"
        )
        .is_err(),
        "M > N"
    );
}

#[test]
fn alarm_operators_four_supported_anomaly_bands_rejected() {
    for operator in [
        "GreaterThanOrEqualToThreshold",
        "GreaterThanThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
    ] {
        let alarm = format!("comparisonOperator: {operator}, threshold: 1, evaluationPeriods: 1");
        assert!(alarm_compiles(60, &alarm).is_ok(), "{operator}");
    }
    for operator in [
        "LessThanLowerOrGreaterThanUpperThreshold",
        "LessThanLowerThreshold",
        "GreaterThanUpperThreshold",
    ] {
        let alarm = format!("comparisonOperator: {operator}, threshold: 1, evaluationPeriods: 1");
        assert!(alarm_compiles(60, &alarm).is_err(), "{operator}");
    }
}

#[test]
fn alarm_statistics_are_the_five_cloudwatch_statistics() {
    for statistic in ["SampleCount", "Average", "Sum", "Minimum", "Maximum"] {
        let alarm = format!(
            "statistic: {statistic}, comparisonOperator: GreaterThanThreshold, threshold: 1, \
             evaluationPeriods: 1"
        );
        assert!(alarm_compiles(60, &alarm).is_ok(), "{statistic}");
    }
}

#[test]
fn alarm_m_of_n_through_evaluate_not_necessarily_consecutive() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            "
            metrics:
              cpu: {push: {period: 60}}
            alarms:
              high: {metric: cpu, comparisonOperator: GreaterThanThreshold, threshold: 50, evaluationPeriods: 5, datapointsToAlarm: 3}
            ",
            &policies(&[step("out", "high", "ChangeInCapacity", 0, &any_breach_above(1), "")]),
        ],
        10,
    );
    let desired: Vec<u32> = [60.0, 10.0, 60.0, 10.0, 60.0]
        .into_iter()
        .map(|v| h.tick("cpu", v))
        .collect();
    // The third breach, two periods apart from the others, puts the alarm in ALARM. The step
    // uses the average of the five datapoints (40): below the threshold, so no step matches.
    assert_eq!(desired, [10, 10, 10, 10, 10]);
    assert_eq!(h.alarm("high"), AlarmState::Alarm);
    assert!(matches!(h.outcome(0), Outcome::NoStepMatched { .. }));
}

#[test]
fn target_tracking_high_resolution_metric_uses_20_second_periods() {
    // A 20 s metric: 3 of 3 periods above the target take one minute, not three.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            "metrics: {cpu: {push: {period: 20}}}",
            &policies(&[tracking("tt", "cpu", 50.0, "")]),
        ],
        10,
    );
    let mut desired = Vec::new();
    for _ in 0..3 {
        h.push("cpu", 75.0);
        h.advance(20);
        desired.push(h.evaluate());
    }
    assert_eq!(desired, [10, 10, 15]);
    assert_eq!(h.now, harness::T0 + 60);
}

// ---------------------------------------------------------------------------------------------
// B.2 Cooldowns
// ---------------------------------------------------------------------------------------------

#[test]
fn step_scale_in_blocked_during_scale_in_cooldown() {
    let mut h = bounded(1, 100, 10);
    assert_eq!(h.tick("cpu", 20.0), 9); // scale-in at T0 + 60, cooldown until T0 + 360
    assert_eq!(h.ticks("cpu", 20.0, 4), [9, 9, 9, 9]);
    assert_eq!(
        h.outcome(1),
        Outcome::ScaleInCooldown {
            until: T0 + 6 * MINUTE
        }
    );
    assert_eq!(h.tick("cpu", 20.0), 8); // T0 + 360: expired
}

#[test]
fn step_scale_out_during_scale_in_cooldown_happens_at_once_and_ends_it() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &out_and_in(2, -1, 300),
            "behavior: {scaleInBlockedDuringScaleOutCooldown: false}",
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 20.0), 9); // scale-in cooldown until T0 + 360
    assert_eq!(h.tick("cpu", 60.0), 11); // the scale-out does not wait
    // The scale-in cooldown is over: the next scale-in happens at once.
    assert_eq!(h.tick("cpu", 20.0), 10);
}

#[test]
fn scale_in_blocked_during_scale_out_cooldown_by_default() {
    let mut h = bounded(1, 100, 10);
    assert_eq!(h.tick("cpu", 60.0), 12); // scale-out at T0 + 60, cooldown until T0 + 360
    assert_eq!(h.ticks("cpu", 20.0, 4), [12, 12, 12, 12]);
    assert_eq!(
        h.outcome(1),
        Outcome::ScaleInBlockedByScaleOutCooldown {
            until: T0 + 6 * MINUTE
        }
    );
    assert_eq!(h.tick("cpu", 20.0), 11);
}

#[test]
fn scale_in_allowed_during_scale_out_cooldown_when_the_setting_is_off() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &out_and_in(2, -1, 300),
            "behavior: {scaleInBlockedDuringScaleOutCooldown: false}",
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 60.0), 12);
    assert_eq!(h.tick("cpu", 20.0), 11);
}

/// Step policies `a` (+2 on `high`), `b` (+1 on `mem_high`) and `c` (-1 on `mem_low`), with
/// cooldown clocks kept per `scope`.
fn two_scale_outs(scope: &str) -> Harness {
    Harness::new(
        &[
            &target(1, 100),
            CPU_MEM,
            &policies(&[
                step(
                    "a",
                    "high",
                    "ChangeInCapacity",
                    300,
                    &any_breach_above(2),
                    "",
                ),
                step(
                    "b",
                    "mem_high",
                    "ChangeInCapacity",
                    300,
                    &any_breach_above(1),
                    "",
                ),
                step(
                    "c",
                    "mem_low",
                    "ChangeInCapacity",
                    300,
                    &any_breach_below(-1),
                    "",
                ),
            ]),
            &format!("behavior: {{cooldownScope: {scope}}}"),
        ],
        10,
    )
}

#[test]
fn cooldown_scope_per_target_shares_the_clocks_of_all_policies() {
    let mut h = two_scale_outs("PerTarget");
    assert_eq!(h.minute(&[("cpu", 60.0), ("mem", 40.0)]), 12); // a: +2, C0 = 10
    // b's +1 is computed from C0 = 10: 11 is not larger than 12.
    assert_eq!(h.minute(&[("cpu", 40.0), ("mem", 60.0)]), 12);
    assert!(matches!(
        h.outcome(1),
        Outcome::ScaleOutCooldown { capacity: 11, .. }
    ));
    // c's scale-in waits for a's scale-out cooldown.
    assert_eq!(h.minute(&[("cpu", 40.0), ("mem", 20.0)]), 12);
}

#[test]
fn cooldown_scope_per_policy_keeps_each_policy_on_its_own_clock() {
    let mut h = two_scale_outs("PerPolicy");
    assert_eq!(h.minute(&[("cpu", 60.0), ("mem", 40.0)]), 12);
    assert_eq!(h.minute(&[("cpu", 40.0), ("mem", 60.0)]), 13); // b is not in a cooldown
    assert_eq!(h.minute(&[("cpu", 40.0), ("mem", 20.0)]), 12); // nor is c
    // c is now in its own scale-in cooldown.
    assert_eq!(h.minute(&[("cpu", 40.0), ("mem", 20.0)]), 12);
}

// ---------------------------------------------------------------------------------------------
// B.3 Target tracking
// ---------------------------------------------------------------------------------------------

#[test]
fn target_tracking_high_alarm_needs_3_of_3_periods_above_target() {
    let mut h = cpu_tracking(50.0, "");
    assert_eq!(h.ticks("cpu", 75.0, 2), [10, 10]);
    // Two real breaches short of 3, nothing else in the range: INSUFFICIENT_DATA (`missing`).
    assert_eq!(
        h.alarm("TargetTracking-cpu-AlarmHigh"),
        AlarmState::InsufficientData
    );
    assert_eq!(h.tick("cpu", 75.0), 15); // ceil(10 * 75 / 50)
    assert_eq!(h.alarm("TargetTracking-cpu-AlarmHigh"), AlarmState::Alarm);

    // One period at or below the target restarts the count; the threshold itself does not breach.
    let mut h = cpu_tracking(50.0, "");
    let desired: Vec<u32> = [75.0, 75.0, 50.0, 75.0, 75.0, 75.0]
        .into_iter()
        .map(|v| h.tick("cpu", v))
        .collect();
    assert_eq!(desired, [10, 10, 10, 10, 10, 15]);
}

#[test]
fn target_tracking_low_alarm_needs_15_of_15_periods_below_0_9_target() {
    let mut h = cpu_tracking(50.0, "");
    assert_eq!(h.ticks("cpu", 40.0, 14), [10; 14]);
    assert_eq!(h.tick("cpu", 40.0), 8); // ceil(10 * 40 / 50)
    assert_eq!(h.alarm("TargetTracking-cpu-AlarmLow"), AlarmState::Alarm);

    // Between 0.9 x target (45) and the target: neither alarm, no scaling.
    let mut h = cpu_tracking(50.0, "");
    assert_eq!(*h.ticks("cpu", 46.0, 30).last().unwrap(), 10);
    assert_eq!(h.alarm("TargetTracking-cpu-AlarmLow"), AlarmState::Ok);
    assert_eq!(h.alarm("TargetTracking-cpu-AlarmHigh"), AlarmState::Ok);
}

#[test]
fn target_tracking_implicit_alarms_are_settings() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[tracking("tt", "cpu", 50.0, "")]),
            "
            behavior:
              targetTrackingHighAlarm: {evaluationPeriods: 1, datapointsToAlarm: 1, thresholdRatio: 1.0}
              targetTrackingLowAlarm: {evaluationPeriods: 2, datapointsToAlarm: 2, thresholdRatio: 0.5}
            ",
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 60.0), 12); // 1 of 1 above 50
    let mut h2 = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[tracking("tt", "cpu", 50.0, ", scaleInCooldown: 0")]),
            "
            behavior:
              targetTrackingLowAlarm: {evaluationPeriods: 2, datapointsToAlarm: 2, thresholdRatio: 0.5}
            ",
        ],
        10,
    );
    assert_eq!(h2.ticks("cpu", 30.0, 2), [10, 10]); // 30 is not below 0.5 x 50
    assert_eq!(h2.ticks("cpu", 20.0, 2), [10, 4]); // 2 of 2 below 25: ceil(10 * 20 / 50)
}

#[test]
fn target_tracking_overflowing_demand_scales_out_to_max() {
    // Two samples of 1e308 sum to infinity: demand beyond any capacity, not "no change".
    let mut h = cpu_tracking(50.0, ", statistic: Sum");
    for _ in 0..3 {
        h.push("cpu", 1e308);
        h.push("cpu", 1e308);
        h.advance(MINUTE);
        h.evaluate();
    }
    assert_eq!(h.decision().desired, 100);
}

#[test]
fn target_tracking_scales_in_gradually_rounding_up() {
    // ceil(10 * 44 / 50) = ceil(8.8) = 9: never removes more than the metric allows.
    let mut h = cpu_tracking(50.0, "");
    assert_eq!(*h.ticks("cpu", 44.0, 15).last().unwrap(), 9);
}

#[test]
fn target_tracking_never_scales_out_while_metric_at_or_below_target() {
    // A high alarm at 0.8 x target breaches at 45, which is still below the target of 50.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[tracking("tt", "cpu", 50.0, "")]),
            "
            behavior:
              targetTrackingHighAlarm: {evaluationPeriods: 3, datapointsToAlarm: 3, thresholdRatio: 0.8}
            ",
        ],
        10,
    );
    assert_eq!(h.ticks("cpu", 45.0, 3), [10, 10, 10]);
    assert_eq!(h.alarm("TargetTracking-cpu-AlarmHigh"), AlarmState::Alarm);
    assert_eq!(h.outcome(0), Outcome::AtOrBelowTarget { value: 45.0 });
    assert_eq!(h.ticks("cpu", 50.0, 3), [10, 10, 10]); // at the target: no scale-out either

    // 2 of 3: the alarm stays in ALARM after a period below the target; that period decides.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[tracking("tt", "cpu", 50.0, "")]),
            "
            behavior:
              targetTrackingHighAlarm: {evaluationPeriods: 3, datapointsToAlarm: 2, thresholdRatio: 1.0}
            ",
        ],
        10,
    );
    assert_eq!(h.ticks("cpu", 75.0, 2), [10, 15]);
    assert_eq!(h.tick("cpu", 40.0), 15);
    assert_eq!(h.alarm("TargetTracking-cpu-AlarmHigh"), AlarmState::Alarm);
    assert_eq!(h.outcome(0), Outcome::AtOrBelowTarget { value: 40.0 });
}

#[test]
fn per_task_metric_desired_is_ceil_total_over_target() {
    // Backlog 95 over 4 tasks is 23.75 per task, target 10: ceil(95 / 10) = 10 tasks.
    let mut h = Harness::new(
        &[
            &target(0, 100),
            "metrics: {backlog: {push: {period: 60}}}",
            &policies(&[tracking("tt", "backlog", 10.0, ", perTask: true")]),
        ],
        4,
    );
    assert_eq!(h.ticks("backlog", 95.0, 3), [4, 4, 10]);

    // Backlog 30 over 10 tasks is 3 per task: after 15 periods, ceil(30 / 10) = 3 tasks.
    let mut h = Harness::new(
        &[
            &target(0, 100),
            "metrics: {backlog: {push: {period: 60}}}",
            &policies(&[tracking("tt", "backlog", 10.0, ", perTask: true")]),
        ],
        10,
    );
    assert_eq!(*h.ticks("backlog", 30.0, 15).last().unwrap(), 3);
}

#[test]
fn from_zero_tasks_target_tracking_scales_out_by_one_then_continues() {
    let mut h = Harness::new(
        &[
            &target(0, 100),
            "metrics: {backlog: {push: {period: 60}}}",
            &policies(&[tracking(
                "tt",
                "backlog",
                10.0,
                ", perTask: true, scaleOutCooldown: 0",
            )]),
        ],
        0,
    );
    assert_eq!(h.ticks("backlog", 100.0, 3), [0, 0, 1]);
    // From one task, the normal rule: ceil(100 / 10).
    assert_eq!(h.tick("backlog", 100.0), 10);

    // A plain (not per task) metric with demand from zero tasks: one task too.
    let mut h = Harness::new(
        &[
            &target(0, 100),
            "metrics: {requests: {push: {period: 60}}}",
            &policies(&[tracking("tt", "requests", 100.0, "")]),
        ],
        0,
    );
    assert_eq!(h.ticks("requests", 500.0, 3), [0, 0, 1]);

    // Without demand, zero stays zero.
    let mut h = Harness::new(
        &[
            &target(0, 100),
            "metrics: {backlog: {push: {period: 60}}}",
            &policies(&[tracking("tt", "backlog", 10.0, ", perTask: true")]),
        ],
        0,
    );
    assert_eq!(*h.ticks("backlog", 0.0, 20).last().unwrap(), 0);
}

#[test]
fn from_zero_tasks_first_task_starts_no_cooldown() {
    // Default cooldowns (300 s): the first task from zero does not hold the real size back for
    // a whole cooldown; the scale-out from that task does start one, from C0 = 1.
    let mut h = Harness::new(
        &[
            &target(0, 100),
            "metrics: {backlog: {push: {period: 60}}}",
            &policies(&[tracking("tt", "backlog", 10.0, ", perTask: true")]),
        ],
        0,
    );
    assert_eq!(h.ticks("backlog", 100.0, 3), [0, 0, 1]);
    assert_eq!(h.state.clocks[0].scale_out(h.now), None);
    assert_eq!(h.tick("backlog", 100.0), 10);
    assert_eq!(
        h.state.clocks[0].scale_out(h.now),
        Some(super::cooldown::ScaleOutCooldown {
            until: h.now + 300,
            base: 1
        })
    );
}

#[test]
fn from_zero_tasks_step_scale_out_starts_its_cooldown() {
    // The exception is target tracking's: a step policy's scale-out from zero is an ordinary
    // scale-out, with its cooldown.
    let mut h = Harness::new(&[&target(0, 100), CPU, &out_and_in(2, -1, 300)], 0);
    assert_eq!(h.tick("cpu", 60.0), 2);
    assert_eq!(h.tick("cpu", 60.0), 2);
    assert!(matches!(h.outcome(0), Outcome::ScaleOutCooldown { .. }));
}

#[test]
fn disable_scale_in_never_removes_capacity() {
    let mut h = cpu_tracking(50.0, ", disableScaleIn: true");
    assert_eq!(*h.ticks("cpu", 10.0, 30).last().unwrap(), 10);
    assert_eq!(h.outcome(0), Outcome::ScaleInDisabled);
    // It still scales out.
    assert_eq!(h.ticks("cpu", 100.0, 3), [10, 10, 20]);
}

#[test]
fn target_tracking_scale_out_cooldown_allows_only_a_larger_scale_out() {
    let mut h = cpu_tracking(50.0, "");
    assert_eq!(h.ticks("cpu", 75.0, 3), [10, 10, 15]); // C0 = 10
    // Same load: ceil(10 * 75 / 50) = 15 is not larger than 15.
    assert_eq!(h.tick("cpu", 75.0), 15);
    assert!(matches!(
        h.outcome(0),
        Outcome::ScaleOutCooldown { capacity: 15, .. }
    ));
    // More load: ceil(10 * 100 / 50) = 20 is.
    assert_eq!(h.tick("cpu", 100.0), 20);
}

#[test]
fn target_tracking_scale_in_cooldown_blocks_scale_in_after_a_scale_in() {
    let mut h = cpu_tracking(50.0, "");
    assert_eq!(*h.ticks("cpu", 40.0, 15).last().unwrap(), 8);
    let scaled_in_at = h.now;
    assert_eq!(h.ticks("cpu", 40.0, 4), [8, 8, 8, 8]);
    assert_eq!(
        h.outcome(0),
        Outcome::ScaleInCooldown {
            until: scaled_in_at + 300
        }
    );
    assert_eq!(h.tick("cpu", 40.0), 7); // ceil(8 * 40 / 50) once the cooldown is over
}

#[test]
fn target_tracking_scale_out_cancels_its_scale_in_cooldown() {
    // One-period implicit alarms, so that the alarms can change within a cooldown.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[tracking("tt", "cpu", 50.0, ", scaleOutCooldown: 0")]),
            "
            behavior:
              targetTrackingHighAlarm: {evaluationPeriods: 1, datapointsToAlarm: 1, thresholdRatio: 1.0}
              targetTrackingLowAlarm: {evaluationPeriods: 1, datapointsToAlarm: 1, thresholdRatio: 0.9}
            ",
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 40.0), 8); // scale-in cooldown of 300 s starts
    assert_eq!(h.tick("cpu", 100.0), 16); // ceil(8 * 100 / 50): the scale-out ends it
    assert_eq!(h.tick("cpu", 20.0), 7); // ceil(16 * 20 / 50), 120 s after the scale-in
}

// ---------------------------------------------------------------------------------------------
// B.4 Several policies
// ---------------------------------------------------------------------------------------------

#[test]
fn scale_out_if_any_policy_wants_to() {
    // Target tracking on cpu is content (46 is within its band); the step policy on mem is not.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU_MEM,
            &policies(&[
                tracking("tt", "cpu", 50.0, ""),
                step(
                    "mem",
                    "mem_high",
                    "ChangeInCapacity",
                    300,
                    &any_breach_above(2),
                    "",
                ),
            ]),
        ],
        10,
    );
    assert_eq!(h.minute(&[("cpu", 46.0), ("mem", 80.0)]), 12);
    assert_eq!(h.applied(), Some(1));
}

/// CloudWatch's evaluation range (User Guide, "Configuring how CloudWatch alarms treat missing
/// data"): with some datapoints missing but at least N real ones in the range, "CloudWatch
/// evaluates the alarm state based on the most recent existing data points". A metric that
/// arrives every 2 minutes at twice the target gives the high alarm (3 of 3 on 60 s periods)
/// `X - X - X`: ALARM, so target tracking scales out, as on ECS. Looking at the 3 newest periods
/// only (`X - X`), it never would.
#[test]
fn target_tracking_on_a_metric_every_two_minutes_scales_out_over_the_evaluation_range() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[tracking("tt", "cpu", 50.0, "")]),
        ],
        10,
    );
    let mut desired = Vec::new();
    for minute in 0..5 {
        let samples: &[(&str, f64)] = if minute % 2 == 0 {
            &[("cpu", 100.0)]
        } else {
            &[]
        };
        desired.push(h.minute(samples));
    }
    assert_eq!(desired, [10, 10, 10, 10, 20]);
    assert_eq!(h.applied(), Some(0));
}

#[test]
fn scale_in_only_if_every_target_tracking_policy_agrees() {
    let owned = [
        target(1, 100),
        CPU_MEM.to_owned(),
        policies(&[
            tracking("cpu", "cpu", 50.0, ""),
            tracking("mem", "mem", 50.0, ""),
        ]),
    ];
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();

    // cpu wants 8, mem is content: no scale-in.
    let mut h = Harness::new(&refs, 10);
    for _ in 0..15 {
        h.minute(&[("cpu", 40.0), ("mem", 46.0)]);
    }
    assert_eq!(h.decision().desired, 10);
    assert_eq!(h.outcome(0), Outcome::ScaleInVetoed { by: 1 });

    // Both want to scale in (cpu to 8, mem to 6): the largest capacity wins.
    let mut h = Harness::new(&refs, 10);
    for _ in 0..15 {
        h.minute(&[("cpu", 40.0), ("mem", 30.0)]);
    }
    assert_eq!(h.decision().desired, 8);
    assert_eq!(h.applied(), Some(0));
    assert_eq!(
        h.outcome(1),
        Outcome::ScaleIn {
            step: None,
            capacity: 6
        }
    );
}

#[test]
fn largest_capacity_wins_for_scale_in_too() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[
                step(
                    "minus3",
                    "low",
                    "ChangeInCapacity",
                    300,
                    &any_breach_below(-3),
                    "",
                ),
                step(
                    "minus1",
                    "low",
                    "ChangeInCapacity",
                    300,
                    &any_breach_below(-1),
                    "",
                ),
            ]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 20.0), 9);
    assert_eq!(h.applied(), Some(1));
}

#[test]
fn step_scale_in_not_blocked_by_target_tracking_policy_without_data() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU_MEM,
            &policies(&[
                tracking("tt", "mem", 50.0, ""),
                step(
                    "in",
                    "low",
                    "ChangeInCapacity",
                    300,
                    &any_breach_below(-1),
                    "",
                ),
            ]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 20.0), 9);
    assert_eq!(h.outcome(0), Outcome::InsufficientData);
}

/// PutScalingPolicy (API reference): "if the step scaling policy initiates a scale-in activity
/// before the target tracking policy is ready to scale in, the scale-in activity will not be
/// blocked". The "scale in only if all agree" rule holds between target tracking policies.
#[test]
fn step_scale_in_before_target_tracking_is_ready_to_scale_in_is_not_blocked() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU_MEM,
            &policies(&[
                tracking("tt", "mem", 50.0, ""),
                step(
                    "in",
                    "low",
                    "ChangeInCapacity",
                    300,
                    &any_breach_below(-1),
                    "",
                ),
            ]),
        ],
        10,
    );
    // The target tracking policy has data and is inside its band (no scale-in wanted).
    assert_eq!(h.minute(&[("cpu", 20.0), ("mem", 46.0)]), 9);
    assert_eq!(h.applied(), Some(1));
    assert!(matches!(
        h.outcome(0),
        Outcome::AlarmOk | Outcome::InsufficientData
    ));
}

#[test]
fn target_tracking_with_scale_in_disabled_does_not_veto() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU_MEM,
            &policies(&[
                tracking("tt", "mem", 50.0, ", disableScaleIn: true"),
                step(
                    "in",
                    "low",
                    "ChangeInCapacity",
                    300,
                    &any_breach_below(-1),
                    "",
                ),
            ]),
        ],
        10,
    );
    assert_eq!(h.minute(&[("cpu", 20.0), ("mem", 46.0)]), 9);
}

#[test]
fn scale_out_beats_scale_in_in_the_same_evaluation() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU_MEM,
            &policies(&[
                step(
                    "in",
                    "low",
                    "ChangeInCapacity",
                    300,
                    &any_breach_below(-5),
                    "",
                ),
                step(
                    "out",
                    "mem_high",
                    "ChangeInCapacity",
                    300,
                    &any_breach_above(1),
                    "",
                ),
            ]),
        ],
        10,
    );
    assert_eq!(h.minute(&[("cpu", 20.0), ("mem", 80.0)]), 11);
}

// ---------------------------------------------------------------------------------------------
// B.6 Suspension and rollouts
// ---------------------------------------------------------------------------------------------

#[test]
fn dynamic_scaling_out_suspended_never_adds_capacity() {
    let mut h = Harness::new(
        &[
            &suspended_target(1, 100, "dynamicScalingOutSuspended: true"),
            CPU,
            &out_and_in(2, -1, 0),
        ],
        10,
    );
    assert_eq!(h.ticks("cpu", 90.0, 5), [10; 5]);
    assert_eq!(
        h.outcome(0),
        Outcome::Suspended {
            direction: Direction::Out
        }
    );
    assert_eq!(h.tick("cpu", 20.0), 9); // scale-in still works
}

#[test]
fn dynamic_scaling_in_suspended_never_removes_capacity() {
    let mut h = Harness::new(
        &[
            &suspended_target(1, 100, "dynamicScalingInSuspended: true"),
            CPU,
            &policies(&[
                step(
                    "out",
                    "high",
                    "ChangeInCapacity",
                    0,
                    &any_breach_above(2),
                    "",
                ),
                step(
                    "in",
                    "low",
                    "ChangeInCapacity",
                    0,
                    &any_breach_below(-1),
                    "",
                ),
                tracking(
                    "tt",
                    "cpu",
                    50.0,
                    ", scaleOutCooldown: 0, scaleInCooldown: 0",
                ),
            ]),
        ],
        10,
    );
    assert_eq!(*h.ticks("cpu", 5.0, 20).last().unwrap(), 10);
    assert_eq!(
        h.outcome(1),
        Outcome::Suspended {
            direction: Direction::In
        }
    );
    assert_eq!(
        h.outcome(2),
        Outcome::Suspended {
            direction: Direction::In
        }
    );
    assert_eq!(h.tick("cpu", 60.0), 12); // scale-out still works
}

#[test]
fn rollout_blocks_scale_in_only() {
    let mut h = bounded(1, 100, 10);
    h.scale_in_blocked = true;
    assert_eq!(h.tick("cpu", 20.0), 10);
    assert_eq!(h.outcome(1), Outcome::RolloutInProgress);
    assert_eq!(h.tick("cpu", 60.0), 12);
    h.scale_in_blocked = false;
    h.advance(300);
    assert_eq!(h.tick("cpu", 20.0), 11);
}

// ---------------------------------------------------------------------------------------------
// B.5 (through evaluate) Scheduled actions
// ---------------------------------------------------------------------------------------------

/// A scheduled action list with one `at` action `name` at `local` (UTC) setting `bounds`.
fn at_action(name: &str, local: &str, bounds: &str) -> String {
    format!(
        "- scheduledActionName: {name}\n  schedule: at({local})\n  \
         scalableTargetAction: {{{bounds}}}\n"
    )
}

/// `spec.scheduledActions` made of `actions`.
fn actions(actions: &[String]) -> String {
    format!("scheduledActions:\n{}", actions.concat())
}

#[test]
fn due_scheduled_action_raises_min_and_scales_out_immediately_without_waiting_for_cooldown() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &out_and_in(2, -1, 300),
            &actions(&[at_action("peak", "2025-01-01T00:02:00", "minCapacity: 20")]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 60.0), 12); // scale-out cooldown until T0 + 360
    assert_eq!(h.decision().scheduled, None);
    assert_eq!(h.tick("cpu", 40.0), 20); // T0 + 120: the action runs
    assert_eq!(
        h.decision().scheduled,
        Some(ScheduledRun {
            action: 0,
            at: T0 + 2 * MINUTE,
            skipped: false
        })
    );
    assert_eq!(h.state.bounds(), (20, 100));
    assert_eq!((h.decision().min, h.decision().max), (20, 100));
    // The bounds persist; policies keep working inside them, computed from the new capacity.
    assert_eq!(h.tick("cpu", 40.0), 20);
    assert_eq!(h.decision().scheduled, None);
}

#[test]
fn scheduled_action_does_not_start_a_cooldown() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &out_and_in(2, -1, 300),
            &actions(&[at_action("peak", "2025-01-01T00:01:00", "minCapacity: 20")]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 40.0), 20);
    assert_eq!(h.tick("cpu", 60.0), 22); // a policy scale-out right after the action
}

#[test]
fn lowered_max_scales_in_immediately() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &out_and_in(2, -1, 300),
            &actions(&[at_action("night", "2025-01-01T00:02:00", "maxCapacity: 5")]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 20.0), 9); // scale-in cooldown until T0 + 360
    assert_eq!(h.tick("cpu", 20.0), 5); // T0 + 120: the action lowers the maximum
    assert_eq!(h.state.bounds(), (1, 5));
}

#[test]
fn scheduled_actions_replay_at_engine_state_new_in_time_order() {
    // In document order the 20:00 action comes first; in time order the 08:00 one runs first.
    let h = Harness::new(
        &[
            &target(2, 100),
            CPU,
            &out_and_in(2, -1, 300),
            &actions(&[
                at_action("evening", "2024-12-31T20:00:00", "minCapacity: 1"),
                at_action(
                    "morning",
                    "2024-12-31T08:00:00",
                    "minCapacity: 3, maxCapacity: 8",
                ),
                at_action(
                    "tomorrow",
                    "2025-01-02T08:00:00",
                    "minCapacity: 50, maxCapacity: 60",
                ),
            ]),
        ],
        10,
    );
    assert_eq!(h.state.bounds(), (1, 8));
    assert_eq!(h.decision().min, 1);
    assert_eq!(h.decision().max, 8);
    assert_eq!(
        h.state.next_scheduled_run(),
        Some(harness::time(T0 + 32 * 3600))
    );
}

#[test]
fn scheduled_scaling_suspended_skips_actions() {
    let mut h = Harness::new(
        &[
            &suspended_target(1, 100, "scheduledScalingSuspended: true"),
            CPU,
            &out_and_in(2, -1, 300),
            &actions(&[
                at_action("past", "2024-12-31T08:00:00", "minCapacity: 30"),
                at_action("soon", "2025-01-01T00:02:00", "minCapacity: 20"),
            ]),
        ],
        10,
    );
    // Not replayed at start.
    assert_eq!(h.state.bounds(), (1, 100));
    h.advance(2 * MINUTE);
    assert_eq!(h.evaluate(), 10);
    assert_eq!(
        h.decision().scheduled,
        Some(ScheduledRun {
            action: 1,
            at: T0 + 2 * MINUTE,
            skipped: true
        })
    );
    assert_eq!(h.state.bounds(), (1, 100));
    // Not run later either.
    h.advance(MINUTE);
    assert_eq!(h.evaluate(), 10);
    assert_eq!(h.decision().scheduled, None);
}

/// "Suspend and resume scaling" (Application Auto Scaling user guide): scheduled actions that
/// were due while scheduled scaling was suspended are skipped when it resumes, and suspending
/// changes neither the minimum nor the maximum. A new version of a policy set that suspends or
/// resumes scheduled scaling continues the bounds in force (`EngineState::continue_bounds`),
/// where a fresh start would replay every action's latest past run.
#[test]
fn actions_due_while_scheduled_scaling_was_suspended_do_not_run_when_it_resumes() {
    let parts = |suspended: &str| {
        [
            suspended_target(1, 100, suspended),
            CPU.to_owned(),
            out_and_in(2, -1, 300),
            actions(&[
                at_action("past", "2024-12-31T08:00:00", "minCapacity: 30"),
                at_action("during", "2025-01-01T00:02:00", "minCapacity: 20"),
                at_action("after", "2025-01-01T00:10:00", "minCapacity: 5"),
            ]),
        ]
    };
    let running = parts("scheduledScalingSuspended: false");
    let suspended = parts("scheduledScalingSuspended: true");
    fn refs(owned: &[String; 4]) -> Vec<&str> {
        owned.iter().map(String::as_str).collect()
    }

    // Running: the past action is in force.
    let h = Harness::new(&refs(&running), 30);
    assert_eq!(h.state.bounds(), (30, 100));

    // Suspended at T0: the bounds in force stay (a fresh start would give the document's 1).
    let mut h = Harness::new(&refs(&suspended), 30);
    assert_eq!(h.state.bounds(), (1, 100), "a fresh start does not replay");
    h.state.continue_bounds((30, 100));
    assert_eq!(h.state.bounds(), (30, 100));
    h.advance(3 * MINUTE);
    assert_eq!(h.evaluate(), 30);
    assert_eq!(h.state.bounds(), (30, 100), "`during` is skipped");

    // Resumed at T0 + 3 min: `during` passed while suspended and does not run now ...
    let mut h = Harness::starting_at(&refs(&running), 30, T0 + 3 * MINUTE);
    assert_eq!(
        h.state.bounds(),
        (20, 100),
        "a fresh start would replay `during`"
    );
    h.state.continue_bounds((30, 100));
    assert_eq!(h.evaluate(), 30);
    assert_eq!(h.state.bounds(), (30, 100));
    assert_eq!(h.decision().scheduled, None);
    // ... and the next action runs at its time.
    h.advance(7 * MINUTE);
    h.evaluate();
    assert_eq!(h.state.bounds(), (5, 100));
    assert_eq!(
        h.decision().scheduled,
        Some(ScheduledRun {
            action: 2,
            at: T0 + 10 * MINUTE,
            skipped: false
        })
    );
}

// ---------------------------------------------------------------------------------------------
// The decision
// ---------------------------------------------------------------------------------------------

#[test]
fn decision_has_one_reason_per_policy_and_marks_the_applied_one() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU_MEM,
            &policies(&[
                step(
                    "out",
                    "high",
                    "ChangeInCapacity",
                    300,
                    &any_breach_above(2),
                    "",
                ),
                step(
                    "mem",
                    "mem_high",
                    "ChangeInCapacity",
                    300,
                    &any_breach_above(1),
                    "",
                ),
                tracking("tt", "cpu", 50.0, ""),
            ]),
        ],
        10,
    );
    assert_eq!(h.minute(&[("cpu", 60.0), ("mem", 10.0)]), 12);
    let decision = h.decision();
    assert_eq!(decision.reasons.len(), 3);
    assert_eq!(decision.at, harness::time(T0 + MINUTE));
    assert_eq!(decision.capacity, 10);
    assert_eq!(
        decision
            .reasons
            .iter()
            .map(|r| (r.policy, r.applied))
            .collect::<Vec<_>>(),
        [(0, true), (1, false), (2, false)]
    );
    assert_eq!(h.outcome(1), Outcome::AlarmOk);
}

#[test]
fn same_inputs_give_the_same_decision() {
    let mut h = bounded(1, 100, 10);
    h.tick("cpu", 60.0);
    h.push("cpu", 80.0);
    h.advance(MINUTE);
    let mut copy = h.state.clone();
    let first = h.evaluate();
    let inputs = super::Inputs {
        capacity: 12,
        scale_in_blocked: false,
        histories: &h.histories,
    };
    let again = super::evaluate(&h.set, &inputs, &mut copy, harness::time(h.now)).clone();
    assert_eq!(again.desired, first);
    assert_eq!(&again, h.decision());
}
