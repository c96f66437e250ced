//! What a new version of a policy set keeps from the version it replaces.
//!
//! On ECS a policy set is not replaced as a whole: each policy, alarm and scheduled action is
//! created or updated on its own (`PutScalingPolicy`: "Creates or updates a scaling policy for an
//! Application Auto Scaling scalable target"; `PutScheduledAction`: "Creates or updates a
//! scheduled action"; CloudWatch `PutMetricAlarm`), and editing one leaves the others, and the
//! scalable target, as they are. So a new version keeps the state of everything whose definition
//! did not change, matched by name:
//! - an alarm keeps its state when its definition (metric, statistic, operator, threshold, N,
//!   M, treatment of missing data, evaluation range) is unchanged;
//! - a policy keeps its last invocation and its scale-in wish when it is unchanged (its kind,
//!   parameters and alarms);
//! - a cooldown clock kept per policy (`cooldownScope: PerPolicy`) is kept with its policy; a
//!   clock kept per target keeps each of its two cooldowns (scale-out, scale-in) while the
//!   policy whose activity started it is unchanged: that cooldown belongs to a scaling activity
//!   which happened, and another policy's edit does not undo it; an edit of that policy itself
//!   starts over, as a new policy would;
//! - the bounds in force are kept when the scalable target's own minimum and maximum are
//!   unchanged (no past run is replayed over them); an unchanged scheduled action keeps its next
//!   run, and a new or changed one runs at its next time only, as AWS runs a newly put action
//!   (its latest past run is not replayed); a removed action leaves the bounds it set, as an
//!   action "sets the target's MinCapacity and/or MaxCapacity persistently" (spec B.5). When
//!   the target's minimum or maximum changed, the new version starts from them and replays the
//!   latest past runs, as a fresh start does ([`EngineState::new`]).
//!
//! Metric histories are kept by the controller ([`crate::controller::Runtime`]) with
//! [`super::history::MetricHistory::carry_from`] for metrics with the same name and source.
//!
//! Nothing here runs per evaluation: only when a policy set is replaced.

use super::EngineState;
use crate::policy::compiled::{
    AlarmDef, AlarmId, CompiledPolicySet, MetricDef, MetricId, Policy, PolicyKind, ScheduledAction,
};

/// Whether two metrics are the same metric: name, period and source.
pub fn same_metric(old: &MetricDef, new: &MetricDef) -> bool {
    old.name == new.name && old.period_seconds == new.period_seconds && old.source == new.source
}

/// Whether alarm `new` of `new_set` is alarm `old` of `old_set` unchanged.
pub fn same_alarm(
    old_set: &CompiledPolicySet,
    old: AlarmId,
    new_set: &CompiledPolicySet,
    new: AlarmId,
) -> bool {
    let (a, b): (&AlarmDef, &AlarmDef) = (&old_set.alarms[old], &new_set.alarms[new]);
    a.name == b.name
        && metric_unchanged(old_set, a.metric, new_set, b.metric)
        && a.statistic == b.statistic
        && a.operator == b.operator
        && a.threshold.to_bits() == b.threshold.to_bits()
        && a.evaluation_periods == b.evaluation_periods
        && a.datapoints_to_alarm == b.datapoints_to_alarm
        && a.treat_missing_data == b.treat_missing_data
        && a.evaluation_range == b.evaluation_range
        && a.per_task == b.per_task
        && a.trusted == b.trusted
}

fn metric_unchanged(
    old_set: &CompiledPolicySet,
    old: MetricId,
    new_set: &CompiledPolicySet,
    new: MetricId,
) -> bool {
    same_metric(&old_set.metrics[old], &new_set.metrics[new])
}

