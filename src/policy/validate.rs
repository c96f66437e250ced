//! Validation and compilation of a [`ScalingPolicySet`] document.
//!
//! Every rule is checked and every failure is collected with the path of the field it concerns,
//! so a user fixes a document in one pass. Only a document without errors compiles.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use chrono_tz::Tz;

use super::cloudwatch_alarm::metric_key;
use super::compiled::{
    AlarmDef, AlarmOrigin, Behavior, CompiledPolicySet, DEFAULT_NAMESPACE, MetricDef, Policy,
    PolicyKind, PolicySetId, ScheduledAction, Step, StepScaling, TargetTracking, TrustedAlarm,
};
use super::document::{
    API_VERSION, AdjustmentType, AlarmEntry, AlarmMode, AlarmSpec, BehaviorSpec, CloudWatchAlarm,
    ComparisonOperator, DEFAULT_EVALUATION_RANGE_EXTRA_PERIODS, ImplicitAlarmSpec, KIND,
    MAX_EVALUATION_RANGE_EXTRA_PERIODS, MetricSpec, ScalingPolicySet, ScheduledActionSpec,
    Statistic, StepAdjustmentSpec, StepScalingSpec, TargetTrackingSpec, TreatMissingData,
};
pub use crate::alarm_model::is_valid_period;
use crate::engine::schedule::Schedule;

/// The longest evaluation window CloudWatch accepts, in seconds (one day).
const MAX_EVALUATION_WINDOW_SECONDS: u64 = 86_400;

/// One problem in a document, with the path of the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Dotted path such as `spec.policies[2].stepScaling.stepAdjustments[1]`.
    pub path: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Validates a document and compiles it for the engine.
