//! A small driver for whole-evaluation tests: a compiled policy set, its metric histories, the
//! engine state and a clock, plus builders for the YAML of policy sets.

use chrono::{DateTime, Utc};

use crate::engine::alarm::AlarmState;
use crate::engine::carry::same_metric;
use crate::engine::history::MetricHistory;
use crate::engine::reason::Outcome;
use crate::engine::{self, Decision, EngineState, Inputs};
use crate::policy::compiled::CompiledPolicySet;
use crate::policy::load::load_str;

/// 2025-01-01T00:00:00Z (a Wednesday): the start of every test, aligned to every period.
pub const T0: i64 = 1_735_689_600;

/// One period of the test metrics, seconds.
pub const MINUTE: i64 = 60;

/// `unix` seconds as a time.
pub fn time(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).expect("time in range")
}

/// Removes the indentation common to the non-blank lines of `text`.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|line| line.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A whole `ScalingPolicySet` document whose `spec` is made of `parts` (each a YAML fragment at
/// any indentation, dedented and placed under `spec:`).
pub fn document(parts: &[&str]) -> String {
    let mut text = String::from(
        "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\nmetadata: {name: test}\nspec:\n",
    );
    for part in parts {
        for line in dedent(part).lines() {
            if !line.is_empty() {
                text.push_str("  ");
                text.push_str(line);
            }
            text.push('\n');
        }
    }
    text
}

/// `spec.scalableTarget` with `min` and `max` and no suspension.
pub fn target(min: u32, max: u32) -> String {
    format!("scalableTarget: {{minCapacity: {min}, maxCapacity: {max}}}")
}

/// `spec.scalableTarget` with `min`, `max` and the `suspendedState` flow mapping `suspended`.
pub fn suspended_target(min: u32, max: u32, suspended: &str) -> String {
    format!(
        "scalableTarget: {{minCapacity: {min}, maxCapacity: {max}, suspendedState: {{{suspended}}}}}"
    )
}

/// Metric `cpu` (60 s) with alarm `high` (`cpu >= 50`) and alarm `low` (`cpu <= 30`), each
/// evaluating one period.
pub const CPU: &str = "
    metrics:
      cpu: {push: {period: 60}}
    alarms:
      high: {metric: cpu, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 50, evaluationPeriods: 1}
      low: {metric: cpu, comparisonOperator: LessThanOrEqualToThreshold, threshold: 30, evaluationPeriods: 1}
";

/// [`CPU`] plus metric `mem` (60 s) with alarms `mem_high` (`mem >= 50`) and `mem_low`
/// (`mem <= 30`).
pub const CPU_MEM: &str = "
    metrics:
      cpu: {push: {period: 60}}
      mem: {push: {period: 60}}
    alarms:
      high: {metric: cpu, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 50, evaluationPeriods: 1}
      low: {metric: cpu, comparisonOperator: LessThanOrEqualToThreshold, threshold: 30, evaluationPeriods: 1}
      mem_high: {metric: mem, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 50, evaluationPeriods: 1}
      mem_low: {metric: mem, comparisonOperator: LessThanOrEqualToThreshold, threshold: 30, evaluationPeriods: 1}
";

/// `spec.policies` made of `policies` (each from [`step`] or [`tracking`]).
pub fn policies(policies: &[String]) -> String {
    let mut text = String::from("policies:\n");
    for policy in policies {
        text.push_str(policy);
    }
    text
}

/// A step scaling policy `name` on `alarm` with `adjustment` type, `cooldown` seconds, the flow
/// mappings `steps` as its step adjustments, and `extra` (`, key: value` pairs) appended.
pub fn step(
    name: &str,
    alarm: &str,
    adjustment: &str,
    cooldown: u32,
    steps: &str,
    extra: &str,
) -> String {
    format!(
        "- policyName: {name}\n  stepScaling: {{alarm: {alarm}, adjustmentType: {adjustment}, \
         cooldown: {cooldown}, stepAdjustments: [{steps}]{extra}}}\n"
    )
}

/// A target tracking policy `name` keeping `metric` at `target`, with `extra` (`, key: value`
/// pairs) appended.
pub fn tracking(name: &str, metric: &str, target: f64, extra: &str) -> String {
    format!(
        "- policyName: {name}\n  targetTracking: {{metric: {metric}, targetValue: {target}{extra}}}\n"
    )
}

/// The steps `[0, +inf)` by `adjustment`: one scale-out step for any breach.
pub fn any_breach_above(adjustment: i32) -> String {
    format!("{{metricIntervalLowerBound: 0, scalingAdjustment: {adjustment}}}")
}

/// The steps `(-inf, 0]` by `adjustment`: one scale-in step for any breach.
pub fn any_breach_below(adjustment: i32) -> String {
    format!("{{metricIntervalUpperBound: 0, scalingAdjustment: {adjustment}}}")
}

