//! The three pipelines on small traces.

use super::*;
use crate::policy::load::load_str;
use crate::simulate::parse_trace;

const WORKER: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: worker}
spec:
  scalableTarget: {minCapacity: 1, maxCapacity: 50}
  metrics:
    backlog: {push: {period: 60}}
  policies:
  - policyName: backlog-per-task
    targetTracking: {metric: backlog, perTask: true, targetValue: 100, scaleOutCooldown: 60, scaleInCooldown: 120}
"#;

const STEPPER: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: stepper}
spec:
  scalableTarget: {minCapacity: 20, maxCapacity: 40}
  metrics:
    cpu: {push: {period: 60}}
  alarms:
    high: {metric: cpu, comparisonOperator: GreaterThanThreshold, threshold: 60, evaluationPeriods: 1}
  policies:
  - policyName: plus-one
    stepScaling:
      alarm: high
      adjustmentType: ChangeInCapacity
      cooldown: 60
      stepAdjustments: [{metricIntervalLowerBound: 0, scalingAdjustment: 1}]
"#;

fn burst_trace() -> String {
    // A queue burst: 0, then 2,000 messages for ten minutes, then drained.
    let mut text = String::from("time,metric,value\n");
    for minute in 0..40 {
        let value = if (5..15).contains(&minute) { 2000 } else { 0 };
        text.push_str(&format!("{},backlog,{value}\n", minute * 60));
    }
    text
}

fn run(policy: &str, trace: &str, eks: impl Fn(&CompiledPolicySet) -> EksSettings) -> Comparison {
    let set = Arc::new(load_str(policy, "test").unwrap());
    let (points, start) = parse_trace(trace, &set, None).unwrap();
    let settings = eks(&set);
    compare(set, &points, start, 60, None, &settings)
}

#[test]
fn pass_through_eks_matches_ecs_within_one_hpa_sync_period() {
    let result = run(WORKER, &burst_trace(), EksSettings::pass_through);
    assert!(!result.eks.scale_out_lags_seconds.is_empty());
    for lag in &result.eks.scale_out_lags_seconds {
        assert!(lag.is_some_and(|lag| lag <= 15), "{:?}", result.eks);
    }
    assert_eq!(result.eks.steps_lost_to_tolerance, 0);
    assert!(result.verdict.starts_with("MATCHES"), "{}", result.verdict);
    let peak = result.rows.iter().map(|r| r.ecs).max().unwrap();
    assert_eq!(peak, 20, "ceil(2000 / 100)");
    assert_eq!(result.rows.iter().map(|r| r.eks).max().unwrap(), 20);
}

#[test]
fn default_tolerance_swallows_small_steps_and_the_verdict_says_so() {
    let mut trace = String::from("time,metric,value\n");
    for minute in 0..8 {
        trace.push_str(&format!("{},cpu,80\n", minute * 60));
    }
    let with_default_tolerance = |set: &CompiledPolicySet| EksSettings {
        behavior: Behavior::default(),
        ..EksSettings::pass_through(set)
    };
    let result = run(STEPPER, &trace, with_default_tolerance);
    assert!(
        result.rows.iter().any(|r| r.ecs > 20),
        "ECS adds one task at a time"
    );
    assert!(result.eks.steps_lost_to_tolerance > 0, "{:?}", result.eks);
    assert!(result.verdict.starts_with("DEVIATES"), "{}", result.verdict);
    assert!(
        result.naive.is_none(),
        "step scaling has no built-in KEDA equivalent"
    );
}

#[test]
fn naive_migration_scales_in_after_five_minutes_where_ecs_waits_fifteen() {
    let result = run(WORKER, &burst_trace(), EksSettings::pass_through);
    let naive = result
        .naive
        .as_ref()
        .expect("target tracking has a built-in equivalent");
    // The backlog drains at minute 15. The HPA's default scale-down stabilization keeps the
    // replicas 5 minutes; ECS's low alarm needs 15 periods below 90% of the target.
    let at_minute = |m: usize| &result.rows[m];
    assert_eq!(at_minute(19).ecs, 20);
    assert_eq!(at_minute(21).naive, Some(1), "{:?}", at_minute(21));
    assert_eq!(at_minute(21).ecs, 20);
    assert!(naive.replica_minutes_under > 0.0, "{naive:?}");
    assert!(result.rows.last().unwrap().ecs == 1);
}

#[test]
fn scaled_object_settings_are_read_with_keda_defaults() {
    let set = load_str(WORKER, "test").unwrap();
    let text = r#"
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: worker}
spec:
  scaleTargetRef: {name: worker}
  maxReplicaCount: 30
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown: {stabilizationWindowSeconds: 60}
"#;
    let settings = EksSettings::from_scaled_object(text, &set).unwrap();
    assert_eq!(settings.min_replica_count, 0);
    assert_eq!(settings.max_replica_count, 30);
    assert_eq!(settings.polling_interval, 30);
    assert_eq!(settings.cooldown_period, 300);
    let down = settings.behavior.scale_down.unwrap();
    assert_eq!(down.stabilization_window_seconds, Some(60));
    assert!(EksSettings::from_scaled_object("kind: Deployment", &set).is_err());
    let error =
        EksSettings::from_scaled_object("kind: ScaledObject\nspec: {pollingInterval: soon}", &set)
            .unwrap_err();
    assert!(error.contains("pollingInterval"), "{error}");
}

#[test]
fn pod_start_delay_counts_new_pods_as_running_only_later() {
    let mut log = ReplicaLog {
        entries: vec![(0, 2)],
    };
    log.set(100, 5);
    assert_eq!(log.running(100, 60), 2);
    assert_eq!(log.running(159, 60), 2);
    assert_eq!(log.running(160, 60), 5);
    log.set(200, 3);
    assert_eq!(log.running(200, 60), 3, "scale-in is immediate");
}
