//! Combining the proposals of several policies (spec B.4).
//!
//! - Scale out if any policy wants to; the largest capacity wins.
//! - Otherwise scale in, to the largest capacity proposed. Among target tracking policies,
//!   "Application Auto Scaling scales in only if all target tracking policies with scale-in
//!   enabled are ready to scale in" (user guide, target tracking, "Multiple scaling policies"): a
//!   target tracking scale-in needs every target tracking policy with scale-in enabled to want to
//!   scale in. A step scaling scale-in is not held back by them: "if the step scaling policy
//!   initiates a scale-in activity before the target tracking policy is ready to scale in, the
//!   scale-in activity will not be blocked" (API reference, PutScalingPolicy).
//!
//! The winner starts the cooldown of its direction, with its own cooldown length; the one
//! exception is target tracking's first task from zero, which starts none (spec B.3).

use super::EngineState;
use super::reason::{Direction, Outcome};
use crate::policy::compiled::{CompiledPolicySet, PolicyKind};

/// Combines the proposals recorded in `state`'s decision and returns the new capacity
/// (before clamping); marks the winner and records its cooldown.
pub fn combine(set: &CompiledPolicySet, state: &mut EngineState, t: i64, base: i64) -> i64 {
    if let Some((index, capacity)) = largest(state, Direction::Out) {
        return apply(set, state, index, capacity, Direction::Out, t, base);
    }
    if let Some(by) = first_not_wanting_scale_in(set, state) {
        for reason in &mut state.decision.reasons {
            let is_target_tracking = matches!(
                set.policies[reason.policy as usize].kind,
                PolicyKind::TargetTracking(_)
            );
            if is_target_tracking && matches!(reason.outcome, Outcome::ScaleIn { .. }) {
                reason.outcome = Outcome::ScaleInVetoed { by: by as u32 };
            }
        }
    }
    match largest(state, Direction::In) {
        Some((index, capacity)) => apply(set, state, index, capacity, Direction::In, t, base),
        None => base,
    }
}

/// The reason index and capacity of the largest proposal in `direction`.
fn largest(state: &EngineState, direction: Direction) -> Option<(usize, i64)> {
    let mut best: Option<(usize, i64)> = None;
    for (i, reason) in state.decision.reasons.iter().enumerate() {
        let capacity = match (reason.outcome, direction) {
            (Outcome::ScaleOut { capacity, .. }, Direction::Out)
            | (Outcome::ScaleIn { capacity, .. }, Direction::In) => capacity,
            _ => continue,
        };
        if best.is_none_or(|(_, c)| capacity > c) {
            best = Some((i, capacity));
        }
    }
    best
}

/// The first target tracking policy with scale-in enabled that does not want to scale in.
fn first_not_wanting_scale_in(set: &CompiledPolicySet, state: &EngineState) -> Option<usize> {
    set.policies
        .iter()
        .enumerate()
        .position(|(i, policy)| match &policy.kind {
            PolicyKind::TargetTracking(tt) => !tt.disable_scale_in && !state.wants_scale_in[i],
            _ => false,
        })
}

fn apply(
    set: &CompiledPolicySet,
    state: &mut EngineState,
    reason_index: usize,
    capacity: i64,
    direction: Direction,
    t: i64,
    base: i64,
) -> i64 {
    let reason = &mut state.decision.reasons[reason_index];
    reason.applied = true;
    let policy = reason.policy as usize;
    let seconds = match (&set.policies[policy].kind, direction) {
        (PolicyKind::StepScaling(step), _) => step.cooldown,
        (PolicyKind::TargetTracking(tt), Direction::Out) => tt.scale_out_cooldown,
        (PolicyKind::TargetTracking(tt), Direction::In) => tt.scale_in_cooldown,
    };
    let index = state.clock_index(policy);
    let clock = &mut state.clocks[index];
    let bootstrap = base == 0
        && direction == Direction::Out
        && matches!(set.policies[policy].kind, PolicyKind::TargetTracking(_));
    match direction {
        // Target tracking's first task from zero starts no cooldown: ECS then continues from
        // that task as usual (spec B.3), instead of waiting a whole cooldown for the real size.
        Direction::Out if bootstrap => clock.end_scale_in_cooldown(),
        Direction::Out => {
            clock.record_scale_out(t, base, seconds);
            clock.started_by(policy, true);
        }
        Direction::In => {
            clock.record_scale_in(t, seconds);
            clock.started_by(policy, false);
        }
    }
    capacity
}
