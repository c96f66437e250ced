//! The source hub: one feed per distinct source, shared by every policy set that uses it.
//!
//! Subscribing to a metric finds its source by key; the first subscriber starts the source (a
//! poller task for polled sources, a registration with a batcher for CloudWatch), and
//! [`SourceHub::release_unused`] stops the sources nobody subscribes to any more: each feed holds
//! a [`SourceGuard`] whose drop stops its source.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::AbortHandle;

use super::aws::AwsConfigs;
use super::cloudwatch::alarms::CloudWatchAlarms;
use super::cloudwatch::alarms::api::{AlarmsApiFactory, sdk_factory as sdk_alarms_factory};
use super::cloudwatch::api::{ApiFactory, sdk_factory};
use super::cloudwatch::batcher::CloudWatchSources;
use super::prometheus::PrometheusPoller;
use super::sqs::SqsPoller;
use super::{FeedReceiver, FeedSender, FeedState, SourceKey, feed, poller};
use crate::clock::Clock;
use crate::policy::compiled::CompiledPolicySet;
use crate::policy::document::MetricSpec;
use crate::telemetry::Metrics;

/// Keeps a source running while its feed lives: dropping it stops the source (aborts a
/// poller task, unregisters a CloudWatch query).
pub type SourceGuard = Box<dyn Send>;

/// Aborts a task when dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Feed {
    sender: FeedSender,
    /// Held for its drop, which stops the source.
    _guard: Option<SourceGuard>,
}

type Feeds = Mutex<HashMap<SourceKey, Feed>>;

