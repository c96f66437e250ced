//! An in-process scaler for integration tests: `Server::bind` on policy files written to a
//! temporary directory, a gRPC client connected to it, KEDA's calls (`GetMetricSpec` then
//! `GetMetrics`), a recorder of every verdict a policy set publishes, and `eventually`.
//!
//! Shared by several test crates (`tests/sqs`, `tests/faults.rs`, `tests/grpc.rs`,
//! `tests/lifecycle.rs`), each using a part of it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ecs_scaler::controller::Verdict;
use ecs_scaler::grpc::proto::external_scaler_client::ExternalScalerClient;
use ecs_scaler::grpc::proto::{GetMetricsRequest, ScaledObjectRef};
use ecs_scaler::registry::{PolicySetHandle, Registry};
use ecs_scaler::serve::{ServeConfig, ServeError, Server};
use ecs_scaler::sources::FeedState;
use ecs_scaler::sources::hub::SourceHub;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// A scaler serving the policy files of a temporary directory, stopped on drop.
pub struct Scaler {
    /// Its policy sets.
    pub registry: Arc<Registry>,
    /// A gRPC client connected to it.
    pub client: ExternalScalerClient<Channel>,
    /// The client's connection, for other clients (health, raw calls).
    pub channel: Channel,
    /// Its gRPC address.
    pub grpc: SocketAddr,
    /// Its HTTP address (push endpoint, `/healthz`, `/metrics`).
    pub http: SocketAddr,
    namespace: String,
    dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    running: JoinHandle<Result<(), ServeError>>,
}

impl Scaler {
    /// Writes `files` (name, content) and serves them, every policy set starting at
    /// `initial_capacity` (else its minimum); evaluates every 100 ms, reloads every 200 ms.
    /// `namespace` is the namespace of the documents, which [`Scaler::handle`] and the gRPC
    /// helpers use.
    pub async fn start(
        namespace: &str,
        files: &[(&str, String)],
        initial_capacity: Option<u32>,
    ) -> Scaler {
        Self::start_with(namespace, files, |config| {
            config.initial_capacity = initial_capacity;
        })
        .await
    }

    /// As [`Scaler::start`], with the configuration (by default: ports chosen by the system,
    /// minimum capacities, a tick of 100 ms, a reload every 200 ms, default limits, no TLS)
    /// changed by `configure`.
    pub async fn start_with(
        namespace: &str,
        files: &[(&str, String)],
        configure: impl FnOnce(&mut ServeConfig),
    ) -> Scaler {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            fs::write(dir.path().join(name), content).unwrap();
        }
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut config = ServeConfig {
            policies: Some(dir.path().to_owned()),
            grpc_listen: any,
            http_listen: any,
            initial_capacity: None,
            tick: Duration::from_millis(100),
            reload_interval: Duration::from_millis(200),
            limits: Default::default(),
            push: Default::default(),
            tls: None,
        };
        configure(&mut config);
        let server = Server::bind(config).await.unwrap();
        let grpc = server.grpc_addr().unwrap();
        let http = server.http_addr().unwrap();
        let registry = server.registry().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Scaler {
            registry,
            client: ExternalScalerClient::new(channel.clone()),
            channel,
            grpc,
            http,
            namespace: namespace.to_owned(),
            dir,
            stop: Some(stop),
            running,
        }
    }

    /// Whether the server task still runs: it neither returned nor panicked.
    pub fn is_serving(&self) -> bool {
        !self.running.is_finished()
    }

    /// Signals the server to shut down (as SIGTERM does); whether the server still listened
    /// for the signal.
    pub fn stop(&mut self) -> bool {
        self.stop.take().is_some_and(|stop| stop.send(()).is_ok())
    }

    /// What `Server::run` returned, once it returns (after [`Scaler::stop`]).
    pub async fn finished(&mut self) -> Result<(), ServeError> {
        (&mut self.running).await.expect("the server task panicked")
    }

    /// The policy directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The namespace of the policy sets.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The served policy set `name`.
    pub fn handle(&self, name: &str) -> PolicySetHandle {
        self.registry
            .get(&self.namespace, name)
            .unwrap_or_else(|| panic!("policy set {}/{name} is not served", self.namespace))
    }

    /// The feed of metric `metric` of policy set `name`: what its source delivered.
    pub fn feed(&self, name: &str, metric: &str) -> FeedState {
        let handle = self.handle(name);
        let index = handle
            .set
            .metrics
            .iter()
            .position(|m| m.name == metric)
            .unwrap_or_else(|| panic!("{name} has no metric {metric}"));
        let key = SourceHub::key_for(&handle.set, index);
        let mut state = None;
        assert!(
            self.registry
                .hub()
                .modify(&key, |feed| state = Some(feed.clone())),
            "no feed for {key}"
        );
        state.unwrap()
    }

    /// The newest value metric `metric` of policy set `name` received, if any.
    pub fn latest(&self, name: &str, metric: &str) -> Option<f64> {
        self.feed(name, metric).datapoints.back().map(|d| d.value)
    }

    /// The scaler's Prometheus metrics.
    pub fn metrics_text(&self) -> String {
        self.registry.metrics().encode()
    }

    /// The value of the Prometheus sample whose line starts with `prefix` (0 when absent).
    pub fn sample(&self, prefix: &str) -> f64 {
        sample(&self.metrics_text(), prefix)
    }

    /// KEDA's `GetMetricSpec` then `GetMetrics` for policy set `name`, on a clone of the client.
    pub async fn get_metrics(&self, name: &str) -> Result<u32, tonic::Status> {
        get_metrics(&mut self.client.clone(), &self.namespace, name).await
    }

    /// D for policy set `name`, failing the test with the status if there is none.
    pub async fn desired_now(&self, name: &str) -> u32 {
        desired_now(&mut self.client.clone(), &self.namespace, name).await
    }
}

