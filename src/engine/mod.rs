//! The hot path: one pure, synchronous, allocation-free evaluation of a policy set.
//!
//! [`evaluate`] reproduces one Application Auto Scaling evaluation of an ECS service at `now`
//! (spec `ecs-semantics.md` section B):
//! 1. scheduled actions that are due set the minimum and maximum capacity (B.5, B.6);
//! 2. the current capacity is moved into `[min, max]` (A.1, B.1 clamping);
//! 3. every alarm is evaluated over its metric's history (B.7);
//! 4. every policy computes what it wants, subject to suspension, rollouts and cooldowns
//!    (B.1-B.3, B.6): see [`policy`];
//! 5. the proposals are combined (B.4): see [`combine`].
//!
//! Time is a parameter and all state lives in [`EngineState`], so the same inputs always give
//! the same decision. The state's buffers are sized once, from the compiled policy set, and
//! reused: an evaluation allocates nothing (a test counts allocations). Only a scheduled action
//! that falls due searches its schedule for the next run.

pub mod alarm;
pub mod carry;
pub mod combine;
pub mod cooldown;
pub mod history;
pub mod policy;
pub mod reason;
pub mod schedule;
pub mod step;
pub mod target_tracking;

use chrono::{DateTime, Utc};

use self::alarm::AlarmState;
use self::cooldown::CooldownClock;
use self::history::MetricHistory;
use self::reason::PolicyReason;
use crate::policy::compiled::{CompiledPolicySet, MetricDef, ScheduledAction};
use crate::policy::document::CooldownScope;

/// What the engine reads besides its own state.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The current capacity (ECS: running tasks; here: the workload's replicas).
    pub capacity: u32,
    /// Scale-in is suppressed, as ECS does while a deployment rolls out.
    pub scale_in_blocked: bool,
    /// One history per metric, indexed like [`CompiledPolicySet::metrics`].
    pub histories: &'a [MetricHistory],
}

/// A scheduled action that ran during an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledRun {
    /// Index of the action.
    pub action: u32,
    /// The scheduled instant it ran for (Unix seconds).
    pub at: i64,
    /// Whether it was skipped because scheduled scaling is suspended.
    pub skipped: bool,
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The capacity observed.
    pub capacity: u32,
    /// The desired capacity D.
    pub desired: u32,
    /// The minimum capacity in force.
    pub min: u32,
    /// The maximum capacity in force.
    pub max: u32,
    /// The last scheduled action that fell due during this evaluation.
    pub scheduled: Option<ScheduledRun>,
    /// One reason per policy, in policy order.
    pub reasons: Vec<PolicyReason>,
}

/// Everything an evaluation remembers: bounds, alarm states, cooldown clocks, schedule clocks.
#[derive(Debug, Clone)]
pub struct EngineState {
    pub(crate) min: u32,
    pub(crate) max: u32,
    pub(crate) alarms: Vec<AlarmState>,
    pub(crate) last_invoked: Vec<Option<i64>>,
    pub(crate) wants_scale_in: Vec<bool>,
    pub(crate) clocks: Vec<CooldownClock>,
    next_runs: Vec<Option<DateTime<Utc>>>,
    decision: Decision,
}

impl EngineState {
    /// The state of a policy set that starts at `now` with `capacity`.
    ///
    /// The latest past run of every scheduled action is replayed in time order, so the bounds in
    /// force do not depend on when the scaler started (every replica computes the same ones).
    pub fn new(set: &CompiledPolicySet, capacity: u32, now: DateTime<Utc>) -> Self {
        let policies = set.policies.len();
        let clocks = match set.behavior.cooldown_scope {
            CooldownScope::PerTarget => 1,
            CooldownScope::PerPolicy => policies.max(1),
        };
        let mut state = Self {
            min: set.min_capacity,
            max: set.max_capacity,
            alarms: vec![AlarmState::InsufficientData; set.alarms.len()],
            last_invoked: vec![None; policies],
            wants_scale_in: vec![false; policies],
            clocks: vec![CooldownClock::default(); clocks],
            next_runs: set
                .scheduled_actions
                .iter()
                .map(|a| a.schedule.next_after(now))
                .collect(),
            decision: Decision {
                at: now,
                capacity,
                desired: capacity,
                min: set.min_capacity,
                max: set.max_capacity,
                scheduled: None,
                reasons: Vec::with_capacity(policies),
            },
        };
        if !set.suspended.scheduled_scaling_suspended {
            let mut past: Vec<(DateTime<Utc>, usize)> = set
                .scheduled_actions
                .iter()
                .enumerate()
                .filter_map(|(i, a)| a.schedule.latest_at_or_before(now).map(|at| (at, i)))
                .collect();
            past.sort();
            for (_, i) in past {
                state.apply_action(&set.scheduled_actions[i]);
            }
        }
        state.decision.min = state.min;
        state.decision.max = state.max;
        state
    }

    /// Continues the bounds in force of a previous version of the policy set, instead of the
    /// replay [`EngineState::new`] does: after an edit that leaves the scalable target's
    /// minimum and maximum as they are ([`EngineState::carry_from`]), in particular one that
    /// suspends or resumes scheduled scaling.
    ///
    /// Suspending scheduled scaling leaves the minimum and maximum as they are, and "scheduled
    /// actions that were scheduled to run during the suspension period are skipped" when
    /// scheduled scaling resumes: only actions due after the resumption run (Application Auto
    /// Scaling user guide, "Suspend and resume scaling"; spec B.6). A replay of every action's
    /// latest past run would apply the skipped ones. The schedule clocks already start after
    /// `now` ([`EngineState::new`]), so only future runs apply.
    pub fn continue_bounds(&mut self, (min, max): (u32, u32)) {
        self.min = min;
        self.max = max.max(min);
        self.decision.min = self.min;
        self.decision.max = self.max;
    }

