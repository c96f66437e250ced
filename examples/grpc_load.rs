//! gRPC load bench: KEDA's call sequence against ecs-scaler and against a bare tonic server.
//!
//! ```sh
//! cargo run --release --example grpc_load
//! cargo run --release --example grpc_load -- --seconds 10 --rounds 2 --tasks 64 --connections 4
//! ```
//!
//! The driver starts two server processes (this binary again, with `--serve`):
//! - `ecs`: `ecs_scaler::serve::Server` over `--policy-sets` generated policy files (default
//!   1,000) in a temporary directory, with everything `serve` runs (controllers, HTTP side);
//! - `bare`: a tonic server implementing the same generated `ExternalScaler` service and
//!   answering constants.
//!
//! Then it runs the same client against each, alternating, `--rounds` times `--seconds` seconds
//! (after a one-second warm-up): `--tasks` concurrent tasks over `--connections` HTTP/2
//! connections, each replaying KEDA's sequence GetMetricSpec -> GetMetrics -> IsActive over the
//! policy sets in turn. It reports requests/s and p50/p99 latency of each, and the ratios.
//!
//! Finally it starts an `ecs` server with `--rss-policy-sets` policy sets (default 10,000),
//! measures the time from `Server::bind` to ready (every policy set decided), loads it for
//! `--seconds` seconds and reads its peak RSS (`VmHWM` of `/proc/self/status`). With
//! `--rss-data-minutes M` every pushed metric first receives M minutes of values, one every
//! 10 s (written into the feeds, as the push endpoint does), so that the figure includes what
//! the feeds and histories keep in a steady state.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecs_scaler::grpc::proto::external_scaler_client::ExternalScalerClient;
use ecs_scaler::grpc::proto::external_scaler_server::{ExternalScaler, ExternalScalerServer};
use ecs_scaler::grpc::proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};
use ecs_scaler::serve::{ServeConfig, Server};
use ecs_scaler::sources::hub::SourceHub;
use futures_util::Stream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

const NAMESPACE: &str = "bench";

