//! The three pipelines on small traces.

use super::*;
use crate::policy::load::load_str;
use crate::simulate::hpa::Tolerance;
use crate::simulate::{parse_trace, parse_trace_with};

fn cluster(version: &str) -> Cluster {
    Cluster::new(version.parse().unwrap())
}

fn keda(version: &str) -> KedaVersion {
    version.parse().unwrap()
}

/// What `import` writes, on Kubernetes 1.35 with KEDA 2.18.
fn imported(set: &CompiledPolicySet) -> EksSettings {
    EksSettings::imported(set, cluster("1.35"), keda("2.18")).unwrap()
}

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

/// Policy set `name` from `min` to 40 tasks: +1 task (cooldown 60 s) while `cpu > 60`.
fn plus_one(name: &str, min: u32) -> String {
    format!(
        r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {{name: {name}}}
spec:
  scalableTarget: {{minCapacity: {min}, maxCapacity: 40}}
  metrics:
    cpu: {{push: {{period: 60}}}}
  alarms:
    high: {{metric: cpu, comparisonOperator: GreaterThanThreshold, threshold: 60, evaluationPeriods: 1}}
  policies:
  - policyName: plus-one
    stepScaling:
      alarm: high
      adjustmentType: ChangeInCapacity
      cooldown: 60
      stepAdjustments: [{{metricIntervalLowerBound: 0, scalingAdjustment: 1}}]
"#
    )
}

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
    let result = run(WORKER, &burst_trace(), imported);
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
        ..imported(set)
    };
    let result = run(&plus_one("stepper", 20), &trace, with_default_tolerance);
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
    let result = run(WORKER, &burst_trace(), imported);
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
    let settings = EksSettings::from_scaled_object(text, cluster("1.35"), keda("2.18")).unwrap();
    assert_eq!(settings.min_replica_count, 0);
    assert_eq!(settings.max_replica_count, 30);
    assert_eq!(settings.polling_interval, 30);
    assert_eq!(settings.cooldown_period, 300);
    let down = settings.behavior.scale_down.unwrap();
    assert_eq!(down.stabilization_window_seconds, Some(60));
    let read = |text: &str| EksSettings::from_scaled_object(text, cluster("1.35"), keda("2.18"));
    assert!(read("kind: Deployment").is_err());
    let error = read("kind: ScaledObject\nspec: {pollingInterval: soon}").unwrap_err();
    assert!(error.contains("pollingInterval"), "{error}");
    let error = read(
        "kind: ScaledObject\nspec: {advanced: {horizontalPodAutoscalerConfig: {behavior: \
         {scaleDown: {tolerance: 5%}}}}}",
    )
    .unwrap_err();
    assert!(
        error.starts_with(
            "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.tolerance: `5%`"
        ),
        "{error}"
    );
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

#[test]
fn without_a_scaled_object_the_comparison_replays_what_import_writes() {
    // ScaledObject::pass_through, read like a file: polling 15 s, cooldown 0 only from a
    // minimum of 0, Pods above any decision, tolerance 0 where Kubernetes and KEDA take it.
    let set = load_str(WORKER, "test").unwrap();
    let settings = imported(&set);
    assert_eq!(
        (settings.min_replica_count, settings.max_replica_count),
        (1, 50)
    );
    assert_eq!(settings.polling_interval, 15);
    assert_eq!(settings.cooldown_period, 300, "not written: KEDA's default");
    let up = settings.behavior.scale_up.as_ref().unwrap();
    assert_eq!(up.tolerance.map(Tolerance::value), Some(0.0));
    assert_eq!(up.policies.as_ref().unwrap()[0].value, 1000);
    assert!(settings.notes.is_empty(), "{:?}", settings.notes);
    let from_zero = load_str(&WORKER.replace("minCapacity: 1", "minCapacity: 0"), "test").unwrap();
    assert_eq!(imported(&from_zero).cooldown_period, 0);
    let old_keda = EksSettings::imported(&set, cluster("1.35"), keda("2.17")).unwrap();
    assert_eq!(old_keda.behavior.scale_up.unwrap().tolerance, None);
}

fn hot_cpu(minutes: i64) -> String {
    let mut trace = String::from("time,metric,value\n");
    for minute in 0..minutes {
        trace.push_str(&format!("{},cpu,80\n", minute * 60));
    }
    trace
}

fn highest_eks(kubernetes: &str, keda_version: &str) -> (u32, Comparison) {
    let result = run(&plus_one("plus-one", 10), &hot_cpu(10), |set| {
        EksSettings::imported(set, cluster(kubernetes), keda(keda_version)).unwrap()
    });
    (result.rows.iter().map(|r| r.eks).max().unwrap(), result)
}

