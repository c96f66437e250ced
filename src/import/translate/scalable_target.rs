//! The scalable target: the service's names, `MinCapacity`, `MaxCapacity` and `SuspendedState`,
//! the workload, and the capacity envelope of the ScaledObject (spec A.1, B.6, D.6).
//!
//! Input: a `ScalableTarget` of `describe-scalable-targets` and the scheduled actions written.
//! Output: `spec.scalableTarget`, the report rows of the target, the workload's
//! `(apiVersion, kind)` from `--scale-target-kind`, and the envelope (the lowest minimum and
//! highest maximum over the target and every scheduled action) that becomes the ScaledObject's
//! `minReplicaCount` / `maxReplicaCount`. Errors: a capacity outside `0..=4294967295` is written
//! as 0 with a `decide` row.

use super::ServiceBuilder;
use crate::import::report::Status;
use crate::policy::document::{Spec, SuspendedState};

/// `apps/v1/Deployment` or `Deployment` into `(apiVersion, kind)`.
pub(super) fn split_kind(kind: &str) -> (Option<String>, String) {
    match kind.rsplit_once('/') {
        Some((api_version, kind)) => (Some(api_version.to_owned()), kind.to_owned()),
        None => {
            let api_version = matches!(kind, "Deployment" | "StatefulSet" | "ReplicaSet")
                .then(|| "apps/v1".to_owned());
            (api_version, kind.to_owned())
        }
    }
}

/// The lowest minimum and the highest maximum over the target and its scheduled actions.
pub fn envelope(spec: &Spec) -> (u32, u32) {
    spec.scheduled_actions.iter().fold(
        (
            spec.scalable_target.min_capacity,
            spec.scalable_target.max_capacity,
        ),
        |(low, high), action| {
            let bounds = action.scalable_target_action;
            (
                bounds.min_capacity.map_or(low, |m| low.min(m)),
                bounds.max_capacity.map_or(high, |m| high.max(m)),
            )
        },
    )
}

impl<'a> ServiceBuilder<'a> {
    pub(super) fn names_row(&mut self) {
        let became = if self.name == self.service {
            format!("ScalingPolicySet and ScaledObject `{}`", self.name)
        } else {
            format!(
                "ScalingPolicySet and ScaledObject `{}` (Kubernetes names are lower-case DNS \
                 labels)",
                self.name
            )
        };
        self.report.push(
            format!("service `{}` of cluster `{}`", self.service, self.cluster),
            became,
            Status::Exact,
        );
    }

    pub(super) fn capacity_rows(&mut self) -> (u32, u32) {
        let min = u32::try_from(self.target.min_capacity);
        let max = u32::try_from(self.target.max_capacity);
        match (min, max) {
            (Ok(min), Ok(max)) => {
                self.report.push(
                    format!("MinCapacity {min}, MaxCapacity {max}"),
                    "spec.scalableTarget minCapacity, maxCapacity",
                    Status::Exact,
                );
                (min, max)
            }
            _ => {
                self.report.push(
                    format!(
                        "MinCapacity {}, MaxCapacity {}",
                        self.target.min_capacity, self.target.max_capacity
                    ),
                    "spec.scalableTarget minCapacity 0, maxCapacity 0",
                    Status::Decide(
                        "a capacity is negative or above 4294967295: set them".to_owned(),
                    ),
                );
                (0, 0)
            }
        }
    }

    pub(super) fn suspended_row(&mut self, state: &SuspendedState) {
        let flags = [
            (
                "DynamicScalingInSuspended",
                state.dynamic_scaling_in_suspended,
            ),
            (
                "DynamicScalingOutSuspended",
                state.dynamic_scaling_out_suspended,
            ),
            (
                "ScheduledScalingSuspended",
                state.scheduled_scaling_suspended,
            ),
        ];
        let text: Vec<String> = flags.iter().map(|(n, v)| format!("{n} {v}")).collect();
        self.report.push(
            format!("SuspendedState: {}", text.join(", ")),
            "spec.scalableTarget.suspendedState (the scaler holds its decision as ECS would)",
            Status::Exact,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workload_kind_splits_into_api_version_and_kind() {
        assert_eq!(
            split_kind("StatefulSet"),
            (Some("apps/v1".to_owned()), "StatefulSet".to_owned())
        );
        assert_eq!(
            split_kind("argoproj.io/v1alpha1/Rollout"),
            (
                Some("argoproj.io/v1alpha1".to_owned()),
                "Rollout".to_owned()
            )
        );
    }
}