#[derive(Debug, Clone)]
struct Options {
    seconds: u64,
    rounds: u32,
    tasks: usize,
    connections: usize,
    policy_sets: usize,
    rss_policy_sets: usize,
    rss_data_minutes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seconds: 10,
            rounds: 2,
            tasks: 64,
            connections: 4,
            policy_sets: 1_000,
            rss_policy_sets: 10_000,
            rss_data_minutes: 0,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = Options::default();
    let mut serve: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let value = || {
            args.get(i + 1)
                .unwrap_or_else(|| panic!("{} needs a value", args[i]))
                .clone()
        };
        let number =
            |v: String| -> usize { v.parse().unwrap_or_else(|_| panic!("not a number: {v}")) };
        match args[i].as_str() {
            "--serve" => serve = Some(value()),
            "--seconds" => options.seconds = number(value()) as u64,
            "--rounds" => options.rounds = number(value()) as u32,
            "--tasks" => options.tasks = number(value()),
            "--connections" => options.connections = number(value()),
            "--policy-sets" => options.policy_sets = number(value()),
            "--rss-policy-sets" => options.rss_policy_sets = number(value()),
            "--rss-data-minutes" => options.rss_data_minutes = number(value()),
            "--bench" => {
                i += 1;
                continue;
            } // passed by `cargo bench`-like runners
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    match serve.as_deref() {
        Some("ecs") => run_ecs_server(options.policy_sets, options.rss_data_minutes),
        Some("bare") => run_bare_server(),
        Some(other) => panic!("--serve ecs|bare, not {other}"),
        None => drive(&options),
    }
}

// ---------------------------------------------------------------------------------------------
// Servers (child processes)

/// Three shapes of policy set, cycled: target tracking (like `checkout`), target tracking with
/// two step policies on alarms and two weekday schedules (like `orders-api`), one step policy
/// (like `web-app`).
fn policy_document(i: usize) -> String {
    let name = policy_name(i);
    let head = format!(
        "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\n\
         metadata: {{name: {name}, namespace: {NAMESPACE}}}\nspec:\n"
    );
    let body = match i % 3 {
        0 => format!(
            "  scalableTarget: {{minCapacity: 1, maxCapacity: 20}}\n\
             \x20 metrics:\n    activeUsers: {{push: {{period: 60}}}}\n\
             \x20 policies:\n  - policyName: active-users-per-task\n\
             \x20   targetTracking: {{metric: activeUsers, perTask: true, targetValue: {}}}\n",
            400 + i % 200
        ),
        1 => "  scalableTarget: {minCapacity: 2, maxCapacity: 50}\n\
              \x20 metrics:\n    backlog: {push: {period: 60}}\n    cpu: {push: {period: 60}}\n\
              \x20 alarms:\n\
              \x20   cpuHigh: {metric: cpu, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 70, evaluationPeriods: 3, datapointsToAlarm: 2}\n\
              \x20   cpuLow: {metric: cpu, comparisonOperator: LessThanOrEqualToThreshold, threshold: 30, evaluationPeriods: 10, treatMissingData: notBreaching}\n\
              \x20 policies:\n\
              \x20 - policyName: backlog-per-task\n\
              \x20   targetTracking: {metric: backlog, perTask: true, targetValue: 100, scaleOutCooldown: 60}\n\
              \x20 - policyName: cpu-scale-out\n\
              \x20   stepScaling:\n\
              \x20     alarm: cpuHigh\n\
              \x20     adjustmentType: ChangeInCapacity\n\
              \x20     cooldown: 120\n\
              \x20     stepAdjustments:\n\
              \x20     - {metricIntervalLowerBound: 0, metricIntervalUpperBound: 15, scalingAdjustment: 2}\n\
              \x20     - {metricIntervalLowerBound: 15, scalingAdjustment: 5}\n\
              \x20 - policyName: cpu-scale-in\n\
              \x20   stepScaling:\n\
              \x20     alarm: cpuLow\n\
              \x20     adjustmentType: PercentChangeInCapacity\n\
              \x20     minAdjustmentMagnitude: 1\n\
              \x20     stepAdjustments:\n\
              \x20     - {metricIntervalUpperBound: 0, scalingAdjustment: -10}\n\
              \x20 scheduledActions:\n\
              \x20 - {scheduledActionName: morning, schedule: cron(0 8 ? * MON-FRI *), timezone: America/New_York, scalableTargetAction: {minCapacity: 10}}\n\
              \x20 - {scheduledActionName: evening, schedule: cron(0 20 ? * MON-FRI *), timezone: America/New_York, scalableTargetAction: {minCapacity: 2}}\n"
            .to_owned(),
        _ => "  scalableTarget: {minCapacity: 1, maxCapacity: 10}\n\
              \x20 metrics:\n    cpu: {push: {period: 60}}\n\
              \x20 alarms:\n\
              \x20   cpuHigh: {metric: cpu, comparisonOperator: GreaterThanThreshold, threshold: 75, evaluationPeriods: 1}\n\
              \x20 policies:\n\
              \x20 - policyName: cpu-gt-75\n\
              \x20   stepScaling:\n\
              \x20     alarm: cpuHigh\n\
              \x20     adjustmentType: PercentChangeInCapacity\n\
              \x20     cooldown: 60\n\
              \x20     stepAdjustments:\n\
              \x20     - {metricIntervalLowerBound: 0, scalingAdjustment: 200}\n"
            .to_owned(),
    };
    head + &body
}

fn policy_name(i: usize) -> String {
    format!("svc-{i:05}")
}

/// `VmHWM` (peak resident set) and `VmRSS` of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Waits for the driver to close stdin (or write a line), then reports memory.
fn wait_for_driver_then_report() {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let (hwm, rss) = memory_kib();
    println!("MEMORY {hwm} {rss}");
    let _ = std::io::stdout().flush();
}

/// Writes `minutes` of values, one every 10 s up to now, into every feed of `registry`.
fn fill_feeds(registry: &ecs_scaler::registry::Registry, minutes: usize) {
    let now = chrono::Utc::now();
    for handle in registry.list() {
        for index in 0..handle.set.metrics.len() {
            let key = SourceHub::key_for(&handle.set, index);
            registry.hub().modify(&key, |feed| {
                for k in (0..minutes * 6).rev() {
                    let at = now - chrono::Duration::seconds(10 * k as i64);
                    feed.push(at, (k % 100) as f64, at);
                }
            });
        }
    }
}

fn run_ecs_server(policy_sets: usize, data_minutes: usize) {
    let dir = tempfile::tempdir().expect("temporary directory");
    for i in 0..policy_sets {
        std::fs::write(
            dir.path().join(format!("{}.yaml", policy_name(i))),
            policy_document(i),
        )
        .expect("write a policy file");
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let started = Instant::now();
        let server = Server::bind(ServeConfig {
            policies: Some(dir.path().to_owned()),
            grpc_listen: any,
            http_listen: any,
            initial_capacity: None,
            tick: Duration::from_secs(10),
            reload_interval: Duration::from_secs(5),
            limits: Default::default(),
            push: Default::default(),
            tls: None,
        })
        .await
        .expect("bind");
        let address = server.grpc_addr().unwrap();
        let registry = server.registry().clone();
        assert_eq!(registry.len(), policy_sets, "every policy file loads");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        // Ready: every policy set has made its first decision.
        while registry
            .list()
            .iter()
            .any(|h| h.verdict().decision().is_none())
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let ready = started.elapsed();
        fill_feeds(&registry, data_minutes);
        println!("READY {address} {}", ready.as_micros());
        let _ = std::io::stdout().flush();
        tokio::task::spawn_blocking(wait_for_driver_then_report)
            .await
            .unwrap();
        let _ = stop.send(());
        let _ = running.await;
    });
}

