//! CloudWatch alarm evaluation: M of N, the four operators, the evaluation range and missing
//! data (spec B.7).
//!
//! An alarm looks at *complete* periods of its metric (the period that contains `now` is still
//! filling). As CloudWatch does, it looks further back than its N (`evaluationPeriods`): over
//! its *evaluation range*, N plus `spec.behavior.alarmEvaluationRangeExtraPeriods` (default 2)
//! periods. The CloudWatch User Guide, "Configuring how CloudWatch alarms treat missing data",
//! section "How alarm state is evaluated when data is missing":
//! - "If no data points in the evaluation range are missing, CloudWatch evaluates the alarm
//!   based on the most recent data points collected";
//! - "If some data points in the evaluation range are missing, but the number of existing data
//!   points retrieved is equal to or more than the alarm's Evaluation Periods, CloudWatch
//!   evaluates the alarm state based on the most recent existing data points": the N newest
//!   *real* datapoints decide, and `treatMissingData` is not used at all;
//! - with fewer than N real datapoints in the range, the missing ones are filled in per
//!   `treatMissingData` ("as few times as possible": N minus the real ones), then evaluated.
//!   "If fewer than the value of Datapoints to Alarm are breaching, the alarm state is set to
//!   OK. Otherwise, the state is set to ALARM."
//!
//! How each treatment fills, as the guide's two tables of outcomes (3 of 3 and 2 of 3 over a
//! 5-datapoint range) show it:
//! - `breaching`: filled datapoints breach;
//! - `notBreaching`: filled datapoints are fine;
//! - `missing` (default): filled datapoints count as neither: M real breaches give ALARM, a real
//!   datapoint that does not breach gives OK, and otherwise (no real datapoint, or only fewer
//!   than M breaching ones) the alarm is INSUFFICIENT_DATA;
//! - `ignore`: as `missing`, but where `missing` gives INSUFFICIENT_DATA the alarm keeps its
//!   current state ("Retain current state").
//!
//! A consequence the guide points out: after a metric stops, the real datapoints still in the
//! range keep deciding until they leave it. Missing data never makes a policy act by itself:
//! INSUFFICIENT_DATA means "no scaling".

use super::history::{MetricHistory, PeriodStats};
pub use crate::alarm_model::AlarmState;
use crate::alarm_model::{ComparisonOperator, TreatMissingData};
use crate::policy::compiled::AlarmDef;

/// Whether `value` breaches `threshold` under `operator`.
pub fn breaches(operator: ComparisonOperator, value: f64, threshold: f64) -> bool {
    match operator {
        ComparisonOperator::GreaterThanOrEqualToThreshold => value >= threshold,
        ComparisonOperator::GreaterThanThreshold => value > threshold,
        ComparisonOperator::LessThanThreshold => value < threshold,
        ComparisonOperator::LessThanOrEqualToThreshold => value <= threshold,
    }
}

/// Counts over an alarm's evaluation range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCounts {
    /// Real datapoints evaluated: the newest ones in the range, at most N.
    pub present: u32,
    /// Evaluated datapoints that breach.
    pub breaching: u32,
}

/// The real datapoints `alarm` evaluates at `now`, newest first: the newest complete periods
/// with data within its evaluation range, at most N of them.
pub fn evaluated_periods<'h>(
    alarm: &AlarmDef,
    history: &'h MetricHistory,
    now: i64,
) -> impl Iterator<Item = &'h PeriodStats> + use<'h> {
    let range = alarm.evaluation_range.max(alarm.evaluation_periods);
    history
        .window(now, range)
        .flatten()
        .take(alarm.evaluation_periods as usize)
}

/// Counts the evaluated and breaching datapoints of `alarm` at `now`.
pub fn window_counts(alarm: &AlarmDef, history: &MetricHistory, now: i64) -> WindowCounts {
    let mut counts = WindowCounts {
        present: 0,
        breaching: 0,
    };
    for stats in evaluated_periods(alarm, history, now) {
        counts.present += 1;
        let value = stats.value(alarm.statistic, alarm.per_task);
        if breaches(alarm.operator, value, alarm.threshold) {
            counts.breaching += 1;
        }
    }
    counts
}

/// The state of `alarm` at `now`, given its state at the previous evaluation.
pub fn evaluate(
    alarm: &AlarmDef,
    history: &MetricHistory,
    now: i64,
    previous: AlarmState,
) -> AlarmState {
    state_from_counts(
        window_counts(alarm, history, now),
        alarm.evaluation_periods,
        alarm.datapoints_to_alarm,
        alarm.treat_missing_data,
        previous,
    )
}

/// How many missing datapoints CloudWatch fills in per `treatMissingData`: N minus the real
/// datapoints evaluated (the guide's column "# of missing data points").
pub fn filled(counts: WindowCounts, n: u32) -> u32 {
    n.saturating_sub(counts.present)
}

/// The M-of-N rule over the evaluation range, with missing-data treatment, from counts alone
/// (see the module documentation).
pub fn state_from_counts(
    counts: WindowCounts,
    n: u32,
    m: u32,
    treatment: TreatMissingData,
    previous: AlarmState,
) -> AlarmState {
    let WindowCounts { present, breaching } = counts;
    let filled = filled(counts, n);
    let m_of_n = |breaching: u32| {
        if breaching >= m {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        }
    };
    if filled == 0 {
        // Enough real datapoints: the treatment of missing data is not used.
        return m_of_n(breaching);
    }
    // Fewer real datapoints than N: the missing ones are filled in.
    let undecided = || {
        if breaching >= m {
            Some(AlarmState::Alarm)
        } else if present > breaching {
            Some(AlarmState::Ok)
        } else {
            None
        }
    };
    match treatment {
        TreatMissingData::Breaching => m_of_n(breaching + filled),
        TreatMissingData::NotBreaching => m_of_n(breaching),
        TreatMissingData::Missing => undecided().unwrap_or(AlarmState::InsufficientData),
        TreatMissingData::Ignore => undecided().unwrap_or(previous),
    }
}

#[cfg(test)]
mod tests;
