//! What a feed keeps: its capacity, and the retention its subscribers' histories ask for.

use std::sync::Arc;

use chrono::Duration;

use super::*;
use crate::clock::SystemClock;
use crate::engine::history_window_seconds;
use crate::policy::load::load_str;
use crate::sources::hub::SourceHub;
use crate::telemetry::Metrics;

fn start() -> DateTime<Utc> {
    "2026-11-28T00:00:00Z".parse().unwrap()
}

/// `count` samples `step_seconds` apart from [`start`].
fn fill(feed: &mut FeedState, count: i64, step_seconds: i64) {
    for i in 0..count {
        let at = start() + Duration::seconds(i * step_seconds);
        feed.push(at, i as f64, at);
    }
}

#[test]
fn a_feed_keeps_at_most_its_capacity_newest_last() {
    let mut feed = FeedState::default();
    fill(&mut feed, 1_000, 1);
    assert_eq!(feed.datapoints.len(), FEED_CAPACITY);
    assert_eq!(feed.datapoints.back().unwrap().value, 999.0);
}

#[test]
fn a_feed_keeps_its_retention_before_the_timestamp_last_recorded() {
    let mut feed = FeedState::default();
    feed.retain_at_least(900);
    // Ten hours of a value a minute: the last 15 minutes stay, both ends included.
    fill(&mut feed, 600, 60);
    assert_eq!(feed.datapoints.len(), 16);
    let newest = feed.datapoints.back().unwrap().timestamp;
    assert_eq!(
        newest - feed.datapoints.front().unwrap().timestamp,
        Duration::minutes(15)
    );
    // A late datapoint (an older timestamp) is kept and drops nothing newer.
    feed.push(newest - Duration::minutes(5), -1.0, newest);
    assert_eq!(feed.datapoints.len(), 17);
    // A shorter retention asked for later does not shorten it.
    feed.retain_at_least(60);
    fill(&mut feed, 600, 60);
    assert!(feed.datapoints.len() >= 16);
}

#[tokio::test]
async fn a_subscribed_feed_keeps_the_history_window_of_its_metric() {
    let set = load_str(
        "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\n\
         metadata: {name: orders, namespace: shop}\n\
         spec:\n  scalableTarget: {minCapacity: 1, maxCapacity: 10}\n\
         \x20 metrics:\n    backlog: {push: {period: 60}}\n\
         \x20 policies:\n  - policyName: backlog\n\
         \x20   targetTracking: {metric: backlog, targetValue: 100}\n",
        "test",
    )
    .unwrap();
    let hub = SourceHub::new(Arc::new(SystemClock), Arc::new(Metrics::new()));
    let _receiver = hub.subscribe(&set, 0);
    let window = i64::from(history_window_seconds(&set.metrics[0]));
    // The scale-in alarm of target tracking looks at 15 minutes; a few periods more are kept.
    assert!((15 * 60..=20 * 60).contains(&window), "{window}");
    let key = SourceHub::key_for(&set, 0);
    // A value every 10 s for a day: the window, not the capacity, bounds what is kept.
    assert!(hub.modify(&key, |feed| fill(feed, 8_640, 10)));
    let mut kept = 0;
    assert!(hub.modify(&key, |feed| kept = feed.datapoints.len()));
    assert_eq!(kept as i64, window / 10 + 1);
}

#[test]
fn every_source_error_kind_is_listed() {
    let errors = [
        SourceError::Throttled(String::new()),
        SourceError::Timeout(1),
        SourceError::BadAnswer(String::new()),
        SourceError::Failed(String::new()),
    ];
    let kinds: Vec<&str> = errors.iter().map(SourceError::kind).collect();
    assert_eq!(kinds, SourceError::KINDS);
}