/// The same service, answering constants.
struct Bare;

type BareStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn bare_spec() -> GetMetricSpecResponse {
    GetMetricSpecResponse {
        metric_specs: vec![MetricSpec {
            metric_name: "ecs-desired-bench-svc".to_owned(),
            #[allow(deprecated)]
            target_size: 1,
            target_size_float: 1.0,
        }],
    }
}

#[tonic::async_trait]
impl ExternalScaler for Bare {
    async fn is_active(
        &self,
        _request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        Ok(Response::new(IsActiveResponse { result: true }))
    }

    type StreamIsActiveStream = BareStream<IsActiveResponse>;

    async fn stream_is_active(
        &self,
        _request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        Err(Status::unimplemented("bare server"))
    }

    async fn get_metric_spec(
        &self,
        _request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        Ok(Response::new(bare_spec()))
    }

    async fn get_metrics(
        &self,
        _request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: "ecs-desired-bench-svc".to_owned(),
                #[allow(deprecated)]
                metric_value: 2,
                metric_value_float: 2.0,
            }],
        }))
    }

    type StreamMetricSpecStream = BareStream<GetMetricSpecResponse>;

    async fn stream_metric_spec(
        &self,
        _request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        Err(Status::unimplemented("bare server"))
    }
}

fn run_bare_server() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(ExternalScalerServer::new(Bare))
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        println!("READY {address} {}", started.elapsed().as_micros());
        let _ = std::io::stdout().flush();
        tokio::task::spawn_blocking(wait_for_driver_then_report)
            .await
            .unwrap();
        let _ = stop.send(());
        let _ = running.await;
    });
}

// ---------------------------------------------------------------------------------------------
// Driver

struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    address: SocketAddr,
    ready: Duration,
}

impl ServerProcess {
    fn start(kind: &str, policy_sets: usize, data_minutes: usize) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("own executable"))
            .args(["--serve", kind, "--policy-sets", &policy_sets.to_string()])
            .args(["--rss-data-minutes", &data_minutes.to_string()])
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a server process");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines
            .next()
            .expect("the server process says READY")
            .unwrap();
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("READY"), "{line}");
        let address = words.next().unwrap().parse().unwrap();
        let ready = Duration::from_micros(words.next().unwrap().parse().unwrap());
        Self {
            child,
            stdin,
            lines,
            address,
            ready,
        }
    }

    /// Stops the server; its peak and current RSS in KiB.
    fn stop(mut self) -> (u64, u64) {
        drop(self.stdin.take());
        let memory = self
            .lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                let rest = line.strip_prefix("MEMORY ")?.to_owned();
                let mut words = rest.split_whitespace();
                Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
            })
            .unwrap_or((0, 0));
        let _ = self.child.wait();
        memory
    }
}

#[derive(Debug, Default, Clone)]
struct Measured {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    /// Latency of every call, in microseconds, sorted.
    latencies: Vec<u32>,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies[index]) / 1000.0
    }

    fn merge(&mut self, other: Measured) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
    }
}

fn scaled_object(i: usize) -> ScaledObjectRef {
    let name = policy_name(i);
    ScaledObjectRef {
        namespace: NAMESPACE.to_owned(),
        scaler_metadata: HashMap::from([
            (
                "scalerAddress".to_owned(),
                "ecs-scaler.keda.svc:9090".to_owned(),
            ),
            ("policy".to_owned(), name.clone()),
        ]),
        name,
    }
}

