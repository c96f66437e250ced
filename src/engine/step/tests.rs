use super::*;

const INF: f64 = f64::INFINITY;

/// A step over `(lower, upper)` with `adjustment`, numbered `index`.
fn step(index: usize, lower: f64, upper: f64, adjustment: i32) -> Step {
    Step {
        index,
        lower,
        upper,
        adjustment,
    }
}

/// Scale-out steps of the spec's example (threshold 50): `[0,10)` +1, `[10,+inf)` +3.
fn scale_out_steps() -> Vec<Step> {
    vec![step(0, 0.0, 10.0, 1), step(1, 10.0, INF, 3)]
}

/// Scale-in steps of the spec's example (threshold 50): `(-10,0]` -1, `(-inf,-10]` -3.
fn scale_in_steps() -> Vec<Step> {
    vec![step(1, -INF, -10.0, -3), step(0, -10.0, 0.0, -1)]
}

/// The index of the selected step, if any.
fn selected(steps: &[Step], distance: f64, operator: ComparisonOperator) -> Option<usize> {
    select_step(steps, distance, operator).map(|s| s.index)
}

#[test]
fn step_above_threshold_lower_bound_inclusive_upper_exclusive() {
    // Threshold 50: [0,10) is 50 <= m < 60.
    let steps = scale_out_steps();
    let op = ComparisonOperator::GreaterThanOrEqualToThreshold;
    let cases = [
        (0.0, Some(0)),   // m = 50: lower bound included
        (5.0, Some(0)),   // m = 55
        (9.999, Some(0)), // m just below 60
        (10.0, Some(1)),  // m = 60: upper bound excluded, the next step takes it
        (25.0, Some(1)),  // m = 75: open upper bound
        (1e12, Some(1)),
    ];
    for (distance, expected) in cases {
        assert_eq!(selected(&steps, distance, op), expected, "d = {distance}");
    }
}

#[test]
fn step_below_threshold_lower_bound_exclusive_upper_inclusive() {
    // Threshold 50: (-10,0] is 40 < m <= 50.
    let steps = scale_in_steps();
    let op = ComparisonOperator::LessThanOrEqualToThreshold;
    let cases = [
        (0.0, Some(0)),    // m = 50: upper bound included
        (-5.0, Some(0)),   // m = 45
        (-9.999, Some(0)), // m just above 40
        (-10.0, Some(1)),  // m = 40: lower bound excluded, the next step takes it
        (-30.0, Some(1)),  // open lower bound
        (-1e12, Some(1)),
    ];
    for (distance, expected) in cases {
        assert_eq!(selected(&steps, distance, op), expected, "d = {distance}");
    }
}

#[test]
fn at_threshold_greater_than_operators_use_the_above_rule() {
    // (-10,0] -1 and [0,10) +1 meet at 0: the operator picks the side.
    let steps = vec![step(0, -10.0, 0.0, -1), step(1, 0.0, 10.0, 1)];
    for op in [
        ComparisonOperator::GreaterThanThreshold,
        ComparisonOperator::GreaterThanOrEqualToThreshold,
    ] {
        assert_eq!(selected(&steps, 0.0, op), Some(1), "{op:?}");
    }
}

#[test]
fn at_threshold_less_than_operators_use_the_below_rule() {
    let steps = vec![step(0, -10.0, 0.0, -1), step(1, 0.0, 10.0, 1)];
    for op in [
        ComparisonOperator::LessThanThreshold,
        ComparisonOperator::LessThanOrEqualToThreshold,
    ] {
        assert_eq!(selected(&steps, 0.0, op), Some(0), "{op:?}");
    }
}

#[test]
fn distance_sign_not_operator_decides_away_from_threshold() {
    // Away from the threshold the operator does not matter: d > 0 uses the above rule, d < 0
    // the below rule, whatever the alarm's operator.
    let steps = vec![step(0, -10.0, 0.0, -1), step(1, 0.0, 10.0, 1)];
    for op in [
        ComparisonOperator::GreaterThanThreshold,
        ComparisonOperator::LessThanThreshold,
    ] {
        assert_eq!(
            selected(&steps, 10.0, op),
            None,
            "{op:?}: 10 is excluded above"
        );
        assert_eq!(
            selected(&steps, -10.0, op),
            None,
            "{op:?}: -10 is excluded below"
        );
        assert_eq!(selected(&steps, 3.0, op), Some(1));
        assert_eq!(selected(&steps, -3.0, op), Some(0));
    }
}

#[test]
fn null_bounds_are_infinite() {
    let only_upper = vec![step(0, -INF, 0.0, -1)];
    let only_lower = vec![step(0, 0.0, INF, 1)];
    let op = ComparisonOperator::GreaterThanThreshold;
    assert_eq!(selected(&only_upper, -1e300, op), Some(0));
    assert_eq!(selected(&only_lower, 1e300, op), Some(0));
}

#[test]
fn no_step_matched_selects_nothing() {
    // Steps that start 10 above the threshold do not cover a breach of 5.
    let steps = vec![step(0, 10.0, 20.0, 1), step(1, 20.0, INF, 2)];
    assert_eq!(
        selected(&steps, 5.0, ComparisonOperator::GreaterThanThreshold),
        None
    );
    // Scale-out steps do not cover a distance below the threshold.
    assert_eq!(
        selected(
            &scale_out_steps(),
            -1.0,
            ComparisonOperator::GreaterThanThreshold
        ),
        None
    );
}

