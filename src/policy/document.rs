//! The `ScalingPolicySet` document: the ECS scaling configuration of one service, as data.
//!
//! Field names follow Application Auto Scaling (camelCased) so that an ECS user recognises every
//! one of them. The same shape is read from YAML or JSON files, and from the custom resource in a
//! cluster. Nothing here is validated beyond its type: [`super::compile`] checks every rule and
//! turns a document into the [`super::CompiledPolicySet`] the engine runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::alarm_model::{AlarmSpec, ComparisonOperator, Statistic, TreatMissingData};

pub use super::cloudwatch_alarm::{AlarmEntry, CloudWatchAlarm, ResolvedAlarm};
pub use crate::sources::cloudwatch::CloudWatchSpec;
pub use crate::sources::cloudwatch::alarms::{AlarmMode, CloudWatchAlarmRef};
pub use crate::sources::prometheus::PrometheusSpec;
pub use crate::sources::sqs::SqsSpec;

/// The `apiVersion` every document carries.
pub const API_VERSION: &str = "ecs-scaler.dev/v1alpha1";
/// The `kind` every document carries.
pub const KIND: &str = "ScalingPolicySet";

/// A whole policy document: one ECS service's scalable target, its data, alarms and policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingPolicySet {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always [`KIND`].
    pub kind: String,
    /// Name and namespace of the policy set.
    pub metadata: Metadata,
    /// The scaling configuration.
    pub spec: Spec,
}

/// Identity of a policy set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Name, referenced by a trigger's `policy` key.
    pub name: String,
    /// Namespace; `default` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Free-form labels (kept for the custom resource; not interpreted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations (kept for the custom resource; not interpreted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The scaling configuration of one ECS service.
// Also the spec of the `ScalingPolicySet` custom resource: the derive generates
// `crate::kubernetes::ScalingPolicySetResource` and the CRD (`ecs-scaler crd`).
// Several `printcolumn(...)` share `type_ = "integer"`: distinct columns, not duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, kube::CustomResource)]
#[kube(
    group = "ecs-scaler.dev",
    version = "v1alpha1",
    kind = "ScalingPolicySet",
    root = "ScalingPolicySetResource",
    namespaced,
    status = "crate::kubernetes::ScalingPolicySetStatus",
    shortname = "sps",
    doc = "The ECS scaling configuration of one service, run by ecs-scaler.",
    printcolumn(
        name = "Min",
        type_ = "integer",
        description = "minimum capacity in force at the last decision",
        json_path = ".status.lastDecision.min"
    ),
    printcolumn(
        name = "Max",
        type_ = "integer",
        description = "maximum capacity in force at the last decision",
        json_path = ".status.lastDecision.max"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        description = "the last desired capacity reported to KEDA",
        json_path = ".status.lastDecision.desired"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        description = "whether the scaler can decide (KEDA's fallback applies while not)",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Accepted",
        type_ = "string",
        description = "False while the latest spec does not compile (the last good one is served)",
        json_path = ".status.conditions[?(@.type==\"Accepted\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    /// Capacity bounds and suspension, as `describe-scalable-targets` shows them.
    pub scalable_target: ScalableTarget,
    /// The Kubernetes workload whose replicas are the current capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_target_ref: Option<ScaleTargetRef>,
    /// Named data sources, shared by alarms and policies.
    #[serde(default)]
    pub metrics: BTreeMap<String, MetricSpec>,
    /// Named CloudWatch-style alarms (used by step scaling policies): defined inline over the
    /// metrics, or CloudWatch alarms read by name.
    #[serde(default)]
    pub alarms: BTreeMap<String, AlarmEntry>,
    /// The scaling policies, in the order they are reported.
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
    /// Scheduled actions that change the minimum and maximum capacity.
    #[serde(default)]
    pub scheduled_actions: Vec<ScheduledActionSpec>,
    /// Settings for behaviour AWS does not document; every field has the documented default.
    #[serde(default)]
    pub behavior: BehaviorSpec,
}

