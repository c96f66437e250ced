//! Pushes per metric of a policy set are rate-limited, so a runaway client cannot flood a feed.
//!
//! One GCRA bucket (governor's keyed limiter) per `(namespace, policy set, metric)` that exists:
//! `--push-rate-limit N` pushes per second, with a burst of N. A push beyond it is answered 429
//! with `Retry-After`. The limiter reads tokio's clock, so tests run it in paused time. Buckets
//! of metrics that went quiet are forgotten every [`RETAIN_EVERY`] pushes.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Pushes per second to one metric, unless told otherwise (`serve --push-rate-limit`).
pub const DEFAULT_PUSHES_PER_SECOND: NonZeroU32 = NonZeroU32::new(100).unwrap();

/// Pushes between two sweeps of the buckets that are full again.
pub const RETAIN_EVERY: u64 = 4096;

/// governor's clock on tokio's time.
#[derive(Debug, Clone, Copy)]
struct TokioTime {
    origin: tokio::time::Instant,
}

impl Clock for TokioTime {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.origin.elapsed())
    }
}

type Key = (String, String, String);
type Limiter = RateLimiter<Key, HashMapStateStore<Key>, TokioTime, NoOpMiddleware<Nanos>>;

/// The per-metric push limiter.
#[derive(Clone)]
pub struct PushRateLimit {
    per_second: NonZeroU32,
    limiter: Arc<Limiter>,
    checks: Arc<AtomicU64>,
}

impl std::fmt::Debug for PushRateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushRateLimit")
            .field("per_second", &self.per_second)
            .finish_non_exhaustive()
    }
}

impl Default for PushRateLimit {
    fn default() -> Self {
        Self::per_second(DEFAULT_PUSHES_PER_SECOND)
    }
}

impl PushRateLimit {
    /// `per_second` pushes per second per metric, in bursts of as many.
    pub fn per_second(per_second: NonZeroU32) -> Self {
        let clock = TokioTime {
            origin: tokio::time::Instant::now(),
        };
        Self {
            per_second,
            limiter: Arc::new(RateLimiter::new(
                Quota::per_second(per_second),
                HashMapStateStore::default(),
                clock,
            )),
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The rate.
    pub fn rate(&self) -> NonZeroU32 {
        self.per_second
    }

    /// Counts a push to `metric` of `namespace/name`: `Err(wait)` if it is over the limit,
    /// with how long until the next one is allowed.
    pub fn check(&self, namespace: &str, name: &str, metric: &str) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.limiter.retain_recent();
        }
        let key = (namespace.to_owned(), name.to_owned(), metric.to_owned());
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Buckets held.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// `Retry-After` of a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_the_rate_passes_then_the_next_push_waits() {
        let limit = PushRateLimit::per_second(NonZeroU32::new(10).unwrap());
        for i in 0..10 {
            assert_eq!(limit.check("shop", "web", "rps"), Ok(()), "push {i}");
        }
        let wait = limit.check("shop", "web", "rps").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert_eq!(retry_after_seconds(wait), 1);
        tokio::time::advance(wait).await;
        assert_eq!(
            limit.check("shop", "web", "rps"),
            Ok(()),
            "one more after the wait"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_metric_has_its_own_bucket() {
        let limit = PushRateLimit::per_second(NonZeroU32::new(1).unwrap());
        assert_eq!(limit.check("shop", "web", "rps"), Ok(()));
        assert!(limit.check("shop", "web", "rps").is_err());
        assert_eq!(limit.check("shop", "web", "latency"), Ok(()));
        assert_eq!(limit.check("shop", "api", "rps"), Ok(()));
        assert_eq!(limit.check("default", "web", "rps"), Ok(()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(limit.check("shop", "web", "rps"), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn quiet_buckets_are_forgotten() {
        let limit = PushRateLimit::per_second(NonZeroU32::new(1000).unwrap());
        for i in 0..RETAIN_EVERY - 1 {
            limit.check("shop", &format!("set-{i}"), "rps").unwrap();
        }
        assert_eq!(limit.len() as u64, RETAIN_EVERY - 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        limit.check("shop", "web", "rps").unwrap();
        assert_eq!(limit.len(), 1, "only the bucket just used remains");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2001)), 3);
    }
}
