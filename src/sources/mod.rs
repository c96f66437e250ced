//! Metric sources: where datapoints come from, shared between policy sets.
//!
//! Every source writes into a [`FeedState`] held in a [`feed`]: the source's recent
//! datapoints (each with a sequence number) and its health (last success, last error). Policy
//! set controllers subscribe to feeds and copy the datapoints they have not seen yet into their
//! own per-period histories; a gRPC request never reaches a source.
//!
//! The [`hub::SourceHub`] owns the feeds, keyed by [`SourceKey`], so one source serves every
//! policy set that names it, and starts a source when its first subscriber arrives:
//! - `push` ([`push`]): datapoints arrive over HTTP; the feed is scoped to its policy set and
//!   metric, since the URL names them.
//! - `sqs` ([`sqs`]): queue depth, polled in the background ([`poller`]).
//! - `cloudwatch` ([`cloudwatch`]): `GetMetricData` queries, fetched in batches of up to 500 per
//!   AWS identity and period, once per period ([`cloudwatch::batcher`]). The alarms policy sets
//!   name (`cloudwatchAlarm`) are read with `DescribeAlarms` by one refresher per identity
//!   ([`cloudwatch::alarms`]); their metrics become `cloudwatch` queries like the others.
//! - `prometheus` ([`prometheus`]): an instant query returning one series, polled.
//!
//! A polled source's key is the identity of what it fetches (queue, query, region, role), never
//! a credential. On errors it backs off with jitter and keeps its last datapoints; the
//! controller turns a source silent for longer than its staleness bound into `UNAVAILABLE`.

pub mod aws;
pub mod cloudwatch;
pub mod feed;
pub mod hub;
pub mod poller;
pub mod prometheus;
pub mod push;
pub mod sqs;

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::id::PolicySetId;
use crate::telemetry::{SOURCE_ERROR_KINDS, SourceLabels};

/// How many datapoints a feed keeps at most, for subscribers that fall behind and for the
/// controller of a replaced policy set, which rebuilds its histories from them.
pub const FEED_CAPACITY: usize = 256;

/// One observed value of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    /// Position in the feed; strictly increasing.
    pub seq: u64,
    /// When the value was observed (for a period value: a time within its period).
    pub timestamp: DateTime<Utc>,
    /// The value.
    pub value: f64,
    /// The value is the whole period's, already aggregated by the source (CloudWatch): it
    /// replaces what the period held instead of adding a sample to it.
    pub period_value: bool,
}

/// A value a source observed, before it enters a feed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// When it was observed.
    pub timestamp: DateTime<Utc>,
    /// The value.
    pub value: f64,
    /// See [`Datapoint::period_value`].
    pub period_value: bool,
}

impl Observation {
    /// A raw sample (a gauge read now, a pushed value).
    pub fn sample(timestamp: DateTime<Utc>, value: f64) -> Self {
        Self {
            timestamp,
            value,
            period_value: false,
        }
    }
}

/// Why a source could not deliver. Messages never contain a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The service asked us to slow down.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The request did not finish in time.
    #[error("timed out after {0} s")]
    Timeout(u64),
    /// The service answered with something we cannot use (wrong shape, several series, ...).
    #[error("unusable answer: {0}")]
    BadAnswer(String),
    /// Anything else: connection refused, access denied, unknown queue, ...
    #[error("{0}")]
    Failed(String),
}

impl SourceError {
    /// Every [`Self::kind`].
    pub const KINDS: [&'static str; 4] = SOURCE_ERROR_KINDS;

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::Throttled(_) => "throttled",
            SourceError::Timeout(_) => "timeout",
            SourceError::BadAnswer(_) => "bad_answer",
            SourceError::Failed(_) => "failed",
        }
    }
}

/// What a feed holds: recent datapoints and the source's health.
#[derive(Debug, Clone, Default)]
pub struct FeedState {
    /// Recent datapoints, oldest first: at most [`FEED_CAPACITY`], and, once a retention is
    /// set, none older than the retention before the timestamp last recorded.
    pub datapoints: VecDeque<Datapoint>,
    /// When the source last delivered successfully.
    pub last_success: Option<DateTime<Utc>>,
    /// The source's last error, if its latest attempt failed (never contains a credential).
    pub last_error: Option<String>,
    next_seq: u64,
    /// How far back from the timestamp last recorded datapoints are kept, in seconds (0: no
    /// bound but the capacity): the longest history a subscriber keeps. (A late datapoint, with
    /// an older timestamp, thus drops nothing newer.)
    retention_seconds: u32,
}

