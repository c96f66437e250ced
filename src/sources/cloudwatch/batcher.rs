//! One batcher task per (AWS identity, period, end-time offset): every CloudWatch query that
//! shares them is fetched together, once per period.
//!
//! - **Registration.** The hub registers a query with its feed when the first policy set uses
//!   it; dropping the [`Registration`] (when the last one goes) unregisters it, and the batcher
//!   stops with its last query. A new query is fetched about a second after it registers
//!   (registrations close together share the call), then with the others.
//! - **Schedule.** A cycle runs at `k * period + endTimeOffsetSeconds + splay` (a random splay
//!   of at most 5 s, fixed per batcher, so that replicas and batchers do not call together).
//! - **Window.** `end = (now - offset)` truncated to the period, `start = end - N periods`, with
//!   N the longest history a registered query needs (what the alarms evaluate, at most
//!   [`MAX_LOOKBACK`]): every cycle refills the whole history, so late CloudWatch data and
//!   missed cycles are repaired. `ScanBy` is `TimestampDescending`.
//! - **Calls.** Queries are packed into calls of at most 500 `MetricDataQuery` entries (an
//!   expression counts with its inputs, renamed per call so they never collide); an expression
//!   using `METRICS()` and a query CloudWatch once rejected get calls of their own. Pages are
//!   followed through `NextToken`. Every call is counted in `ecs_scaler_aws_api_calls`.
//! - **Delivery.** Each query's values go to its feed as period values; a period already
//!   delivered with the same value is not sent again, a revised one is (it replaces the old).
//! - **Errors.** A query whose call failed gets [`FeedState::failed`](crate::sources::FeedState::failed) and keeps its last values.
//!   Throttling stops the cycle; throttling and transport failures make the next cycle wait
//!   [`backoff`] (jittered, doubling). A request CloudWatch rejects as invalid is split in two
//!   and retried at once, until the bad query is alone: the others are not held hostage.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StandardUnit};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tracing::{debug, warn};

use super::api::{ApiFactory, CallError, MetricDataApi, Request, Status};
use super::{BatchKey, CloudWatchKey, MAX_QUERIES_PER_CALL, Query, StatQuery, rename_inputs};
use crate::clock::Clock;
use crate::sources::poller::backoff;
use crate::sources::{FeedSender, Observation, SourceError, SourceKey};
use crate::telemetry::{AwsCallLabels, Metrics, SourceLabels, SourceSeries};

/// The most periods one cycle fetches per query (500 queries x 200 periods fit CloudWatch's
/// 100,800 datapoints per call).
pub const MAX_LOOKBACK: usize = 200;
/// How long a new registration waits for others to share its first call.
pub const DEBOUNCE: Duration = Duration::from_secs(1);
/// A new registration is not fetched on its own when a cycle is due within this time.
pub const CYCLE_SOON: Duration = Duration::from_secs(10);
/// The longest a call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest start splay of a batcher, in milliseconds (at most a quarter of the period).
pub const MAX_SPLAY_MS: i64 = 5_000;
/// Pages followed per call before giving up (a broken `NextToken` loop).
const MAX_PAGES: usize = 1_000;

/// The window of a cycle at `now`: `end = (now - offset)` truncated to the period, `start = end
/// - lookback periods`.
pub fn window(
    now: DateTime<Utc>,
    period: u32,
    offset: u32,
    lookback: usize,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let period = i64::from(period.max(1));
    let end = (now.timestamp() - i64::from(offset)).div_euclid(period) * period;
    let start = end - period * lookback.clamp(1, MAX_LOOKBACK) as i64;
    (at(start), at(end))
}

