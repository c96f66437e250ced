//! What one policy wants at one evaluation (spec B.1-B.3, B.6).
//!
//! A policy acts only while its alarm is in ALARM (step scaling) or one of its two implicit
//! alarms is (target tracking), at most once per re-invocation interval. What it computes then
//! goes through the same gate for both policy types:
//! - scale-out: suspended? in a scale-out cooldown, recomputed from `C0` and kept only if larger
//!   than the current capacity; already at the maximum?
//! - scale-in: suspended? rollout in progress? scale-in cooldown? scale-out cooldown (setting)?
//!   already at the minimum?

use super::alarm::AlarmState;
use super::reason::{Direction, Outcome, PolicyReason};
use super::target_tracking::{desired_capacity, desired_capacity_per_task};
use super::{EngineState, Inputs, step};
use crate::policy::compiled::{CompiledPolicySet, PolicyKind, StepScaling, TargetTracking};

/// The outcome of policy `index` at `t` (Unix seconds), from capacity `base`.
pub fn propose(
    set: &CompiledPolicySet,
    inputs: &Inputs<'_>,
    state: &mut EngineState,
    index: usize,
    t: i64,
    base: i64,
) -> PolicyReason {
    let outcome = match &set.policies[index].kind {
        PolicyKind::StepScaling(policy) => step_outcome(set, inputs, state, index, policy, t, base),
        PolicyKind::TargetTracking(policy) => {
            target_tracking_outcome(set, inputs, state, index, policy, t, base)
        }
    };
    PolicyReason {
        policy: index as u32,
        outcome,
        applied: false,
    }
}

fn step_outcome(
    set: &CompiledPolicySet,
    inputs: &Inputs<'_>,
    state: &mut EngineState,
    index: usize,
    policy: &StepScaling,
    t: i64,
    base: i64,
) -> Outcome {
    state.wants_scale_in[index] = false;
    match state.alarms[policy.alarm] {
        AlarmState::InsufficientData => {
            return not_invoked(state, index, Outcome::InsufficientData);
        }
        AlarmState::Ok => return not_invoked(state, index, Outcome::AlarmOk),
        AlarmState::Alarm => {}
    }
    if let Some(next_at) = reinvocation_wait(set, state, index, t) {
        return Outcome::WaitingForReinvocation { next_at };
    }
    let alarm = &set.alarms[policy.alarm];
    // The datapoints the alarm evaluated: its newest real ones within its evaluation range.
    let datapoints = super::alarm::evaluated_periods(alarm, &inputs.histories[alarm.metric], t)
        .map(|period| period.value(alarm.statistic, alarm.per_task));
    let Some(value) = step::aggregate(datapoints, policy.aggregation) else {
        // In ALARM only through missing data treated as breaching: nothing to measure.
        return Outcome::InsufficientData;
    };
    let distance = value - alarm.threshold;
    let Some(selected) = step::select_step(&policy.steps, distance, alarm.operator) else {
        return Outcome::NoStepMatched { distance };
    };
    state.last_invoked[index] = Some(t);
    let on_scale_in = set.behavior.min_adjustment_magnitude_on_scale_in;
    let compute = |from: i64| {
        step::adjusted_capacity(
            policy.adjustment_type,
            selected.adjustment,
            from,
            policy.min_adjustment_magnitude,
            on_scale_in,
        )
    };
    gate(
        set,
        inputs,
        state,
        index,
        t,
        base,
        None,
        Some(selected.index as u32),
        compute,
    )
}

