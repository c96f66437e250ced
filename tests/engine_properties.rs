//! Property tests of the engine over random policy sets, inputs and metric traces:
//! - the decision is always within the bounds in force;
//! - a suspended direction never moves;
//! - the same inputs give the same decision;
//! - without any datapoint, nothing but the bounds moves the capacity.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use ecs_scaler::engine::history::MetricHistory;
use ecs_scaler::engine::{self, EngineState, Inputs};
use ecs_scaler::policy::compiled::CompiledPolicySet;
use ecs_scaler::policy::load::load_str;
use proptest::prelude::*;

/// 2025-01-01T00:00:00Z.
const T0: i64 = 1_735_689_600;
/// Number of metrics in every generated policy set.
const METRICS: usize = 2;

const OPERATORS: [&str; 4] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];
const TREATMENTS: [&str; 4] = ["missing", "notBreaching", "breaching", "ignore"];
const STATISTICS: [&str; 5] = ["Average", "Sum", "Minimum", "Maximum", "SampleCount"];
const AGGREGATIONS: [&str; 3] = ["Average", "Minimum", "Maximum"];
const ADJUSTMENTS: [&str; 3] = [
    "ChangeInCapacity",
    "PercentChangeInCapacity",
    "ExactCapacity",
];

/// A generated target tracking policy.
#[derive(Debug, Clone)]
struct Tracking {
    metric: usize,
    target: f64,
    per_task: bool,
    statistic: usize,
    scale_out_cooldown: u32,
    scale_in_cooldown: u32,
    disable_scale_in: bool,
}

/// A generated step scaling policy with its alarm.
#[derive(Debug, Clone)]
struct Stepping {
    metric: usize,
    operator: usize,
    threshold: f64,
    n: u32,
    m: u32,
    treatment: usize,
    statistic: usize,
    adjustment: usize,
    /// Width of the first step; 0 for a single open step.
    width: u32,
    first: i32,
    second: i32,
    min_magnitude: Option<u32>,
    cooldown: u32,
    aggregation: usize,
}

/// A generated policy.
#[derive(Debug, Clone)]
enum PolicyGen {
    Tracking(Tracking),
    Stepping(Stepping),
}

/// A generated `rate(..)` scheduled action.
#[derive(Debug, Clone)]
struct ActionGen {
    minutes: u32,
    min: Option<u32>,
    max: Option<u32>,
}

/// A generated policy set.
#[derive(Debug, Clone)]
struct SetGen {
    min: u32,
    max: u32,
    suspended: [bool; 3],
    periods: [u32; METRICS],
    policies: Vec<PolicyGen>,
    actions: Vec<ActionGen>,
    per_policy_cooldowns: bool,
    scale_in_blocked_during_scale_out_cooldown: bool,
    reinvocation: u32,
}

/// One step of a trace: time passes, samples arrive, the capacity is observed.
#[derive(Debug, Clone)]
struct TraceStep {
    advance: i64,
    samples: [Option<f64>; METRICS],
    /// The observed capacity; `None`: the previous decision.
    capacity: Option<u32>,
    scale_in_blocked: bool,
}

fn tracking() -> impl Strategy<Value = Tracking> {
    (
        0..METRICS,
        1.0..100.0f64,
        any::<bool>(),
        0..STATISTICS.len(),
        prop::sample::select(vec![0u32, 60, 300]),
        prop::sample::select(vec![0u32, 60, 300]),
        any::<bool>(),
    )
        .prop_map(
            |(metric, target, per_task, statistic, out, inn, disable)| Tracking {
                metric,
                target: target.round(),
                per_task,
                statistic,
                scale_out_cooldown: out,
                scale_in_cooldown: inn,
                disable_scale_in: disable,
            },
        )
}