/// The first cycle time after `now`: `k * period + offset + splay`.
pub fn next_cycle(now: DateTime<Utc>, period: u32, offset: u32, splay_ms: i64) -> DateTime<Utc> {
    let period_ms = i64::from(period.max(1)) * 1000;
    let base = i64::from(offset) * 1000 + splay_ms;
    let k = (now.timestamp_millis() - base).div_euclid(period_ms) + 1;
    DateTime::from_timestamp_millis(k * period_ms + base).unwrap_or(now)
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// The CloudWatch sources of a hub: the batchers, created and stopped with their queries.
#[derive(Clone)]
pub struct CloudWatchSources {
    inner: Arc<Inner>,
}

struct Inner {
    batches: Mutex<HashMap<BatchKey, BatchHandle>>,
    api: ApiFactory,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    next_id: AtomicU64,
}

struct BatchHandle {
    shared: Arc<Shared>,
    task: AbortHandle,
}

/// What a batcher and its registrations share.
struct Shared {
    entries: Mutex<BTreeMap<u64, Entry>>,
    wake: Notify,
}

impl Shared {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone)]
struct Entry {
    query: Arc<Query>,
    feed: FeedSender,
    series: Arc<SourceSeries>,
    lookback: usize,
    /// Not fetched since it registered or needed a longer history.
    fresh: bool,
    /// Fetched in a call of its own (CloudWatch rejected a call with it alone).
    isolated: bool,
}

/// Keeps a query registered with its batcher; dropping it unregisters the query, and stops the
/// batcher with its last query.
pub struct Registration {
    inner: Arc<Inner>,
    batch: BatchKey,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut batches = self.inner.batches();
        let Some(handle) = batches.get(&self.batch) else {
            return;
        };
        let empty = {
            let mut entries = handle.shared.entries();
            entries.remove(&self.id);
            entries.is_empty()
        };
        if empty {
            handle.task.abort();
            batches.remove(&self.batch);
        }
    }
}

