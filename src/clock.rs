//! Where "now" comes from: the wall clock in production, tokio's clock in tests.

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that advances with tokio's time, from a fixed starting instant.
///
/// Under `tokio::time::pause()` time only moves when the runtime is idle or advanced by hand, so
/// tests of timers, ticks and cooldowns run in virtual time and are deterministic.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: DateTime<Utc>,
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `start` now and advances with tokio's time.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            start,
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.origin;
        self.start + chrono::Duration::from_std(elapsed).unwrap_or(chrono::TimeDelta::MAX)
    }
}