fn stepping() -> impl Strategy<Value = Stepping> {
    (
        (
            0..METRICS,
            0..OPERATORS.len(),
            0.0..150.0f64,
            1..4u32,
            0..TREATMENTS.len(),
            0..STATISTICS.len(),
        ),
        (
            0..ADJUSTMENTS.len(),
            0..30u32,
            -8..8i32,
            -80..300i32,
            prop::option::of(1..4u32),
            prop::sample::select(vec![0u32, 60, 300]),
            0..AGGREGATIONS.len(),
        ),
    )
        .prop_flat_map(|(alarm, step)| {
            let n = alarm.3;
            (Just(alarm), Just(step), 1..=n)
        })
        .prop_map(
            |(
                (metric, operator, threshold, n, treatment, statistic),
                (adjustment, width, first, second, min_magnitude, cooldown, aggregation),
                m,
            )| Stepping {
                metric,
                operator,
                threshold: threshold.round(),
                n,
                m,
                treatment,
                statistic,
                adjustment,
                width,
                first,
                second,
                min_magnitude,
                cooldown,
                aggregation,
            },
        )
}

fn policy() -> impl Strategy<Value = PolicyGen> {
    prop_oneof![
        tracking().prop_map(PolicyGen::Tracking),
        stepping().prop_map(PolicyGen::Stepping),
    ]
}

fn action() -> impl Strategy<Value = ActionGen> {
    (
        1..40u32,
        prop::option::of(0..8u32),
        prop::option::of(4..30u32),
    )
        .prop_filter_map("an action sets a bound", |(minutes, min, max)| {
            let max = match (min, max) {
                (None, None) => return None,
                (Some(min), Some(max)) => Some(max.max(min)),
                (_, max) => max,
            };
            Some(ActionGen { minutes, min, max })
        })
}

fn policy_set() -> impl Strategy<Value = SetGen> {
    (
        (0..6u32, 0..30u32),
        prop::array::uniform3(prop::bool::weighted(0.25)),
        prop::array::uniform2(prop::sample::select(vec![10u32, 20, 30, 60, 120])),
        prop::collection::vec(policy(), 1..5),
        prop::collection::vec(action(), 0..3),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![30u32, 60, 120]),
    )
        .prop_map(
            |(
                (min, span),
                suspended,
                periods,
                policies,
                actions,
                per_policy,
                blocked,
                reinvocation,
            )| {
                SetGen {
                    min,
                    max: min + span,
                    suspended,
                    periods,
                    policies,
                    actions,
                    per_policy_cooldowns: per_policy,
                    scale_in_blocked_during_scale_out_cooldown: blocked,
                    reinvocation,
                }
            },
        )
}

fn trace_step(with_data: bool) -> impl Strategy<Value = TraceStep> {
    let sample = if with_data {
        prop::option::weighted(0.85, 0.0..200.0f64).boxed()
    } else {
        Just(None).boxed()
    };
    (
        prop::sample::select(vec![1i64, 10, 20, 30, 60, 60, 60, 90, 150]),
        prop::array::uniform2(sample),
        prop::option::weighted(0.3, 0..60u32),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(advance, samples, capacity, scale_in_blocked)| TraceStep {
            advance,
            samples,
            capacity,
            scale_in_blocked,
        })
}

fn trace(with_data: bool) -> impl Strategy<Value = Vec<TraceStep>> {
    prop::collection::vec(trace_step(with_data), 1..50)
}

