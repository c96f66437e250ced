//! The validated, index-resolved form of a policy set that the engine evaluates.
//!
//! Names are resolved to indices once, at compile time, so the hot path never looks anything
//! up by name. Target tracking policies get their two implicit alarms here (spec B.3).

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::Hasher;
use std::sync::Arc;

use super::document::{
    AdjustmentType, ComparisonOperator, CooldownScope, MetricAggregationType, MetricSpec,
    ScaleTargetRef, ScalingPolicySet, Statistic, SuspendedState, TreatMissingData,
};
use crate::engine::schedule::Schedule;
pub use crate::id::PolicySetId;
use crate::sources::cloudwatch::alarms::{AlarmKey, CloudWatchAlarmRef};

/// The namespace used when a document or a reference names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A validated policy set, ready for the engine.
#[derive(Debug, Clone)]
pub struct CompiledPolicySet {
    /// Namespace and name.
    pub id: PolicySetId,
    /// Identifies the document it was compiled from: two equal documents have equal
    /// fingerprints (the document itself is not kept: it costs more than the compiled set).
    pub fingerprint: u64,
    /// `spec.scaleTargetRef`.
    pub scale_target_ref: Option<ScaleTargetRef>,
    /// The document, kept only while it reads CloudWatch alarms whose definitions have not
    /// been read yet (they are resolved into a new document, compiled again).
    pub pending_document: Option<Arc<ScalingPolicySet>>,
    /// Minimum capacity before any scheduled action.
    pub min_capacity: u32,
    /// Maximum capacity before any scheduled action.
    pub max_capacity: u32,
    /// Suspension flags.
    pub suspended: SuspendedState,
    /// The metrics, indexed by [`MetricId`].
    pub metrics: Vec<MetricDef>,
    /// Declared and implicit alarms, indexed by [`AlarmId`].
    pub alarms: Vec<AlarmDef>,
    /// The policies, in document order.
    pub policies: Vec<Policy>,
    /// The scheduled actions, in document order.
    pub scheduled_actions: Vec<ScheduledAction>,
    /// Settings for undocumented AWS behaviour.
    pub behavior: Behavior,
}

/// Index of a metric in [`CompiledPolicySet::metrics`].
pub type MetricId = usize;
/// Index of an alarm in [`CompiledPolicySet::alarms`].
pub type AlarmId = usize;

/// A metric and how much history it needs.
#[derive(Debug, Clone)]
pub struct MetricDef {
    /// Its key in `spec.metrics`.
    pub name: String,
    /// Period of its datapoints, in seconds.
    pub period_seconds: u32,
    /// How many periods of history the alarms over it need.
    pub history_periods: usize,
    /// Where its data comes from.
    pub source: MetricSpec,
}

/// Where an alarm comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmOrigin {
    /// Declared in `spec.alarms`.
    Declared,
    /// The scale-out alarm of the target tracking policy at this index.
    TargetTrackingHigh(usize),
    /// The scale-in alarm of the target tracking policy at this index.
    TargetTrackingLow(usize),
}

/// A CloudWatch-style alarm over one metric.
#[derive(Debug, Clone)]
pub struct AlarmDef {
    /// Its key in `spec.alarms`, or a generated name for implicit alarms.
    pub name: String,
    /// Declared or implicit.
    pub origin: AlarmOrigin,
    /// The metric it watches.
    pub metric: MetricId,
    /// Statistic per period.
    pub statistic: Statistic,
    /// Comparison with the threshold.
    pub operator: ComparisonOperator,
    /// The threshold.
    pub threshold: f64,
    /// N.
    pub evaluation_periods: u32,
    /// The periods evaluated when some are missing: N plus
    /// `spec.behavior.alarmEvaluationRangeExtraPeriods` (see [`crate::engine::alarm`]).
    pub evaluation_range: u32,
    /// M.
    pub datapoints_to_alarm: u32,
    /// Treatment of missing periods.
    pub treat_missing_data: TreatMissingData,
    /// Whether each period's value is divided by that period's capacity.
    pub per_task: bool,
    /// For a CloudWatch alarm in mode `trustState`: where its state is read. `None`: the
    /// engine evaluates the alarm (M of N).
    pub trusted: Option<TrustedAlarm>,
}

/// A CloudWatch alarm whose state is CloudWatch's `StateValue` (mode `trustState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedAlarm {
    /// The alarm.
    pub key: AlarmKey,
    /// Seconds between two reads of its state.
    pub refresh_seconds: u32,
}

/// A scaling policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The AAS policy name.
    pub name: String,
    /// Its configuration.
    pub kind: PolicyKind,
}

