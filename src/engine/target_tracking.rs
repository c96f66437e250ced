//! Target tracking: the capacity that brings a metric back to its target (spec B.3).
//!
//! `desired = ceil(C * metric / target)`: proportional, so it scales out fast, and rounded up, so
//! a scale-in never removes more than the metric allows. For a "per task" metric, a total divided
//! by the capacity (backlog per task), this is `ceil(total / target)` whatever C is. From zero
//! tasks, demand scales out by the minimum amount (one task); the next evaluations continue
//! from there.

/// Relative slack for float noise before rounding up (`10 * 110 / 100` is `11.000000000000002`).
const ROUNDING_SLACK: f64 = 1e-9;

/// `ceil(x)`, ignoring float noise just above an integer.
pub fn ceil_tolerant(x: f64) -> i64 {
    // No slack for infinities (`inf - inf` would be NaN, which converts to 0).
    let slack = if x.is_finite() {
        ROUNDING_SLACK * x.abs().max(1.0)
    } else {
        0.0
    };
    // Saturating float-to-int conversion: infinities become i64 bounds, clamped later.
    (x - slack).ceil() as i64
}

/// The capacity that brings `metric` to `target` from capacity `current`.
pub fn desired_capacity(current: i64, metric: f64, target: f64) -> i64 {
    if current == 0 {
        return i64::from(metric > 0.0);
    }
    ceil_tolerant(current as f64 * metric / target)
}

/// The capacity that brings a per-task metric to `target`, from its `total` over all tasks.
pub fn desired_capacity_per_task(current: i64, total: f64, target: f64) -> i64 {
    if current == 0 {
        return i64::from(total > 0.0);
    }
    ceil_tolerant(total / target)
}

#[cfg(test)]
mod tests;
