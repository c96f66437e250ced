//! The CloudWatch alarm vocabulary, in one place below its three users.
//!
//! The policy model (`policy::document`: alarms written in a policy set), the CloudWatch alarm
//! source (`sources::cloudwatch::alarms`: alarms read by name with `DescribeAlarms`, translated
//! into the same definition, and their `StateValue` in `trustState` mode) and the engine
//! (`engine::alarm`: M of N over the evaluation range) share these types. They live here, with
//! no dependency on any of the three, so data flows one way: the sources produce definitions and
//! states, the policy model compiles them, the engine evaluates them. `policy::document` and
//! `engine::alarm` re-export them under their historical paths.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The three CloudWatch alarm states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// Not enough data to decide.
    #[default]
    InsufficientData,
    /// Within the threshold.
    Ok,
    /// Breaching.
    Alarm,
}

/// CloudWatch statistics that can be computed from the datapoints of a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Statistic {
    /// Mean of the period's values.
    #[default]
    Average,
    /// Sum of the period's values.
    Sum,
    /// Smallest value of the period.
    Minimum,
    /// Largest value of the period.
    Maximum,
    /// Number of values in the period.
    SampleCount,
}

/// The four threshold operators of CloudWatch alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ComparisonOperator {
    /// `value >= threshold` breaches.
    GreaterThanOrEqualToThreshold,
    /// `value > threshold` breaches.
    GreaterThanThreshold,
    /// `value < threshold` breaches.
    LessThanThreshold,
    /// `value <= threshold` breaches.
    LessThanOrEqualToThreshold,
}

/// How an alarm treats missing periods when its evaluation range holds fewer than N real
/// datapoints (with N or more, it is not used: see [`crate::engine::alarm`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    /// Filled-in periods count as neither: M real breaches give ALARM, a real datapoint within
    /// the threshold gives OK, otherwise INSUFFICIENT_DATA (the default).
    #[default]
    Missing,
    /// Filled-in periods count as within the threshold.
    NotBreaching,
    /// Filled-in periods count as breaching.
    Breaching,
    /// As `missing`, except that the alarm keeps its current state where `missing` gives
    /// INSUFFICIENT_DATA.
    Ignore,
}

/// A CloudWatch-style alarm over one metric (its period is the metric's period).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmSpec {
    /// The metric the alarm watches (a key of `spec.metrics`).
    pub metric: String,
    /// The CloudWatch alarm name it was imported from (provenance only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    /// Statistic applied to each period (default Average).
    #[serde(default)]
    pub statistic: Statistic,
    /// How a period's value is compared with the threshold.
    pub comparison_operator: ComparisonOperator,
    /// The threshold.
    pub threshold: f64,
    /// N: how many of the newest periods are evaluated.
    pub evaluation_periods: u32,
    /// M: how many of those N must breach (default N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<u32>,
    /// How missing periods are treated (default `missing`).
    #[serde(default)]
    pub treat_missing_data: TreatMissingData,
    /// Divide each period's value by the capacity of that period (a "per task" metric).
    #[serde(default)]
    pub per_task: bool,
}

/// Whether CloudWatch accepts `seconds` as an alarm period: 10, 20, 30 or a multiple of 60
/// ("Period": "Valid values are 10, 20, 30, and any multiple of 60", PutMetricAlarm API
/// reference).
pub fn is_valid_period(seconds: u32) -> bool {
    matches!(seconds, 10 | 20 | 30) || (seconds > 0 && seconds.is_multiple_of(60))
}
