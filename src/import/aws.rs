//! What AWS says about a service's scaling, in the shape the AWS CLI prints it.
//!
//! `aws application-autoscaling describe-scalable-targets`, `describe-scaling-policies`,
//! `describe-scheduled-actions` and `aws cloudwatch describe-alarms` print JSON with PascalCase
//! keys. These structs read that JSON (unknown fields are ignored: AWS adds fields) and are also
//! what the live path ([`super::live`]) converts the SDK's answers into, so that both inputs go
//! through the same translation. Timestamps are accepted as CLI v1 prints them (epoch seconds,
//! `1607454792.331`) and as CLI v2 prints them (ISO 8601, with `Z` or `+00:00`).

use std::fmt;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer};

/// The output of `describe-scalable-targets`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScalableTargets {
    /// The scalable targets.
    #[serde(default)]
    pub scalable_targets: Vec<ScalableTarget>,
}

/// The output of `describe-scaling-policies`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScalingPolicies {
    /// The scaling policies.
    #[serde(default)]
    pub scaling_policies: Vec<ScalingPolicy>,
}

/// The output of `describe-scheduled-actions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScheduledActions {
    /// The scheduled actions.
    #[serde(default)]
    pub scheduled_actions: Vec<ScheduledAction>,
}

/// The output of `aws cloudwatch describe-alarms`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeAlarms {
    /// Metric alarms (composite alarms cannot invoke scaling policies and are ignored).
    #[serde(default)]
    pub metric_alarms: Vec<MetricAlarm>,
}

/// An Application Auto Scaling scalable target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalableTarget {
    /// `ecs` for ECS services.
    pub service_namespace: String,
    /// `service/<cluster>/<service>` for ECS services.
    pub resource_id: String,
    /// `ecs:service:DesiredCount` for ECS services.
    pub scalable_dimension: String,
    /// Lowest capacity.
    pub min_capacity: i64,
    /// Highest capacity.
    pub max_capacity: i64,
    /// Which scaling activities are suspended.
    #[serde(default)]
    pub suspended_state: Option<SuspendedState>,
    /// Its ARN.
    #[serde(rename = "ScalableTargetARN", default)]
    pub scalable_target_arn: Option<String>,
    /// When the target was registered.
    #[serde(default)]
    pub creation_time: Option<Timestamp>,
}

/// `SuspendedState`; an absent flag is false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SuspendedState {
    /// Policies do not remove capacity.
    #[serde(default)]
    pub dynamic_scaling_in_suspended: Option<bool>,
    /// Policies do not add capacity.
    #[serde(default)]
    pub dynamic_scaling_out_suspended: Option<bool>,
    /// Scheduled actions do not run.
    #[serde(default)]
    pub scheduled_scaling_suspended: Option<bool>,
}

/// A scaling policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingPolicy {
    /// Its ARN (step scaling alarms name it in their actions).
    #[serde(rename = "PolicyARN", default)]
    pub policy_arn: String,
    /// Its name.
    pub policy_name: String,
    /// `ecs` for ECS services.
    pub service_namespace: String,
    /// The scalable target's resource.
    pub resource_id: String,
    /// The scalable target's dimension.
    pub scalable_dimension: String,
    /// `StepScaling`, `TargetTrackingScaling` or `PredictiveScaling`.
    pub policy_type: String,
    /// Step scaling configuration.
    #[serde(default)]
    pub step_scaling_policy_configuration: Option<StepScalingConfiguration>,
    /// Target tracking configuration.
    #[serde(default)]
    pub target_tracking_scaling_policy_configuration: Option<TargetTrackingConfiguration>,
    /// Predictive scaling configuration (only its mode is read).
    #[serde(default)]
    pub predictive_scaling_policy_configuration: Option<PredictiveScalingConfiguration>,
    /// The alarms that invoke the policy (names only; CloudWatch has their definitions).
    #[serde(default)]
    pub alarms: Vec<AlarmRef>,
    /// When the policy was created.
    #[serde(default)]
    pub creation_time: Option<Timestamp>,
}

/// A policy's reference to a CloudWatch alarm.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmRef {
    /// The alarm's name.
    pub alarm_name: String,
    /// The alarm's ARN.
    #[serde(rename = "AlarmARN", default)]
    pub alarm_arn: String,
}