/// Owns the feeds of all sources and the tasks that fill them.
pub struct SourceHub {
    feeds: Arc<Feeds>,
    aws: Arc<AwsConfigs>,
    cloudwatch: CloudWatchSources,
    alarms: CloudWatchAlarms,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl SourceHub {
    /// An empty hub whose sources read time from `clock` and report to `metrics`.
    pub fn new(clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Arc<Self> {
        let aws = Arc::new(AwsConfigs::new());
        Self::with_cloudwatch_api(clock, metrics, aws.clone(), sdk_factory(aws))
    }

    /// A hub whose CloudWatch `GetMetricData` calls go through `cloudwatch` (a fake in tests).
    pub fn with_cloudwatch_api(
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        aws: Arc<AwsConfigs>,
        cloudwatch: ApiFactory,
    ) -> Arc<Self> {
        let alarms = sdk_alarms_factory(aws.clone());
        Self::with_cloudwatch_apis(clock, metrics, aws, cloudwatch, alarms)
    }

    /// A hub whose CloudWatch calls go through `cloudwatch` (`GetMetricData`) and `alarms`
    /// (`DescribeAlarms`).
    pub fn with_cloudwatch_apis(
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        aws: Arc<AwsConfigs>,
        cloudwatch: ApiFactory,
        alarms: AlarmsApiFactory,
    ) -> Arc<Self> {
        Arc::new(Self {
            feeds: Arc::default(),
            aws,
            cloudwatch: CloudWatchSources::new(cloudwatch, clock.clone(), metrics.clone()),
            alarms: CloudWatchAlarms::new(alarms, clock.clone(), metrics.clone()),
            clock,
            metrics,
        })
    }

    /// The refreshers of the CloudWatch alarms policy sets reference by name.
    pub fn alarms(&self) -> &CloudWatchAlarms {
        &self.alarms
    }

    /// The key of the source behind metric `index` of `set`.
    pub fn key_for(set: &CompiledPolicySet, index: usize) -> SourceKey {
        let metric = &set.metrics[index];
        match &metric.source {
            MetricSpec::Push(_) => SourceKey::Push {
                policy_set: set.id.clone(),
                metric: metric.name.clone(),
            },
            MetricSpec::Sqs(sqs) => SourceKey::Sqs(Box::new(sqs.key())),
            MetricSpec::CloudWatch(cloudwatch) => SourceKey::CloudWatch(Box::new(cloudwatch.key())),
            MetricSpec::Prometheus(prometheus) => SourceKey::Prometheus(Box::new(prometheus.key())),
        }
    }

    /// Subscribes to the source of metric `index` of `set`, starting the source if it is the
    /// first subscriber. Must be called within a tokio runtime.
    pub fn subscribe(&self, set: &CompiledPolicySet, index: usize) -> FeedReceiver {
        let key = Self::key_for(set, index);
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        // CloudWatch refills as many periods as the engine keeps for this metric, and the feed
        // keeps as much time (a replacing controller rebuilds its history from it).
        let metric = &set.metrics[index];
        let lookback = crate::engine::history_periods(metric);
        let window = crate::engine::history_window_seconds(metric);
        if let Some(feed) = feeds.get(&key) {
            if let SourceKey::CloudWatch(cloudwatch) = &key {
                self.cloudwatch.need_history(cloudwatch, lookback);
            }
            // Only a longer window changes the feed (a change wakes its subscribers).
            if feed.sender.borrow().retention_seconds() < window {
                feed.sender
                    .send_modify(|state| state.retain_at_least(window));
            }
            return feed.sender.subscribe();
        }
        let mut state = FeedState::default();
        state.retain_at_least(window);
        let (sender, receiver) = feed::channel(state);
        let guard = self.start(&key, &metric.source, sender.clone(), lookback);
        // A feed with a running source stops it as soon as it is unused; a pushed feed runs
        // nothing and costs a task less per policy set: the next `release_unused` drops it.
        if guard.is_some() {
            self.release_when_unused(key.clone(), sender.clone());
        }
        feeds.insert(
            key,
            Feed {
                sender,
                _guard: guard,
            },
        );
        receiver
    }

    fn start(
        &self,
        key: &SourceKey,
        spec: &MetricSpec,
        sender: FeedSender,
        lookback: usize,
    ) -> Option<SourceGuard> {
        if let (SourceKey::CloudWatch(cloudwatch), MetricSpec::CloudWatch(_)) = (key, spec) {
            return Some(Box::new(
                self.cloudwatch.register(cloudwatch, lookback, sender),
            ));
        }
        let source: Arc<dyn poller::Poll> = match (key, spec) {
            (SourceKey::Sqs(sqs), MetricSpec::Sqs(_)) => Arc::new(SqsPoller::new(
                sqs.as_ref().clone(),
                self.aws.clone(),
                self.clock.clone(),
                self.metrics.clone(),
            )),
            (SourceKey::Prometheus(prometheus), MetricSpec::Prometheus(_)) => Arc::new(
                PrometheusPoller::new(prometheus.as_ref().clone(), self.clock.clone()),
            ),
            _ => return None,
        };
        let task = tokio::spawn(poller::run(
            key.clone(),
            source,
            sender,
            self.clock.clone(),
            self.metrics.clone(),
        ));
        Some(Box::new(AbortOnDrop(task.abort_handle())))
    }

    /// Whether the source of `key` has finished a first fetch, delivered or failed (`None`
    /// without such a feed).
    pub fn fetched_once(&self, key: &SourceKey) -> Option<bool> {
        let feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        let state = feeds.get(key)?.sender.borrow();
        Some(state.last_success.is_some() || state.last_error.is_some())
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

    /// Releases the feed of `key` (stopping its source) once its last receiver is gone.
    ///
    /// [`Self::release_unused`] alone is not enough: a removed policy set's controller is
    /// stopped, but its receivers are dropped later, when the driver task next runs, so a
    /// release right after the removal still sees them and the source would poll forever.
    fn release_when_unused(&self, key: SourceKey, sender: FeedSender) {
        let feeds = Arc::downgrade(&self.feeds);
        tokio::spawn(async move {
            loop {
                sender.closed().await;
                let Some(feeds) = feeds.upgrade() else { return };
                let mut feeds = feeds.lock().unwrap_or_else(PoisonError::into_inner);
                // Subscribing holds the lock: a subscriber arrived in between, or none will.
                if sender.receiver_count() > 0 {
                    continue;
                }
                if feeds
                    .get(&key)
                    .is_some_and(|feed| feed.sender.same_channel(&sender))
                {
                    feeds.remove(&key);
                }
                return;
            }
        });
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
