//! The KEDA `ScaledObject` the importer writes (spec C.2): the fields it sets, in the order
//! KEDA's documentation shows them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