/// Whether policy `new` of `new_set` is policy `old` of `old_set` unchanged, alarms included.
pub fn same_policy(
    old_set: &CompiledPolicySet,
    old: usize,
    new_set: &CompiledPolicySet,
    new: usize,
) -> bool {
    let (a, b): (&Policy, &Policy) = (&old_set.policies[old], &new_set.policies[new]);
    if a.name != b.name {
        return false;
    }
    match (&a.kind, &b.kind) {
        (PolicyKind::TargetTracking(x), PolicyKind::TargetTracking(y)) => {
            metric_unchanged(old_set, x.metric, new_set, y.metric)
                && x.target_value.to_bits() == y.target_value.to_bits()
                && x.per_task == y.per_task
                && x.statistic == y.statistic
                && x.scale_out_cooldown == y.scale_out_cooldown
                && x.scale_in_cooldown == y.scale_in_cooldown
                && x.disable_scale_in == y.disable_scale_in
                && same_alarm(old_set, x.high_alarm, new_set, y.high_alarm)
                && same_alarm(old_set, x.low_alarm, new_set, y.low_alarm)
        }
        (PolicyKind::StepScaling(x), PolicyKind::StepScaling(y)) => {
            same_alarm(old_set, x.alarm, new_set, y.alarm)
                && x.adjustment_type == y.adjustment_type
                && x.steps == y.steps
                && x.min_adjustment_magnitude == y.min_adjustment_magnitude
                && x.cooldown == y.cooldown
                && x.aggregation == y.aggregation
        }
        _ => false,
    }
}

/// Whether two scheduled actions are the same: name, schedule and capacities.
pub fn same_action(old: &ScheduledAction, new: &ScheduledAction) -> bool {
    old.name == new.name
        && old.schedule.same_as(&new.schedule)
        && old.min_capacity == new.min_capacity
        && old.max_capacity == new.max_capacity
}

/// The index in `new` of each unchanged policy of `old` (by old index).
fn policy_map(old_set: &CompiledPolicySet, new_set: &CompiledPolicySet) -> Vec<Option<usize>> {
    (0..old_set.policies.len())
        .map(|old| (0..new_set.policies.len()).find(|&new| same_policy(old_set, old, new_set, new)))
        .collect()
}

impl EngineState {
    /// Keeps the state of `old` (the state of `old_set`) for everything of `set` whose
    /// definition did not change, matched by name (see the module documentation). `self` is
    /// the state [`EngineState::new`] gave `set`.
    pub fn carry_from(
        &mut self,
        set: &CompiledPolicySet,
        old_set: &CompiledPolicySet,
        old: &EngineState,
    ) {
        for new in 0..set.alarms.len() {
            let kept = (0..old_set.alarms.len()).find(|&o| same_alarm(old_set, o, set, new));
            if let Some(o) = kept {
                self.alarms[new] = old.alarms[o];
            }
        }

        let policies = policy_map(old_set, set);
        for (o, new) in policies.iter().enumerate() {
            if let Some(new) = *new {
                self.last_invoked[new] = old.last_invoked[o];
                self.wants_scale_in[new] = old.wants_scale_in[o];
            }
        }
        if old_set.behavior.cooldown_scope == set.behavior.cooldown_scope {
            let map = |o: usize| policies.get(o).copied().flatten();
            if self.clocks.len() == 1 && old.clocks.len() == 1 {
                self.clocks[0] = old.clocks[0].carried(map);
            } else {
                for (o, clock) in old.clocks.iter().enumerate() {
                    if let Some(new) = map(o) {
                        self.clocks[new] = clock.carried(map);
                    }
                }
            }
        }

        let same_target =
            old_set.min_capacity == set.min_capacity && old_set.max_capacity == set.max_capacity;
        if !same_target {
            return;
        }
        // The bounds in force go on: no past run is replayed over them.
        self.continue_bounds(old.bounds());
        // An unchanged action keeps its next run, unless scheduled scaling was suspended or
        // resumed: the clocks then start after now, so actions skipped while suspended stay
        // skipped ([`EngineState::continue_bounds`]).
        let suspension = old_set.suspended.scheduled_scaling_suspended
            != set.suspended.scheduled_scaling_suspended;
        if suspension {
            return;
        }
        for (new, action) in set.scheduled_actions.iter().enumerate() {
            let kept = old_set
                .scheduled_actions
                .iter()
                .position(|o| same_action(o, action));
            if let Some(o) = kept {
                self.next_runs[new] = old.next_runs[o];
            }
        }
    }
}

#[cfg(test)]
mod tests;
