//! The HPA model against the Kubernetes rules (spec C.1, C.2).

use super::*;

fn hpa(min: u32, max: u32, behavior: &Behavior) -> Hpa {
    Hpa::new(
        min,
        max,
        Rules::scale_up(behavior.scale_up.as_ref(), DEFAULT_TOLERANCE),
        Rules::scale_down(behavior.scale_down.as_ref(), DEFAULT_TOLERANCE),
    )
}

fn average(total: f64) -> [MetricReading; 1] {
    [MetricReading::AverageValue { total, target: 1.0 }]
}

fn pass_through() -> Behavior {
    serde_json::from_str(
        r#"{"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "tolerance": 0,
                        "policies": [{"type": "Pods", "value": 1000, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "tolerance": 0,
                          "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}"#,
    )
    .unwrap()
}

#[test]
fn tolerance_is_inclusive_in_the_hpas_float_arithmetic() {
    let h = hpa(1, 100, &Behavior::default());
    // 21 / 20 = 1.05: within 0.1, the step 20 -> 21 is lost.
    assert_eq!(h.propose(20, average(21.0)[0]), (20, true));
    // Exactly at the bound, the HPA computes |1 - ratio| in floats as Kubernetes does:
    // 9 / 10 gives 0.0999.. (kept: inclusive), 11 / 10 gives 0.1000..09 (scales).
    assert_eq!(h.propose(10, average(9.0)[0]), (10, true));
    assert_eq!(h.propose(10, average(11.0)[0]), (11, false));
    assert_eq!(h.propose(10, average(12.0)[0]), (12, false));
    assert_eq!(h.propose(10, average(8.0)[0]), (8, false));
}

#[test]
fn tolerance_zero_passes_every_step() {
    let h = hpa(1, 100, &pass_through());
    assert_eq!(h.propose(10, average(11.0)[0]), (11, false));
    assert_eq!(h.propose(10, average(9.0)[0]), (9, false));
}

#[test]
fn average_value_proposes_ceil_total_over_target_and_ratio_scales_current() {
    let h = hpa(1, 100, &pass_through());
    let reading = MetricReading::AverageValue {
        total: 450.0,
        target: 100.0,
    };
    assert_eq!(h.propose(2, reading).0, 5);
    let utilization = MetricReading::Ratio {
        value: 75.0,
        target: 50.0,
    };
    assert_eq!(h.propose(4, utilization).0, 6);
}

#[test]
fn several_metrics_the_largest_proposal_wins() {
    let mut h = hpa(1, 100, &pass_through());
    let readings = [
        MetricReading::AverageValue {
            total: 3.0,
            target: 1.0,
        },
        MetricReading::AverageValue {
            total: 7.0,
            target: 1.0,
        },
    ];
    assert_eq!(h.sync(0, 5, &readings).replicas, 7);
}

#[test]
fn scale_down_stabilization_takes_the_max_of_its_window() {
    let mut h = hpa(1, 100, &Behavior::default());
    assert_eq!(h.sync(0, 10, &average(10.0)).replicas, 10);
    // Lower proposals within 300 s are held at the highest recent recommendation.
    assert_eq!(h.sync(15, 10, &average(4.0)).replicas, 10);
    assert_eq!(h.sync(299, 10, &average(4.0)).replicas, 10);
    assert_eq!(h.sync(300, 10, &average(4.0)).replicas, 4);
}

#[test]
fn scale_up_stabilization_takes_the_min_of_its_window() {
    let behavior: Behavior =
        serde_json::from_str(r#"{"scaleUp": {"stabilizationWindowSeconds": 60}}"#).unwrap();
    let mut h = hpa(1, 100, &behavior);
    assert_eq!(h.sync(0, 4, &average(4.0)).replicas, 4);
    assert_eq!(h.sync(15, 4, &average(8.0)).replicas, 4);
    assert_eq!(h.sync(60, 4, &average(8.0)).replicas, 8);
}

#[test]
fn default_scale_up_allows_max_of_100_percent_or_4_pods_per_15_seconds() {
    let mut h = hpa(1, 100, &Behavior::default());
    assert_eq!(
        h.sync(0, 2, &average(50.0)).replicas,
        6,
        "2 + 4 pods beats 2 * 200%"
    );
    assert_eq!(
        h.sync(15, 6, &average(50.0)).replicas,
        12,
        "6 * 200% beats 6 + 4"
    );
    // Replicas added within the period count toward it.
    let mut h = hpa(1, 100, &Behavior::default());
    assert_eq!(h.sync(0, 10, &average(50.0)).replicas, 20);
    assert_eq!(
        h.sync(5, 20, &average(50.0)).replicas,
        20,
        "the period started at 10"
    );
}

#[test]
fn select_policy_min_takes_the_smallest_change_and_disabled_none() {
    let min: Behavior = serde_json::from_str(
        r#"{"scaleUp": {"selectPolicy": "Min", "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15}]}}"#,
    )
    .unwrap();
    assert_eq!(hpa(1, 100, &min).sync(0, 10, &average(50.0)).replicas, 14);
    let disabled: Behavior = serde_json::from_str(
        r#"{"scaleDown": {"selectPolicy": "Disabled", "stabilizationWindowSeconds": 0}}"#,
    )
    .unwrap();
    assert_eq!(
        hpa(1, 100, &disabled).sync(0, 10, &average(2.0)).replicas,
        10
    );
}

#[test]
fn percent_scale_down_rounds_down_the_allowed_replicas() {
    let behavior: Behavior = serde_json::from_str(
        r#"{"scaleDown": {"stabilizationWindowSeconds": 0, "policies": [
            {"type": "Percent", "value": 10, "periodSeconds": 60}]}}"#,
    )
    .unwrap();
    let mut h = hpa(1, 100, &behavior);
    // 10% of 15 allows down to 13.5 -> 13.
    assert_eq!(h.sync(0, 15, &average(1.0)).replicas, 13);
    // Within the same minute the removed replicas count: start 15 again, limit 13.
    assert_eq!(h.sync(15, 13, &average(1.0)).replicas, 13);
}

