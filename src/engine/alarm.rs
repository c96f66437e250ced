//! CloudWatch alarm evaluation: M of N, the four operators, and missing data (spec B.7).
//!
//! An alarm looks at the N newest *complete* periods of its metric (the period that contains
//! `now` is still filling and is not evaluated). With all N datapoints present, the alarm is in
//! ALARM when at least M of them breach. With fewer, `treatMissingData` decides:
//! - `breaching`: missing periods count as breaching;
//! - `notBreaching`: missing periods count as fine;
//! - `missing` (default): missing periods count as neither; the present ones decide, and with no
//!   datapoint at all the alarm is INSUFFICIENT_DATA;
//! - `ignore`: the alarm keeps its previous state unless the present datapoints decide alone
//!   (M already breach, or too many are fine for M to be reached).
//!
//! Missing data never makes a policy act by itself: INSUFFICIENT_DATA means "no scaling".

use serde::Serialize;

use super::history::MetricHistory;
use crate::policy::compiled::AlarmDef;
use crate::policy::document::{ComparisonOperator, TreatMissingData};

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

/// Whether `value` breaches `threshold` under `operator`.
pub fn breaches(operator: ComparisonOperator, value: f64, threshold: f64) -> bool {
    match operator {
        ComparisonOperator::GreaterThanOrEqualToThreshold => value >= threshold,
        ComparisonOperator::GreaterThanThreshold => value > threshold,
        ComparisonOperator::LessThanThreshold => value < threshold,
        ComparisonOperator::LessThanOrEqualToThreshold => value <= threshold,
    }
}

/// Counts over an alarm's evaluation window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCounts {
    /// Periods with a datapoint.
    pub present: u32,
    /// Present periods that breach.
    pub breaching: u32,
}

/// Counts present and breaching periods in the alarm's window at `now`.
pub fn window_counts(alarm: &AlarmDef, history: &MetricHistory, now: i64) -> WindowCounts {
    let mut counts = WindowCounts {
        present: 0,
        breaching: 0,
    };
    for stats in history.window(now, alarm.evaluation_periods).flatten() {
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

/// The M-of-N rule with missing-data treatment, from counts alone.
pub fn state_from_counts(
    counts: WindowCounts,
    n: u32,
    m: u32,
    treatment: TreatMissingData,
    previous: AlarmState,
) -> AlarmState {
    let WindowCounts { present, breaching } = counts;
    let missing = n - present;
    let fine = present - breaching;
    let decided = if breaching >= m {
        Some(AlarmState::Alarm)
    } else if fine > n - m {
        // Even if every missing period breached, M could not be reached.
        Some(AlarmState::Ok)
    } else {
        None
    };
    if missing == 0 {
        return if breaching >= m {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        };
    }
    match treatment {
        TreatMissingData::Breaching => {
            if breaching + missing >= m {
                AlarmState::Alarm
            } else {
                AlarmState::Ok
            }
        }
        TreatMissingData::NotBreaching => {
            if breaching >= m {
                AlarmState::Alarm
            } else {
                AlarmState::Ok
            }
        }
        TreatMissingData::Missing => {
            if present == 0 {
                AlarmState::InsufficientData
            } else {
                decided.unwrap_or(AlarmState::Ok)
            }
        }
        TreatMissingData::Ignore => decided.unwrap_or(previous),
    }
}

#[cfg(test)]
mod tests;
