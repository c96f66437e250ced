//! SQS failing behind a fault-injecting proxy: the last good value is served, then, after the
//! staleness bound, the policy set is UNAVAILABLE (KEDA applies its fallback); it recovers when
//! SQS answers again; and a fault never scales in.
//!
//! The policy set is balanced on purpose: 50 messages, 5 tasks, 10 messages per task as target,
//! and a scale-in alarm that needs a single period below 9 per task. Any fault read as an empty
//! queue would scale in to the minimum of 1 within one period.
//!
//! The three faults (connection refused, hanging, throttled) run concurrently in one test, each
//! with its own queue, proxy and policy set in one scaler: the waits overlap, so the test takes
//! about 20 s instead of 60.

use std::time::{Duration, Instant};

use ecs_scaler::controller::Verdict;
use ecs_scaler::engine::reason::Outcome;

use crate::harness::{
    self, Moto, Queue, Recorder, Scaler, desired_now, eventually, get_metrics, policy_set,
    sqs_source, unavailable_after_staleness_bound,
};
use crate::proxy::{FaultProxy, Mode};

const CAPACITY: u32 = 5;
const STALE_AFTER_SECONDS: u64 = 3;

fn balanced_policy(name: &str, queue_url: &str, endpoint: &str) -> String {
    policy_set(
        name,
        &format!(
            "  scalableTarget: {{minCapacity: 1, maxCapacity: 20}}
  metrics:
    backlog: {}
  policies:
  - policyName: backlog-per-task
    targetTracking: {{metric: backlog, perTask: true, targetValue: 10, scaleInCooldown: 0}}
  behavior:
    reinvocationIntervalSeconds: 1
    targetTrackingLowAlarm: {{evaluationPeriods: 1, datapointsToAlarm: 1, thresholdRatio: 0.9}}
",
            sqs_source(
                queue_url,
                endpoint,
                &format!("staleAfterSeconds: {STALE_AFTER_SECONDS}")
            )
        ),
    )
}

/// One fault: its name, proxy mode and what the source's error says.
struct Fault {
    name: &'static str,
    mode: Mode,
    error_kind: &'static str,
}

const FAULTS: [Fault; 3] = [
    Fault {
        name: "refused",
        mode: Mode::Refuse,
        error_kind: "failed",
    },
    Fault {
        name: "stalled",
        mode: Mode::Stall,
        error_kind: "timeout",
    },
    Fault {
        name: "throttled",
        mode: Mode::Throttle,
        error_kind: "throttled",
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_serve_the_last_good_value_then_unavailable_then_recover_without_scaling_in() {
    let moto = Moto::start();
    let client = harness::sqs_client(&moto.endpoint()).await;
    let mut files = Vec::new();
    let mut proxies = Vec::new();
    for fault in &FAULTS {
        let queue = Queue::create(&client, fault.name).await;
        queue.send(50, 0).await;
        let proxy = FaultProxy::start(moto.addr).await;
        files.push((
            format!("{}.yaml", fault.name),
            balanced_policy(fault.name, &queue.url, &proxy.endpoint()),
        ));
        proxies.push(proxy);
    }
    let files: Vec<(&str, String)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    let scaler = harness::start_scaler(&files, Some(CAPACITY)).await;

    let scenarios = FAULTS
        .iter()
        .zip(&proxies)
        .map(|(fault, proxy)| scenario(&scaler, fault, proxy));
    futures_util::future::join_all(scenarios).await;

    let text = scaler.metrics_text();
    for fault in &FAULTS {
        let label = format!("error=\"{}\"", fault.error_kind);
        assert!(
            text.lines()
                .any(|l| l.starts_with("ecs_scaler_source_errors_total") && l.contains(&label)),
            "{}: no source error of kind {}:\n{text}",
            fault.name,
            fault.error_kind
        );
    }
    assert!(proxies[2].throttled() > 0, "the throttling proxy answered");
    let secret = harness::secret_access_key();
    assert!(!text.contains(&secret));
}

async fn scenario(scaler: &Scaler, fault: &Fault, proxy: &FaultProxy) {
    let name = fault.name;
    let mut scaler_client = scaler.client.clone();
    let handle = scaler.handle(name);
    let recorder = Recorder::start(&handle);

    // A decision made on data: the newest complete period holds 10 messages per task.
    eventually(
        &format!("{name}: a decision on a complete period"),
        Duration::from_secs(25),
        async || {
            let verdict = handle.verdict();
            let decision = verdict.decision()?;
            (decision.reasons[0].outcome == Outcome::AlarmOk).then_some(())
        },
    )
    .await;
    assert_eq!(
        desired_now(&mut scaler_client, name).await,
        CAPACITY,
        "{name}"
    );

    // The fault begins: the last good value is served while it is younger than the bound.
    proxy.set(fault.mode);
    let began = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        desired_now(&mut scaler_client, name).await,
        CAPACITY,
        "{name}: the decision stands within the staleness bound"
    );

    // Then UNAVAILABLE, so that KEDA applies its fallback: never a made-up value.
    unavailable_after_staleness_bound(name, "backlog", STALE_AFTER_SECONDS, began, async || {
        get_metrics(&mut scaler_client, name).await.err()
    })
    .await;
    let after = began.elapsed();
    // The status names the source's error once the failed fetch is over (a hanging one ends at
    // the fetch timeout).
    let status = eventually(
        &format!("{name}: UNAVAILABLE with the source's error"),
        Duration::from_secs(10),
        async || {
            let status = get_metrics(&mut scaler_client, name).await.err()?;
            status.message().contains("last error").then_some(status)
        },
    )
    .await;
    for credential in [harness::secret_access_key(), harness::access_key_id()] {
        assert!(
            !status.message().contains(&credential),
            "{name}: {status:?}"
        );
    }
    assert!(matches!(*handle.verdict(), Verdict::Unavailable { .. }));

    // SQS answers again: decisions resume, at the same capacity.
    proxy.set(Mode::Pass);
    let recovered = Instant::now();
    let desired = eventually(
        &format!("{name}: decisions resume after recovery"),
        Duration::from_secs(20),
        async || get_metrics(&mut scaler_client, name).await.ok(),
    )
    .await;
    assert_eq!(desired, CAPACITY, "{name}: recovered at the same capacity");
    assert_eq!(scaler.feed(name, "backlog").last_error, None);
    eprintln!(
        "{name}: unavailable {after:?} after the fault began, recovered {:?} after it ended",
        recovered.elapsed()
    );

    // Stay a full period more: the periods the fault emptied must not scale in either.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        desired_now(&mut scaler_client, name).await,
        CAPACITY,
        "{name}"
    );
    let decided = recorder.decided();
    assert!(
        decided.iter().all(|&d| d == CAPACITY),
        "{name}: the capacity moved: {decided:?}"
    );
    assert!(recorder.unavailable() > 0, "{name}");
}