impl Drop for Scaler {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The value of the Prometheus sample whose line starts with `prefix` (0 when absent).
pub fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

/// What KEDA's `GetMetricSpec` then `GetMetrics` answer for policy set `namespace/name`: D, or
/// the status.
pub async fn get_metrics(
    client: &mut ExternalScalerClient<Channel>,
    namespace: &str,
    name: &str,
) -> Result<u32, tonic::Status> {
    let scaled_object = scaled_object(namespace, name);
    let spec = client
        .get_metric_spec(scaled_object.clone())
        .await?
        .into_inner();
    assert_eq!(spec.metric_specs[0].target_size_float, 1.0);
    let response = client
        .get_metrics(GetMetricsRequest {
            scaled_object_ref: Some(scaled_object),
            metric_name: spec.metric_specs[0].metric_name.clone(),
        })
        .await?
        .into_inner();
    let value = response.metric_values[0].metric_value_float;
    assert!(value.fract() == 0.0 && value >= 0.0, "D = {value}");
    Ok(value as u32)
}

/// D for policy set `namespace/name`, failing the test with the status if there is none.
pub async fn desired_now(
    client: &mut ExternalScalerClient<Channel>,
    namespace: &str,
    name: &str,
) -> u32 {
    get_metrics(client, namespace, name)
        .await
        .unwrap_or_else(|status| panic!("{name}: no decision: {status:?}"))
}

/// A ScaledObject in `namespace` whose trigger references policy set `name`.
pub fn scaled_object(namespace: &str, name: &str) -> ScaledObjectRef {
    ScaledObjectRef {
        name: format!("{name}-so"),
        namespace: namespace.to_owned(),
        scaler_metadata: HashMap::from([
            ("scalerAddress".to_owned(), "ecs-scaler:9090".to_owned()),
            ("policy".to_owned(), name.to_owned()),
        ]),
    }
}

/// The desired capacity of a verdict, if it is a decision.
pub fn desired(verdict: &Verdict) -> Option<u32> {
    verdict.decision().map(|d| d.desired)
}

/// Polls `attempt` every 100 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T>(
    what: &str,
    limit: Duration,
    mut attempt: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After a fault began at `began`: waits until `get_metrics` answers `UNAVAILABLE` (what makes
/// KEDA apply its fallback) and checks that it came no earlier than the staleness bound of
/// `stale_after_seconds`, with a message naming `metric` and the bound.
pub async fn unavailable_after_staleness_bound(
    name: &str,
    metric: &str,
    stale_after_seconds: u64,
    began: std::time::Instant,
    get_metrics: impl AsyncFnMut() -> Option<tonic::Status>,
) -> tonic::Status {
    let status = eventually(
        &format!("{name}: UNAVAILABLE after the staleness bound"),
        Duration::from_secs(10),
        get_metrics,
    )
    .await;
    let after = began.elapsed();
    assert_eq!(
        status.code(),
        tonic::Code::Unavailable,
        "{name}: {status:?}"
    );
    assert!(
        after >= Duration::from_secs(stale_after_seconds - 1),
        "{name}: unavailable after {after:?}, before the staleness bound"
    );
    let message = status.message();
    assert!(
        message.contains(metric)
            && message.contains(&format!("stale after {stale_after_seconds} s")),
        "{name}: {message}"
    );
    status
}

/// Every verdict a policy set published while the recorder ran (as seen by a watcher: values
/// replaced within microseconds may be skipped, but the assumed capacity keeps every decision).
pub struct Recorder {
    verdicts: Arc<std::sync::Mutex<Vec<Arc<Verdict>>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Starts recording the verdicts of `handle`, the current one first.
    pub fn start(handle: &PolicySetHandle) -> Recorder {
        let verdicts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut receiver = handle.subscribe();
        let sink = verdicts.clone();
        let task = tokio::spawn(async move {
            loop {
                let verdict = receiver.borrow_and_update().clone();
                sink.lock().unwrap().push(verdict);
                if receiver.changed().await.is_err() {
                    return;
                }
            }
        });
        Recorder { verdicts, task }
    }

    /// The desired capacities decided so far, in order (unavailable verdicts left out).
    pub fn decided(&self) -> Vec<u32> {
        let verdicts = self.verdicts.lock().unwrap();
        verdicts.iter().filter_map(|v| desired(v)).collect()
    }

    /// Every verdict recorded so far.
    pub fn verdicts(&self) -> Vec<Arc<Verdict>> {
        self.verdicts.lock().unwrap().clone()
    }

    /// How many unavailable verdicts were published.
    pub fn unavailable(&self) -> usize {
        let verdicts = self.verdicts.lock().unwrap();
        verdicts
            .iter()
            .filter(|v| matches!(***v, Verdict::Unavailable { .. }))
            .count()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
