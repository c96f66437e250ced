//! Step scaling: choosing a step and computing the new capacity (spec B.1).
//!
//! The breach distance `d = m - T` (aggregated metric minus alarm threshold) selects a step.
//! Above the threshold an interval is `L <= d < U`; below it, `L < d <= U`. At `d == 0` the
//! alarm's operator decides: `GreaterThan*` alarms use the "above" rule, `LessThan*` alarms the
//! "below" rule. A distance no step covers changes nothing.
//!
//! Percent adjustments follow AAS rounding: a change above 1 rounds down, between 0 and 1 becomes
//! 1, between -1 and 0 becomes -1, below -1 rounds toward zero. `MinAdjustmentMagnitude` then
//! raises the size of the change to at least that many tasks. All of it is integer arithmetic,
//! so 10% of 10 is exactly 1.

use crate::policy::compiled::Step;
use crate::policy::document::{AdjustmentType, ComparisonOperator, MetricAggregationType};

/// The step whose interval contains the breach distance, if any.
pub fn select_step(steps: &[Step], distance: f64, operator: ComparisonOperator) -> Option<&Step> {
    let above = distance > 0.0
        || (distance == 0.0
            && matches!(
                operator,
                ComparisonOperator::GreaterThanThreshold
                    | ComparisonOperator::GreaterThanOrEqualToThreshold
            ));
    steps.iter().find(|step| {
        if above {
            step.lower <= distance && distance < step.upper
        } else {
            step.lower < distance && distance <= step.upper
        }
    })
}

/// The capacity a step sets, from the capacity `current`.
///
/// `min_magnitude` is the policy's `MinAdjustmentMagnitude` (0 when unset); it applies to
/// percent adjustments, and to scale-in ones only when `magnitude_on_scale_in` is set.
pub fn adjusted_capacity(
    adjustment_type: AdjustmentType,
    adjustment: i32,
    current: i64,
    min_magnitude: u32,
    magnitude_on_scale_in: bool,
) -> i64 {
    match adjustment_type {
        AdjustmentType::ChangeInCapacity => current + i64::from(adjustment),
        AdjustmentType::ExactCapacity => i64::from(adjustment),
        AdjustmentType::PercentChangeInCapacity => {
            let mut delta = percent_change(current, adjustment);
            let magnitude = i64::from(min_magnitude);
            let applies = adjustment > 0 || magnitude_on_scale_in;
            if adjustment != 0 && applies && delta.abs() < magnitude {
                delta = magnitude * i64::from(adjustment.signum());
            }
            current + delta
        }
    }
}

/// The change of `percent`% of `current`, rounded as AAS rounds it.
pub fn percent_change(current: i64, percent: i32) -> i64 {
    let scaled = current * i64::from(percent);
    if scaled % 100 == 0 {
        return scaled / 100;
    }
    match scaled {
        s if s > 100 => s / 100, // above 1: round down
        s if s > 0 => 1,         // between 0 and 1: one task
        s if s > -100 => -1,     // between -1 and 0: one task
        s => s / 100,            // below -1: toward zero
    }
}

/// Aggregates datapoints as `MetricAggregationType` says; `None` when there are none.
pub fn aggregate(
    values: impl Iterator<Item = f64>,
    aggregation: MetricAggregationType,
) -> Option<f64> {
    let mut count = 0u32;
    let mut sum = 0.0;
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    for value in values {
        count += 1;
        sum += value;
        min = min.min(value);
        max = max.max(value);
    }
    (count > 0).then(|| match aggregation {
        MetricAggregationType::Average => sum / f64::from(count),
        MetricAggregationType::Minimum => min,
        MetricAggregationType::Maximum => max,
    })
}

#[cfg(test)]
mod tests;
