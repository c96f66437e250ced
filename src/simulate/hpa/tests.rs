//! The HPA model against the Kubernetes rules (spec C.1, C.2).

use super::*;

/// An HPA testing tolerances as Kubernetes <= 1.32 does.
fn hpa(min: u32, max: u32, behavior: &Behavior) -> Hpa {
    Hpa::new(
        min,
        max,
        Rules::scale_up(behavior.scale_up.as_ref(), DEFAULT_TOLERANCE),
        Rules::scale_down(behavior.scale_down.as_ref(), DEFAULT_TOLERANCE),
        ToleranceRule::Distance,
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

fn version(text: &str) -> KubernetesVersion {
    text.parse().unwrap()
}

fn behavior(json: &str) -> Behavior {
    serde_json::from_str(json).unwrap()
}

#[test]
fn tolerance_1_32_is_the_distance_from_1_in_floats_so_a_ratio_of_exactly_1_1_scales() {
    // replica_calculator.go up to 1.32: `math.Abs(1.0-usageRatio) <= c.tolerance` keeps the
    // replicas. 21 / 20 = 1.05: within 0.1, the step 20 -> 21 is lost.
    let h = hpa(1, 100, &Behavior::default());
    assert_eq!(h.propose(20, average(21.0)[0]), (20, true));
    // Exactly at the bound the floats decide: 1 - 9/10 is 0.0999.. (kept: inclusive), while
    // 1 - 11/10 is -0.10000000000000009 (scales), and so is 1 - 22/20.
    assert_eq!(h.propose(10, average(9.0)[0]), (10, true));
    assert_eq!(h.propose(10, average(11.0)[0]), (11, false));
    assert_eq!(h.propose(20, average(22.0)[0]), (22, false));
    assert_eq!(h.propose(10, average(12.0)[0]), (12, false));
    assert_eq!(h.propose(10, average(8.0)[0]), (8, false));
    assert_eq!(
        Cluster::new(version("1.32")).rule(),
        ToleranceRule::Distance
    );
}

#[test]
fn tolerance_1_33_holds_back_a_ratio_of_exactly_1_1() {
    // From 1.33 (KEP-4951) `Tolerances.isWithin`: `(1.0-down) <= ratio && ratio <= (1.0+up)`.
    // 11/10, 22/20 and 1.0 + 0.1 are the same double: held by the default 10%.
    let cluster = Cluster::new(version("1.33"));
    assert_eq!(cluster.rule(), ToleranceRule::Band);
    let h = cluster.hpa(1, 100, &Behavior::default());
    assert_eq!(h.propose(10, average(11.0)[0]), (10, true));
    assert_eq!(h.propose(20, average(22.0)[0]), (20, true));
    assert_eq!(h.propose(30, average(33.0)[0]), (30, true));
    assert_eq!(h.propose(10, average(9.0)[0]), (10, true));
    assert_eq!(h.propose(10, average(12.0)[0]), (12, false));
    assert_eq!(h.propose(10, average(8.0)[0]), (8, false));
}

#[test]
fn tolerance_1_33_bounds_each_direction_with_its_own_tolerance() {
    // KEP-4951: scale-up and scale-down tolerances apply on their own side of 1 (5% up, 50%
    // down here, as in the controller's integration test).
    let rules = behavior(
        r#"{"scaleUp": {"tolerance": "0.05"}, "scaleDown": {"tolerance": "500m",
            "stabilizationWindowSeconds": 0}}"#,
    );
    let h = Cluster::new(version("1.35")).hpa(1, 100, &rules);
    assert_eq!(h.propose(35, average(37.0)[0]), (37, false), "+5.7%");
    assert_eq!(h.propose(37, average(38.0)[0]), (37, true), "+2.7%");
    assert_eq!(h.propose(37, average(10.0)[0]), (10, false), "-73%");
    assert_eq!(h.propose(10, average(8.0)[0]), (10, true), "-20%");
}

#[test]
fn tolerance_field_is_kept_only_with_the_hpa_configurable_tolerance_gate() {
    // The API server drops `behavior.*.tolerance` while HPAConfigurableTolerance is off:
    // alpha (off) on 1.33 and 1.34, beta (on) from 1.35; the field does not exist before 1.33.
    let zero = pass_through();
    for (text, kept) in [
        ("1.32", false),
        ("1.33", false),
        ("1.34", false),
        ("1.35", true),
    ] {
        let cluster = Cluster::new(version(text));
        assert_eq!(cluster.keeps_tolerance_field(), kept, "{text}");
        let h = cluster.hpa(1, 100, &zero);
        let expected = if kept { (21, false) } else { (20, true) };
        assert_eq!(h.propose(20, average(21.0)[0]), expected, "{text}");
    }
    let gated = Cluster {
        configurable_tolerance: true,
        ..Cluster::new(version("1.33"))
    };
    assert_eq!(
        gated.hpa(1, 100, &zero).propose(20, average(21.0)[0]),
        (21, false)
    );
}