/// `StepScalingPolicyConfiguration`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepScalingConfiguration {
    /// `ChangeInCapacity`, `PercentChangeInCapacity` or `ExactCapacity`.
    #[serde(default)]
    pub adjustment_type: Option<String>,
    /// The steps.
    #[serde(default)]
    pub step_adjustments: Vec<StepAdjustment>,
    /// Smallest change of a percent step.
    #[serde(default)]
    pub min_adjustment_magnitude: Option<i64>,
    /// Cooldown in seconds (AWS's default is 300).
    #[serde(default)]
    pub cooldown: Option<i64>,
    /// `Average`, `Minimum` or `Maximum` (absent: `Average`).
    #[serde(default)]
    pub metric_aggregation_type: Option<String>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepAdjustment {
    /// Lower bound (absent: minus infinity).
    #[serde(default)]
    pub metric_interval_lower_bound: Option<f64>,
    /// Upper bound (absent: plus infinity).
    #[serde(default)]
    pub metric_interval_upper_bound: Option<f64>,
    /// The adjustment.
    pub scaling_adjustment: i64,
}

/// `TargetTrackingScalingPolicyConfiguration`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetTrackingConfiguration {
    /// The target.
    pub target_value: f64,
    /// A metric AWS defines.
    #[serde(default)]
    pub predefined_metric_specification: Option<PredefinedMetric>,
    /// A CloudWatch metric or metric math.
    #[serde(default)]
    pub customized_metric_specification: Option<CustomizedMetric>,
    /// Seconds (AWS's default for ECS is 300).
    #[serde(default)]
    pub scale_out_cooldown: Option<i64>,
    /// Seconds (AWS's default for ECS is 300).
    #[serde(default)]
    pub scale_in_cooldown: Option<i64>,
    /// The policy never removes capacity.
    #[serde(default)]
    pub disable_scale_in: Option<bool>,
}

/// `PredefinedMetricSpecification`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PredefinedMetric {
    /// E.g. `ECSServiceAverageCPUUtilization`, `ALBRequestCountPerTarget`.
    pub predefined_metric_type: String,
    /// For `ALBRequestCountPerTarget`: `app/<lb>/<lb-id>/targetgroup/<tg>/<tg-id>`.
    #[serde(default)]
    pub resource_label: Option<String>,
}

/// `CustomizedMetricSpecification`: the legacy form (one metric) or metric math (`Metrics`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomizedMetric {
    /// Metric name (legacy form).
    #[serde(default)]
    pub metric_name: Option<String>,
    /// Namespace (legacy form).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Dimensions (legacy form).
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    /// Statistic (legacy form).
    #[serde(default)]
    pub statistic: Option<String>,
    /// Unit (legacy form).
    #[serde(default)]
    pub unit: Option<String>,
    /// Metric math queries.
    #[serde(default)]
    pub metrics: Vec<MetricQuery>,
}

/// A metric math query, of a target tracking policy or of an alarm.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricQuery {
    /// Its id, referenced by expressions.
    pub id: String,
    /// An expression over other queries.
    #[serde(default)]
    pub expression: Option<String>,
    /// A metric and statistic.
    #[serde(default)]
    pub metric_stat: Option<MetricStat>,
    /// A label.
    #[serde(default)]
    pub label: Option<String>,
    /// Whether this query is the result (absent: true).
    #[serde(default)]
    pub return_data: Option<bool>,
    /// Period of an expression (alarms).
    #[serde(default)]
    pub period: Option<i64>,
    /// Another account's metric.
    #[serde(default)]
    pub account_id: Option<String>,
}

/// `MetricStat`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStat {
    /// The metric.
    pub metric: Metric,
    /// The statistic.
    pub stat: String,
    /// Unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// Period in seconds (alarms; target tracking uses one minute).
    #[serde(default)]
    pub period: Option<i64>,
}

/// A CloudWatch metric.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metric {
    /// Namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Name.
    #[serde(default)]
    pub metric_name: Option<String>,
    /// Dimensions.
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
}

/// A metric dimension.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// `PredictiveScalingPolicyConfiguration` (only what the report needs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PredictiveScalingConfiguration {
    /// `ForecastOnly` (default) or `ForecastAndScale`.
    #[serde(default)]
    pub mode: Option<String>,
}