///
/// A CloudWatch alarm referenced by name (`cloudwatchAlarm`) compiles into an alarm over a
/// generated `cloudwatch` metric (`alarm:<key>`) once the document is resolved
/// ([`super::cloudwatch_alarm::resolve`]). Until then the reference is checked, and its alarm and
/// metric are placeholders: the result validates the rest of the document, and
/// [`CompiledPolicySet::unresolved_alarms`] says it must not be evaluated.
pub fn compile(document: &ScalingPolicySet) -> Result<CompiledPolicySet, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    check_header(document, &mut errors);
    let spec = &document.spec;
    let target = &spec.scalable_target;
    check_replicas(
        "spec.scalableTarget.maxCapacity",
        target.max_capacity,
        &mut errors,
    );
    if target.min_capacity > target.max_capacity {
        errors.push(
            "spec.scalableTarget",
            format!(
                "minCapacity {} is greater than maxCapacity {}",
                target.min_capacity, target.max_capacity
            ),
        );
    }
    let behavior = compile_behavior(&spec.behavior, &mut errors);

    // The metrics of the CloudWatch alarms read by name come after the declared ones.
    let generated: Vec<(&str, &CloudWatchAlarm, String)> = spec
        .alarms
        .iter()
        .filter_map(|(key, entry)| {
            entry
                .cloudwatch()
                .map(|alarm| (key.as_str(), alarm, metric_key(key)))
        })
        .collect();
    let mut metric_index: BTreeMap<&str, usize> = spec
        .metrics
        .keys()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    let mut metrics: Vec<MetricDef> = spec
        .metrics
        .iter()
        .map(|(name, source)| {
            check_metric(name, source, &mut errors);
            MetricDef {
                name: name.clone(),
                period_seconds: source.period_seconds(),
                history_periods: 1,
                source: source.clone(),
            }
        })
        .collect();
    for (key, alarm, metric_name) in &generated {
        let path = format!("spec.alarms.{key}.cloudwatchAlarm");
        for (field, message) in alarm.reference.problems() {
            errors.push(format!("{path}.{field}"), message);
        }
        if spec.metrics.contains_key(metric_name) {
            errors.push(
                format!("spec.metrics.{metric_name}"),
                format!(
                    "the name is reserved for the metric of the CloudWatch alarm spec.alarms.{key}"
                ),
            );
            continue;
        }
        let source = match &alarm.resolved {
            Some(resolved) => {
                let source = MetricSpec::CloudWatch(Box::new(resolved.metric.clone()));
                check_source(&format!("{path}.metric"), &source, &mut errors);
                source
            }
            // A placeholder: the policy set is not evaluated before the alarm is resolved.
            None => MetricSpec::CloudWatch(Box::new(alarm.reference.source())),
        };
        metric_index.insert(metric_name.as_str(), metrics.len());
        metrics.push(MetricDef {
            name: metric_name.clone(),
            period_seconds: source.period_seconds(),
            history_periods: 1,
            source,
        });
    }

    let mut alarms = Vec::new();
    let mut alarm_index = BTreeMap::new();
    for (name, entry) in &spec.alarms {
        let path = format!("spec.alarms.{name}");
        let def = match entry {
            AlarmEntry::Inline(alarm) => {
                compile_alarm(name, alarm, &path, &metric_index, &metrics, &mut errors)
            }
            AlarmEntry::CloudWatch(alarm) => {
                compile_cloudwatch_alarm(name, alarm, &path, &metric_index, &metrics, &mut errors)
            }
        };
        if let Some(def) = def {
            alarm_index.insert(name.as_str(), alarms.len());
            alarms.push(def);
        }
    }

    let mut policies = Vec::new();
    let mut names = HashSet::new();
    for (i, policy) in spec.policies.iter().enumerate() {
        let path = format!("spec.policies[{i}]");
        if policy.policy_name.trim().is_empty() {
            errors.push(format!("{path}.policyName"), "must not be empty");
        } else if !names.insert(policy.policy_name.as_str()) {
            errors.push(
                format!("{path}.policyName"),
                format!("duplicate policy name `{}`", policy.policy_name),
            );
        }
        let kind = match (&policy.target_tracking, &policy.step_scaling) {
            (Some(tt), None) => compile_target_tracking(
                tt,
                &format!("{path}.targetTracking"),
                i,
                &behavior_spec_alarms(&spec.behavior),
                &metric_index,
                &metrics,
                &mut alarms,
                &mut errors,
            )
            .map(PolicyKind::TargetTracking),
            (None, Some(step)) => compile_step(
                step,
                &format!("{path}.stepScaling"),
                &alarm_index,
                &mut errors,
            )
            .map(PolicyKind::StepScaling),
            _ => {
                errors.push(
                    path,
                    "set exactly one of `targetTracking` and `stepScaling`",
                );
                None
            }
        };
        if let Some(kind) = kind {
            policies.push(Policy {
                name: policy.policy_name.clone(),
                kind,
            });
        }
    }

    let mut scheduled_actions = Vec::new();
    let mut action_names = HashSet::new();
    for (i, action) in spec.scheduled_actions.iter().enumerate() {
        let path = format!("spec.scheduledActions[{i}]");
        if !action_names.insert(action.scheduled_action_name.as_str()) {
            errors.push(
                format!("{path}.scheduledActionName"),
                format!(
                    "duplicate scheduled action name `{}`",
                    action.scheduled_action_name
                ),
            );
        }
        if let Some(compiled) = compile_action(action, &path, &mut errors) {
            scheduled_actions.push(compiled);
        }
    }

    // Each alarm evaluates its evaluation range, and each metric keeps the longest range of the
    // alarms over it (spec B.7). An out-of-range setting is reported by `compile_behavior`.
    let evaluation_range_extra_periods = spec
        .behavior
        .alarm_evaluation_range_extra_periods
        .min(MAX_EVALUATION_RANGE_EXTRA_PERIODS);
    for alarm in &mut alarms {
        alarm.evaluation_range = alarm
            .evaluation_periods
            .saturating_add(evaluation_range_extra_periods);
        let needed = alarm.evaluation_range as usize;
        let metric = &mut metrics[alarm.metric];
        metric.history_periods = metric.history_periods.max(needed);
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    // A served policy set lives as long as its definition: no spare capacity.
    metrics.shrink_to_fit();
    alarms.shrink_to_fit();
    policies.shrink_to_fit();
    scheduled_actions.shrink_to_fit();
    Ok(CompiledPolicySet {
        id: PolicySetId::new(
            document
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            document.metadata.name.clone(),
        ),
        fingerprint: super::compiled::fingerprint(document),
        scale_target_ref: document.spec.scale_target_ref.clone(),
        pending_document: super::cloudwatch_alarm::unresolved(document)
            .next()
            .is_some()
            .then(|| Arc::new(document.clone())),
        min_capacity: target.min_capacity,
        max_capacity: target.max_capacity,
        suspended: target.suspended_state,
        metrics,
        alarms,
        policies,
        scheduled_actions,
        behavior,
    })
}