#[test]
fn clamping_comes_after_stabilization_and_rate_policies() {
    let mut h = hpa(3, 8, &pass_through());
    assert_eq!(h.sync(0, 5, &average(50.0)).replicas, 8);
    assert_eq!(h.sync(15, 8, &average(0.0)).replicas, 3);
}

#[test]
fn out_of_range_moves_into_range_without_reading_metrics() {
    let mut h = hpa(3, 8, &Behavior::default());
    assert_eq!(h.sync(0, 12, &average(100.0)).replicas, 8);
    assert_eq!(h.sync(15, 1, &average(0.0)).replicas, 3);
}

#[test]
fn scaled_to_zero_the_hpa_stays_idle() {
    let mut h = hpa(1, 8, &pass_through());
    assert_eq!(h.sync(0, 0, &average(5.0)).replicas, 0);
}

#[test]
fn keda_activates_from_zero_at_its_polling_interval_and_deactivates_after_cooldown() {
    let mut keda = Activation::new(0, 30, 300, 0);
    assert_eq!(keda.check(0, false, 0, 1), 0);
    assert_eq!(keda.check(10, true, 0, 1), 0, "not a polling instant yet");
    assert_eq!(keda.check(30, true, 0, 1), 1);
    assert_eq!(
        keda.check(60, false, 3, 1),
        3,
        "idle for less than the cooldown"
    );
    assert_eq!(keda.check(330, false, 3, 1), 0);
    let mut keeps_one = Activation::new(1, 30, 300, 0);
    assert_eq!(keeps_one.check(0, false, 2, 1), 2);
    assert_eq!(
        keeps_one.check(600, false, 2, 1),
        2,
        "minReplicaCount 1 never goes to 0"
    );
}