/// A scheduled action.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduledAction {
    /// Its name.
    pub scheduled_action_name: String,
    /// `ecs` for ECS services.
    pub service_namespace: String,
    /// `at(...)`, `rate(...)` or `cron(...)`.
    pub schedule: String,
    /// IANA time zone of `at` and `cron`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// The scalable target's resource.
    pub resource_id: String,
    /// The scalable target's dimension.
    #[serde(default)]
    pub scalable_dimension: Option<String>,
    /// First run not before.
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    /// No run after.
    #[serde(default)]
    pub end_time: Option<Timestamp>,
    /// The bounds it sets.
    #[serde(default)]
    pub scalable_target_action: Option<ScalableTargetAction>,
    /// When the action was created (a `rate` without `StartTime` is counted from it).
    #[serde(default)]
    pub creation_time: Option<Timestamp>,
}

/// The bounds a scheduled action sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalableTargetAction {
    /// New minimum.
    #[serde(default)]
    pub min_capacity: Option<i64>,
    /// New maximum.
    #[serde(default)]
    pub max_capacity: Option<i64>,
}

/// A CloudWatch metric alarm.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricAlarm {
    /// Its name.
    pub alarm_name: String,
    /// Its ARN (CloudWatch spells it `AlarmArn`).
    #[serde(default)]
    pub alarm_arn: Option<String>,
    /// Whether its actions run.
    #[serde(default)]
    pub actions_enabled: Option<bool>,
    /// What it invokes in ALARM (scaling policy ARNs among them).
    #[serde(default)]
    pub alarm_actions: Vec<String>,
    /// Metric name (single-metric alarms).
    #[serde(default)]
    pub metric_name: Option<String>,
    /// Namespace (single-metric alarms).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Statistic (single-metric alarms).
    #[serde(default)]
    pub statistic: Option<String>,
    /// Percentile or other extended statistic (single-metric alarms).
    #[serde(default)]
    pub extended_statistic: Option<String>,
    /// Dimensions (single-metric alarms).
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    /// Period in seconds (single-metric alarms).
    #[serde(default)]
    pub period: Option<i64>,
    /// Unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// N.
    #[serde(default)]
    pub evaluation_periods: Option<i64>,
    /// M (absent: N).
    #[serde(default)]
    pub datapoints_to_alarm: Option<i64>,
    /// Threshold.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Operator.
    #[serde(default)]
    pub comparison_operator: Option<String>,
    /// `missing`, `notBreaching`, `breaching` or `ignore`.
    #[serde(default)]
    pub treat_missing_data: Option<String>,
    /// `evaluate` or `ignore` (percentiles with few samples).
    #[serde(default)]
    pub evaluate_low_sample_count_percentile: Option<String>,
    /// Metric math (instead of the single metric).
    #[serde(default)]
    pub metrics: Vec<MetricQuery>,
    /// Anomaly detection band (not supported).
    #[serde(default)]
    pub threshold_metric_id: Option<String>,
}

/// An instant, read from epoch seconds or ISO 8601.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.to_rfc3339())
    }
}