/// Replays KEDA's call sequence with `tasks` tasks over `connections` connections for
/// `duration` (after a one-second warm-up).
async fn load(address: SocketAddr, options: &Options, duration: Duration) -> Measured {
    let mut channels = Vec::new();
    for _ in 0..options.connections {
        let channel = Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        channels.push(channel);
    }
    let refs: Arc<Vec<ScaledObjectRef>> =
        Arc::new((0..options.policy_sets).map(scaled_object).collect());
    let warm_up_end = Instant::now() + Duration::from_secs(1);
    let end = warm_up_end + duration;
    let mut tasks = Vec::new();
    for task in 0..options.tasks {
        let mut client = ExternalScalerClient::new(channels[task % channels.len()].clone());
        let refs = refs.clone();
        tasks.push(tokio::spawn(async move {
            let mut measured = Measured::default();
            let mut next = task * 7919 % refs.len();
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let counting = now >= warm_up_end;
                let object = &refs[next];
                next = (next + 1) % refs.len();
                let mut record = |started: Instant, ok: bool| {
                    if counting {
                        measured.requests += 1;
                        if !ok {
                            measured.errors += 1;
                        }
                        measured
                            .latencies
                            .push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                };
                let started = Instant::now();
                let spec = client.get_metric_spec(object.clone()).await;
                let metric_name = match &spec {
                    Ok(response) => response.get_ref().metric_specs[0].metric_name.clone(),
                    Err(_) => String::new(),
                };
                record(started, spec.is_ok());
                let started = Instant::now();
                let metrics = client
                    .get_metrics(GetMetricsRequest {
                        scaled_object_ref: Some(object.clone()),
                        metric_name,
                    })
                    .await;
                record(started, metrics.is_ok());
                let started = Instant::now();
                let active = client.is_active(object.clone()).await;
                record(started, active.is_ok());
            }
            measured
        }));
    }
    let mut total = Measured::default();
    for task in tasks {
        let measured = task.await.expect("client task");
        total.requests += measured.requests;
        total.errors += measured.errors;
        total.latencies.extend(measured.latencies);
    }
    total.latencies.sort_unstable();
    total.elapsed = duration;
    total
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn drive(options: &Options) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let duration = Duration::from_secs(options.seconds);
    println!(
        "grpc_load: {} tasks over {} HTTP/2 connections, GetMetricSpec -> GetMetrics -> IsActive \
         over {} policy sets, {} rounds x {} s per server (alternating, 1 s warm-up each), {} cores",
        options.tasks,
        options.connections,
        options.policy_sets,
        options.rounds,
        options.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let bare = ServerProcess::start("bare", options.policy_sets, 0);
    let ecs = ServerProcess::start("ecs", options.policy_sets, 0);
    println!(
        "ecs-scaler with {} policy sets ready in {:.0} ms",
        options.policy_sets,
        ecs.ready.as_secs_f64() * 1000.0
    );
    let mut bare_total = Measured::default();
    let mut ecs_total = Measured::default();
    for round in 1..=options.rounds {
        for (name, server, total) in [
            ("bare tonic", &bare, &mut bare_total),
            ("ecs-scaler", &ecs, &mut ecs_total),
        ] {
            let measured = runtime.block_on(load(server.address, options, duration));
            println!(
                "round {round} {name:>10}: {:>8.0} req/s  p50 {:.3} ms  p99 {:.3} ms  errors {}",
                measured.rate(),
                measured.percentile(0.50),
                measured.percentile(0.99),
                measured.errors
            );
            total.merge(measured);
        }
    }
    let (ecs_hwm, _) = ecs.stop();
    let (bare_hwm, _) = bare.stop();

    println!("\n1,000-set comparison (all rounds):");
    println!("| server | requests/s | p50 ms | p99 ms | errors | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, total, hwm) in [
        ("bare tonic", &bare_total, bare_hwm),
        ("ecs-scaler", &ecs_total, ecs_hwm),
    ] {
        println!(
            "| {name} | {:.0} | {:.3} | {:.3} | {} | {:.1} |",
            total.rate(),
            total.percentile(0.50),
            total.percentile(0.99),
            total.errors,
            mib(hwm)
        );
    }
    let throughput = ecs_total.rate() / bare_total.rate();
    let p50 = ecs_total.percentile(0.50) / bare_total.percentile(0.50);
    let p99 = ecs_total.percentile(0.99) / bare_total.percentile(0.99);
    println!(
        "RATIOS ecs-scaler / bare: throughput {throughput:.2}x (goal >= 0.8x: {}), p99 {p99:.2}x \
         (goal <= 1.3x: {}), p50 {p50:.2}x",
        if throughput >= 0.8 { "met" } else { "MISSED" },
        if p99 <= 1.3 { "met" } else { "MISSED" },
    );

    if options.rss_policy_sets > 0 {
        let big = ServerProcess::start("ecs", options.rss_policy_sets, options.rss_data_minutes);
        let ready = big.ready;
        let big_options = Options {
            policy_sets: options.rss_policy_sets,
            ..options.clone()
        };
        let measured = runtime.block_on(load(big.address, &big_options, duration));
        let (hwm, rss) = big.stop();
        println!(
            "\n{} policy sets ({} minutes of pushed data): ready in {:.0} ms; under load {:.0} \
             req/s, p99 {:.3} ms, errors {}; peak RSS {:.1} MiB (goal < 64 MiB: {}), RSS at the \
             end {:.1} MiB",
            options.rss_policy_sets,
            options.rss_data_minutes,
            ready.as_secs_f64() * 1000.0,
            measured.rate(),
            measured.percentile(0.99),
            measured.errors,
            mib(hwm),
            if mib(hwm) < 64.0 { "met" } else { "MISSED" },
            mib(rss)
        );
    }
}
