//! Faults of what the scaler depends on, and load on what it serves:
//!
//! - a real Prometheus killed, then restarted on the same port; and stalled behind a proxy that
//!   accepts connections and never answers;
//! - the push client that feeds a policy set going away; a push client that sends half a body
//!   and stalls;
//! - `/healthz` while many gRPC clients hammer `GetMetrics` and `IsActive`.
//!
//! In every fault the scaler serves the last good decision until the source's staleness bound,
//! then answers `UNAVAILABLE` (KEDA applies its fallback), then decides again once the source is
//! back. A fault never scales in: the policy sets are balanced (the metric at its target per
//! task) with a scale-in alarm that needs one period below 90% of the target, so a fault read as
//! a low value would remove tasks within a period. Every desired capacity the policy set
//! publishes is recorded, and each must be at least the one before it.
//!
//! Prometheus comes from Debian's package (`tests/run-all.sh` installs it); these tests fail,
//! not skip, without it.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus_server;
#[path = "support/scaler.rs"]
mod scaler;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use ecs_scaler::controller::Verdict;
use ecs_scaler::grpc::proto::GetMetricsRequest;
use ecs_scaler::grpc::proto::external_scaler_client::ExternalScalerClient;
use ecs_scaler::http::PUSH_BODY_TIMEOUT;
use fault_proxy::{FaultProxy, Mode};
use prometheus_server::{ACTIVE_USERS, Prometheus, Target};
use scaler::{Recorder, Scaler, eventually, unavailable_after_staleness_bound};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::Channel;

/// The namespace of every policy set here.
const NAMESPACE: &str = "faults";

/// The staleness bound of every source here.
const STALE_AFTER_SECONDS: u64 = 3;

/// What every policy set starts from.
const INITIAL_CAPACITY: u32 = 5;

/// A policy set tracking metric `load` (read from `source`) at 500 per task, scaling out when one
/// 10-s period is above the target and in when one period is below 90% of it.
fn policy(name: &str, source: &str) -> String {
    format!(
        "apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {{name: {name}, namespace: {NAMESPACE}}}
spec:
  scalableTarget: {{minCapacity: 1, maxCapacity: 20}}
  metrics:
    load: {source}
  policies:
  - policyName: load-per-task
    targetTracking: {{metric: load, perTask: true, targetValue: 500, scaleInCooldown: 0}}
  behavior:
    reinvocationIntervalSeconds: 1
    targetTrackingHighAlarm: {{evaluationPeriods: 1, datapointsToAlarm: 1, thresholdRatio: 1.0}}
    targetTrackingLowAlarm: {{evaluationPeriods: 1, datapointsToAlarm: 1, thresholdRatio: 0.9}}
"
    )
}

/// The Prometheus source at `address`: queried every second with a 1-s timeout.
fn prometheus_source(address: &str) -> String {
    format!(
        "{{prometheus: {{serverAddress: '{address}', query: '{ACTIVE_USERS}', period: 10, \
         pollIntervalSeconds: 1, timeoutSeconds: 1, staleAfterSeconds: {STALE_AFTER_SECONDS}}}}}"
    )
}

/// The push source.
fn push_source() -> String {
    format!("{{push: {{period: 10, staleAfterSeconds: {STALE_AFTER_SECONDS}}}}}")
}