impl Timestamp {
    /// Parses epoch seconds (with a fraction) or ISO 8601 (`Z`, `+00:00`, or no offset = UTC).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<f64>() {
            return Self::from_epoch(seconds);
        }
        if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
            return Some(Self(instant.with_timezone(&Utc)));
        }
        // `2026-01-05T08:00:00.000000+0000` and offset-less forms.
        for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
            if let Ok(instant) = DateTime::parse_from_str(text, format) {
                return Some(Self(instant.with_timezone(&Utc)));
            }
        }
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|naive| Self(Utc.from_utc_datetime(&naive)))
    }

    /// An instant from epoch seconds, to the microsecond (what AWS keeps; an `f64` of today's
    /// epoch seconds holds no more).
    pub fn from_epoch(seconds: f64) -> Option<Self> {
        if !seconds.is_finite() {
            return None;
        }
        let micros = (seconds * 1e6).round();
        if micros.abs() > 9.0e18 {
            return None;
        }
        let micros = micros as i64;
        let nanos = (micros.rem_euclid(1_000_000) * 1000) as u32;
        Utc.timestamp_opt(micros.div_euclid(1_000_000), nanos)
            .single()
            .map(Self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Reads a number or a string, and says what it expected when it gets anything else
        /// (an untagged enum would only say that no variant matched).
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("epoch seconds or an ISO 8601 timestamp")
            }

            fn visit_f64<E: serde::de::Error>(self, seconds: f64) -> Result<Timestamp, E> {
                Timestamp::from_epoch(seconds)
                    .ok_or_else(|| E::custom(format!("{seconds} is not a valid epoch timestamp")))
            }

            fn visit_i64<E: serde::de::Error>(self, seconds: i64) -> Result<Timestamp, E> {
                self.visit_f64(seconds as f64)
            }

            fn visit_u64<E: serde::de::Error>(self, seconds: u64) -> Result<Timestamp, E> {
                self.visit_f64(seconds as f64)
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
                Timestamp::parse(text).ok_or_else(|| {
                    E::custom(format!(
                        "`{text}` is not a timestamp: expected epoch seconds or ISO 8601"
                    ))
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Everything the importer reads, from files or from AWS.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsInput {
    /// `describe-scalable-targets`.
    pub scalable_targets: Vec<ScalableTarget>,
    /// `describe-scaling-policies`.
    pub scaling_policies: Vec<ScalingPolicy>,
    /// `describe-scheduled-actions`.
    pub scheduled_actions: Vec<ScheduledAction>,
    /// `describe-alarms`, or why the alarms could not be read.
    pub alarms: Result<Vec<MetricAlarm>, String>,
}

/// The file names `--from-dir` reads.
pub const SCALABLE_TARGETS_FILE: &str = "describe-scalable-targets.json";
/// See [`SCALABLE_TARGETS_FILE`].
pub const SCALING_POLICIES_FILE: &str = "describe-scaling-policies.json";
/// See [`SCALABLE_TARGETS_FILE`].
pub const SCHEDULED_ACTIONS_FILE: &str = "describe-scheduled-actions.json";
/// See [`SCALABLE_TARGETS_FILE`]; may be absent.
pub const ALARMS_FILE: &str = "describe-alarms.json";

/// Reads the four files of `dir` (`describe-alarms.json` may be absent; a missing
/// `describe-scheduled-actions.json` or `describe-scaling-policies.json` is an error, since an
/// empty answer is a file with an empty list).
pub fn read_dir(dir: &Path) -> Result<AwsInput, String> {
    fn read<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>, String> {
        let path = dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("{}: cannot read: {error}", path.display())),
        };
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut deserializer)
            .map(Some)
            .map_err(|e| match e.path().to_string().as_str() {
                // Broken JSON between two fields of the document itself: no field to name, the
                // message has the line and column.
                "?" | "." => format!("{}: {}", path.display(), e.into_inner()),
                field => format!("{}: {field}: {}", path.display(), e.into_inner()),
            })
    }
    let required = |name: &str| {
        format!(
            "{}: missing (save the output of `aws application-autoscaling {} --service-namespace \
             ecs` there)",
            dir.join(name).display(),
            name.trim_end_matches(".json")
        )
    };
    let targets: DescribeScalableTargets =
        read(dir, SCALABLE_TARGETS_FILE)?.ok_or_else(|| required(SCALABLE_TARGETS_FILE))?;
    let policies: DescribeScalingPolicies =
        read(dir, SCALING_POLICIES_FILE)?.ok_or_else(|| required(SCALING_POLICIES_FILE))?;
    let actions: DescribeScheduledActions =
        read(dir, SCHEDULED_ACTIONS_FILE)?.ok_or_else(|| required(SCHEDULED_ACTIONS_FILE))?;
    let alarms: Option<DescribeAlarms> = read(dir, ALARMS_FILE)?;
    Ok(AwsInput {
        scalable_targets: targets.scalable_targets,
        scaling_policies: policies.scaling_policies,
        scheduled_actions: actions.scheduled_actions,
        alarms: alarms.map(|a| a.metric_alarms).ok_or_else(|| {
            format!(
                "{} is absent (save the output of `aws cloudwatch describe-alarms` there)",
                dir.join(ALARMS_FILE).display()
            )
        }),
    })
}