fn check_header(document: &ScalingPolicySet, errors: &mut ValidationErrors) {
    if document.api_version != API_VERSION {
        errors.push(
            "apiVersion",
            format!("expected `{API_VERSION}`, found `{}`", document.api_version),
        );
    }
    if document.kind != KIND {
        errors.push(
            "kind",
            format!("expected `{KIND}`, found `{}`", document.kind),
        );
    }
    check_dns_name("metadata.name", &document.metadata.name, 253, errors);
    if let Some(namespace) = &document.metadata.namespace {
        check_dns_name("metadata.namespace", namespace, 63, errors);
    }
}

/// The HPA holds replica counts in 32-bit signed integers: a larger capacity cannot be reached.
fn check_replicas(path: &str, value: u32, errors: &mut ValidationErrors) {
    if value > crate::policy::inline::MAX_REPLICAS {
        errors.push(
            path,
            format!(
                "{value} is more than {} (the HPA's replica count is a 32-bit integer)",
                crate::policy::inline::MAX_REPLICAS
            ),
        );
    }
}

fn check_dns_name(path: &str, value: &str, max_len: usize, errors: &mut ValidationErrors) {
    let valid = !value.is_empty()
        && value.len() <= max_len
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        errors.push(
            path,
            format!(
                "`{value}` is not a valid name: use at most {max_len} lower-case letters, digits, \
                 `-` or `.`, starting and ending with a letter or digit"
            ),
        );
    }
}

fn check_metric(name: &str, source: &MetricSpec, errors: &mut ValidationErrors) {
    let path = format!("spec.metrics.{name}");
    if name.is_empty() || name.contains('/') {
        errors.push(&path, "a metric name must be non-empty and contain no `/`");
    }
    check_source(&format!("{path}.{}", source.kind()), source, errors);
}

/// Checks a metric source; `prefix` is the path of its fields.
fn check_source(prefix: &str, source: &MetricSpec, errors: &mut ValidationErrors) {
    let period = source.period_seconds();
    if !is_valid_period(period) {
        errors.push(
            format!("{prefix}.period"),
            format!("{period} is not a valid period: use 10, 20, 30 or a multiple of 60"),
        );
    }
    if source.stale_after_seconds() == Some(0) {
        errors.push(
            format!("{prefix}.staleAfterSeconds"),
            "must be positive (or absent for the default)",
        );
    }
    let problems: Vec<(String, String)> = match source {
        MetricSpec::Push(_) => Vec::new(),
        MetricSpec::Sqs(sqs) => own(sqs.problems()),
        MetricSpec::CloudWatch(cloudwatch) => cloudwatch.problems(),
        MetricSpec::Prometheus(prometheus) => own(prometheus.problems()),
    };
    for (field, message) in problems {
        errors.push(format!("{prefix}.{field}"), message);
    }
}

fn own(problems: Vec<(&str, String)>) -> Vec<(String, String)> {
    problems
        .into_iter()
        .map(|(field, message)| (field.to_owned(), message))
        .collect()
}