fn target_tracking_outcome(
    set: &CompiledPolicySet,
    inputs: &Inputs<'_>,
    state: &mut EngineState,
    index: usize,
    policy: &TargetTracking,
    t: i64,
    base: i64,
) -> Outcome {
    let latest = inputs.histories[policy.metric].latest_complete(t).copied();
    let compute = |from: i64| match latest {
        Some(period) if policy.per_task => desired_capacity_per_task(
            from,
            period.statistic(policy.statistic),
            policy.target_value,
        ),
        Some(period) => desired_capacity(
            from,
            period.value(policy.statistic, false),
            policy.target_value,
        ),
        None => from,
    };
    let high = state.alarms[policy.high_alarm];
    let low = state.alarms[policy.low_alarm];
    state.wants_scale_in[index] =
        !policy.disable_scale_in && low == AlarmState::Alarm && compute(base) < base;

    let direction = match (high, low) {
        (AlarmState::Alarm, _) => Direction::Out,
        (_, AlarmState::Alarm) => Direction::In,
        (AlarmState::InsufficientData, AlarmState::InsufficientData) => {
            return not_invoked(state, index, Outcome::InsufficientData);
        }
        _ => return not_invoked(state, index, Outcome::AlarmOk),
    };
    let Some(period) = latest else {
        return not_invoked(state, index, Outcome::InsufficientData);
    };
    if direction == Direction::Out {
        let value = period.value(policy.statistic, policy.per_task);
        if value <= policy.target_value {
            return Outcome::AtOrBelowTarget { value };
        }
    } else if policy.disable_scale_in {
        return Outcome::ScaleInDisabled;
    }
    if let Some(next_at) = reinvocation_wait(set, state, index, t) {
        return Outcome::WaitingForReinvocation { next_at };
    }
    state.last_invoked[index] = Some(t);
    gate(
        set,
        inputs,
        state,
        index,
        t,
        base,
        Some(direction),
        None,
        compute,
    )
}

/// Resets the re-invocation clock of a policy whose alarms left ALARM.
fn not_invoked(state: &mut EngineState, index: usize, outcome: Outcome) -> Outcome {
    state.last_invoked[index] = None;
    outcome
}

/// When a policy still in ALARM may act again, if that is after `t`.
fn reinvocation_wait(
    set: &CompiledPolicySet,
    state: &EngineState,
    index: usize,
    t: i64,
) -> Option<i64> {
    let next_at =
        state.last_invoked[index]? + i64::from(set.behavior.reinvocation_interval_seconds);
    (t < next_at).then_some(next_at)
}

/// Applies suspension, rollout, cooldown and bound rules to the capacity `compute(base)`.
///
/// `compute` maps a starting capacity to the policy's new capacity, so that a scale-out during a
/// cooldown can be recomputed from `C0`. `allowed` restricts the direction (target tracking's
/// high alarm only scales out, its low alarm only scales in).
#[allow(clippy::too_many_arguments)] // the evaluation context, passed by reference
fn gate(
    set: &CompiledPolicySet,
    inputs: &Inputs<'_>,
    state: &EngineState,
    index: usize,
    t: i64,
    base: i64,
    allowed: Option<Direction>,
    step: Option<u32>,
    compute: impl Fn(i64) -> i64,
) -> Outcome {
    let capacity = compute(base);
    let (min, max) = (i64::from(state.min), i64::from(state.max));
    let clock = state.clocks[state.clock_index(index)];
    let direction = if capacity > base {
        Direction::Out
    } else if capacity < base {
        Direction::In
    } else {
        return Outcome::NoChange { capacity };
    };
    if allowed.is_some_and(|allowed| allowed != direction) {
        return Outcome::NoChange { capacity: base };
    }
    match direction {
        Direction::Out => {
            if set.suspended.dynamic_scaling_out_suspended {
                return Outcome::Suspended { direction };
            }
            let capacity = match clock.scale_out(t) {
                Some(cooldown) => {
                    let from_base = compute(cooldown.base);
                    if from_base <= base {
                        return Outcome::ScaleOutCooldown {
                            until: cooldown.until,
                            capacity: from_base,
                        };
                    }
                    from_base
                }
                None => capacity,
            };
            if capacity.min(max) <= base {
                return Outcome::AtMaximum { capacity };
            }
            Outcome::ScaleOut { step, capacity }
        }
        Direction::In => {
            if set.suspended.dynamic_scaling_in_suspended {
                return Outcome::Suspended { direction };
            }
            if inputs.scale_in_blocked {
                return Outcome::RolloutInProgress;
            }
            if let Some(until) = clock.scale_in_until(t) {
                return Outcome::ScaleInCooldown { until };
            }
            if set.behavior.scale_in_blocked_during_scale_out_cooldown
                && let Some(cooldown) = clock.scale_out(t)
            {
                return Outcome::ScaleInBlockedByScaleOutCooldown {
                    until: cooldown.until,
                };
            }
            if capacity.max(min) >= base {
                return Outcome::AtMinimum { capacity };
            }
            Outcome::ScaleIn { step, capacity }
        }
    }
}