/// Waits until policy set `name` decides `desired` (through gRPC, as KEDA reads it).
async fn wait_for_desired(scaler: &Scaler, name: &str, desired: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while scaler.get_metrics(name).await.ok() != Some(desired) {
        assert!(
            Instant::now() < deadline,
            "{name}: no D = {desired} within {limit:?}; the verdict: {:?}",
            scaler.handle(name).verdict()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After a fault began at `began`: the decision `desired` stands while the source is younger
/// than its bound, then `GetMetrics` is `UNAVAILABLE` naming metric `load` and the bound.
async fn last_good_value_then_unavailable(
    scaler: &Scaler,
    name: &str,
    desired: u32,
    began: Instant,
) -> tonic::Status {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        scaler.get_metrics(name).await.ok(),
        Some(desired),
        "{name}: the last good decision stands within the staleness bound"
    );
    let status =
        unavailable_after_staleness_bound(name, "`load`", STALE_AFTER_SECONDS, began, async || {
            scaler.get_metrics(name).await.err()
        })
        .await;
    assert!(
        matches!(*scaler.handle(name).verdict(), Verdict::Unavailable { .. }),
        "{name}"
    );
    status
}

/// No decision recorded ever removed capacity.
fn assert_never_scaled_in(name: &str, recorder: &Recorder) {
    let decided = recorder.decided();
    assert!(
        decided.windows(2).all(|w| w[0] <= w[1]),
        "{name}: the capacity went down: {decided:?}"
    );
}

/// How many fetches of the scaler's sources failed with `kind` (all sources together).
fn source_errors(scaler: &Scaler, kind: &str) -> f64 {
    let label = format!("error=\"{kind}\"");
    scaler
        .metrics_text()
        .lines()
        .filter(|l| l.starts_with("ecs_scaler_source_errors_total") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A Prometheus scraping a target that serves `sessions`, with the value queryable.
async fn prometheus_with(sessions: f64) -> (Target, Prometheus) {
    let target = Target::start(sessions).await;
    let mut prometheus = Prometheus::start(target.addr, None);
    prometheus
        .wait_for_value(ACTIVE_USERS, &sessions.to_string())
        .await;
    (target, prometheus)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_killed_serves_the_last_value_then_unavailable_then_decides_again_on_restart() {
    let (target, mut prometheus) = prometheus_with(4000.0).await;
    let name = "killed";
    let scaler = Scaler::start(
        NAMESPACE,
        &[(
            "killed.yaml",
            policy(name, &prometheus_source(&prometheus.address)),
        )],
        Some(INITIAL_CAPACITY),
    )
    .await;
    let recorder = Recorder::start(&scaler.handle(name));

    // While Prometheus runs, its answer decides: 4000 users at 500 per task are 8 tasks.
    wait_for_desired(&scaler, name, 8, Duration::from_secs(40)).await;

    // Killed: the last good decision, then UNAVAILABLE, with the connection's error.
    prometheus.kill();
    let killed = Instant::now();
    last_good_value_then_unavailable(&scaler, name, 8, killed).await;
    let status = eventually(
        "UNAVAILABLE names the refused connection",
        Duration::from_secs(10),
        async || {
            let status = scaler.get_metrics(name).await.err()?;
            status
                .message()
                .contains("cannot connect")
                .then_some(status)
        },
    )
    .await;
    assert_eq!(status.code(), Code::Unavailable);
    assert!(scaler.is_serving(), "the server survives the fault");

    // Restarted on the same port and TSDB while the users grow: decisions resume, from the
    // query (6000 users are 12 tasks).
    target.set(6000.0);
    prometheus.restart();
    let restarted = Instant::now();
    prometheus.wait_for_value(ACTIVE_USERS, "6000").await;
    eventually(
        "decisions resume after the restart",
        Duration::from_secs(30),
        async || scaler.get_metrics(name).await.ok(),
    )
    .await;
    wait_for_desired(&scaler, name, 12, Duration::from_secs(40)).await;
    assert_eq!(scaler.feed(name, "load").last_error, None);
    eprintln!(
        "prometheus killed: restarted after {:?}, 12 tasks {:?} later",
        restarted - killed,
        restarted.elapsed()
    );

    assert_never_scaled_in(name, &recorder);
    assert!(recorder.unavailable() > 0);
    assert!(source_errors(&scaler, "failed") > 0.0);
    assert!(scaler.is_serving(), "no panic: the server task still runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stalled_hits_the_query_timeout_then_unavailable_then_recovers() {
    let (_target, prometheus) = prometheus_with(4000.0).await;
    let proxy = FaultProxy::start(prometheus.addr()).await;
    let name = "stalled";
    let scaler = Scaler::start(
        NAMESPACE,
        &[(
            "stalled.yaml",
            policy(name, &prometheus_source(&proxy.endpoint())),
        )],
        Some(INITIAL_CAPACITY),
    )
    .await;
    let recorder = Recorder::start(&scaler.handle(name));
    wait_for_desired(&scaler, name, 8, Duration::from_secs(40)).await;

    // Connections are accepted and never answered, open ones included.
    proxy.set(Mode::Stall);
    let stalled = Instant::now();
    let timeouts_before = source_errors(&scaler, "timeout");
    last_good_value_then_unavailable(&scaler, name, 8, stalled).await;

    // Each query ends at its own timeout (timeoutSeconds: 1), not at the poller's longer guard,
    // and the poller goes on: several timeouts follow one another.
    let status = eventually(
        "UNAVAILABLE names the query timeout",
        Duration::from_secs(10),
        async || {
            let status = scaler.get_metrics(name).await.err()?;
            status
                .message()
                .contains("timed out after 1 s")
                .then_some(status)
        },
    )
    .await;
    assert_eq!(status.code(), Code::Unavailable);
    eventually(
        "several queries time out in turn",
        Duration::from_secs(15),
        async || (source_errors(&scaler, "timeout") >= timeouts_before + 2.0).then_some(()),
    )
    .await;
    assert!(scaler.is_serving(), "the server survives the fault");

    // Answers again: decisions resume, at the same capacity.
    proxy.set(Mode::Pass);
    let recovered = Instant::now();
    let desired = eventually(
        "decisions resume after the stall",
        Duration::from_secs(30),
        async || scaler.get_metrics(name).await.ok(),
    )
    .await;
    assert_eq!(desired, 8);
    assert_eq!(scaler.feed(name, "load").last_error, None);
    eprintln!(
        "prometheus stalled for {:?}, decided again {:?} after",
        recovered - stalled,
        recovered.elapsed()
    );

    assert_never_scaled_in(name, &recorder);
    assert!(recorder.unavailable() > 0);
    assert!(scaler.is_serving(), "no panic: the server task still runs");
}

/// The push path of metric `load` of policy set `name`.
fn push_path(name: &str) -> String {
    format!("/v1/namespaces/{NAMESPACE}/policysets/{name}/metrics/load")
}

/// Pushes `value` (dated `seconds_ago` in the past) and expects 204.
async fn push(http: SocketAddr, name: &str, value: f64, seconds_ago: i64) {
    let at = Utc::now() - chrono::Duration::seconds(seconds_ago);
    let body = format!(
        r#"{{"value": {value}, "timestamp": "{}"}}"#,
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    let (status, text) = http::request(http, "PUT", &push_path(name), &body).await;
    assert_eq!(status, 204, "push to {name}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_client_gone_serves_the_last_value_then_unavailable_then_recovers_on_the_next_push() {
    let name = "pushed";
    let scaler = Scaler::start(
        NAMESPACE,
        &[("pushed.yaml", policy(name, &push_source()))],
        Some(INITIAL_CAPACITY),
    )
    .await;
    let recorder = Recorder::start(&scaler.handle(name));

    // The client pushes 4000 every 200 ms; the first value is dated in the previous period,
    // which is complete, so that the scale-out to 8 does not wait for a period to end.
    let http = scaler.http;
    push(http, name, 4000.0, 10).await;
    let pusher = tokio::spawn(async move {
        loop {
            push(http, name, 4000.0, 0).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    wait_for_desired(&scaler, name, 8, Duration::from_secs(20)).await;
    // A full period at the target per task holds the capacity.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(scaler.desired_now(name).await, 8);

    // The client goes away.
    pusher.abort();
    let _ = pusher.await;
    let gone = Instant::now();
    last_good_value_then_unavailable(&scaler, name, 8, gone).await;
    assert!(scaler.is_serving(), "the server survives the silence");

    // The next push: the policy set decides again at once, at the same capacity.
    push(http, name, 4000.0, 0).await;
    let desired = eventually(
        "decisions resume on the next push",
        Duration::from_secs(5),
        async || scaler.get_metrics(name).await.ok(),
    )
    .await;
    assert_eq!(desired, 8);
    assert_never_scaled_in(name, &recorder);
    assert!(recorder.unavailable() > 0);
    assert!(scaler.is_serving(), "no panic: the server task still runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_stalled_mid_body_block_no_other_request_and_are_closed_at_the_body_timeout() {
    let name = "half";
    let scaler = Scaler::start(
        NAMESPACE,
        &[("half.yaml", policy(name, &push_source()))],
        Some(INITIAL_CAPACITY),
    )
    .await;
    wait_for_desired(&scaler, name, INITIAL_CAPACITY, Duration::from_secs(5)).await;

    // 16 clients send their headers and half of a 64-byte body, then nothing, keeping the
    // connection open.
    let mut stalled = Vec::new();
    for _ in 0..16 {
        let mut stream = TcpStream::connect(scaler.http).await.unwrap();
        stream
            .write_all(
                format!(
                    "PUT {} HTTP/1.1\r\nHost: scaler\r\nContent-Type: application/json\r\n\
                     Content-Length: 64\r\n\r\n{{\"value\": 12",
                    push_path(name)
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        stalled.push(stream);
    }
    let began = Instant::now();

    // Meanwhile every other push, gRPC call and probe is answered.
    let answered = Duration::from_secs(2);
    for _ in 0..10 {
        tokio::time::timeout(answered, push(scaler.http, name, 2500.0, 0))
            .await
            .expect("a push is answered while others stall");
    }
    let desired = tokio::time::timeout(answered, scaler.get_metrics(name))
        .await
        .expect("GetMetrics is answered while pushes stall");
    assert_eq!(desired.ok(), Some(INITIAL_CAPACITY));
    let health = tokio::time::timeout(answered, http::get(scaler.http, "/healthz"))
        .await
        .expect("/healthz is answered while pushes stall");
    assert_eq!(health, (200, "ok\n".to_owned()));
    assert_eq!(scaler.latest(name, "load"), Some(2500.0));

    // The server does not hold the stalled connections: each gets 408 at the body timeout and
    // is closed.
    for mut stream in stalled {
        let mut response = Vec::new();
        tokio::time::timeout(
            PUSH_BODY_TIMEOUT + Duration::from_secs(10),
            stream.read_to_end(&mut response),
        )
        .await
        .expect("the server closes a connection whose body stalls")
        .unwrap();
        let (status, body) = http::parse_response(&response);
        assert_eq!(status, 408, "{body}");
        assert!(body.contains("request body not received within"), "{body}");
    }
    eprintln!(
        "stalled pushes closed {:?} after they stalled",
        began.elapsed()
    );
    assert!(scaler.is_serving(), "no panic: the server task still runs");
}

/// `GetMetrics` then `IsActive` for policy set `name` until `stop`; the calls made.
async fn hammer(
    mut client: ExternalScalerClient<Channel>,
    name: String,
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
) -> Result<u64, String> {
    let scaled_object = scaler::scaled_object(NAMESPACE, &name);
    let mut made = 0;
    while !stop.load(Ordering::SeqCst) {
        let metrics = client
            .get_metrics(GetMetricsRequest {
                scaled_object_ref: Some(scaled_object.clone()),
                metric_name: format!("ecs-desired-{NAMESPACE}-{name}"),
            })
            .await
            .map_err(|status| format!("GetMetrics {name}: {status:?}"))?
            .into_inner();
        if metrics.metric_values[0].metric_value_float != f64::from(INITIAL_CAPACITY) {
            return Err(format!("GetMetrics {name}: {metrics:?}"));
        }
        let active = client
            .is_active(scaled_object.clone())
            .await
            .map_err(|status| format!("IsActive {name}: {status:?}"))?
            .into_inner();
        if !active.result {
            return Err(format!("IsActive {name}: inactive"));
        }
        made += 2;
        calls.fetch_add(2, Ordering::SeqCst);
    }
    Ok(made)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_every_probe_within_2_s_while_32_grpc_clients_hammer_the_server() {
    // Push sources without a staleness bound: decided (at the initial capacity) however long
    // the load lasts.
    let names = ["alpha", "beta", "gamma", "delta"];
    let files: Vec<(String, String)> = names
        .iter()
        .map(|name| (format!("{name}.yaml"), policy(name, "{push: {period: 10}}")))
        .collect();
    let files: Vec<(&str, String)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    let scaler = Scaler::start(NAMESPACE, &files, Some(INITIAL_CAPACITY)).await;
    for name in names {
        wait_for_desired(&scaler, name, INITIAL_CAPACITY, Duration::from_secs(5)).await;
    }

    // 32 clients over 4 HTTP/2 connections, as KEDA's operator would hold a few.
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(
            Channel::from_shared(format!("http://{}", scaler.grpc))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..32)
        .map(|i| {
            tokio::spawn(hammer(
                ExternalScalerClient::new(channels[i % channels.len()].clone()),
                names[i % names.len()].to_owned(),
                stop.clone(),
                calls.clone(),
            ))
        })
        .collect();

    // A kubelet's liveness probe: a new connection each time, answered within
    // timeoutSeconds: 2; 30 probes 100 ms apart while the load runs.
    let probe_timeout = Duration::from_secs(2);
    let load_began = Instant::now();
    let mut probes = Vec::new();
    while probes.len() < 30 {
        let before = calls.load(Ordering::SeqCst);
        let answer = tokio::time::timeout(probe_timeout, http::get(scaler.http, "/healthz"))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "probe {} not answered within {probe_timeout:?} under load",
                    probes.len() + 1
                )
            });
        assert_eq!(
            answer,
            (200, "ok\n".to_owned()),
            "probe {}",
            probes.len() + 1
        );
        probes.push((before, calls.load(Ordering::SeqCst)));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut per_client = Vec::new();
    for client in clients {
        per_client.push(client.await.unwrap().unwrap_or_else(|e| panic!("{e}")));
    }

    // The probes ran under load: calls went on from the first probe to the last.
    let (first_before, _) = probes[0];
    let (last_before, _) = probes[probes.len() - 1];
    assert!(
        last_before > first_before,
        "the load ran while probing: {probes:?}"
    );
    assert!(
        per_client.iter().all(|&made| made > 0),
        "every client made calls: {per_client:?}"
    );
    eprintln!(
        "{} probes answered, {} gRPC calls by 32 clients in {:?}",
        probes.len(),
        calls.load(Ordering::SeqCst),
        load_began.elapsed()
    );
    assert!(scaler.is_serving(), "no panic: the server task still runs");
}
