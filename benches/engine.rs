//! Benchmarks of one engine evaluation.
//!
//! - `evaluate/tt+step+scheduled`: a target tracking policy, a step policy and a scheduled
//!   action (not due), with the alarms in ALARM so that both policies run their whole path;
//! - `evaluate/10-policies`: five target tracking and five step policies over five metrics.
//!
//! Setup (compiling the set, filling the histories, warming the state up) is outside the timed
//! part; each timed evaluation starts from a copy of the same warmed-up state, at a time when
//! every policy is due to be invoked.

use std::fmt::Write as _;
use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ecs_scaler::engine::history::MetricHistory;
use ecs_scaler::engine::{self, EngineState, Inputs};
use ecs_scaler::policy::compiled::CompiledPolicySet;
use ecs_scaler::policy::load::load_str;

/// A target tracking policy, a step policy and a daily scheduled action.
const THREE_PART_SET: &str = include_str!("../tests/data/three-policies.yaml");

/// 2025-01-01T00:00:00Z.
const T0: i64 = 1_735_689_600;

/// `unix` seconds as a time.
fn time(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).expect("time in range")
}

/// Five metrics, each with a target tracking policy and a step policy on its own alarm.
fn ten_policy_set() -> String {
    let mut y = String::from(
        "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\nmetadata: {name: ten}\n\
         spec:\n  scalableTarget: {minCapacity: 1, maxCapacity: 1000}\n  metrics:\n",
    );
    for i in 0..5 {
        let _ = writeln!(y, "    m{i}: {{push: {{period: 60}}}}");
    }
    y.push_str("  alarms:\n");
    for i in 0..5 {
        let _ = writeln!(
            y,
            "    a{i}: {{metric: m{i}, comparisonOperator: GreaterThanThreshold, threshold: 60, \
             evaluationPeriods: 5, datapointsToAlarm: 3}}"
        );
    }
    y.push_str("  policies:\n");
    for i in 0..5 {
        let _ = writeln!(
            y,
            "  - policyName: tt{i}\n    targetTracking: {{metric: m{i}, targetValue: {}}}",
            40 + i * 5
        );
        let _ = writeln!(
            y,
            "  - policyName: step{i}\n    stepScaling: {{alarm: a{i}, adjustmentType: \
             ChangeInCapacity, cooldown: 300, stepAdjustments: [\
             {{metricIntervalLowerBound: 0, metricIntervalUpperBound: 20, scalingAdjustment: 1}}, \
             {{metricIntervalLowerBound: 20, scalingAdjustment: {}}}]}}",
            2 + i
        );
    }
    y.push_str(
        "  scheduledActions:\n  - scheduledActionName: morning\n    \
         schedule: cron(0 8 * * ? *)\n    scalableTargetAction: {minCapacity: 5}\n",
    );
    y
}

/// A compiled set with histories full of high values and a state warmed up over 20 minutes,
/// and the time of the next evaluation.
struct Fixture {
    set: CompiledPolicySet,
    histories: Vec<MetricHistory>,
    state: EngineState,
    now: DateTime<Utc>,
}

/// The capacity observed by every evaluation (the workload does not follow, so every policy
/// keeps asking for more).
const CAPACITY: u32 = 10;

impl Fixture {
    /// Compiles `yaml` and feeds every metric `value` every minute for 20 minutes.
    fn new(yaml: &str, value: f64) -> Self {
        let set = load_str(yaml, "bench").expect("valid policy set");
        let mut histories: Vec<MetricHistory> =
            set.metrics.iter().map(engine::history_for).collect();
        let mut state = EngineState::new(&set, CAPACITY, time(T0));
        let mut now = T0;
        for _ in 0..20 {
            for history in &mut histories {
                history.record(now, value, CAPACITY);
            }
            now += 60;
            let inputs = Inputs {
                capacity: CAPACITY,
                scale_in_blocked: false,
                histories: &histories,
            };
            engine::evaluate(&set, &inputs, &mut state, time(now));
        }
        for history in &mut histories {
            history.record(now, value, CAPACITY);
        }
        Self {
            set,
            histories,
            state,
            now: time(now + 60),
        }
    }

    /// Benchmarks one evaluation from a copy of the warmed-up state.
    fn bench(&self, c: &mut Criterion, name: &str) {
        let inputs = Inputs {
            capacity: CAPACITY,
            scale_in_blocked: false,
            histories: &self.histories,
        };
        // Every policy acts in the measured evaluation.
        let mut probe = self.state.clone();
        let decision = engine::evaluate(&self.set, &inputs, &mut probe, self.now);
        assert!(decision.desired > CAPACITY, "{decision:?}");
        c.bench_function(name, |b| {
            b.iter_batched_ref(
                || self.state.clone(),
                |state| {
                    engine::evaluate(
                        black_box(&self.set),
                        black_box(&inputs),
                        state,
                        black_box(self.now),
                    )
                    .desired
                },
                BatchSize::SmallInput,
            )
        });
    }
}

/// The benchmark group.
fn evaluate(c: &mut Criterion) {
    Fixture::new(THREE_PART_SET, 250.0).bench(c, "evaluate/tt+step+scheduled");
    Fixture::new(&ten_policy_set(), 90.0).bench(c, "evaluate/10-policies");
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
