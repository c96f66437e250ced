//! Report rows about the HPA that passes the scaler's decisions through, and the text helpers
//! the rows share.
//!
//! Input: the policy set written for a service, its capacity envelope and the cluster's
//! Kubernetes version. Output: the `HPA tolerance` row (`tolerance: 0` from 1.33, with the
//! feature gate on 1.33-1.34) and, where the 10% tolerance still applies, the step changes it
//! would swallow ([`swallowed_steps`], computed with the HPA model of `simulate`). No errors:
//! an envelope that fits no capacity gives no losses (the policy set check reports it).

use super::{KubernetesVersion, ServiceBuilder};
use crate::import::report::Status;
use crate::policy::document::{AdjustmentType, Spec};

/// A number as AWS prints it: `70`, `70.5`.
pub(super) fn num(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// How many capacities [`swallowed_steps`] checks per step, from the lowest: twice ECS's quota
/// of tasks per service (5,000). A `MaxCapacity` in the millions or billions (AWS takes any
/// `int`) would otherwise take minutes or hours; the report then says where it stopped.
pub const SWALLOWED_STEPS_SCAN: u32 = 10_000;

/// For each step of each step policy, the capacities in `[low, high]` at which the HPA's
/// default 10% tolerance would swallow the change it makes (only the lowest
/// [`SWALLOWED_STEPS_SCAN`] capacities are checked).
pub fn swallowed_steps(spec: &Spec, low: u32, high: u32) -> Vec<String> {
    use crate::simulate::hpa::{DEFAULT_TOLERANCE, Hpa, MetricReading, Rules};
    if low > high {
        // No capacity fits (the policy set does not compile, and the report says so).
        return Vec::new();
    }
    let hpa = Hpa::new(
        low.max(1),
        high.max(1),
        Rules::scale_up(None, DEFAULT_TOLERANCE),
        Rules::scale_down(None, DEFAULT_TOLERANCE),
    );
    let magnitude_on_scale_in = spec.behavior.min_adjustment_magnitude_on_scale_in;
    let first = low.max(1);
    let last = high
        .max(1)
        .min(first.saturating_add(SWALLOWED_STEPS_SCAN - 1));
    let unchecked = if last < high {
        format!(" (checked up to {last} replicas)")
    } else {
        String::new()
    };
    let mut out = Vec::new();
    for policy in &spec.policies {
        let Some(step) = &policy.step_scaling else {
            continue;
        };
        for adjustment in &step.step_adjustments {
            let mut lost: Vec<u32> = Vec::new();
            for current in first..=last {
                let wanted = crate::engine::step::adjusted_capacity(
                    step.adjustment_type,
                    adjustment.scaling_adjustment,
                    i64::from(current),
                    step.min_adjustment_magnitude.unwrap_or(0),
                    magnitude_on_scale_in,
                )
                .clamp(i64::from(low), i64::from(high));
                if wanted == i64::from(current) {
                    continue;
                }
                let (proposed, swallowed) = hpa.propose(
                    current,
                    MetricReading::AverageValue {
                        total: wanted as f64,
                        target: 1.0,
                    },
                );
                if swallowed && proposed == current {
                    lost.push(current);
                }
            }
            if lost.is_empty() {
                continue;
            }
            let change = match step.adjustment_type {
                AdjustmentType::ChangeInCapacity => format!("{:+}", adjustment.scaling_adjustment),
                AdjustmentType::PercentChangeInCapacity => {
                    format!("{:+}%", adjustment.scaling_adjustment)
                }
                AdjustmentType::ExactCapacity => format!("={}", adjustment.scaling_adjustment),
            };
            out.push(format!(
                "`{}` {change} at {} replicas{unchecked}",
                policy.policy_name,
                ranges(&lost)
            ));
        }
    }
    out
}

/// `1, 2, 3, 7` as `1-3, 7`.
fn ranges(values: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut iter = values.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while let Some(next) = end.checked_add(1)
            && iter.peek() == Some(&next)
        {
            end = next;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(", ")
}

impl<'a> ServiceBuilder<'a> {
    /// Reports the HPA tolerance; the tolerance to write.
    pub(super) fn tolerance_row(&mut self, spec: &Spec, low: u32, high: u32) -> Option<u32> {
        let version = self.options.kubernetes_version;
        let v133 = KubernetesVersion {
            major: 1,
            minor: 33,
        };
        let v135 = KubernetesVersion {
            major: 1,
            minor: 35,
        };
        let lost = swallowed_steps(spec, low, high);
        let other_changes = spec.policies.iter().any(|p| p.target_tracking.is_some())
            || !spec.scheduled_actions.is_empty();
        let mut losses = Vec::new();
        if !lost.is_empty() {
            losses.push(format!("step changes lost: {}", lost.join("; ")));
        }
        if other_changes {
            losses.push(
                "any target tracking or scheduled change of D within 10% of the current replicas"
                    .to_owned(),
            );
        }
        let nothing_lost = losses.is_empty();
        let losses = if nothing_lost {
            "no step of this service is small enough to be lost".to_owned()
        } else {
            losses.join("; ")
        };
        if version >= v135 {
            self.report.push(
                "HPA tolerance (10% by default)",
                format!("tolerance: 0 on scaleUp and scaleDown (Kubernetes {version})"),
                Status::Exact,
            );
            Some(0)
        } else if version >= v133 {
            let status = if nothing_lost {
                Status::Exact
            } else {
                Status::Approximate(format!(
                    "on Kubernetes {version} `tolerance` needs the HPAConfigurableTolerance \
                     feature gate (alpha, off by default; managed control planes such as EKS do \
                     not let you turn it on); without it the 10% tolerance applies: {losses}"
                ))
            };
            self.report.push(
                "HPA tolerance (10% by default)",
                format!(
                    "tolerance: 0 on scaleUp and scaleDown (Kubernetes {version}: only with the \
                     HPAConfigurableTolerance feature gate)"
                ),
                status,
            );
            Some(0)
        } else {
            let status = if nothing_lost {
                Status::Exact
            } else {
                Status::Approximate(format!(
                    "Kubernetes {version} has no per-HPA tolerance (1.33+): {losses}"
                ))
            };
            self.report.push(
                "HPA tolerance (10% by default)",
                "not set: the cluster's 10% tolerance applies to the scaler's decision",
                status,
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_counts_are_written_as_ranges() {
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
    }
}