/// A CloudWatch alarm read by name: its resolved alarm (errors at
/// `spec.alarms.<name>.cloudwatchAlarm`), or a placeholder until it is resolved.
fn compile_cloudwatch_alarm(
    name: &str,
    alarm: &CloudWatchAlarm,
    path: &str,
    metric_index: &BTreeMap<&str, usize>,
    metrics: &[MetricDef],
    errors: &mut ValidationErrors,
) -> Option<AlarmDef> {
    // A reserved metric name taken by the document: reported already.
    metric_index.get(metric_key(name).as_str())?;
    let path = format!("{path}.cloudwatchAlarm");
    let Some(resolved) = &alarm.resolved else {
        let placeholder = AlarmSpec {
            metric: metric_key(name),
            alarm_name: Some(alarm.reference.alarm_name.clone()),
            statistic: Statistic::Average,
            comparison_operator: ComparisonOperator::GreaterThanThreshold,
            threshold: 0.0,
            evaluation_periods: 1,
            datapoints_to_alarm: None,
            treat_missing_data: TreatMissingData::Missing,
            per_task: false,
        };
        return compile_alarm(name, &placeholder, &path, metric_index, metrics, errors);
    };
    let mut def = compile_alarm(name, &resolved.alarm, &path, metric_index, metrics, errors)?;
    if alarm.reference.mode == AlarmMode::TrustState {
        def.trusted = Some(TrustedAlarm {
            key: alarm.reference.key(),
            refresh_seconds: alarm.reference.refresh_seconds,
        });
    }
    Some(def)
}

fn compile_alarm(
    name: &str,
    alarm: &AlarmSpec,
    path: &str,
    metric_index: &BTreeMap<&str, usize>,
    metrics: &[MetricDef],
    errors: &mut ValidationErrors,
) -> Option<AlarmDef> {
    let metric = resolve(
        &alarm.metric,
        metric_index,
        &format!("{path}.metric"),
        "metric",
        errors,
    );
    if !alarm.threshold.is_finite() {
        errors.push(format!("{path}.threshold"), "must be a finite number");
    }
    let evaluation_periods = alarm.evaluation_periods;
    let datapoints_to_alarm = alarm.datapoints_to_alarm.unwrap_or(evaluation_periods);
    check_m_of_n(path, evaluation_periods, datapoints_to_alarm, errors);
    let metric = metric?;
    check_window(
        &format!("{path}.evaluationPeriods"),
        metrics[metric].period_seconds,
        evaluation_periods,
        errors,
    );
    Some(AlarmDef {
        name: name.to_owned(),
        origin: AlarmOrigin::Declared,
        metric,
        statistic: alarm.statistic,
        operator: alarm.comparison_operator,
        threshold: alarm.threshold,
        evaluation_periods,
        evaluation_range: evaluation_periods,
        datapoints_to_alarm,
        treat_missing_data: alarm.treat_missing_data,
        per_task: alarm.per_task,
        trusted: None,
    })
}

fn check_m_of_n(path: &str, n: u32, m: u32, errors: &mut ValidationErrors) {
    if n == 0 {
        errors.push(format!("{path}.evaluationPeriods"), "must be at least 1");
    }
    if m == 0 || m > n {
        errors.push(
            format!("{path}.datapointsToAlarm"),
            format!("{m} must be between 1 and evaluationPeriods ({n})"),
        );
    }
}

/// `path` is the field the error is reported on.
fn check_window(path: &str, period: u32, n: u32, errors: &mut ValidationErrors) {
    if u64::from(period) * u64::from(n) > MAX_EVALUATION_WINDOW_SECONDS {
        errors.push(
            path,
            format!("{n} periods of {period} s exceed CloudWatch's one-day evaluation window"),
        );
    }
}