#[test]
fn change_in_capacity_adds_the_adjustment() {
    let cases = [(10, 2, 12), (10, -3, 7), (0, 1, 1), (2, -5, -3)];
    for (current, adjustment, expected) in cases {
        assert_eq!(
            adjusted_capacity(
                AdjustmentType::ChangeInCapacity,
                adjustment,
                current,
                0,
                true
            ),
            expected,
            "{current} + {adjustment}"
        );
    }
}

#[test]
fn exact_capacity_sets_the_adjustment() {
    for (current, adjustment) in [(10, 4), (3, 12), (7, 0)] {
        assert_eq!(
            adjusted_capacity(AdjustmentType::ExactCapacity, adjustment, current, 0, true),
            i64::from(adjustment)
        );
    }
}

#[test]
fn percent_change_integer_results_are_exact() {
    let cases = [
        (10, 10, 1),
        (10, 200, 20),
        (10, -50, -5),
        (4, 25, 1),
        (0, 50, 0),
    ];
    for (current, percent, expected) in cases {
        assert_eq!(
            percent_change(current, percent),
            expected,
            "{percent}% of {current}"
        );
    }
}

#[test]
fn percent_change_above_one_rounds_down() {
    // 12.7 -> 12, 3.3 -> 3, 1.1 -> 1.
    let cases = [(127, 10, 12), (11, 30, 3), (11, 10, 1), (19, 10, 1)];
    for (current, percent, expected) in cases {
        assert_eq!(
            percent_change(current, percent),
            expected,
            "{percent}% of {current}"
        );
    }
}

#[test]
fn percent_change_between_zero_and_one_rounds_to_one() {
    let cases = [(1, 10, 1), (9, 10, 1), (3, 1, 1), (1, 99, 1)];
    for (current, percent, expected) in cases {
        assert_eq!(
            percent_change(current, percent),
            expected,
            "{percent}% of {current}"
        );
    }
}

#[test]
fn percent_change_between_minus_one_and_zero_rounds_to_minus_one() {
    let cases = [(1, -10, -1), (9, -10, -1), (3, -1, -1), (1, -99, -1)];
    for (current, percent, expected) in cases {
        assert_eq!(
            percent_change(current, percent),
            expected,
            "{percent}% of {current}"
        );
    }
}

#[test]
fn percent_change_below_minus_one_rounds_toward_zero() {
    // -6.66 -> -6, -1.4 -> -1, -3.9 -> -3.
    let cases = [(3, -222, -6), (14, -10, -1), (13, -30, -3), (127, -10, -12)];
    for (current, percent, expected) in cases {
        assert_eq!(
            percent_change(current, percent),
            expected,
            "{percent}% of {current}"
        );
    }
}

#[test]
fn percent_worked_example_10_11_14_13_10() {
    // UG-STEP: 10 -> +10% -> 11 -> +30% -> 14 -> -10% -> 13 -> -30% -> 10.
    let mut capacity = 10;
    for (percent, expected) in [(10, 11), (30, 14), (-10, 13), (-30, 10)] {
        capacity = adjusted_capacity(
            AdjustmentType::PercentChangeInCapacity,
            percent,
            capacity,
            0,
            true,
        );
        assert_eq!(capacity, expected, "after {percent}%");
    }
}

#[test]
fn min_adjustment_magnitude_raises_the_change() {
    // 25% of 4 is 1; MinAdjustmentMagnitude 2 makes it 2.
    let cases = [
        (4, 25, 2, 6),   // raised
        (4, 25, 0, 5),   // unset
        (20, 25, 2, 25), // already larger: unchanged
        (4, 25, 1, 5),   // equal to the rounded change: unchanged
    ];
    for (current, percent, magnitude, expected) in cases {
        assert_eq!(
            adjusted_capacity(
                AdjustmentType::PercentChangeInCapacity,
                percent,
                current,
                magnitude,
                true
            ),
            expected,
            "{percent}% of {current}, magnitude {magnitude}"
        );
    }
}

#[test]
fn min_adjustment_magnitude_on_scale_in_follows_the_setting() {
    // -25% of 4 is -1; with the setting (default) the magnitude makes it -2.
    let with = adjusted_capacity(AdjustmentType::PercentChangeInCapacity, -25, 4, 2, true);
    let without = adjusted_capacity(AdjustmentType::PercentChangeInCapacity, -25, 4, 2, false);
    assert_eq!(with, 2);
    assert_eq!(without, 3);
}

#[test]
fn min_adjustment_magnitude_ignored_for_other_adjustment_types_and_zero() {
    assert_eq!(
        adjusted_capacity(AdjustmentType::ChangeInCapacity, 1, 4, 5, true),
        5
    );
    assert_eq!(
        adjusted_capacity(AdjustmentType::ExactCapacity, 1, 4, 5, true),
        1
    );
    assert_eq!(
        adjusted_capacity(AdjustmentType::PercentChangeInCapacity, 0, 4, 5, true),
        4
    );
}

#[test]
fn metric_aggregation_type_average_minimum_maximum() {
    let values = [50.0, 60.0, 70.0];
    let cases = [
        (MetricAggregationType::Average, 60.0),
        (MetricAggregationType::Minimum, 50.0),
        (MetricAggregationType::Maximum, 70.0),
    ];
    for (aggregation, expected) in cases {
        assert_eq!(
            aggregate(values.iter().copied(), aggregation),
            Some(expected),
            "{aggregation:?}"
        );
    }
}

#[test]
fn aggregate_of_no_datapoint_is_none() {
    assert_eq!(
        aggregate(std::iter::empty(), MetricAggregationType::Average),
        None
    );
}