/// The YAML document of a generated policy set.
fn document(set: &SetGen) -> String {
    let mut y = String::new();
    let [scale_in, scale_out, scheduled] = set.suspended;
    let _ = writeln!(
        y,
        "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\nmetadata: {{name: prop}}\n\
         spec:\n  scalableTarget: {{minCapacity: {}, maxCapacity: {}, suspendedState: \
         {{dynamicScalingInSuspended: {scale_in}, dynamicScalingOutSuspended: {scale_out}, \
         scheduledScalingSuspended: {scheduled}}}}}",
        set.min, set.max
    );
    y.push_str("  metrics:\n");
    for (i, period) in set.periods.iter().enumerate() {
        let _ = writeln!(y, "    m{i}: {{push: {{period: {period}}}}}");
    }
    let has_alarms = set
        .policies
        .iter()
        .any(|p| matches!(p, PolicyGen::Stepping(_)));
    y.push_str(if has_alarms {
        "  alarms:\n"
    } else {
        "  alarms: {}\n"
    });
    for (i, policy) in set.policies.iter().enumerate() {
        if let PolicyGen::Stepping(s) = policy {
            let _ = writeln!(
                y,
                "    a{i}: {{metric: m{}, comparisonOperator: {}, threshold: {}, \
                 evaluationPeriods: {}, datapointsToAlarm: {}, treatMissingData: {}, statistic: {}}}",
                s.metric,
                OPERATORS[s.operator],
                s.threshold,
                s.n,
                s.m,
                TREATMENTS[s.treatment],
                STATISTICS[s.statistic]
            );
        }
    }
    y.push_str("  policies:\n");
    for (i, policy) in set.policies.iter().enumerate() {
        match policy {
            PolicyGen::Tracking(t) => {
                let _ = writeln!(
                    y,
                    "  - policyName: p{i}\n    targetTracking: {{metric: m{}, targetValue: {}, \
                     perTask: {}, statistic: {}, scaleOutCooldown: {}, scaleInCooldown: {}, \
                     disableScaleIn: {}}}",
                    t.metric,
                    t.target,
                    t.per_task,
                    STATISTICS[t.statistic],
                    t.scale_out_cooldown,
                    t.scale_in_cooldown,
                    t.disable_scale_in
                );
            }
            PolicyGen::Stepping(s) => {
                let adjustment = ADJUSTMENTS[s.adjustment];
                let fix = |a: i32| if s.adjustment == 2 { a.abs() } else { a };
                let above = s.operator < 2;
                let steps = match (above, s.width) {
                    (true, 0) => format!(
                        "{{metricIntervalLowerBound: 0, scalingAdjustment: {}}}",
                        fix(s.first)
                    ),
                    (false, 0) => format!(
                        "{{metricIntervalUpperBound: 0, scalingAdjustment: {}}}",
                        fix(s.first)
                    ),
                    (true, w) => format!(
                        "{{metricIntervalLowerBound: 0, metricIntervalUpperBound: {w}, \
                         scalingAdjustment: {}}}, {{metricIntervalLowerBound: {w}, \
                         scalingAdjustment: {}}}",
                        fix(s.first),
                        fix(s.second)
                    ),
                    (false, w) => format!(
                        "{{metricIntervalLowerBound: -{w}, metricIntervalUpperBound: 0, \
                         scalingAdjustment: {}}}, {{metricIntervalUpperBound: -{w}, \
                         scalingAdjustment: {}}}",
                        fix(s.first),
                        fix(s.second)
                    ),
                };
                let magnitude = match s.min_magnitude {
                    Some(m) if s.adjustment == 1 => format!(", minAdjustmentMagnitude: {m}"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    y,
                    "  - policyName: p{i}\n    stepScaling: {{alarm: a{i}, adjustmentType: \
                     {adjustment}, cooldown: {}, metricAggregationType: {}, stepAdjustments: \
                     [{steps}]{magnitude}}}",
                    s.cooldown, AGGREGATIONS[s.aggregation]
                );
            }
        }
    }
    if !set.actions.is_empty() {
        y.push_str("  scheduledActions:\n");
        for (i, action) in set.actions.iter().enumerate() {
            let mut bounds = Vec::new();
            if let Some(min) = action.min {
                bounds.push(format!("minCapacity: {min}"));
            }
            if let Some(max) = action.max {
                bounds.push(format!("maxCapacity: {max}"));
            }
            let _ = writeln!(
                y,
                "  - scheduledActionName: s{i}\n    schedule: rate({} minutes)\n    \
                 scalableTargetAction: {{{}}}",
                action.minutes,
                bounds.join(", ")
            );
        }
    }
    let _ = writeln!(
        y,
        "  behavior: {{cooldownScope: {}, scaleInBlockedDuringScaleOutCooldown: {}, \
         reinvocationIntervalSeconds: {}}}",
        if set.per_policy_cooldowns {
            "PerPolicy"
        } else {
            "PerTarget"
        },
        set.scale_in_blocked_during_scale_out_cooldown,
        set.reinvocation
    );
    y
}

/// `unix` seconds as a time.
fn time(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).expect("time in range")
}