fn resolve(
    name: &str,
    index: &BTreeMap<&str, usize>,
    path: &str,
    what: &str,
    errors: &mut ValidationErrors,
) -> Option<usize> {
    let found = index.get(name).copied();
    if found.is_none() {
        let known: Vec<&str> = index.keys().copied().collect();
        errors.push(
            path,
            format!("unknown {what} `{name}`; declared: [{}]", known.join(", ")),
        );
    }
    found
}

struct ImplicitAlarms {
    high: ImplicitAlarmSpec,
    low: ImplicitAlarmSpec,
}

fn behavior_spec_alarms(behavior: &BehaviorSpec) -> ImplicitAlarms {
    ImplicitAlarms {
        high: behavior.target_tracking_high_alarm,
        low: behavior.target_tracking_low_alarm,
    }
}

#[allow(clippy::too_many_arguments)] // one call site; the pieces are the compile context
fn compile_target_tracking(
    tt: &TargetTrackingSpec,
    path: &str,
    policy_index: usize,
    implicit: &ImplicitAlarms,
    metric_index: &BTreeMap<&str, usize>,
    metrics: &[MetricDef],
    alarms: &mut Vec<AlarmDef>,
    errors: &mut ValidationErrors,
) -> Option<TargetTracking> {
    let metric = resolve(
        &tt.metric,
        metric_index,
        &format!("{path}.metric"),
        "metric",
        errors,
    );
    if !(tt.target_value.is_finite() && tt.target_value > 0.0) {
        errors.push(
            format!("{path}.targetValue"),
            format!("{} must be a positive number", tt.target_value),
        );
    }
    let metric = metric?;
    let period = metrics[metric].period_seconds;
    // A target tracking policy has no `evaluationPeriods` field: blame the metric whose period
    // makes the implicit alarms too long.
    let metric_path = format!("{path}.metric");
    check_window(
        &metric_path,
        period,
        implicit.high.evaluation_periods,
        errors,
    );
    check_window(
        &metric_path,
        period,
        implicit.low.evaluation_periods,
        errors,
    );
    let mut implicit_alarm = |shape: &ImplicitAlarmSpec, high: bool| {
        let (suffix, operator, origin) = if high {
            (
                "AlarmHigh",
                ComparisonOperator::GreaterThanThreshold,
                AlarmOrigin::TargetTrackingHigh(policy_index),
            )
        } else {
            (
                "AlarmLow",
                ComparisonOperator::LessThanThreshold,
                AlarmOrigin::TargetTrackingLow(policy_index),
            )
        };
        alarms.push(AlarmDef {
            name: format!("TargetTracking-{}-{suffix}", tt.metric),
            origin,
            metric,
            statistic: tt.statistic,
            operator,
            threshold: tt.target_value * shape.threshold_ratio,
            evaluation_periods: shape.evaluation_periods,
            evaluation_range: shape.evaluation_periods,
            datapoints_to_alarm: shape.datapoints_to_alarm,
            treat_missing_data: TreatMissingData::Missing,
            per_task: tt.per_task,
            trusted: None,
        });
        alarms.len() - 1
    };
    let high_alarm = implicit_alarm(&implicit.high, true);
    let low_alarm = implicit_alarm(&implicit.low, false);
    Some(TargetTracking {
        metric,
        target_value: tt.target_value,
        per_task: tt.per_task,
        statistic: tt.statistic,
        scale_out_cooldown: tt.scale_out_cooldown,
        scale_in_cooldown: tt.scale_in_cooldown,
        disable_scale_in: tt.disable_scale_in,
        high_alarm,
        low_alarm,
    })
}

fn compile_step(
    step: &StepScalingSpec,
    path: &str,
    alarm_index: &BTreeMap<&str, usize>,
    errors: &mut ValidationErrors,
) -> Option<StepScaling> {
    let alarm = resolve(
        &step.alarm,
        alarm_index,
        &format!("{path}.alarm"),
        "alarm",
        errors,
    );
    let steps = check_steps(&step.step_adjustments, step.adjustment_type, path, errors);
    if step.min_adjustment_magnitude.is_some()
        && step.adjustment_type != AdjustmentType::PercentChangeInCapacity
    {
        errors.push(
            format!("{path}.minAdjustmentMagnitude"),
            "is only valid with adjustmentType PercentChangeInCapacity",
        );
    }
    Some(StepScaling {
        alarm: alarm?,
        adjustment_type: step.adjustment_type,
        steps: steps?,
        min_adjustment_magnitude: step.min_adjustment_magnitude.unwrap_or(0),
        cooldown: step.cooldown,
        aggregation: step.metric_aggregation_type,
    })
}