#[test]
fn tolerance_is_a_quantity_written_as_an_integer_or_a_string() {
    // HPAScalingRules.tolerance is a resource.Quantity; KEDA's CRD: int-or-string with the
    // quantity pattern.
    let parse = |json: &str| {
        serde_json::from_str::<ScalingRules>(&format!(r#"{{"tolerance": {json}}}"#))
            .map(|r| r.tolerance.unwrap().value())
            .map_err(|e| e.to_string())
    };
    assert_eq!(parse("0"), Ok(0.0));
    assert_eq!(parse("1"), Ok(1.0));
    assert_eq!(parse(r#""0.05""#), Ok(0.05));
    assert_eq!(parse(r#""50m""#), Ok(0.05));
    assert_eq!(parse(r#""1e-2""#), Ok(0.01));
    assert_eq!(parse(r#""+.5""#), Ok(0.5));
    assert_eq!(parse(r#""1Ki""#), Ok(1024.0));
    for bad in [
        r#""-0.1""#,
        "-1",
        r#""ten""#,
        r#""0.1.2""#,
        r#""""#,
        r#""5%""#,
        r#""1e""#,
    ] {
        let error = parse(bad).unwrap_err();
        assert!(error.contains("\"50m\""), "{bad}: {error}");
    }
    let error = parse("0.05").unwrap_err();
    assert!(error.contains(r#"write "0.05""#), "{error}");
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

#[test]
fn rate_window_counts_scale_events_of_both_directions_kubernetes_109058() {
    // calculateScaleUpLimitWithScalingRules: periodStartReplicas = current - added + removed
    // within the period (kubernetes/kubernetes#109058).
    let rules = behavior(
        r#"{"scaleUp": {"stabilizationWindowSeconds": 0, "tolerance": 0,
                        "policies": [{"type": "Pods", "value": 4, "periodSeconds": 60}]},
            "scaleDown": {"stabilizationWindowSeconds": 0, "tolerance": 0,
                          "policies": [{"type": "Pods", "value": 3, "periodSeconds": 60}]}}"#,
    );
    let mut h = Cluster::new(version("1.35")).hpa(1, 100, &rules);
    assert_eq!(h.sync(0, 10, &average(50.0)).replicas, 14, "10 + 4");
    assert_eq!(h.sync(15, 14, &average(12.0)).replicas, 12);
    // The period started at 10 (+4, -2): up to 14. Counting only the scale-up, it would have
    // started at 8 and allowed 12, no change.
    assert_eq!(h.sync(30, 12, &average(50.0)).replicas, 14);
    // The scale-down limit counts both directions too: from 10 (+4, -2, +2), 3 pods down
    // allow 7 (counting only the scale-down, 16 would have allowed 13).
    assert_eq!(h.sync(45, 14, &average(1.0)).replicas, 7);
}

#[test]
fn first_sync_seeds_a_recommendation_equal_to_the_current_replicas() {
    // horizontal.go `recordInitialRecommendation`: a new HPA's first sync records the current
    // replicas, so the default 300 s scale-down window holds them.
    let mut h = hpa(1, 100, &Behavior::default());
    assert_eq!(h.sync(0, 10, &average(4.0)).replicas, 10);
    assert_eq!(h.sync(285, 10, &average(4.0)).replicas, 10);
    assert_eq!(h.sync(300, 10, &average(4.0)).replicas, 4);
}

#[test]
fn a_failed_metric_blocks_scale_down_but_not_scale_up() {
    // computeReplicasForMetrics: when every metric fails, or some fail and the others propose
    // fewer replicas than the current, the HPA does not scale.
    let mut h = hpa(1, 100, &pass_through());
    let failed = MetricReading::Unavailable;
    let four = average(4.0)[0];
    assert_eq!(h.sync(0, 10, &[four, failed]).replicas, 10);
    assert_eq!(h.sync(15, 10, &[failed]).replicas, 10);
    assert_eq!(h.sync(30, 10, &[average(14.0)[0], failed]).replicas, 14);
    assert_eq!(h.sync(45, 14, &[four]).replicas, 4);
}

proptest::proptest! {
    #[test]
    fn any_tolerance_text_is_parsed_or_refused_without_panicking(text in "\\PC{0,16}") {
        let _ = text.parse::<Tolerance>();
    }

    #[test]
    fn a_parsed_tolerance_is_finite_and_not_negative(
        text in "[+-]?[0-9]{0,3}(\\.[0-9]{0,3})?([numkMGTPE]|[KMGTPE]i|[eE][+-]?[0-9]{1,5})?"
    ) {
        if let Ok(tolerance) = text.parse::<Tolerance>() {
            proptest::prop_assert!(tolerance.value() >= 0.0 && tolerance.value().is_finite());
        }
    }
}
