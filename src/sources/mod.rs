//! Metric sources: where datapoints come from, shared between policy sets.
//!
//! Every source writes into a [`Feed`]: a watch channel holding the source's recent datapoints
//! (each with a sequence number) and its health (last success, last error). Policy set
//! controllers subscribe to feeds and copy the datapoints they have not seen yet into their own
//! per-period histories; a gRPC request never reaches a source.
//!
//! The [`hub::SourceHub`] owns the feeds, keyed by [`SourceKey`], so one source serves every
//! policy set that names it. Sources of kind:
//! - `push`: datapoints arrive over HTTP ([`push`]); the feed is scoped to its policy set and
//!   metric, since the URL names them.
//!
//! A polled source (SQS, CloudWatch, Prometheus) is a background task that fetches on its own
//! schedule and writes into its feed the same way; its key is the identity of what it fetches
//! (queue, query, region, role), never a credential.

pub mod hub;
pub mod push;

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::policy::PolicySetId;

/// How many datapoints a feed keeps for subscribers that fall behind.
pub const FEED_CAPACITY: usize = 256;

/// One observed value of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    /// Position in the feed; strictly increasing.
    pub seq: u64,
    /// When the value was observed.
    pub timestamp: DateTime<Utc>,
    /// The value.
    pub value: f64,
}

/// What a feed holds: recent datapoints and the source's health.
#[derive(Debug, Clone, Default)]
pub struct FeedState {
    /// Recent datapoints, oldest first, at most [`FEED_CAPACITY`].
    pub datapoints: VecDeque<Datapoint>,
    /// When the source last delivered successfully.
    pub last_success: Option<DateTime<Utc>>,
    /// The source's last error, if its latest attempt failed (never contains a credential).
    pub last_error: Option<String>,
    next_seq: u64,
}

impl FeedState {
    /// Appends a datapoint observed at `timestamp`, received at `received`.
    pub fn push(&mut self, timestamp: DateTime<Utc>, value: f64, received: DateTime<Utc>) {
        if self.datapoints.len() == FEED_CAPACITY {
            self.datapoints.pop_front();
        }
        self.datapoints.push_back(Datapoint {
            seq: self.next_seq,
            timestamp,
            value,
        });
        self.next_seq += 1;
        self.last_success = Some(received);
        self.last_error = None;
    }

    /// The datapoints after sequence number `after` (all of them for `None`).
    pub fn since(&self, after: Option<u64>) -> impl Iterator<Item = &Datapoint> {
        self.datapoints
            .iter()
            .filter(move |d| after.is_none_or(|after| d.seq > after))
    }
}

/// The receiving end of a feed.
pub type FeedReceiver = tokio::sync::watch::Receiver<FeedState>;

/// The identity of a source, used to share it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKey {
    /// Values pushed for one metric of one policy set.
    Push {
        /// The policy set.
        policy_set: PolicySetId,
        /// The metric name.
        metric: String,
    },
}
