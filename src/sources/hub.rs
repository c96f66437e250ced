//! The source hub: one feed per distinct source, shared by every policy set that uses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::{FeedReceiver, FeedState, SourceKey};
use crate::policy::compiled::CompiledPolicySet;
use crate::policy::document::MetricSpec;

/// Owns the feeds of all sources.
#[derive(Debug, Default)]
pub struct SourceHub {
    feeds: Mutex<HashMap<SourceKey, watch::Sender<FeedState>>>,
}

impl SourceHub {
    /// An empty hub.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The key of the source behind metric `index` of `set`.
    pub fn key_for(set: &CompiledPolicySet, index: usize) -> SourceKey {
        let metric = &set.metrics[index];
        match metric.source {
            MetricSpec::Push(_) => SourceKey::Push {
                policy_set: set.id.clone(),
                metric: metric.name.clone(),
            },
        }
    }

    /// Subscribes to the feed of `key`, creating the feed (and starting its source) if needed.
    pub fn subscribe(&self, key: SourceKey) -> FeedReceiver {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        feeds
            .entry(key)
            .or_insert_with(|| watch::channel(FeedState::default()).0)
            .subscribe()
    }

    /// Changes the feed of `key` if it exists; returns whether it did.
    pub fn modify(&self, key: &SourceKey, change: impl FnOnce(&mut FeedState)) -> bool {
        let feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        match feeds.get(key) {
            Some(feed) => {
                feed.send_modify(change);
                true
            }
            None => false,
        }
    }

    /// Drops feeds nobody subscribes to any more (their sources stop with them).
    pub fn release_unused(&self) {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        feeds.retain(|_, feed| feed.receiver_count() > 0);
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