/// The two dynamic policy types.
#[derive(Debug, Clone)]
pub enum PolicyKind {
    /// Target tracking.
    TargetTracking(TargetTracking),
    /// Step scaling.
    StepScaling(StepScaling),
}

/// A compiled target tracking policy.
#[derive(Debug, Clone)]
pub struct TargetTracking {
    /// The tracked metric.
    pub metric: MetricId,
    /// Target value.
    pub target_value: f64,
    /// Whether the metric is divided by the capacity.
    pub per_task: bool,
    /// Statistic per period.
    pub statistic: Statistic,
    /// Scale-out cooldown in seconds.
    pub scale_out_cooldown: u32,
    /// Scale-in cooldown in seconds.
    pub scale_in_cooldown: u32,
    /// The policy never removes capacity.
    pub disable_scale_in: bool,
    /// Its implicit scale-out alarm.
    pub high_alarm: AlarmId,
    /// Its implicit scale-in alarm.
    pub low_alarm: AlarmId,
}

/// A compiled step scaling policy.
#[derive(Debug, Clone)]
pub struct StepScaling {
    /// The alarm that invokes it.
    pub alarm: AlarmId,
    /// How adjustments are applied.
    pub adjustment_type: AdjustmentType,
    /// Steps sorted by lower bound; bounds are `-inf`/`+inf` where absent.
    pub steps: Vec<Step>,
    /// Smallest change of a percent step (0 when unset).
    pub min_adjustment_magnitude: u32,
    /// Cooldown in seconds.
    pub cooldown: u32,
    /// Aggregation of the alarm's datapoints.
    pub aggregation: MetricAggregationType,
}

/// One step interval of a step scaling policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Index in the document's `stepAdjustments` (for reasons).
    pub index: usize,
    /// Lower bound of `metric - threshold` (`-inf` when absent).
    pub lower: f64,
    /// Upper bound of `metric - threshold` (`+inf` when absent).
    pub upper: f64,
    /// The adjustment.
    pub adjustment: i32,
}

/// A compiled scheduled action.
#[derive(Debug, Clone)]
pub struct ScheduledAction {
    /// Its name.
    pub name: String,
    /// When it runs.
    pub schedule: Schedule,
    /// New minimum capacity, if it sets one.
    pub min_capacity: Option<u32>,
    /// New maximum capacity, if it sets one.
    pub max_capacity: Option<u32>,
}

/// Compiled [`super::document::BehaviorSpec`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behavior {
    /// Cooldown clocks per target or per policy.
    pub cooldown_scope: CooldownScope,
    /// A scale-out cooldown also blocks scale-in.
    pub scale_in_blocked_during_scale_out_cooldown: bool,
    /// Seconds between invocations while an alarm stays in ALARM.
    pub reinvocation_interval_seconds: u32,
    /// `minAdjustmentMagnitude` applies to scale-in too.
    pub min_adjustment_magnitude_on_scale_in: bool,
}

impl CompiledPolicySet {
    /// The metric name reported to KEDA for this policy set.
    pub fn keda_metric_name(&self) -> String {
        keda_metric_name(&self.id)
    }

    /// The CloudWatch alarms whose definition has not been read yet, by their key in
    /// `spec.alarms`. A policy set with any cannot be evaluated: its alarms and their metrics
    /// are placeholders until [`super::cloudwatch_alarm::resolve`] has filled them in.
    pub fn unresolved_alarms(&self) -> Vec<(&str, &CloudWatchAlarmRef)> {
        self.pending_document
            .iter()
            .flat_map(|document| super::cloudwatch_alarm::unresolved(document))
            .collect()
    }
}

/// The fingerprint of a document: a hash of its complete debug rendering (every field, maps in
/// key order), written straight into the hasher.
pub fn fingerprint(document: &ScalingPolicySet) -> u64 {
    struct HashWriter(DefaultHasher);
    impl fmt::Write for HashWriter {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            self.0.write(text.as_bytes());
            Ok(())
        }
    }
    let mut writer = HashWriter(DefaultHasher::new());
    // Writing into a hasher cannot fail.
    let _ = fmt::Write::write_fmt(&mut writer, format_args!("{document:?}"));
    writer.0.finish()
}

/// The metric name reported to KEDA for a policy set: `ecs-desired-<namespace>-<name>`,
/// lower-cased, with characters KEDA does not accept replaced by `-`.
pub fn keda_metric_name(id: &PolicySetId) -> String {
    format!("ecs-desired-{}-{}", id.namespace, id.name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}