/// The scalable target: the capacity envelope and its suspension flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalableTarget {
    /// `service/<cluster>/<service>` on ECS; provenance only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Lowest capacity the policies may set (0 allowed, as on ECS).
    pub min_capacity: u32,
    /// Highest capacity the policies may set.
    pub max_capacity: u32,
    /// Which kinds of scaling are suspended.
    #[serde(default)]
    pub suspended_state: SuspendedState,
}

/// AAS `SuspendedState`: each flag stops one kind of scaling activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuspendedState {
    /// Policies never remove capacity.
    #[serde(default)]
    pub dynamic_scaling_in_suspended: bool,
    /// Policies never add capacity.
    #[serde(default)]
    pub dynamic_scaling_out_suspended: bool,
    /// Scheduled actions due while suspended are skipped.
    #[serde(default)]
    pub scheduled_scaling_suspended: bool,
}

/// The workload whose replica count is the current capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleTargetRef {
    /// API version of the workload, e.g. `apps/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the workload; `Deployment` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of the workload.
    pub name: String,
}

/// A named metric: where its datapoints come from.
// The polled sources' specs are boxed: a pushed metric, one per policy set in most fleets, then
// costs a few bytes instead of the size of the largest spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum MetricSpec {
    /// Datapoints an application pushes to the scaler's HTTP endpoint.
    Push(PushSourceSpec),
    /// The depth of an SQS queue, polled.
    Sqs(Box<SqsSpec>),
    /// A CloudWatch metric or metric math query, fetched in batches once per period.
    #[serde(rename = "cloudwatch")]
    CloudWatch(Box<CloudWatchSpec>),
    /// A Prometheus instant query returning one series, polled.
    Prometheus(Box<PrometheusSpec>),
}

impl MetricSpec {
    /// The granularity of the metric's datapoints, in seconds.
    pub fn period_seconds(&self) -> u32 {
        match self {
            MetricSpec::Push(push) => push.period,
            MetricSpec::Sqs(sqs) => sqs.period,
            MetricSpec::CloudWatch(cloudwatch) => cloudwatch.period,
            MetricSpec::Prometheus(prometheus) => prometheus.period,
        }
    }

    /// How long the source may stay without a successful delivery before the policy set is
    /// unavailable: explicit, or three polls for a polled source; never for a push source
    /// without `staleAfterSeconds`.
    pub fn stale_after_seconds(&self) -> Option<u32> {
        match self {
            MetricSpec::Push(push) => push.stale_after_seconds,
            MetricSpec::Sqs(sqs) => Some(
                sqs.stale_after_seconds
                    .unwrap_or(sqs.poll_interval_seconds.saturating_mul(3)),
            ),
            MetricSpec::CloudWatch(cloudwatch) => Some(cloudwatch.stale_after_seconds()),
            MetricSpec::Prometheus(prometheus) => Some(
                prometheus
                    .stale_after_seconds
                    .unwrap_or(prometheus.poll_interval_seconds.saturating_mul(3)),
            ),
        }
    }

    /// The key in YAML (`push`, `sqs`, ...), for field paths.
    pub fn kind(&self) -> &'static str {
        match self {
            MetricSpec::Push(_) => "push",
            MetricSpec::Sqs(_) => "sqs",
            MetricSpec::CloudWatch(_) => "cloudwatch",
            MetricSpec::Prometheus(_) => "prometheus",
        }
    }

    /// How long after a period ends the source normally has delivered it (CloudWatch: the
    /// end-time offset and the fetch); alarms treat a period as complete only then.
    pub fn delay_seconds(&self) -> u32 {
        match self {
            MetricSpec::CloudWatch(cloudwatch) => cloudwatch.delay_seconds(),
            _ => 0,
        }
    }

    /// Whether values of this metric are pushed over HTTP.
    pub fn is_push(&self) -> bool {
        matches!(self, MetricSpec::Push(_))
    }
}

