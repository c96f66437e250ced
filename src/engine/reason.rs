//! Why a policy did or did not move the capacity: machine-readable, allocation-free reasons.
//!
//! The engine records one [`PolicyReason`] per policy per evaluation, using indices and numbers
//! only; [`PolicyReason::describe`] and [`ReasonReport`] turn them into text and JSON with the
//! policy names, outside the hot path.

use std::fmt::Write as _;

use chrono::DateTime;
use serde::Serialize;

use crate::policy::compiled::CompiledPolicySet;

/// Scale-out or scale-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Adding capacity.
    Out,
    /// Removing capacity.
    In,
}

/// What one policy concluded in one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Outcome {
    /// The policy's alarm is OK (step scaling) or the metric is within its target band (target
    /// tracking): nothing to do.
    AlarmOk,
    /// No datapoints to evaluate: ECS does not scale on missing data.
    InsufficientData,
    /// The alarm is still in ALARM, but the policy was invoked less than the re-invocation
    /// interval ago.
    WaitingForReinvocation {
        /// When it will be invoked again (Unix seconds).
        next_at: i64,
    },
    /// The breach distance falls in no step interval.
    NoStepMatched {
        /// Aggregated metric minus threshold.
        distance: f64,
    },
    /// Target tracking never scales out while the metric is at or below the target.
    AtOrBelowTarget {
        /// The metric value.
        value: f64,
    },
    /// The computed capacity equals the current one.
    NoChange {
        /// The computed capacity.
        capacity: i64,
    },
    /// The policy asks for more capacity.
    ScaleOut {
        /// The step that fired (index in the document), for step scaling.
        step: Option<u32>,
        /// The capacity asked for.
        capacity: i64,
    },
    /// The policy asks for less capacity.
    ScaleIn {
        /// The step that fired (index in the document), for step scaling.
        step: Option<u32>,
        /// The capacity asked for.
        capacity: i64,
    },
    /// A scale-out during a scale-out cooldown that is not larger than the current capacity.
    ScaleOutCooldown {
        /// When the cooldown expires (Unix seconds).
        until: i64,
        /// The capacity computed from the capacity before the cooldown.
        capacity: i64,
    },
    /// A scale-in blocked by a running scale-in cooldown.
    ScaleInCooldown {
        /// When the cooldown expires (Unix seconds).
        until: i64,
    },
    /// A scale-in blocked by a running scale-out cooldown (setting
    /// `scaleInBlockedDuringScaleOutCooldown`).
    ScaleInBlockedByScaleOutCooldown {
        /// When the cooldown expires (Unix seconds).
        until: i64,
    },
    /// The capacity is already at the maximum.
    AtMaximum {
        /// The capacity asked for.
        capacity: i64,
    },
    /// The capacity is already at the minimum.
    AtMinimum {
        /// The capacity asked for.
        capacity: i64,
    },
    /// Target tracking with `disableScaleIn` never removes capacity.
    ScaleInDisabled,
    /// This direction of dynamic scaling is suspended.
    Suspended {
        /// The suspended direction.
        direction: Direction,
    },
    /// A rollout of the workload is in progress: scale-in waits, as ECS does during deployments.
    RolloutInProgress,
    /// A scale-in that another target tracking policy does not agree with (spec B.4).
    ScaleInVetoed {
        /// Index of the target tracking policy that does not want to scale in.
        by: u32,
    },
}

/// One policy's outcome in a decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyReason {
    /// Index of the policy in the policy set.
    pub policy: u32,
    /// What it concluded.
    pub outcome: Outcome,
    /// Whether its proposal set the new capacity.
    pub applied: bool,
}

/// A reason with names, for JSON output and logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasonReport {
    /// The policy name.
    pub policy: String,
    /// Whether its proposal set the new capacity.
    pub applied: bool,
    /// What it concluded.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The same, in words.
    pub message: String,
}

fn time(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| unix.to_string())
}

impl PolicyReason {
    /// The reason in words, with the policy's name.
    pub fn describe(&self, set: &CompiledPolicySet) -> String {
        let name = |index: u32| {
            set.policies
                .get(index as usize)
                .map_or("?", |p| p.name.as_str())
        };
        let mut text = format!("{}: ", name(self.policy));
        let step = |step: Option<u32>| step.map(|s| format!(" (step {s})")).unwrap_or_default();
        let _ = match self.outcome {
            Outcome::AlarmOk => write!(text, "alarm OK, no action"),
            Outcome::InsufficientData => write!(text, "insufficient data, no scaling"),
            Outcome::WaitingForReinvocation { next_at } => {
                write!(text, "in ALARM, next invocation at {}", time(next_at))
            }
            Outcome::NoStepMatched { distance } => {
                write!(text, "no step covers a breach of {distance}")
            }
            Outcome::AtOrBelowTarget { value } => {
                write!(text, "metric {value} is not above target, no scale-out")
            }
            Outcome::NoChange { capacity } => write!(text, "capacity {capacity} unchanged"),
            Outcome::ScaleOut { step: s, capacity } => {
                write!(text, "scale out to {capacity}{}", step(s))
            }
            Outcome::ScaleIn { step: s, capacity } => {
                write!(text, "scale in to {capacity}{}", step(s))
            }
            Outcome::ScaleOutCooldown { until, capacity } => write!(
                text,
                "scale-out cooldown until {}: {capacity} is not larger",
                time(until)
            ),
            Outcome::ScaleInCooldown { until } => {
                write!(text, "scale-in cooldown until {}", time(until))
            }
            Outcome::ScaleInBlockedByScaleOutCooldown { until } => write!(
                text,
                "scale-in blocked by scale-out cooldown until {}",
                time(until)
            ),
            Outcome::AtMaximum { capacity } => {
                write!(text, "wants {capacity}, already at maximum")
            }
            Outcome::AtMinimum { capacity } => {
                write!(text, "wants {capacity}, already at minimum")
            }
            Outcome::ScaleInDisabled => write!(text, "scale-in disabled"),
            Outcome::Suspended { direction } => write!(
                text,
                "dynamic scaling {} suspended",
                match direction {
                    Direction::Out => "out",
                    Direction::In => "in",
                }
            ),
            Outcome::RolloutInProgress => write!(text, "rollout in progress, no scale-in"),
            Outcome::ScaleInVetoed { by } => {
                write!(
                    text,
                    "scale-in vetoed: {} does not want to scale in",
                    name(by)
                )
            }
        };
        if self.applied {
            text.push_str(" [applied]");
        }
        text
    }

    /// The reason with names, for JSON.
    pub fn report(&self, set: &CompiledPolicySet) -> ReasonReport {
        ReasonReport {
            policy: set
                .policies
                .get(self.policy as usize)
                .map_or_else(String::new, |p| p.name.clone()),
            applied: self.applied,
            outcome: self.outcome,
            message: self.describe(set),
        }
    }
}
