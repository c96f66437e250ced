//! Per-period datapoint history of one metric: what alarms evaluate (spec B.7).
//!
//! Raw samples (pushed or polled) are folded into periods aligned to the metric's period
//! (`start = floor(t / period) * period`). A period keeps count, sum, minimum and maximum, so any
//! CloudWatch statistic can be read from it, and the sum of the capacities seen with its samples,
//! so a "per task" value (the metric divided by the running capacity, like AWS's `m1 / m2`
//! backlog-per-task math) can be derived. The buffer has a fixed capacity chosen at compile
//! time from the longest alarm over the metric: memory per policy set is bounded and recording
//! never reallocates.

use std::collections::VecDeque;

use crate::policy::document::Statistic;

/// Everything kept about one period of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodStats {
    /// Start of the period, Unix seconds.
    pub start: i64,
    /// Number of samples.
    pub count: u32,
    /// Sum of the samples.
    pub sum: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Sum of the capacity observed with each sample.
    pub capacity_sum: f64,
    /// The period's value was delivered already aggregated (a CloudWatch datapoint): every
    /// statistic reads it as is.
    pub exact: bool,
}

impl PeriodStats {
    fn new(start: i64, value: f64, capacity: u32) -> Self {
        Self {
            start,
            count: 1,
            sum: value,
            min: value,
            max: value,
            capacity_sum: f64::from(capacity),
            exact: false,
        }
    }

    fn add(&mut self, value: f64, capacity: u32) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.capacity_sum += f64::from(capacity);
    }

    /// The period's value for a CloudWatch statistic.
    pub fn statistic(&self, statistic: Statistic) -> f64 {
        if self.exact {
            return self.sum;
        }
        match statistic {
            Statistic::Average => self.sum / f64::from(self.count),
            Statistic::Sum => self.sum,
            Statistic::Minimum => self.min,
            Statistic::Maximum => self.max,
            Statistic::SampleCount => f64::from(self.count),
        }
    }

    /// Mean capacity while the period's samples were taken.
    pub fn mean_capacity(&self) -> f64 {
        self.capacity_sum / f64::from(self.count)
    }

    /// The statistic, divided by the mean capacity when `per_task` is set.
    ///
    /// With no capacity at all, demand (a positive value) is infinite per task and no demand is
    /// zero: from zero tasks, any work is a reason to scale out.
    pub fn value(&self, statistic: Statistic, per_task: bool) -> f64 {
        let value = self.statistic(statistic);
        if !per_task {
            return value;
        }
        let capacity = self.mean_capacity();
        if capacity > 0.0 {
            value / capacity
        } else if value > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }
}

/// A bounded, time-ordered history of periods of one metric.
#[derive(Debug, Clone)]
pub struct MetricHistory {
    period_seconds: i64,
    delay_seconds: i64,
    periods: VecDeque<PeriodStats>,
    capacity: usize,
}

