//! The SQS source and the source machinery against a real peer (moto) and injected faults.
//!
//! - this file: queue depth as the scaler reads it (visible, in flight, delayed; queue URL or
//!   name; an unknown queue), and one poller per distinct queue however many policy sets use it;
//! - [`faults`]: SQS refusing, hanging or throttling behind a fault-injecting proxy;
//! - [`end_to_end`]: target tracking and step scaling driven by queues, observed through gRPC.
//!
//! Every test starts its own moto server ([`harness::Moto`]); prerequisites (moto in the venv
//! `tests/run-all.sh` builds, dummy AWS credentials) are in [`harness`].

mod end_to_end;
mod faults;
mod harness;
#[path = "../support/fault_proxy.rs"]
mod proxy;
#[path = "../support/scaler.rs"]
mod scaler;

use std::time::Duration;

use harness::{
    GET_QUEUE_ATTRIBUTES, Moto, Queue, eventually, policy_set, sqs_source, start_scaler,
};

/// A policy set that only watches `source` (as metric `backlog`).
fn watcher(name: &str, source: &str) -> (String, String) {
    (
        format!("{name}.yaml"),
        policy_set(
            name,
            &format!(
                "  scalableTarget: {{minCapacity: 1, maxCapacity: 10}}\n  metrics:\n    \
                 backlog: {source}\n"
            ),
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_depth_counts_visible_in_flight_and_delayed_messages_as_configured() {
    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let client = harness::sqs_client(&endpoint).await;
    let queue = Queue::create(&client, "orders").await;
    queue.send(8, 0).await;
    queue.receive(3).await;
    queue.send(2, 600).await;
    assert_eq!(queue.counts().await, (5, 3, 2), "moto's own counts");

    let url = &queue.url;
    let files = [
        watcher("by-url", &sqs_source(url, &endpoint, "")),
        watcher("by-name", &sqs_source("orders", &endpoint, "")),
        watcher(
            "visible-only",
            &sqs_source(url, &endpoint, "scaleOnInFlight: false"),
        ),
        watcher(
            "with-delayed",
            &sqs_source(url, &endpoint, "scaleOnDelayed: true"),
        ),
        watcher(
            "visible-and-delayed",
            &sqs_source(
                url,
                &endpoint,
                "scaleOnInFlight: false, scaleOnDelayed: true",
            ),
        ),
        watcher("unknown", &sqs_source("no-such-queue", &endpoint, "")),
    ];
    let files: Vec<(&str, String)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    let scaler = start_scaler(&files, None).await;

    // Defaults: visible + in flight (KEDA's scaleOnInFlight: true), delayed not counted.
    let expected = [
        ("by-url", 8.0),
        ("by-name", 8.0),
        ("visible-only", 5.0),
        ("with-delayed", 10.0),
        ("visible-and-delayed", 7.0),
    ];
    for (name, value) in expected {
        let got = eventually(
            &format!("{name} reads the queue"),
            Duration::from_secs(10),
            async || scaler.latest(name, "backlog"),
        )
        .await;
        assert_eq!(got, value, "{name}");
    }

    // The sources keep polling: new messages show up within a couple of polls.
    queue.send(4, 0).await;
    for (name, value) in expected {
        eventually(
            &format!("{name} sees 4 more messages"),
            Duration::from_secs(5),
            async || (scaler.latest(name, "backlog") == Some(value + 4.0)).then_some(()),
        )
        .await;
    }

    // A queue that does not exist: no datapoint, an error that names the cause, no secret.
    let feed = eventually(
        "the unknown queue's error is recorded",
        Duration::from_secs(10),
        async || {
            let feed = scaler.feed("unknown", "backlog");
            feed.last_error.is_some().then_some(feed)
        },
    )
    .await;
    let error = feed.last_error.unwrap();
    assert!(feed.datapoints.is_empty(), "{:?}", feed.datapoints);
    assert!(error.contains("NonExistentQueue"), "{error}");
    let secret = harness::secret_access_key();
    assert!(!error.contains(&secret), "{error}");
    assert!(!scaler.metrics_text().contains(&secret));
    assert!(
        scaler
            .metrics_text()
            .contains("ecs_scaler_aws_api_calls_total{service=\"sqs\",operation=\"GetQueueUrl\"}"),
        "the name was resolved with GetQueueUrl"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_sets_naming_the_same_queue_share_one_poller() {
    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let client = harness::sqs_client(&endpoint).await;
    let queue = Queue::create(&client, "shared").await;
    queue.send(6, 0).await;

    let source = sqs_source(&queue.url, &endpoint, "");
    let files = [watcher("first", &source), watcher("second", &source)];
    let files: Vec<(&str, String)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    let scaler = start_scaler(&files, None).await;
    assert_eq!(scaler.registry.hub().len(), 1, "one feed for one queue");

    for name in ["first", "second"] {
        eventually(
            &format!("{name} reads the queue"),
            Duration::from_secs(10),
            async || (scaler.latest(name, "backlog") == Some(6.0)).then_some(()),
        )
        .await;
    }
    // Polled once a second by one poller: about one call per second, not two.
    let before = scaler.sample(GET_QUEUE_ATTRIBUTES);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let calls = scaler.sample(GET_QUEUE_ATTRIBUTES) - before;
    assert!(
        (2.0..=6.0).contains(&calls),
        "{calls} GetQueueAttributes calls in 4 s at one poll per second"
    );
    let text = scaler.metrics_text();
    assert_eq!(
        text.matches("ecs_scaler_source_fetch_seconds_count{")
            .count(),
        1,
        "one source:\n{text}"
    );

    // The poller outlives the first policy set and stops with the last.
    std::fs::remove_file(scaler.dir().join("first.yaml")).unwrap();
    eventually("first is removed", Duration::from_secs(5), async || {
        scaler
            .registry
            .get(harness::NAMESPACE, "first")
            .is_none()
            .then_some(())
    })
    .await;
    let before = scaler.sample(GET_QUEUE_ATTRIBUTES);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        scaler.sample(GET_QUEUE_ATTRIBUTES) > before,
        "second still polls"
    );
    assert_eq!(scaler.registry.hub().len(), 1);

    std::fs::remove_file(scaler.dir().join("second.yaml")).unwrap();
    eventually(
        "the last policy set's source is released",
        Duration::from_secs(5),
        async || scaler.registry.hub().is_empty().then_some(()),
    )
    .await;
    let stopped = scaler.sample(GET_QUEUE_ATTRIBUTES);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        scaler.sample(GET_QUEUE_ATTRIBUTES),
        stopped,
        "nobody uses the queue: no more calls"
    );
}
