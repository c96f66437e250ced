//! The KEDA `ScaledObject` the importer writes (spec C.2): the fields it sets, in the order
//! KEDA's documentation shows them, and the one that passes the scaler's decisions through
//! ([`ScaledObject::pass_through`]). `import` writes it (with its workload and any `cpu` /
//! `memory` triggers), and `simulate --compare` replays it by default: one code path.
//!
//! `tolerance: 0` is written where both ends take it ([`tolerance_field`]): Kubernetes >= 1.33
//! (KEP-4951; the API server keeps it only with the `HPAConfigurableTolerance` gate, on by
//! default from 1.35) and KEDA >= 2.18, the first whose ScaledObject CRD has the field.
//! Elsewhere the cluster's 10% tolerance applies, and [`swallowed_steps`] lists the step
//! changes it holds back, tested as the cluster's Kubernetes version does ([`ToleranceRule`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::translate::KubernetesVersion;
use crate::policy::document::{AdjustmentType, Spec};
use crate::simulate::hpa::{
    DEFAULT_TOLERANCE, FIRST_BAND_VERSION, Hpa, MetricReading, Rules, ToleranceRule,
};

/// `keda.sh/v1alpha1` `ScaledObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObject {
    /// `keda.sh/v1alpha1`.
    pub api_version: String,
    /// `ScaledObject`.
    pub kind: String,
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// What KEDA scales and how.
    pub spec: ScaledObjectSpec,
}

/// Name and namespace of an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
}

/// `ScaledObject.spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObjectSpec {
    /// The workload.
    pub scale_target_ref: ScaleTargetRef,
    /// Seconds between two polls of the triggers.
    pub polling_interval: u32,
    /// Seconds of inactivity before scaling to zero (set only when the minimum is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_period: Option<u32>,
    /// The HPA's minimum (KEDA scales 0 <-> 1 itself when it is 0).
    pub min_replica_count: u32,
    /// The HPA's maximum.
    pub max_replica_count: u32,
    /// The HPA's behavior.
    pub advanced: Advanced,
    /// The metrics.
    pub triggers: Vec<Trigger>,
}

/// `scaleTargetRef`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// API version (absent: `apps/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind (absent: `Deployment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name.
    pub name: String,
}

/// `advanced`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Advanced {
    /// `horizontalPodAutoscalerConfig`.
    pub horizontal_pod_autoscaler_config: HpaConfig,
}

/// `horizontalPodAutoscalerConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HpaConfig {
    /// The HPA's `behavior`.
    pub behavior: Behavior,
}

/// The HPA's `behavior`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Behavior {
    /// Scale-up rules.
    pub scale_up: ScalingRules,
    /// Scale-down rules.
    pub scale_down: ScalingRules,
}

/// `HPAScalingRules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRules {
    /// Seconds of recommendations the HPA looks back on.
    pub stabilization_window_seconds: u32,
    /// `Max`: the most permissive policy applies.
    pub select_policy: String,
    /// Tolerance on the usage ratio (Kubernetes >= 1.33 with `HPAConfigurableTolerance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<u32>,
    /// Rate limits.
    pub policies: Vec<HpaPolicy>,
}

/// `HPAScalingPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaPolicy {
    /// `Pods` or `Percent`.
    #[serde(rename = "type")]
    pub kind: String,
    /// How many pods or percent.
    pub value: u32,
    /// Per how many seconds.
    pub period_seconds: u32,
}

/// A KEDA trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// `external`, `cpu`, `memory`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The trigger's name (also the metric's name in the HPA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `AverageValue` (the scaler's D) or `Utilization` (cpu, memory).
    pub metric_type: String,
    /// Trigger metadata.
    pub metadata: BTreeMap<String, String>,
}

/// The name of the trigger that carries the scaler's decision.
pub const EXTERNAL_TRIGGER_NAME: &str = "ecs-desired";

impl Behavior {
    /// A behavior that passes the scaler's decisions through: no stabilization, rates no
    /// decision can exceed, and `tolerance` when set.
    pub fn pass_through(max_replicas: u32, tolerance: Option<u32>) -> Self {
        Self {
            scale_up: ScalingRules {
                stabilization_window_seconds: 0,
                select_policy: "Max".to_owned(),
                tolerance,
                policies: vec![HpaPolicy {
                    kind: "Pods".to_owned(),
                    value: max_replicas.max(1000),
                    period_seconds: 15,
                }],
            },
            scale_down: ScalingRules {
                stabilization_window_seconds: 0,
                select_policy: "Max".to_owned(),
                tolerance,
                policies: vec![HpaPolicy {
                    kind: "Percent".to_owned(),
                    value: 100,
                    period_seconds: 15,
                }],
            },
        }
    }
}

/// Seconds between two polls of the scaler by KEDA, in what the importer writes.
pub const POLLING_INTERVAL_SECONDS: u32 = 15;