    /// The latest decision.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// The minimum and maximum capacity in force.
    pub fn bounds(&self) -> (u32, u32) {
        (self.min, self.max)
    }

    /// The state of each alarm after the latest evaluation, indexed like
    /// [`CompiledPolicySet::alarms`].
    pub fn alarm_states(&self) -> &[AlarmState] {
        &self.alarms
    }

    /// Sets the state of a `trustState` alarm (one with [`AlarmDef::trusted`]), as CloudWatch
    /// last reported it; the engine does not evaluate such an alarm.
    ///
    /// [`AlarmDef::trusted`]: crate::policy::compiled::AlarmDef::trusted
    pub fn set_trusted_alarm_state(&mut self, alarm: usize, state: AlarmState) {
        if let Some(slot) = self.alarms.get_mut(alarm) {
            *slot = state;
        }
    }

    /// When the next scheduled action runs, if any: the controller evaluates at that instant.
    pub fn next_scheduled_run(&self) -> Option<DateTime<Utc>> {
        self.next_runs.iter().flatten().min().copied()
    }

    /// The capacity change decided at `decided` was observed at `observed`: the cooldowns it
    /// started run from `observed` (a scale target watched in a cluster).
    pub fn restart_cooldowns_when_observed(
        &mut self,
        decided: DateTime<Utc>,
        observed: DateTime<Utc>,
    ) {
        for clock in &mut self.clocks {
            clock.restart_when_observed(decided.timestamp(), observed.timestamp());
        }
    }

    pub(crate) fn clock_index(&self, policy: usize) -> usize {
        if self.clocks.len() == 1 { 0 } else { policy }
    }

    /// Sets the bounds an action carries, keeping `min <= max` (an action that raises the
    /// minimum above the maximum raises the maximum with it, and the other way round).
    fn apply_action(&mut self, action: &ScheduledAction) {
        if let Some(min) = action.min_capacity {
            self.min = min;
            if action.max_capacity.is_none() {
                self.max = self.max.max(min);
            }
        }
        if let Some(max) = action.max_capacity {
            self.max = max;
            if action.min_capacity.is_none() {
                self.min = self.min.min(max);
            }
        }
    }

    /// Runs every action due at `now`, each once for its latest due instant, in time order.
    fn run_due_actions(&mut self, set: &CompiledPolicySet, now: DateTime<Utc>) {
        loop {
            let mut earliest: Option<(DateTime<Utc>, usize)> = None;
            for (i, next) in self.next_runs.iter().enumerate() {
                if next.is_some_and(|next| next <= now) {
                    let at = set.scheduled_actions[i]
                        .schedule
                        .latest_at_or_before(now)
                        .or(*next);
                    if let Some(at) = at
                        && earliest.is_none_or(|(best, _)| at < best)
                    {
                        earliest = Some((at, i));
                    }
                }
            }
            let Some((at, i)) = earliest else { break };
            let action = &set.scheduled_actions[i];
            let skipped = set.suspended.scheduled_scaling_suspended;
            if !skipped {
                self.apply_action(action);
            }
            self.next_runs[i] = action.schedule.next_after(now);
            self.decision.scheduled = Some(ScheduledRun {
                action: i as u32,
                at: at.timestamp(),
                skipped,
            });
        }
    }
}

/// A history sized for `metric` ([`history_periods`]).
pub fn history_for(metric: &MetricDef) -> MetricHistory {
    MetricHistory::new(metric.period_seconds, history_periods(metric))
        .with_delay(metric.source.delay_seconds())
}

/// How many periods the history of `metric` keeps: its longest alarm window, the period still
/// filling, one period of slack for late datapoints, and the periods a delayed source
/// (CloudWatch) has not delivered yet.
pub fn history_periods(metric: &MetricDef) -> usize {
    let pending = metric
        .source
        .delay_seconds()
        .div_ceil(metric.period_seconds.max(1)) as usize;
    metric.history_periods + 2 + pending
}

/// The time the history of `metric` spans, in seconds.
pub fn history_window_seconds(metric: &MetricDef) -> u32 {
    u32::try_from(history_periods(metric))
        .unwrap_or(u32::MAX)
        .saturating_mul(metric.period_seconds.max(1))
}

/// Evaluates `set` at `now` and returns the decision (also kept in `state`).
pub fn evaluate<'s>(
    set: &CompiledPolicySet,
    inputs: &Inputs<'_>,
    state: &'s mut EngineState,
    now: DateTime<Utc>,
) -> &'s Decision {
    let t = now.timestamp();
    state.decision.reasons.clear();
    state.decision.scheduled = None;
    state.run_due_actions(set, now);

    let (min, max) = (i64::from(state.min), i64::from(state.max));
    let base = i64::from(inputs.capacity).clamp(min, max);

    for (i, def) in set.alarms.iter().enumerate() {
        // A `trustState` alarm keeps the state CloudWatch gave it (`set_trusted_alarm_state`).
        if def.trusted.is_none() {
            state.alarms[i] =
                alarm::evaluate(def, &inputs.histories[def.metric], t, state.alarms[i]);
        }
    }
    for index in 0..set.policies.len() {
        let reason = policy::propose(set, inputs, state, index, t, base);
        state.decision.reasons.push(reason);
    }
    let desired = combine::combine(set, state, t, base).clamp(min, max);

    let decision = &mut state.decision;
    decision.at = now;
    decision.capacity = inputs.capacity;
    decision.desired = u32::try_from(desired).unwrap_or(u32::MAX);
    decision.min = state.min;
    decision.max = state.max;
    &state.decision
}

#[cfg(test)]
mod tests;