impl MetricHistory {
    /// A history of periods of `period_seconds`, keeping at most `capacity` periods.
    pub fn new(period_seconds: u32, capacity: usize) -> Self {
        let capacity = capacity.max(2);
        Self {
            period_seconds: i64::from(period_seconds.max(1)),
            delay_seconds: 0,
            periods: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Keeps the periods of `old`, the history of the same metric in the version of the policy
    /// set this one replaces (same period and delay), so that an edit does not make alarms and
    /// target tracking wait for fresh periods again. The newest periods are kept when this
    /// history holds fewer. A history of another period or delay is not copied.
    pub fn carry_from(&mut self, old: &MetricHistory) {
        if old.period_seconds != self.period_seconds || old.delay_seconds != self.delay_seconds {
            return;
        }
        self.periods.clear();
        let skip = old.periods.len().saturating_sub(self.capacity);
        self.periods.extend(old.periods.iter().skip(skip).copied());
    }

    /// The same history for a source that delivers a period `delay_seconds` after it ends (a
    /// CloudWatch query's end-time offset plus fetch time): a period counts as complete only
    /// once the delay has passed, so alarms never see the newest period as missing just
    /// because the source could not have delivered it yet.
    pub fn with_delay(mut self, delay_seconds: u32) -> Self {
        self.delay_seconds = i64::from(delay_seconds);
        self
    }

    /// How many periods the history keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Period length in seconds.
    pub fn period_seconds(&self) -> i64 {
        self.period_seconds
    }

    /// Start of the period that contains `at` (Unix seconds).
    pub fn period_start(&self, at: i64) -> i64 {
        at.div_euclid(self.period_seconds) * self.period_seconds
    }

    /// Start of the newest period that has ended at `now` (minus the source's delay).
    pub fn last_complete_period(&self, now: i64) -> i64 {
        self.period_start(now - self.delay_seconds) - self.period_seconds
    }

    /// Adds a sample taken at `at` (Unix seconds) while the capacity was `capacity`.
    ///
    /// Returns false when the sample is older than everything the history keeps, or not a
    /// finite number; such a sample is dropped.
    pub fn record(&mut self, at: i64, value: f64, capacity: u32) -> bool {
        self.merge(at, value, capacity, false)
    }

    /// Sets the value of the period that contains `at` to `value`, already aggregated by its
    /// source (a CloudWatch datapoint for the whole period); a later delivery of the same period
    /// replaces it instead of adding to it. Returns false as [`Self::record`] does.
    pub fn record_period_value(&mut self, at: i64, value: f64, capacity: u32) -> bool {
        self.merge(at, value, capacity, true)
    }

    fn merge(&mut self, at: i64, value: f64, capacity: u32, exact: bool) -> bool {
        if !value.is_finite() {
            return false;
        }
        let start = self.period_start(at);
        let fresh = PeriodStats {
            exact,
            ..PeriodStats::new(start, value, capacity)
        };
        match self.periods.binary_search_by_key(&start, |p| p.start) {
            Ok(i) if exact => self.periods[i] = fresh,
            Ok(i) => self.periods[i].add(value, capacity),
            Err(i) => {
                if self.periods.len() == self.capacity {
                    if i == 0 {
                        return false;
                    }
                    self.periods.pop_front();
                    self.periods.insert(i - 1, fresh);
                } else {
                    self.periods.insert(i, fresh);
                }
            }
        }
        true
    }

    /// The period starting at `start`, if it has samples.
    pub fn period(&self, start: i64) -> Option<&PeriodStats> {
        self.periods
            .binary_search_by_key(&start, |p| p.start)
            .ok()
            .map(|i| &self.periods[i])
    }

    /// The newest complete period at `now` that has samples, with its start.
    pub fn latest_complete(&self, now: i64) -> Option<&PeriodStats> {
        let last = self.last_complete_period(now);
        self.periods.iter().rev().find(|p| p.start <= last)
    }

    /// The `n` periods that end at or before `now`, newest first, `None` where a period has no
    /// samples.
    pub fn window(&self, now: i64, n: u32) -> impl Iterator<Item = Option<&PeriodStats>> {
        let last = self.last_complete_period(now);
        (0..i64::from(n)).map(move |k| self.period(last - k * self.period_seconds))
    }

    /// Number of periods held.
    pub fn len(&self) -> usize {
        self.periods.len()
    }

    /// Whether no period is held.
    pub fn is_empty(&self) -> bool {
        self.periods.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delayed_source_completes_its_periods_after_the_delay() {
        let plain = MetricHistory::new(60, 4);
        let delayed = MetricHistory::new(60, 4).with_delay(80);
        // At 10:05:30 the period 10:04-10:05 has ended; a source delivering 80 s after a
        // period ends has only delivered up to 10:03-10:04.
        let now = 36_330;
        assert_eq!(plain.last_complete_period(now), 36_240);
        assert_eq!(delayed.last_complete_period(now), 36_180);
        assert_eq!(delayed.last_complete_period(36_240 + 60 + 80), 36_240);
    }

    #[test]
    fn a_period_value_replaces_the_period_instead_of_adding_to_it() {
        let mut history = MetricHistory::new(60, 4);
        assert!(history.record_period_value(120, 7.0, 2));
        assert!(history.record_period_value(150, 9.0, 2));
        let period = history.period(120).unwrap();
        assert_eq!((period.count, period.sum), (1, 9.0));
        assert_eq!(period.statistic(Statistic::Sum), 9.0);
        assert_eq!(period.statistic(Statistic::SampleCount), 9.0);
        // A raw sample adds to its period.
        assert!(history.record(180, 1.0, 2));
        assert!(history.record(200, 2.0, 2));
        assert_eq!(history.period(180).unwrap().statistic(Statistic::Sum), 3.0);
    }
}