/// Checks the step intervals (spec B.1) and returns them sorted by lower bound.
fn check_steps(
    adjustments: &[StepAdjustmentSpec],
    adjustment_type: AdjustmentType,
    path: &str,
    errors: &mut ValidationErrors,
) -> Option<Vec<Step>> {
    let before = errors.0.len();
    let list_path = format!("{path}.stepAdjustments");
    if adjustments.is_empty() {
        errors.push(&list_path, "at least one step adjustment is required");
        return None;
    }
    let mut steps = Vec::with_capacity(adjustments.len());
    for (i, adjustment) in adjustments.iter().enumerate() {
        let step_path = format!("{list_path}[{i}]");
        let lower = adjustment.metric_interval_lower_bound;
        let upper = adjustment.metric_interval_upper_bound;
        if lower.is_some_and(|b| !b.is_finite()) || upper.is_some_and(|b| !b.is_finite()) {
            errors.push(
                &step_path,
                "interval bounds must be finite numbers (omit a bound for infinity)",
            );
            continue;
        }
        match (lower, upper) {
            (None, None) => errors.push(
                &step_path,
                "set metricIntervalLowerBound or metricIntervalUpperBound (not both may be absent)",
            ),
            (Some(l), Some(u)) if u <= l => errors.push(
                &step_path,
                format!(
                    "metricIntervalUpperBound {u} must be greater than metricIntervalLowerBound {l}"
                ),
            ),
            _ => {}
        }
        if adjustment_type == AdjustmentType::ExactCapacity && adjustment.scaling_adjustment < 0 {
            errors.push(
                format!("{step_path}.scalingAdjustment"),
                "must be zero or more with adjustmentType ExactCapacity",
            );
        }
        steps.push(Step {
            index: i,
            lower: lower.unwrap_or(f64::NEG_INFINITY),
            upper: upper.unwrap_or(f64::INFINITY),
            adjustment: adjustment.scaling_adjustment,
        });
    }
    let null_lowers = steps
        .iter()
        .filter(|s| s.lower == f64::NEG_INFINITY)
        .count();
    let null_uppers = steps.iter().filter(|s| s.upper == f64::INFINITY).count();
    if null_lowers > 1 {
        errors.push(
            &list_path,
            "at most one step may omit metricIntervalLowerBound",
        );
    }
    if null_uppers > 1 {
        errors.push(
            &list_path,
            "at most one step may omit metricIntervalUpperBound",
        );
    }
    if steps.iter().any(|s| s.lower.is_finite() && s.lower < 0.0) && null_lowers == 0 {
        errors.push(
            &list_path,
            "a negative metricIntervalLowerBound requires a step without a lower bound",
        );
    }
    if steps.iter().any(|s| s.upper.is_finite() && s.upper > 0.0) && null_uppers == 0 {
        errors.push(
            &list_path,
            "a positive metricIntervalUpperBound requires a step without an upper bound",
        );
    }
    steps.sort_by(|a, b| a.lower.total_cmp(&b.lower));
    for pair in steps.windows(2) {
        let (previous, current) = (pair[0], pair[1]);
        let at = format!("{list_path}[{}]", current.index);
        if current.lower < previous.upper {
            errors.push(at, "overlaps the previous interval");
        } else if current.lower > previous.upper {
            errors.push(
                at,
                format!(
                    "leaves a gap after the previous interval (from {} to {})",
                    previous.upper, current.lower
                ),
            );
        }
    }
    (errors.0.len() == before).then_some(steps)
}

