//! The source hub: one feed per distinct source, shared by every policy set that uses it.
//!
//! Subscribing to a metric finds its source by key; the first subscriber starts the source (a
//! poller task for polled sources), and [`SourceHub::release_unused`] stops the sources nobody
//! subscribes to any more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::aws::AwsConfigs;
use super::sqs::SqsPoller;
use super::{FeedReceiver, FeedState, SourceKey, poller};
use crate::clock::Clock;
use crate::policy::compiled::CompiledPolicySet;
use crate::policy::document::MetricSpec;
use crate::telemetry::Metrics;

struct Feed {
    sender: watch::Sender<FeedState>,
    task: Option<AbortHandle>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Owns the feeds of all sources and the tasks that fill them.
pub struct SourceHub {
    feeds: Mutex<HashMap<SourceKey, Feed>>,
    aws: Arc<AwsConfigs>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl SourceHub {
    /// An empty hub whose sources read time from `clock` and report to `metrics`.
    pub fn new(clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            feeds: Mutex::new(HashMap::new()),
            aws: Arc::new(AwsConfigs::new()),
            clock,
            metrics,
        })
    }

    /// The key of the source behind metric `index` of `set`.
    pub fn key_for(set: &CompiledPolicySet, index: usize) -> SourceKey {
        let metric = &set.metrics[index];
        match &metric.source {
            MetricSpec::Push(_) => SourceKey::Push {
                policy_set: set.id.clone(),
                metric: metric.name.clone(),
            },
            MetricSpec::Sqs(sqs) => SourceKey::Sqs(sqs.key()),
        }
    }

    /// Subscribes to the source of metric `index` of `set`, starting the source if it is the
    /// first subscriber. Must be called within a tokio runtime.
    pub fn subscribe(&self, set: &CompiledPolicySet, index: usize) -> FeedReceiver {
        let key = Self::key_for(set, index);
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(feed) = feeds.get(&key) {
            return feed.sender.subscribe();
        }
        let (sender, receiver) = watch::channel(FeedState::default());
        let task = self.start(&key, &set.metrics[index].source, sender.clone());
        feeds.insert(key, Feed { sender, task });
        receiver
    }

    fn start(
        &self,
        key: &SourceKey,
        spec: &MetricSpec,
        sender: watch::Sender<FeedState>,
    ) -> Option<AbortHandle> {
        let source: Arc<dyn poller::Poll> = match (key, spec) {
            (SourceKey::Sqs(sqs), MetricSpec::Sqs(_)) => Arc::new(SqsPoller::new(
                sqs.clone(),
                self.aws.clone(),
                self.clock.clone(),
                self.metrics.clone(),
            )),
            _ => return None,
        };
        let task = tokio::spawn(poller::run(
            key.clone(),
            source,
            sender,
            self.clock.clone(),
            self.metrics.clone(),
        ));
        Some(task.abort_handle())
    }

    /// Changes the feed of `key` if it exists; returns whether it did.
    pub fn modify(&self, key: &SourceKey, change: impl FnOnce(&mut FeedState)) -> bool {
        let feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        match feeds.get(key) {
            Some(feed) => {
                feed.sender.send_modify(change);
                true
            }
            None => false,
        }
    }

    /// Stops the sources nobody subscribes to any more and drops their feeds.
    pub fn release_unused(&self) {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        feeds.retain(|_, feed| feed.sender.receiver_count() > 0);
    }

    /// Number of live feeds.
    pub fn len(&self) -> usize {
        self.feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no feed is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