/// A compiled policy set with its histories, engine state, clock and the observed capacity.
pub struct Harness {
    /// The policy set under test.
    pub set: CompiledPolicySet,
    /// One history per metric of `set`.
    pub histories: Vec<MetricHistory>,
    /// The engine state.
    pub state: EngineState,
    /// The clock, Unix seconds.
    pub now: i64,
    /// The capacity the next evaluation observes (and samples are recorded with).
    pub capacity: u32,
    /// Whether a rollout blocks scale-in.
    pub scale_in_blocked: bool,
    /// Whether the capacity follows each decision, as the workload would (default true).
    pub follow: bool,
}

impl Harness {
    /// Compiles the document made of `parts` (see [`document`]) and starts at [`T0`] with
    /// `capacity`.
    pub fn new(parts: &[&str], capacity: u32) -> Self {
        Self::starting_at(parts, capacity, T0)
    }

    /// Like [`Harness::new`], starting at `now`.
    pub fn starting_at(parts: &[&str], capacity: u32, now: i64) -> Self {
        let yaml = document(parts);
        let set = load_str(&yaml, "test").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let histories = set.metrics.iter().map(engine::history_for).collect();
        let state = EngineState::new(&set, capacity, time(now));
        Self {
            set,
            histories,
            state,
            now,
            capacity,
            scale_in_blocked: false,
            follow: true,
        }
    }

    /// Replaces the policy set with the document made of `parts`, now, as a changed file
    /// does: the new version keeps the state of everything whose definition did not change
    /// (`EngineState::carry_from`) and the histories of unchanged metrics, as
    /// `controller::Runtime::carry_from` does.
    pub fn edit(&mut self, parts: &[&str]) {
        let yaml = document(parts);
        let set = load_str(&yaml, "test").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let mut state = EngineState::new(&set, self.capacity, time(self.now));
        state.carry_from(&set, &self.set, &self.state);
        let histories = set
            .metrics
            .iter()
            .map(|metric| {
                let mut history = engine::history_for(metric);
                let old = self.set.metrics.iter().position(|o| same_metric(o, metric));
                if let Some(old) = old {
                    history.carry_from(&self.histories[old]);
                }
                history
            })
            .collect();
        self.set = set;
        self.state = state;
        self.histories = histories;
    }

    /// Index of metric `name`.
    pub fn metric(&self, name: &str) -> usize {
        self.set
            .metrics
            .iter()
            .position(|m| m.name == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// Records `value` for `metric` now, with the current capacity.
    pub fn push(&mut self, metric: &str, value: f64) {
        let index = self.metric(metric);
        assert!(self.histories[index].record(self.now, value, self.capacity));
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&mut self, seconds: i64) {
        self.now += seconds;
    }

    /// Evaluates now; returns the desired capacity (which the capacity then follows if
    /// `follow` is set).
    pub fn evaluate(&mut self) -> u32 {
        let inputs = Inputs {
            capacity: self.capacity,
            scale_in_blocked: self.scale_in_blocked,
            histories: &self.histories,
        };
        let desired = engine::evaluate(&self.set, &inputs, &mut self.state, time(self.now)).desired;
        if self.follow {
            self.capacity = desired;
        }
        desired
    }

    /// Records `samples` (metric, value) now, lets the period end and evaluates.
    pub fn minute(&mut self, samples: &[(&str, f64)]) -> u32 {
        for (metric, value) in samples {
            self.push(metric, *value);
        }
        self.advance(MINUTE);
        self.evaluate()
    }

    /// [`Harness::minute`] with one sample of `metric`.
    pub fn tick(&mut self, metric: &str, value: f64) -> u32 {
        self.minute(&[(metric, value)])
    }

    /// `count` ticks of `metric` at `value`; returns the desired capacity after each.
    pub fn ticks(&mut self, metric: &str, value: f64, count: usize) -> Vec<u32> {
        (0..count).map(|_| self.tick(metric, value)).collect()
    }

    /// The latest decision.
    pub fn decision(&self) -> &Decision {
        self.state.decision()
    }

    /// The outcome of policy `index` in the latest decision.
    pub fn outcome(&self, index: usize) -> Outcome {
        self.decision().reasons[index].outcome
    }

    /// The index of the policy whose proposal was applied in the latest decision, if any.
    pub fn applied(&self) -> Option<usize> {
        self.decision().reasons.iter().position(|r| r.applied)
    }

    /// The state of the alarm called `name` (target tracking alarms are called
    /// `TargetTracking-<metric>-AlarmHigh` / `-AlarmLow`).
    pub fn alarm(&self, name: &str) -> AlarmState {
        let index = self
            .set
            .alarms
            .iter()
            .position(|a| a.name == name)
            .unwrap_or_else(|| panic!("no alarm {name}"));
        self.state.alarm_states()[index]
    }
}
