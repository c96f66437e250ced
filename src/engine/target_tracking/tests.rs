use super::*;

#[test]
fn desired_capacity_is_ceil_of_capacity_times_metric_over_target() {
    // (current, metric, target, expected)
    let cases = [
        (10, 75.0, 50.0, 15),   // proportional scale-out
        (10, 51.0, 50.0, 11),   // 10.2 -> 11
        (10, 110.0, 100.0, 11), // 11.000000000000002 in floats: still 11
        (3, 33.3, 10.0, 10),    // 9.99 -> 10
        (10, 50.0, 50.0, 10),   // at the target: unchanged
        (1, 1000.0, 10.0, 100),
    ];
    for (current, metric, target, expected) in cases {
        assert_eq!(
            desired_capacity(current, metric, target),
            expected,
            "ceil({current} * {metric} / {target})"
        );
    }
}

#[test]
fn target_tracking_scale_in_rounds_up_so_it_never_removes_too_much() {
    let cases = [
        (10, 40.0, 50.0, 8), // exactly 8
        (10, 44.0, 50.0, 9), // 8.8 -> 9, not 8
        (10, 0.1, 50.0, 1),  // 0.02 -> 1: never below one task while there is load
        (10, 0.0, 50.0, 0),  // no load at all
        (7, 30.0, 70.0, 3),  // exactly 3
    ];
    for (current, metric, target, expected) in cases {
        assert_eq!(
            desired_capacity(current, metric, target),
            expected,
            "ceil({current} * {metric} / {target})"
        );
    }
}

#[test]
fn per_task_metric_desired_is_ceil_total_over_target() {
    // Backlog per task: ceil(total / target), whatever the current capacity.
    let cases = [
        (4, 95.0, 10.0, 10),
        (20, 95.0, 10.0, 10),
        (3, 100.0, 10.0, 10),
        (5, 0.0, 10.0, 0),
        (2, 0.3, 10.0, 1),
    ];
    for (current, total, target, expected) in cases {
        assert_eq!(
            desired_capacity_per_task(current, total, target),
            expected,
            "ceil({total} / {target}) from {current}"
        );
    }
}

#[test]
fn from_zero_tasks_scale_out_by_one() {
    assert_eq!(desired_capacity(0, 80.0, 50.0), 1);
    assert_eq!(desired_capacity(0, f64::INFINITY, 50.0), 1);
    assert_eq!(desired_capacity_per_task(0, 1000.0, 10.0), 1);
}

#[test]
fn from_zero_tasks_without_demand_stays_at_zero() {
    assert_eq!(desired_capacity(0, 0.0, 50.0), 0);
    assert_eq!(desired_capacity_per_task(0, 0.0, 10.0), 0);
}

#[test]
fn ceil_tolerant_ignores_float_noise_only() {
    let cases = [
        (11.000000000000002, 11),
        (10.0, 10),
        (10.000001, 11),
        (10.2, 11),
        (0.0, 0),
        (-0.5, 0),
        (-1.5, -1),
    ];
    for (x, expected) in cases {
        assert_eq!(ceil_tolerant(x), expected, "ceil({x})");
    }
}

#[test]
fn ceil_tolerant_saturates_infinities() {
    assert_eq!(ceil_tolerant(f64::INFINITY), i64::MAX);
    assert_eq!(ceil_tolerant(f64::NEG_INFINITY), i64::MIN);
}