impl FeedState {
    /// Appends a sample observed at `timestamp`, received at `received`.
    pub fn push(&mut self, timestamp: DateTime<Utc>, value: f64, received: DateTime<Utc>) {
        self.record(Observation::sample(timestamp, value));
        self.succeeded(received);
    }

    /// Appends an observation (without marking the source healthy: see [`Self::succeeded`]).
    pub fn record(&mut self, observation: Observation) {
        if self.datapoints.len() == FEED_CAPACITY {
            self.datapoints.pop_front();
        }
        self.datapoints.push_back(Datapoint {
            seq: self.next_seq,
            timestamp: observation.timestamp,
            value: observation.value,
            period_value: observation.period_value,
        });
        self.next_seq += 1;
        if self.retention_seconds > 0 {
            let oldest_kept = observation.timestamp
                - chrono::Duration::seconds(i64::from(self.retention_seconds));
            while self
                .datapoints
                .front()
                .is_some_and(|d| d.timestamp < oldest_kept)
            {
                self.datapoints.pop_front();
            }
        }
    }

    /// How far back from the timestamp last recorded datapoints are kept, in seconds (0: as
    /// many as the capacity allows).
    pub fn retention_seconds(&self) -> u32 {
        self.retention_seconds
    }

    /// Keeps at least the last `seconds` of datapoints (a subscriber's history window): the
    /// retention is the longest asked for.
    pub fn retain_at_least(&mut self, seconds: u32) {
        self.retention_seconds = self.retention_seconds.max(seconds);
    }

    /// Marks a successful delivery at `at` (possibly of no datapoint: missing data).
    pub fn succeeded(&mut self, at: DateTime<Utc>) {
        self.last_success = Some(at);
        self.last_error = None;
    }

    /// Marks a failed attempt; the datapoints already delivered stay.
    pub fn failed(&mut self, error: &SourceError) {
        self.last_error = Some(error.to_string());
    }

    /// The datapoints after sequence number `after` (all of them for `None`).
    pub fn since(&self, after: Option<u64>) -> impl Iterator<Item = &Datapoint> {
        self.datapoints
            .iter()
            .filter(move |d| after.is_none_or(|after| d.seq > after))
    }
}

pub use feed::{FeedReceiver, FeedSender};

/// The identity of a source, used to share it. Never holds a credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKey {
    /// Values pushed for one metric of one policy set.
    Push {
        /// The policy set.
        policy_set: PolicySetId,
        /// The metric name.
        metric: String,
    },
    /// An SQS queue's depth. (The keys of polled sources are boxed: a pushed metric's key,
    /// one per policy set, stays small in the feed map.)
    Sqs(Box<sqs::SqsKey>),
    /// A CloudWatch `GetMetricData` query.
    CloudWatch(Box<cloudwatch::CloudWatchKey>),
    /// A Prometheus instant query.
    Prometheus(Box<prometheus::PrometheusKey>),
}

impl SourceKey {
    /// The kind of source, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceKey::Push { .. } => "push",
            SourceKey::Sqs(_) => "sqs",
            SourceKey::CloudWatch(_) => "cloudwatch",
            SourceKey::Prometheus(_) => "prometheus",
        }
    }
}

impl From<&SourceKey> for SourceLabels {
    fn from(key: &SourceKey) -> Self {
        Self {
            source: key.to_string(),
            kind: key.kind(),
        }
    }
}

impl std::fmt::Display for SourceKey {
    /// A short description for logs and metric labels (no credential).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceKey::Push { policy_set, metric } => write!(f, "push:{policy_set}/{metric}"),
            SourceKey::Sqs(key) => write!(f, "sqs:{}", key.queue),
            SourceKey::CloudWatch(key) => write!(f, "cloudwatch:{key}"),
            SourceKey::Prometheus(key) => write!(f, "prometheus:{key}"),
        }
    }
}

#[cfg(test)]
mod tests;
