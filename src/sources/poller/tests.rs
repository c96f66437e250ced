//! Poller tests in virtual time: success, failure with backoff, last good value kept.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};

use super::*;
use crate::clock::TokioClock;

#[test]
fn backoff_doubles_up_to_the_cap_with_jitter_between_half_and_whole() {
    let interval = Duration::from_secs(15);
    assert_eq!(backoff(interval, 1, 1.0), Duration::from_secs(30));
    assert_eq!(backoff(interval, 1, 0.0), Duration::from_secs(15));
    assert_eq!(backoff(interval, 3, 1.0), Duration::from_secs(120));
    assert_eq!(backoff(interval, 10, 1.0), MAX_BACKOFF);
    assert_eq!(backoff(interval, u32::MAX, 0.0), MAX_BACKOFF / 2);
    // An interval longer than the cap is never shortened by backing off.
    assert_eq!(
        backoff(Duration::from_secs(600), 2, 1.0),
        Duration::from_secs(600)
    );
}

#[test]
fn fetch_timeout_is_the_interval_within_bounds() {
    assert_eq!(fetch_timeout(Duration::from_secs(1)), MIN_FETCH_TIMEOUT);
    assert_eq!(
        fetch_timeout(Duration::from_secs(15)),
        Duration::from_secs(15)
    );
    assert_eq!(fetch_timeout(Duration::from_secs(300)), MAX_FETCH_TIMEOUT);
}

/// A source that answers from a script: `Some(value)` or an error for `None`.
struct Scripted {
    answers: Mutex<Vec<Option<f64>>>,
    calls: AtomicU32,
    clock: TokioClock,
}

impl Poll for Scripted {
    fn interval(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn poll(&self) -> PollFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut answers = self.answers.lock().unwrap();
        let answer = if answers.len() > 1 {
            answers.remove(0)
        } else {
            answers[0]
        };
        let now = self.clock.now();
        Box::pin(async move {
            match answer {
                Some(value) => Ok(vec![Observation::sample(now, value)]),
                None => Err(SourceError::Throttled("slow down".to_owned())),
            }
        })
    }
}

fn start() -> DateTime<Utc> {
    "2026-01-05T10:00:00Z".parse().unwrap()
}

#[tokio::test(start_paused = true)]
async fn failures_keep_the_last_good_value_and_back_off() {
    let clock = TokioClock::starting_at(start());
    let source = Arc::new(Scripted {
        answers: Mutex::new(vec![Some(5.0), None, None, Some(7.0), Some(8.0)]),
        calls: AtomicU32::new(0),
        clock,
    });
    let (feed, mut receiver) = crate::sources::feed::channel(crate::sources::FeedState::default());
    let metrics = Arc::new(Metrics::new());
    let key = SourceKey::Push {
        policy_set: crate::policy::PolicySetId::new("a", "b"),
        metric: "m".to_owned(),
    };
    let task = tokio::spawn(run(
        key,
        source.clone(),
        feed,
        Arc::new(clock),
        metrics.clone(),
    ));

    tokio::time::sleep(Duration::from_millis(1)).await;
    let state = receiver.borrow_and_update().clone();
    assert_eq!(state.datapoints.len(), 1);
    assert_eq!(state.last_success, Some(start()));

    // Second poll at +10 s fails: the value stays, the error is recorded.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let state = receiver.borrow_and_update().clone();
    assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    assert_eq!(state.datapoints.len(), 1);
    assert_eq!(state.last_error.as_deref(), Some("throttled: slow down"));
    assert_eq!(state.last_success, Some(start()));

    // Backing off: the third attempt comes 10 to 20 s later, the fourth 20 to 40 s after that.
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(
        source.calls.load(Ordering::SeqCst),
        2,
        "no retry before half the backoff"
    );
    tokio::time::sleep(Duration::from_secs(51)).await;
    assert!(source.calls.load(Ordering::SeqCst) >= 4);
    let state = receiver.borrow_and_update().clone();
    assert_eq!(state.datapoints[1].value, 7.0);
    assert_eq!(state.last_error, None);
    let text = metrics.encode();
    assert!(text.contains("error=\"throttled\"} 2"), "{text}");
    // A stopped source leaves no series behind.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let text = metrics.encode();
    assert!(!text.contains("source=\""), "{text}");
}