/// Compiles a generated policy set (every generated set is valid).
fn compile(set: &SetGen) -> CompiledPolicySet {
    let yaml = document(set);
    load_str(&yaml, "prop").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// What one evaluation of a trace step saw and decided.
struct Observed {
    capacity: u32,
    desired: u32,
    min: u32,
    max: u32,
}

/// Runs `trace` over `set`, checking determinism at every step, and returns every evaluation.
fn run(set: &CompiledPolicySet, trace: &[TraceStep]) -> Result<Vec<Observed>, TestCaseError> {
    let mut histories: Vec<MetricHistory> = set.metrics.iter().map(engine::history_for).collect();
    let mut capacity = 5;
    let mut now = T0;
    let mut state = EngineState::new(set, capacity, time(now));
    let mut observed = Vec::with_capacity(trace.len());
    for step in trace {
        if let Some(c) = step.capacity {
            capacity = c;
        }
        for (metric, sample) in step.samples.iter().enumerate() {
            if let Some(value) = sample {
                histories[metric].record(now, *value, capacity);
            }
        }
        now += step.advance;
        let inputs = Inputs {
            capacity,
            scale_in_blocked: step.scale_in_blocked,
            histories: &histories,
        };
        let mut twin = state.clone();
        let decision = engine::evaluate(set, &inputs, &mut state, time(now)).clone();
        let again = engine::evaluate(set, &inputs, &mut twin, time(now)).clone();
        prop_assert_eq!(&decision, &again, "same inputs, same decision");
        prop_assert_eq!(state.alarm_states(), twin.alarm_states());
        prop_assert_eq!(state.bounds(), twin.bounds());
        observed.push(Observed {
            capacity,
            desired: decision.desired,
            min: decision.min,
            max: decision.max,
        });
        capacity = decision.desired;
    }
    Ok(observed)
}

proptest! {
    // Moderate case counts keep the file at a few seconds in debug builds; failures are not
    // persisted to files (shrunk inputs are printed).
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the policies, data and capacity, the decision is within the bounds in force.
    #[test]
    fn decision_always_within_min_and_max(set in policy_set(), trace in trace(true)) {
        let compiled = compile(&set);
        for o in run(&compiled, &trace)? {
            prop_assert!(o.min <= o.max, "bounds {}..{}", o.min, o.max);
            prop_assert!(
                (o.min..=o.max).contains(&o.desired),
                "desired {} outside {}..{}", o.desired, o.min, o.max
            );
        }
    }

    /// A suspended direction of dynamic scaling never moves the capacity (beyond the bounds).
    #[test]
    fn suspended_direction_never_moves(
        mut set in policy_set(),
        trace in trace(true),
        out_suspended in any::<bool>(),
    ) {
        set.suspended[0] = !out_suspended;
        set.suspended[1] = out_suspended;
        let compiled = compile(&set);
        for o in run(&compiled, &trace)? {
            let clamped = o.capacity.clamp(o.min, o.max);
            if out_suspended {
                prop_assert!(o.desired <= clamped, "scale-out suspended: {} -> {}", clamped, o.desired);
            } else {
                prop_assert!(o.desired >= clamped, "scale-in suspended: {} -> {}", clamped, o.desired);
            }
        }
    }

    /// Without any datapoint no policy acts: the decision is the capacity moved into bounds.
    #[test]
    fn no_data_never_scales(set in policy_set(), trace in trace(false)) {
        let compiled = compile(&set);
        for o in run(&compiled, &trace)? {
            prop_assert_eq!(o.desired, o.capacity.clamp(o.min, o.max));
        }
    }
}
