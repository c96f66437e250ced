//! The background loop of a polled source: fetch, publish, back off on errors.
//!
//! A poller fetches every `interval`. A failure keeps the datapoints already published (so the
//! last good value is served until the staleness bound), records the error in the feed, and
//! waits `interval * 2^failures` (at most [`MAX_BACKOFF`]), scaled by a random factor in
//! `[0.5, 1)` so that many sources failing together do not retry together. Every fetch has a
//! timeout ([`fetch_timeout`]). A request to the scaler never triggers a fetch.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, warn};

use super::{FeedSender, Observation, SourceError, SourceKey};
use crate::clock::Clock;
use crate::telemetry::{Metrics, SourceLabels, SourceSeries};

/// The longest wait between two attempts after errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The shortest fetch timeout: room for the AWS SDK's own retries (3 attempts, up to 1 + 2 s of
/// backoff), so that a throttled or refused request is reported as such, not as a timeout.
pub const MIN_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest fetch timeout.
pub const MAX_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one fetch may take: the poll interval, within [`MIN_FETCH_TIMEOUT`] and
/// [`MAX_FETCH_TIMEOUT`]. A fetch longer than the interval only delays the next one; staleness is
/// judged by the controller from the last success, whatever the timeout.
pub fn fetch_timeout(interval: Duration) -> Duration {
    interval.clamp(MIN_FETCH_TIMEOUT, MAX_FETCH_TIMEOUT)
}

/// The future a poll returns.
pub type PollFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Observation>, SourceError>> + Send + 'a>>;

/// A source fetched in the background.
pub trait Poll: Send + Sync + 'static {
    /// Time between two fetches.
    fn interval(&self) -> Duration;

    /// Fetches what the source holds now: zero or more observations (none is missing data,
    /// not an error).
    fn poll(&self) -> PollFuture<'_>;
}

/// The wait before the next attempt after `failures` consecutive failures.
pub fn backoff(interval: Duration, failures: u32, jitter: f64) -> Duration {
    let exponential = interval.saturating_mul(1u32 << failures.min(16));
    exponential
        .min(MAX_BACKOFF.max(interval))
        .mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// Polls `source` into `feed` until the task is aborted.
pub async fn run(
    key: SourceKey,
    source: Arc<dyn Poll>,
    feed: FeedSender,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) {
    let series = SourceSeries::with_labels(metrics, SourceLabels::from(&key));
    let interval = source.interval();
    let timeout = fetch_timeout(interval);
    let mut failures = 0u32;
    loop {
        let started = tokio::time::Instant::now();
        let result = match tokio::time::timeout(timeout, source.poll()).await {
            Ok(result) => result,
            Err(_) => Err(SourceError::Timeout(timeout.as_secs())),
        };
        series.fetched(started.elapsed().as_secs_f64());
        let now = clock.now();
        let wait = match result {
            Ok(observations) => {
                failures = 0;
                debug!(source = %key, count = observations.len(), "Source fetched.");
                feed.send_modify(|state| {
                    for observation in observations {
                        state.record(observation);
                    }
                    state.succeeded(now);
                });
                interval
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                series.failed(error.kind());
                let wait = backoff(interval, failures, fastrand::f64());
                warn!(source = %key, %error, failures, retry_in = ?wait, "Source fetch failed; serving the last good value.");
                feed.send_modify(|state| state.failed(&error));
                wait
            }
        };
        if let Some(newest) = feed.borrow().datapoints.back() {
            series.datapoint_age((now - newest.timestamp).num_seconds().max(0));
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests;