#[test]
fn kubernetes_1_33_holds_back_the_10_percent_step_that_1_32_passes() {
    // Without `tolerance` (KEDA 2.17), the cluster's 10% applies: 10 -> 11 is a ratio of
    // exactly 1.1, which 1.32's |1 - ratio| lets through and 1.33's band holds; 11 -> 12
    // (9%) is held by both.
    let (on_1_32, result) = highest_eks("1.32", "2.17");
    assert_eq!(on_1_32, 11, "{:?}", result.eks);
    assert!(result.verdict.starts_with("DEVIATES"), "{}", result.verdict);
    let (on_1_35, result) = highest_eks("1.35", "2.17");
    assert_eq!(on_1_35, 10, "{:?}", result.eks);
    assert!(result.eks.steps_lost_to_tolerance > 0);
    // The summary lists the changes held back: 10 kept where the scaler asked for 11.
    let first = result.eks.steps_lost[0];
    assert_eq!((first.replicas, first.wanted), (10, 11));
    let summary = summary("EKS with ecs-scaler", &result.eks);
    assert!(summary.contains("10 -> 11"), "{summary}");
    // KEDA 2.18 on 1.35 passes `tolerance: 0` through: every ECS step is reached (the last
    // one after the trace ends).
    let (on_2_18, result) = highest_eks("1.35", "2.18");
    assert_eq!(result.eks.steps_lost_to_tolerance, 0);
    assert_eq!(
        on_2_18 + 1,
        result.rows.iter().map(|r| r.ecs).max().unwrap()
    );
    // On 1.34 the API server drops the `tolerance: 0` import writes (feature gate off).
    let (on_1_34, result) = highest_eks("1.34", "2.18");
    assert_eq!(on_1_34, 10);
    assert!(
        result
            .notes
            .iter()
            .any(|n| n.contains("HPAConfigurableTolerance")),
        "{:?}",
        result.notes
    );
}

const WITH_CPU: &str = r#"
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: worker}
spec:
  scaleTargetRef: {name: worker}
  pollingInterval: 15
  minReplicaCount: 1
  maxReplicaCount: 50
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleUp: {stabilizationWindowSeconds: 0, tolerance: 0, policies: [{type: Pods, value: 1000, periodSeconds: 15}]}
        scaleDown: {stabilizationWindowSeconds: 0, tolerance: 0, policies: [{type: Percent, value: 100, periodSeconds: 15}]}
  triggers:
  - {type: external, name: ecs-desired, metricType: AverageValue, metadata: {policy: worker}}
  - {type: cpu, name: cpu-web, metricType: Utilization, metadata: {value: "50"}}
"#;

fn with_cpu(trace: &str) -> Comparison {
    let set = Arc::new(load_str(WORKER, "test").unwrap());
    let settings =
        EksSettings::from_scaled_object(WITH_CPU, cluster("1.35"), keda("2.18")).unwrap();
    assert_eq!(settings.extra_metrics(), ["cpu"]);
    let (points, start) = parse_trace_with(trace, &set, &settings.extra_metrics(), None).unwrap();
    compare(set, &points, start, 60, None, &settings)
}

#[test]
fn cpu_trigger_the_hpa_takes_the_largest_proposal() {
    // Several metrics: the HPA takes the largest proposal. The backlog asks for 2 tasks; CPU
    // at twice its 50% target doubles the replicas each sync until the backlog's decision is
    // the smaller one.
    let mut trace = String::from("time,metric,value\n");
    for minute in 0..6 {
        trace.push_str(&format!(
            "{},backlog,200\n{},cpu,100\n",
            minute * 60,
            minute * 60
        ));
    }
    let result = with_cpu(&trace);
    let last = result.rows.last().unwrap();
    assert_eq!(last.ecs, 2, "{:?}", result.rows);
    assert!(last.eks > 2, "{:?}", result.rows);
}

#[test]
fn cpu_trigger_without_a_value_the_hpa_does_not_scale_down() {
    // A metric that fails: the HPA scales up on the others, never down. The trace has no `cpu`.
    let result = with_cpu(&burst_trace());
    let peak = result.rows.iter().map(|r| r.eks).max().unwrap();
    assert_eq!(peak, 20);
    assert_eq!(result.rows.last().unwrap().ecs, 1);
    assert_eq!(result.rows.last().unwrap().eks, 20);
    assert!(
        result.notes.iter().any(|n| n.contains("`cpu-web`")),
        "{:?}",
        result.notes
    );
}

#[test]
fn keda_before_2_18_drops_the_tolerance_of_a_scaled_object() {
    let settings =
        EksSettings::from_scaled_object(WITH_CPU, cluster("1.35"), keda("2.17")).unwrap();
    assert_eq!(settings.behavior.scale_up.unwrap().tolerance, None);
    assert!(
        settings.notes.iter().any(|n| n.contains("KEDA 2.17")),
        "{:?}",
        settings.notes
    );
}
