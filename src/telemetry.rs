//! Logs and Prometheus metrics.
//!
//! Metrics are registered in one place, with the prefix `ecs_scaler`, and served on `/metrics`.
//! Labels carry policy set names, gRPC methods and status codes: never a credential or a value
//! from trigger metadata other than the policy set's name.

use std::io::IsTerminal;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::id::PolicySetId;

/// Labels of a per-policy-set metric. Shared strings: each family's series of a policy set
/// clones the controller's labels without copying the text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PolicySetLabels {
    /// Namespace of the policy set.
    pub namespace: Arc<str>,
    /// Name of the policy set.
    pub policy_set: Arc<str>,
}

impl From<&PolicySetId> for PolicySetLabels {
    fn from(id: &PolicySetId) -> Self {
        Self {
            namespace: id.namespace.as_str().into(),
            policy_set: id.name.as_str().into(),
        }
    }
}

/// Labels of a gRPC request counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct GrpcLabels {
    /// The RPC method.
    pub method: &'static str,
    /// The gRPC status code, e.g. `Ok` or `NotFound`.
    pub code: &'static str,
}

/// Labels of a per-source metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SourceLabels {
    /// What the source fetches, e.g. `sqs:https://sqs.../orders` (never a credential).
    pub source: String,
    /// `push`, `sqs`, ...
    pub kind: &'static str,
}

/// The kinds of source error, the values of the `error` label (the sources' errors name theirs
/// with these: `SourceError::kind`).
pub const SOURCE_ERROR_KINDS: [&str; 4] = ["throttled", "timeout", "bad_answer", "failed"];

/// Labels of a source error counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SourceErrorLabels {
    /// What the source fetches.
    pub source: String,
    /// The kind of source.
    pub kind: &'static str,
    /// The kind of error: `throttled`, `timeout`, `bad_answer`, `failed`.
    pub error: &'static str,
}

/// The series of one source (fetch durations, errors, datapoint age), written through it and
/// removed when its last holder drops it: a stopped source leaves no series behind. Those who
/// record after an `.await` hold a clone of the `Arc`, so nothing is recorded after removal.
pub struct SourceSeries {
    metrics: Arc<Metrics>,
    labels: SourceLabels,
}

impl SourceSeries {
    /// The series labelled `labels`.
    pub fn with_labels(metrics: Arc<Metrics>, labels: SourceLabels) -> Self {
        Self { metrics, labels }
    }

    /// What the source fetches (its `source` label).
    pub fn source(&self) -> &str {
        &self.labels.source
    }

    /// Records a fetch that took `seconds`.
    pub fn fetched(&self, seconds: f64) {
        self.metrics
            .source_fetch_seconds
            .get_or_create(&self.labels)
            .observe(seconds);
    }

    /// Counts a failed fetch of kind `error` (one of [`SOURCE_ERROR_KINDS`]).
    pub fn failed(&self, error: &'static str) {
        self.metrics
            .source_errors
            .get_or_create(&self.error_labels(error))
            .inc();
    }

    /// Sets the age of the newest datapoint.
    pub fn datapoint_age(&self, seconds: i64) {
        self.metrics
            .source_datapoint_age_seconds
            .get_or_create(&self.labels)
            .set(seconds);
    }

    fn error_labels(&self, error: &'static str) -> SourceErrorLabels {
        SourceErrorLabels {
            source: self.labels.source.clone(),
            kind: self.labels.kind,
            error,
        }
    }
}

impl Drop for SourceSeries {
    fn drop(&mut self) {
        self.metrics.source_fetch_seconds.remove(&self.labels);
        self.metrics
            .source_datapoint_age_seconds
            .remove(&self.labels);
        for error in SOURCE_ERROR_KINDS {
            self.metrics.source_errors.remove(&self.error_labels(error));
        }
    }
}

/// Labels of an AWS API call counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AwsCallLabels {
    /// `sqs`, `cloudwatch`, ...
    pub service: &'static str,
    /// The API operation, e.g. `GetQueueAttributes`.
    pub operation: &'static str,
}

/// Latency histograms of source fetches.
pub type FetchHistograms = Family<SourceLabels, Histogram, fn() -> Histogram>;

fn fetch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

/// The scaler's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Evaluations made, per policy set.
    pub evaluations: Family<PolicySetLabels, Counter>,
    /// The latest desired capacity, per policy set.
    pub desired_capacity: Family<PolicySetLabels, Gauge>,
    /// 1 while a policy set cannot decide (KEDA's fallback applies), else 0.
    pub unavailable: Family<PolicySetLabels, Gauge>,
    /// Datapoints accepted by the push endpoint, per policy set.
    pub pushed_datapoints: Family<PolicySetLabels, Counter>,
    /// gRPC requests by method and status code.
    pub grpc_requests: Family<GrpcLabels, Counter>,
    /// Policy sets loaded.
    pub policy_sets: Gauge,
    /// Duration of source fetches, per source.
    pub source_fetch_seconds: FetchHistograms,
    /// Failed source fetches, per source and error kind.
    pub source_errors: Family<SourceErrorLabels, Counter>,
    /// Age of the newest datapoint of a source, in seconds.
    pub source_datapoint_age_seconds: Family<SourceLabels, Gauge>,
    /// AWS API calls, by service and operation.
    pub aws_api_calls: Family<AwsCallLabels, Counter>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ecs_scaler");
        let metrics = Self {
            evaluations: Family::default(),
            desired_capacity: Family::default(),
            unavailable: Family::default(),
            pushed_datapoints: Family::default(),
            grpc_requests: Family::default(),
            policy_sets: Gauge::default(),
            source_fetch_seconds: FetchHistograms::new_with_constructor(fetch_histogram),
            source_errors: Family::default(),
            source_datapoint_age_seconds: Family::default(),
            aws_api_calls: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "evaluations",
            "Evaluations of a policy set",
            metrics.evaluations.clone(),
        );
        registry.register(
            "desired_capacity",
            "Latest desired capacity of a policy set",
            metrics.desired_capacity.clone(),
        );
        registry.register(
            "unavailable",
            "1 while a policy set cannot decide and KEDA's fallback applies",
            metrics.unavailable.clone(),
        );
        registry.register(
            "pushed_datapoints",
            "Datapoints accepted by the push endpoint",
            metrics.pushed_datapoints.clone(),
        );
        registry.register(
            "grpc_requests",
            "gRPC requests by method and status code",
            metrics.grpc_requests.clone(),
        );
        registry.register(
            "policy_sets",
            "Policy sets loaded",
            metrics.policy_sets.clone(),
        );
        registry.register(
            "source_fetch_seconds",
            "Duration of source fetches",
            metrics.source_fetch_seconds.clone(),
        );
        registry.register(
            "source_errors",
            "Failed source fetches by error kind",
            metrics.source_errors.clone(),
        );
        registry.register(
            "source_datapoint_age_seconds",
            "Age of the newest datapoint of a source",
            metrics.source_datapoint_age_seconds.clone(),
        );
        registry.register(
            "aws_api_calls",
            "AWS API calls by service and operation",
            metrics.aws_api_calls.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Forgets the series of a policy set that is no longer served.
    pub fn remove_policy_set(&self, id: &PolicySetId) {
        let labels = PolicySetLabels::from(id);
        self.evaluations.remove(&labels);
        self.desired_capacity.remove(&labels);
        self.unavailable.remove(&labels);
        self.pushed_datapoints.remove(&labels);
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts logging to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