impl ScaledObject {
    /// What `import` writes for a policy set `name` with capacities in `[min, max]`: the
    /// scaler's decision as the only trigger, passed through by the HPA (no stabilization,
    /// rates no decision can exceed, `tolerance` when set); with a minimum of 0, KEDA scales to
    /// zero as soon as the decision is 0 (`cooldownPeriod: 0`).
    pub fn pass_through(
        name: &str,
        namespace: &str,
        scaler_address: &str,
        (min, max): (u32, u32),
        tolerance: Option<u32>,
    ) -> Self {
        Self {
            api_version: "keda.sh/v1alpha1".to_owned(),
            kind: "ScaledObject".to_owned(),
            metadata: ObjectMeta {
                name: name.to_owned(),
                namespace: namespace.to_owned(),
            },
            spec: ScaledObjectSpec {
                scale_target_ref: ScaleTargetRef {
                    api_version: None,
                    kind: None,
                    name: name.to_owned(),
                },
                polling_interval: POLLING_INTERVAL_SECONDS,
                cooldown_period: (min == 0).then_some(0),
                min_replica_count: min,
                max_replica_count: max,
                advanced: Advanced {
                    horizontal_pod_autoscaler_config: HpaConfig {
                        behavior: Behavior::pass_through(max, tolerance),
                    },
                },
                triggers: vec![Trigger {
                    kind: "external".to_owned(),
                    name: Some(EXTERNAL_TRIGGER_NAME.to_owned()),
                    metric_type: "AverageValue".to_owned(),
                    metadata: BTreeMap::from([
                        ("scalerAddress".to_owned(), scaler_address.to_owned()),
                        ("policy".to_owned(), name.to_owned()),
                    ]),
                }],
            },
        }
    }

    /// The same ScaledObject scaling `target` (instead of the `Deployment` named like the
    /// policy set).
    #[must_use]
    pub fn with_scale_target(mut self, target: ScaleTargetRef) -> Self {
        self.spec.scale_target_ref = target;
        self
    }

    /// The same ScaledObject with `triggers` after the scaler's (`cpu`, `memory`: the HPA
    /// takes the largest proposal of all).
    #[must_use]
    pub fn with_triggers(mut self, triggers: impl IntoIterator<Item = Trigger>) -> Self {
        self.spec.triggers.extend(triggers);
        self
    }
}

/// A KEDA minor version, e.g. `2.18` (a `v` prefix and a patch level are accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KedaVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

/// KEDA 2.18: the first ScaledObject CRD with `behavior.*.tolerance`.
pub const FIRST_KEDA_WITH_TOLERANCE: KedaVersion = KedaVersion {
    major: 2,
    minor: 18,
};

/// The default of `--keda-version`: the newest behaviour (KEDA 2.18 and later take
/// `tolerance`).
pub const NEWEST_KEDA: &str = "2.18";

impl KedaVersion {
    /// Whether its ScaledObject CRD has `tolerance` (KEDA copies it into the HPA).
    pub fn has_tolerance(self) -> bool {
        self >= FIRST_KEDA_WITH_TOLERANCE
    }
}

impl FromStr for KedaVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim().trim_start_matches('v');
        let mut parts = trimmed.split('.');
        let number = |part: Option<&str>| part.and_then(|p| p.parse::<u32>().ok());
        match (number(parts.next()), number(parts.next())) {
            (Some(major), Some(minor)) if major >= 2 => Ok(Self { major, minor }),
            _ => Err(format!(
                "`{text}`: expected a KEDA 2 version such as 2.17 or 2.18"
            )),
        }
    }
}

impl fmt::Display for KedaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The `tolerance` to write: 0 where Kubernetes (>= 1.33) and KEDA (>= 2.18) both have the
/// field, else none.
pub fn tolerance_field(kubernetes: KubernetesVersion, keda: KedaVersion) -> Option<u32> {
    (kubernetes >= FIRST_BAND_VERSION && keda.has_tolerance()).then_some(0)
}

/// How many capacities [`swallowed_steps`] checks per step, from the lowest: twice ECS's quota
/// of tasks per service (5,000). A `MaxCapacity` in the millions or billions (AWS takes any
/// `int`) would otherwise take minutes or hours; the report then says where it stopped.
pub const SWALLOWED_STEPS_SCAN: u32 = 10_000;

/// For each step of each step policy, the capacities in `[low, high]` at which the cluster's
/// default 10% tolerance, tested by `rule`, holds back the change the step makes (only the
/// lowest [`SWALLOWED_STEPS_SCAN`] capacities are checked), e.g. "`out` +1 at 10-29 replicas".
pub fn swallowed_steps(spec: &Spec, low: u32, high: u32, rule: ToleranceRule) -> Vec<String> {
    if low > high {
        // No capacity fits (the policy set does not compile, and the report says so).
        return Vec::new();
    }
    let hpa = Hpa::new(
        low.max(1),
        high.max(1),
        Rules::scale_up(None, DEFAULT_TOLERANCE),
        Rules::scale_down(None, DEFAULT_TOLERANCE),
        rule,
    );
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
            let lost: Vec<u32> = (first..=last)
                .filter(|&current| {
                    let wanted = crate::engine::step::adjusted_capacity(
                        step.adjustment_type,
                        adjustment.scaling_adjustment,
                        i64::from(current),
                        step.min_adjustment_magnitude.unwrap_or(0),
                        spec.behavior.min_adjustment_magnitude_on_scale_in,
                    )
                    .clamp(i64::from(low), i64::from(high));
                    wanted != i64::from(current)
                        && hpa.propose(
                            current,
                            MetricReading::AverageValue {
                                total: wanted as f64,
                                target: 1.0,
                            },
                        ) == (current, true)
                })
                .collect();
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
    let mut parts: Vec<(u32, u32)> = Vec::new();
    for &value in values {
        match parts.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(value) => *end = value,
            _ => parts.push((value, value)),
        }
    }
    parts
        .iter()
        .map(|(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report's setting for the HPA tolerance.
pub const TOLERANCE_SETTING: &str = "HPA tolerance (10% by default)";

#[cfg(test)]
mod tests;