/// A metric whose datapoints are pushed with `PUT /v1/namespaces/{ns}/policysets/{name}/metrics/{metric}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushSourceSpec {
    /// Period of the metric in seconds: pushed values are aggregated per period (default 60).
    #[serde(default = "default_period")]
    pub period: u32,
    /// When set, the policy set becomes unavailable (KEDA's `fallback` applies) once no value has
    /// been pushed for this many seconds. Unset: silence is missing data, and ECS does not scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after_seconds: Option<u32>,
}

fn default_period() -> u32 {
    60
}

/// One scaling policy: exactly one of `targetTracking` and `stepScaling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// The AAS policy name.
    pub policy_name: String,
    /// Target tracking configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_tracking: Option<TargetTrackingSpec>,
    /// Step scaling configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_scaling: Option<StepScalingSpec>,
}

/// AAS `TargetTrackingScalingPolicyConfiguration` over a named metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetTrackingSpec {
    /// The tracked metric (a key of `spec.metrics`).
    pub metric: String,
    /// The value the metric is kept at.
    pub target_value: f64,
    /// Track the metric divided by the current capacity (e.g. backlog per task).
    #[serde(default)]
    pub per_task: bool,
    /// Statistic applied to each period (default Average).
    #[serde(default)]
    pub statistic: Statistic,
    /// Seconds after a scale-out during which only a larger scale-out happens (default 300).
    #[serde(default = "default_cooldown")]
    pub scale_out_cooldown: u32,
    /// Seconds after a scale-in during which no scale-in happens (default 300).
    #[serde(default = "default_cooldown")]
    pub scale_in_cooldown: u32,
    /// The policy never removes capacity.
    #[serde(default)]
    pub disable_scale_in: bool,
}

/// AAS `StepScalingPolicyConfiguration`, driven by a named alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepScalingSpec {
    /// The alarm that invokes the policy (a key of `spec.alarms`).
    pub alarm: String,
    /// How `scalingAdjustment` is applied.
    pub adjustment_type: AdjustmentType,
    /// The steps, by distance of the aggregated metric from the alarm threshold.
    pub step_adjustments: Vec<StepAdjustmentSpec>,
    /// Smallest change a `PercentChangeInCapacity` step makes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_adjustment_magnitude: Option<u32>,
    /// Cooldown in seconds (default 300).
    #[serde(default = "default_cooldown")]
    pub cooldown: u32,
    /// How the alarm's datapoints are aggregated before a step is chosen (default Average).
    #[serde(default)]
    pub metric_aggregation_type: MetricAggregationType,
}

fn default_cooldown() -> u32 {
    300
}

/// AAS adjustment types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AdjustmentType {
    /// Add the adjustment to the current capacity.
    ChangeInCapacity,
    /// Add a percentage of the current capacity.
    PercentChangeInCapacity,
    /// Set the capacity to the adjustment.
    ExactCapacity,
}

/// AAS `MetricAggregationType`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MetricAggregationType {
    /// Mean of the datapoints.
    #[default]
    Average,
    /// Smallest datapoint.
    Minimum,
    /// Largest datapoint.
    Maximum,
}

/// One step: an interval of `metric - threshold` and the adjustment it makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepAdjustmentSpec {
    /// Lower bound of the interval (absent: minus infinity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_interval_lower_bound: Option<f64>,
    /// Upper bound of the interval (absent: plus infinity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_interval_upper_bound: Option<f64>,
    /// The adjustment, read according to the policy's `adjustmentType`.
    pub scaling_adjustment: i32,
}

/// An AAS scheduled action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledActionSpec {
    /// The action's name.
    pub scheduled_action_name: String,
    /// `at(yyyy-mm-ddThh:mm:ss)`, `rate(N unit)` or `cron(min hour dom month dow year)`.
    pub schedule: String,
    /// IANA time zone for `at` and `cron` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The action does not run before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    /// The action does not run after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
    /// The new bounds.
    pub scalable_target_action: ScalableTargetAction,
}