impl Inner {
    fn batches(&self) -> std::sync::MutexGuard<'_, HashMap<BatchKey, BatchHandle>> {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CloudWatchSources {
    /// No batcher yet; calls go through `api`, time comes from `clock`.
    pub fn new(api: ApiFactory, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::new(Inner {
                batches: Mutex::new(HashMap::new()),
                api,
                clock,
                metrics,
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// Registers the query of `key`, whose values go to `feed`, with `lookback` periods of
    /// history; starts its batcher if needed. Must be called within a tokio runtime.
    pub fn register(&self, key: &CloudWatchKey, lookback: usize, feed: FeedSender) -> Registration {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut batches = self.inner.batches();
        let handle = batches
            .entry(key.batch.clone())
            .or_insert_with(|| self.start(&key.batch));
        handle.shared.entries().insert(
            id,
            Entry {
                query: Arc::new(key.query.clone()),
                feed,
                series: Arc::new(SourceSeries::with_labels(
                    self.inner.metrics.clone(),
                    SourceLabels::from(&SourceKey::CloudWatch(Box::new(key.clone()))),
                )),
                lookback: lookback.clamp(1, MAX_LOOKBACK),
                fresh: true,
                isolated: false,
            },
        );
        handle.shared.wake.notify_one();
        Registration {
            inner: self.inner.clone(),
            batch: key.batch.clone(),
            id,
        }
    }

    /// Makes the query of `key` fetch at least `lookback` periods (a policy set with longer
    /// alarms subscribed); fetches it again soon if that is more than before.
    pub fn need_history(&self, key: &CloudWatchKey, lookback: usize) {
        let lookback = lookback.clamp(1, MAX_LOOKBACK);
        let batches = self.inner.batches();
        let Some(handle) = batches.get(&key.batch) else {
            return;
        };
        let mut widened = false;
        for entry in handle.shared.entries().values_mut() {
            if *entry.query == key.query && entry.lookback < lookback {
                entry.lookback = lookback;
                entry.fresh = true;
                widened = true;
            }
        }
        if widened {
            handle.shared.wake.notify_one();
        }
    }

    /// Number of running batchers.
    pub fn batchers(&self) -> usize {
        self.inner.batches().len()
    }

    fn start(&self, key: &BatchKey) -> BatchHandle {
        let shared = Arc::new(Shared {
            entries: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
        });
        let period_ms = i64::from(key.period.max(1)) * 1000;
        let batcher = Batcher {
            key: key.clone(),
            shared: shared.clone(),
            api: (self.inner.api)(&key.identity),
            clock: self.inner.clock.clone(),
            metrics: self.inner.metrics.clone(),
            splay_ms: fastrand::i64(0..=MAX_SPLAY_MS.min(period_ms / 4)),
            delivered: HashMap::new(),
        };
        let task = tokio::spawn(batcher.run());
        BatchHandle {
            shared,
            task: task.abort_handle(),
        }
    }
}

/// Which entries a cycle fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selection {
    All,
    Fresh,
}

struct Batcher {
    key: BatchKey,
    shared: Arc<Shared>,
    api: Arc<dyn MetricDataApi>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    splay_ms: i64,
    /// Per entry: the values delivered, by period start.
    delivered: HashMap<u64, BTreeMap<i64, f64>>,
}

/// What one query got from a cycle.
type Outcome = Result<Vec<(DateTime<Utc>, f64)>, SourceError>;

impl Batcher {
    async fn run(mut self) {
        let (period, offset) = (self.key.period, self.key.end_time_offset_seconds);
        let mut failures = 0u32;
        let mut next = next_cycle(self.clock.now(), period, offset, self.splay_ms);
        loop {
            let wait = (next - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
            let selection = tokio::select! {
                () = tokio::time::sleep(wait) => Selection::All,
                () = self.shared.wake.notified() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    let soon = (next - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
                    if failures > 0 || soon <= CYCLE_SOON {
                        // Backing off, or a cycle is due anyway: the new queries join it.
                        continue;
                    }
                    Selection::Fresh
                }
            };
            let failed = self.cycle(selection).await;
            let now = self.clock.now();
            if failed {
                failures = failures.saturating_add(1);
                let interval = Duration::from_secs(u64::from(period.max(1)));
                let delay = backoff(interval, failures, fastrand::f64());
                next = now + chrono::Duration::from_std(delay).unwrap_or_default();
            } else if selection == Selection::All {
                failures = 0;
                next = next_cycle(now, period, offset, self.splay_ms);
            }
        }
    }

    /// Fetches the selected queries and delivers their values; true when a call failed for
    /// the whole batch (throttling, timeout, transport), so that the batcher backs off.
    async fn cycle(&mut self, selection: Selection) -> bool {
        let started = tokio::time::Instant::now();
        let targets: Vec<(u64, Entry)> = {
            let mut entries = self.shared.entries();
            if selection == Selection::All {
                self.delivered.retain(|id, _| entries.contains_key(id));
            }
            entries
                .iter_mut()
                .filter(|(_, e)| selection == Selection::All || e.fresh)
                .map(|(id, e)| {
                    e.fresh = false;
                    (*id, e.clone())
                })
                .collect()
        };
        if targets.is_empty() {
            return false;
        }
        let now = self.clock.now();
        let lookback = targets.iter().map(|(_, e)| e.lookback).max().unwrap_or(1);
        let (start, end) = window(
            now,
            self.key.period,
            self.key.end_time_offset_seconds,
            lookback,
        );
        let queries: Vec<(&Query, bool)> = targets
            .iter()
            .map(|(_, e)| (e.query.as_ref(), e.isolated))
            .collect();
        let (outcomes, failed, rejected) = self.fetch_all(&queries, start, end).await;
        if !rejected.is_empty() {
            let mut entries = self.shared.entries();
            for index in rejected {
                if let Some(entry) = entries.get_mut(&targets[index].0) {
                    entry.isolated = true;
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let received = self.clock.now();
        let mut errors = 0;
        for ((id, entry), outcome) in targets.iter().zip(outcomes) {
            entry.series.fetched(elapsed);
            match outcome {
                Ok(points) => self.deliver(*id, entry, points, start, received),
                Err(error) => {
                    errors += 1;
                    entry.series.failed(error.kind());
                    if errors == 1 {
                        warn!(source = %entry.series.source(), %error, "CloudWatch fetch failed; serving the last good values.");
                    }
                    entry.feed.send_modify(|state| state.failed(&error));
                }
            }
        }
        debug!(
            queries = targets.len(),
            errors,
            failed,
            period = self.key.period,
            "CloudWatch batch fetched."
        );
        failed
    }

    fn deliver(
        &mut self,
        id: u64,
        entry: &Entry,
        mut points: Vec<(DateTime<Utc>, f64)>,
        start: DateTime<Utc>,
        received: DateTime<Utc>,
    ) {
        points.sort_by_key(|(at, _)| *at);
        let delivered = self.delivered.entry(id).or_default();
        delivered.retain(|period, _| *period >= start.timestamp());
        let mut changed = Vec::new();
        for (at, value) in points {
            if delivered.insert(at.timestamp(), value) != Some(value) {
                changed.push(Observation {
                    timestamp: at,
                    value,
                    period_value: true,
                });
            }
        }
        entry.feed.send_modify(|state| {
            for observation in changed {
                state.record(observation);
            }
            state.succeeded(received);
        });
        if let Some(newest) = entry.feed.borrow().datapoints.back() {
            entry
                .series
                .datapoint_age((received - newest.timestamp).num_seconds().max(0));
        }
    }

    /// Fetches `queries` (each with its isolation flag) in as few calls as possible. Returns one
    /// outcome per query, whether a call failed for a reason other than a bad query, and the
    /// indices of the queries CloudWatch rejected on their own.
    async fn fetch_all(
        &self,
        queries: &[(&Query, bool)],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> (Vec<Outcome>, bool, Vec<usize>) {
        let mut outcomes: Vec<Outcome> = vec![Ok(Vec::new()); queries.len()];
        let mut failed = false;
        let mut rejected = Vec::new();
        let mut pending: VecDeque<Vec<usize>> = chunks(queries).into();
        while let Some(chunk) = pending.pop_front() {
            let members: Vec<&Query> = chunk.iter().map(|&i| queries[i].0).collect();
            match self.fetch(&members, start, end).await {
                Ok(results) => {
                    for (&i, outcome) in chunk.iter().zip(results) {
                        outcomes[i] = outcome;
                    }
                }
                Err(CallError {
                    rejected: true,
                    error,
                }) => {
                    if chunk.len() > 1 {
                        // One of them is bad: bisect, so the others still get their values.
                        let (left, right) = chunk.split_at(chunk.len() / 2);
                        pending.push_front(right.to_vec());
                        pending.push_front(left.to_vec());
                    } else {
                        outcomes[chunk[0]] = Err(error);
                        rejected.push(chunk[0]);
                    }
                }
                Err(CallError { error, .. }) => {
                    failed = true;
                    let throttled = matches!(error, SourceError::Throttled(_));
                    for &i in &chunk {
                        outcomes[i] = Err(error.clone());
                    }
                    if throttled {
                        // Slow down now: the rest of the cycle is not attempted.
                        for chunk in pending.drain(..) {
                            for i in chunk {
                                outcomes[i] = Err(error.clone());
                            }
                        }
                    }
                }
            }
        }
        (outcomes, failed, rejected)
    }

    /// One call (all its pages) for `members`; one outcome per member.
    async fn fetch(
        &self,
        members: &[&Query],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Outcome>, CallError> {
        let mut request = Request {
            queries: members
                .iter()
                .enumerate()
                .flat_map(|(k, query)| data_queries(k, query, self.key.period))
                .collect(),
            start,
            end,
            next_token: None,
        };
        // Per call-local id: the points of each label.
        let mut series: HashMap<String, BTreeMap<Option<String>, SeriesData>> = HashMap::new();
        for _ in 0..MAX_PAGES {
            self.metrics
                .aws_api_calls
                .get_or_create(&AwsCallLabels {
                    service: "cloudwatch",
                    operation: "GetMetricData",
                })
                .inc();
            let page = match tokio::time::timeout(CALL_TIMEOUT, self.api.get_metric_data(&request))
                .await
            {
                Ok(page) => page?,
                Err(_) => {
                    return Err(CallError {
                        error: SourceError::Timeout(CALL_TIMEOUT.as_secs()),
                        rejected: false,
                    });
                }
            };
            for s in page.series {
                let data = series.entry(s.id).or_default().entry(s.label).or_default();
                data.points.extend(s.points);
                data.status = Some(s.status);
                data.messages.extend(s.messages);
            }
            match page.next_token {
                Some(token) => request.next_token = Some(token),
                None => break,
            }
        }
        Ok((0..members.len())
            .map(|k| outcome(series.remove(&result_id(k, members[k]))))
            .collect())
    }
}

#[derive(Debug, Default)]
struct SeriesData {
    points: Vec<(DateTime<Utc>, f64)>,
    status: Option<Status>,
    messages: Vec<String>,
}

fn outcome(series: Option<BTreeMap<Option<String>, SeriesData>>) -> Outcome {
    let Some(mut series) = series else {
        // No result for the query: no data.
        return Ok(Vec::new());
    };
    if series.len() > 1 {
        let labels: Vec<String> = series
            .keys()
            .map(|l| l.clone().unwrap_or_default())
            .collect();
        return Err(SourceError::BadAnswer(format!(
            "the query returned {} time series ({}); a metric must be one series",
            labels.len(),
            labels.join(", ")
        )));
    }
    let (_, data) = series.pop_first().unwrap_or_default();
    match data.status {
        Some(Status::InternalError) | Some(Status::Forbidden) => Err(SourceError::Failed(format!(
            "CloudWatch answered {} for the query{}",
            if data.status == Some(Status::Forbidden) {
                "Forbidden"
            } else {
                "InternalError"
            },
            if data.messages.is_empty() {
                String::new()
            } else {
                format!(": {}", data.messages.join("; "))
            }
        ))),
        _ => Ok(data.points),
    }
}

/// Groups queries into calls: at most [`MAX_QUERIES_PER_CALL`] entries each, in order, with
/// isolated queries and `METRICS()` expressions alone.
fn chunks(queries: &[(&Query, bool)]) -> Vec<Vec<usize>> {
    let mut chunks = Vec::new();
    let mut alone = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for (i, (query, isolated)) in queries.iter().enumerate() {
        if *isolated || query.needs_own_call() {
            alone.push(vec![i]);
            continue;
        }
        if size + query.size() > MAX_QUERIES_PER_CALL && !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
            size = 0;
        }
        current.push(i);
        size += query.size();
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks.extend(alone);
    chunks
}

/// The call-local id of the `k`-th query's result.
fn result_id(k: usize, query: &Query) -> String {
    match query {
        Query::Stat(_) => format!("q{k}"),
        Query::Expression { .. } => format!("e{k}"),
    }
}

/// The `MetricDataQuery` entries of the `k`-th query of a call.
pub fn data_queries(k: usize, query: &Query, period: u32) -> Vec<MetricDataQuery> {
    match query {
        Query::Stat(stat) => vec![stat_query(result_id(k, query), stat, period, true)],
        Query::Expression { expression, inputs } => {
            let prefix = format!("i{k}_");
            let mut entries = vec![
                MetricDataQuery::builder()
                    .id(result_id(k, query))
                    .expression(rename_inputs(expression, inputs, &prefix))
                    .period(period as i32)
                    .return_data(true)
                    .build(),
            ];
            entries.extend(
                inputs
                    .iter()
                    .map(|(id, stat)| stat_query(format!("{prefix}{id}"), stat, period, false)),
            );
            entries
        }
    }
}

fn stat_query(id: String, stat: &StatQuery, period: u32, return_data: bool) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(&stat.namespace)
        .metric_name(&stat.metric_name)
        .set_dimensions(Some(
            stat.dimensions
                .iter()
                .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                .collect(),
        ))
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period as i32)
                .stat(&stat.stat)
                .set_unit(stat.unit.as_deref().map(StandardUnit::from))
                .build(),
        )
        .return_data(return_data)
        .build()
}