fn compile_action(
    action: &ScheduledActionSpec,
    path: &str,
    errors: &mut ValidationErrors,
) -> Option<ScheduledAction> {
    let zone = match &action.timezone {
        None => Some(Tz::UTC),
        Some(name) => match name.parse::<Tz>() {
            Ok(zone) => Some(zone),
            Err(_) => {
                errors.push(
                    format!("{path}.timezone"),
                    format!("`{name}` is not an IANA time zone (e.g. America/New_York)"),
                );
                None
            }
        },
    };
    if let (Some(start), Some(end)) = (action.start_time, action.end_time)
        && end <= start
    {
        errors.push(format!("{path}.endTime"), "must be after startTime");
    }
    let bounds = action.scalable_target_action;
    for (field, value) in [
        ("minCapacity", bounds.min_capacity),
        ("maxCapacity", bounds.max_capacity),
    ] {
        if let Some(value) = value {
            check_replicas(
                &format!("{path}.scalableTargetAction.{field}"),
                value,
                errors,
            );
        }
    }
    match (bounds.min_capacity, bounds.max_capacity) {
        (None, None) => errors.push(
            format!("{path}.scalableTargetAction"),
            "set minCapacity, maxCapacity or both",
        ),
        (Some(min), Some(max)) if min > max => errors.push(
            format!("{path}.scalableTargetAction"),
            format!("minCapacity {min} is greater than maxCapacity {max}"),
        ),
        _ => {}
    }
    // Parse even when the time zone is bad, so that a bad schedule is reported too.
    let schedule = Schedule::parse(
        &action.schedule,
        zone.unwrap_or(Tz::UTC),
        action.start_time,
        action.end_time,
    )
    .map_err(|message| errors.push(format!("{path}.schedule"), message))
    .ok()?;
    zone?;
    Some(ScheduledAction {
        name: action.scheduled_action_name.clone(),
        schedule,
        min_capacity: bounds.min_capacity,
        max_capacity: bounds.max_capacity,
    })
}

fn compile_behavior(spec: &BehaviorSpec, errors: &mut ValidationErrors) -> Behavior {
    if spec.reinvocation_interval_seconds == 0 {
        errors.push(
            "spec.behavior.reinvocationIntervalSeconds",
            "must be at least 1",
        );
    }
    for (name, alarm) in [
        ("targetTrackingHighAlarm", &spec.target_tracking_high_alarm),
        ("targetTrackingLowAlarm", &spec.target_tracking_low_alarm),
    ] {
        let path = format!("spec.behavior.{name}");
        check_m_of_n(
            &path,
            alarm.evaluation_periods,
            alarm.datapoints_to_alarm,
            errors,
        );
        if !(alarm.threshold_ratio.is_finite() && alarm.threshold_ratio > 0.0) {
            errors.push(
                format!("{path}.thresholdRatio"),
                "must be a positive number",
            );
        }
    }
    if spec.alarm_evaluation_range_extra_periods > MAX_EVALUATION_RANGE_EXTRA_PERIODS {
        errors.push(
            "spec.behavior.alarmEvaluationRangeExtraPeriods",
            format!(
                "{} is more than {MAX_EVALUATION_RANGE_EXTRA_PERIODS}; CloudWatch's example \
                 retrieves {DEFAULT_EVALUATION_RANGE_EXTRA_PERIODS} periods more than the alarm evaluates",
                spec.alarm_evaluation_range_extra_periods
            ),
        );
    }
    Behavior {
        cooldown_scope: spec.cooldown_scope,
        scale_in_blocked_during_scale_out_cooldown: spec.scale_in_blocked_during_scale_out_cooldown,
        reinvocation_interval_seconds: spec.reinvocation_interval_seconds.max(1),
        min_adjustment_magnitude_on_scale_in: spec.min_adjustment_magnitude_on_scale_in,
    }
}

#[cfg(test)]
mod tests;