/// The bounds a scheduled action sets; absent fields are left as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalableTargetAction {
    /// New minimum capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_capacity: Option<u32>,
    /// New maximum capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<u32>,
}

/// Default of [`BehaviorSpec::alarm_evaluation_range_extra_periods`]: the CloudWatch User Guide's
/// 3-of-3 example retrieves 5 datapoints.
pub const DEFAULT_EVALUATION_RANGE_EXTRA_PERIODS: u32 = 2;

/// Largest [`BehaviorSpec::alarm_evaluation_range_extra_periods`] accepted.
pub const MAX_EVALUATION_RANGE_EXTRA_PERIODS: u32 = 60;

/// Settings for what AWS does not document (spec D.11). Defaults are the documented choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct BehaviorSpec {
    /// Whether cooldown clocks are shared by the whole target (`PerTarget`, default) or kept per
    /// policy (`PerPolicy`).
    pub cooldown_scope: CooldownScope,
    /// Whether a scale-out cooldown also blocks scale-in (default true).
    pub scale_in_blocked_during_scale_out_cooldown: bool,
    /// Seconds between two invocations of a policy while its alarm stays in ALARM (default 60).
    pub reinvocation_interval_seconds: u32,
    /// Whether `minAdjustmentMagnitude` also applies to scale-in steps (default true).
    pub min_adjustment_magnitude_on_scale_in: bool,
    /// How many periods beyond `evaluationPeriods` an alarm's evaluation range holds (default 2).
    ///
    /// CloudWatch "attempts to retrieve a higher number of data points than specified by
    /// Evaluation Periods" (the *evaluation range*) and, when some are missing, evaluates the
    /// most recent real ones (CloudWatch User Guide, "Configuring how CloudWatch alarms treat
    /// missing data"). The guide gives the range's length only by example: 5 datapoints for a
    /// 3-of-3 alarm, so N + 2 by default (spec B.7, UNCONFIRMED for other alarms).
    pub alarm_evaluation_range_extra_periods: u32,
    /// The alarm AAS creates to scale out for a target tracking policy.
    pub target_tracking_high_alarm: ImplicitAlarmSpec,
    /// The alarm AAS creates to scale in for a target tracking policy.
    pub target_tracking_low_alarm: ImplicitAlarmSpec,
}

impl Default for BehaviorSpec {
    fn default() -> Self {
        Self {
            cooldown_scope: CooldownScope::PerTarget,
            scale_in_blocked_during_scale_out_cooldown: true,
            reinvocation_interval_seconds: 60,
            min_adjustment_magnitude_on_scale_in: true,
            alarm_evaluation_range_extra_periods: DEFAULT_EVALUATION_RANGE_EXTRA_PERIODS,
            target_tracking_high_alarm: ImplicitAlarmSpec {
                evaluation_periods: 3,
                datapoints_to_alarm: 3,
                threshold_ratio: 1.0,
            },
            target_tracking_low_alarm: ImplicitAlarmSpec {
                evaluation_periods: 15,
                datapoints_to_alarm: 15,
                threshold_ratio: 0.9,
            },
        }
    }
}

/// Where cooldown clocks live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CooldownScope {
    /// One scale-out and one scale-in clock for the whole scalable target.
    #[default]
    PerTarget,
    /// One pair of clocks per policy.
    PerPolicy,
}

/// The shape of an alarm AAS creates for a target tracking policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImplicitAlarmSpec {
    /// N: periods evaluated.
    pub evaluation_periods: u32,
    /// M: breaching periods needed.
    pub datapoints_to_alarm: u32,
    /// Threshold as a multiple of the target value (1.0 high, 0.9 low).
    pub threshold_ratio: f64,
}
