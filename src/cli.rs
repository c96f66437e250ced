//! The command line: `serve`, `validate`, `simulate`, `import`, `crd` and `doctor`.
//!
//! Exit codes: 0 success, 1 a runtime failure, 2 bad input (a policy file, a trace, an
//! argument).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::policy::load::load_file;
use crate::serve::ServeConfig;
use crate::simulate::{self, Format, compare};

/// Exit code for bad input.
pub const EXIT_BAD_INPUT: u8 = 2;

/// ECS service auto scaling for KEDA.
#[derive(Debug, Parser)]
#[command(name = "ecs-scaler", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve KEDA's external scaler API (gRPC) and the push/metrics HTTP endpoints.
    Serve(ServeArgs),
    /// Check policy documents; prints every problem and exits 2 if there is any.
    Validate(ValidateArgs),
    /// Replay a metric trace through the engine and print each decision.
    Simulate(SimulateArgs),
    /// Read a service's ECS scaling (AWS CLI JSON or live AWS) and write its ScalingPolicySet,
    /// KEDA ScaledObject and a report; exit 0 exact, 1 approximate, 2 bad input.
    Import(crate::import::ImportArgs),
    /// Print the ScalingPolicySet CustomResourceDefinition (YAML), as committed in
    /// deploy/crds/scalingpolicysets.yaml.
    Crd,
    /// Check ScaledObject files for what would stop the HPA from setting the replicas to the
    /// scaler's D (metricType, HPA behaviour, fallback); exit 0 none, 1 some, 2 bad input.
    Doctor(crate::doctor::DoctorArgs),
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory of ScalingPolicySet files (.yaml, .yml, .json), reloaded when they change.
    /// Without it, the embedded example policy sets are served.
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
    /// Serve the cluster's ScalingPolicySet resources (watched; the CRD is `ecs-scaler crd`) and
    /// read each one's current capacity from its scale target, with the in-cluster or kubeconfig
    /// credentials, instead of policy files.
    #[arg(long, conflicts_with = "policies")]
    pub kubernetes: bool,
    /// gRPC address KEDA connects to.
    #[arg(long, default_value = "0.0.0.0:9090", value_name = "ADDR")]
    pub grpc_listen: SocketAddr,
    /// HTTP address of the push endpoint, /metrics and /healthz.
    #[arg(long, default_value = "0.0.0.0:8080", value_name = "ADDR")]
    pub http_listen: SocketAddr,
    /// Capacity assumed at start (default: each policy set's minimum capacity).
    #[arg(long, value_name = "N")]
    pub initial_capacity: Option<u32>,
    /// Seconds between two evaluations of a policy set.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub tick_interval: u64,
    /// Seconds between two checks of the policy directory for changes.
    #[arg(long, default_value_t = 5, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub reload_interval: u64,
    /// PEM certificate chain of the gRPC server: serve TLS (KEDA's `enableTLS`, with `caCert`
    /// trusting this certificate's CA).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates that clients must present a certificate of (KEDA's
    /// `tlsClientCert`/`tlsClientKey`); others are refused.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// gRPC address serving TLS beside `--grpc-listen`, which then stays plaintext: triggers
    /// with and without `enableTLS` share one scaler (needs `--tls-cert`).
    #[arg(long, value_name = "ADDR", requires = "tls_cert")]
    pub grpc_tls_listen: Option<SocketAddr>,
    /// Policy sets served at most, inline ones included: beyond it an inline policy set is
    /// refused (RESOURCE_EXHAUSTED) and a new policy file is not loaded.
    #[arg(long, default_value_t = crate::registry::DEFAULT_MAX_POLICY_SETS, value_name = "N")]
    pub max_policy_sets: usize,
    /// StreamIsActive and StreamMetricSpec streams open at most; beyond it a stream is
    /// refused (RESOURCE_EXHAUSTED).
    #[arg(long, default_value_t = crate::grpc::DEFAULT_MAX_STREAMS, value_name = "N")]
    pub max_stream_subscribers: usize,
    /// Largest body of a push (PUT .../metrics/{metric}) in bytes; a larger one is refused
    /// with 413.
    #[arg(long, default_value_t = crate::http::PUSH_BODY_LIMIT, value_name = "BYTES", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_push_body_bytes: usize,
    /// Seconds after which an inline policy set that no KEDA request has used (and no stream
    /// watches) is removed: its ScaledObject was deleted or paused. The next request creates
    /// it again.
    #[arg(long, default_value_t = crate::serve::DEFAULT_INLINE_IDLE_TIMEOUT.as_secs(), value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(60..))]
    pub inline_idle_timeout: u64,
    /// HTTP connections served at once; more wait in the listen backlog. A connection that
    /// idles, or takes over 10 s to send a request's headers, is closed.
    #[arg(long, default_value_t = crate::http::server::DEFAULT_MAX_CONNECTIONS, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_http_connections: usize,
    /// File of the tokens that may push, as SHA-256 hashes, each with the policy sets it may
    /// push to; reloaded when it changes. Without it pushes are not authenticated, except under
    /// --kubernetes (TokenReview and SubjectAccessReview).
    #[arg(long, value_name = "FILE")]
    pub push_tokens: Option<PathBuf>,
    /// Under --kubernetes, the audience a push's service-account token must have.
    #[arg(long, default_value = crate::kubernetes::reviews::DEFAULT_AUDIENCE, value_name = "AUDIENCE")]
    pub push_token_audience: String,
    /// Under --kubernetes, accept pushes and decision reads without a token.
    #[arg(long, requires = "kubernetes", conflicts_with = "push_tokens")]
    pub unauthenticated_pushes: bool,
    /// Pushes per second accepted for one metric of a policy set, in bursts of as many; more
    /// are answered 429 with Retry-After.
    #[arg(long, default_value_t = crate::push_auth::rate::DEFAULT_PUSHES_PER_SECOND, value_name = "N")]
    pub push_rate_limit: std::num::NonZeroU32,
}

impl From<ServeArgs> for ServeConfig {
    fn from(args: ServeArgs) -> Self {
        Self {
            policies: args.policies,
            grpc_listen: args.grpc_listen,
            http_listen: args.http_listen,
            initial_capacity: args.initial_capacity,
            tick: Duration::from_secs(args.tick_interval),
            reload_interval: Duration::from_secs(args.reload_interval),
            tls: args
                .tls_cert
                .zip(args.tls_key)
                .map(|(cert, key)| crate::serve::TlsFiles {
                    cert,
                    key,
                    client_ca: args.tls_client_ca,
                    listen: args.grpc_tls_listen,
                }),
            limits: crate::serve::Limits {
                max_policy_sets: args.max_policy_sets,
                max_stream_subscribers: args.max_stream_subscribers,
                max_push_body_bytes: args.max_push_body_bytes,
                inline_idle_timeout: Duration::from_secs(args.inline_idle_timeout),
                http_connections: crate::http::server::ConnectionLimits {
                    max_connections: args.max_http_connections,
                    ..Default::default()
                },
                push_rate_per_second: args.push_rate_limit,
                ..crate::serve::Limits::default()
            },
            push: crate::serve::PushConfig {
                tokens: args.push_tokens,
                audience: args.push_token_audience,
                unauthenticated: args.unauthenticated_pushes,
            },
        }
    }
}

/// Arguments of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Policy documents to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Arguments of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The ScalingPolicySet document.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// CSV trace with header `time,metric,value`.
    #[arg(long, value_name = "FILE")]
    pub trace: PathBuf,
    /// Capacity at the start (default: the minimum capacity).
    #[arg(long, value_name = "N")]
    pub initial_capacity: Option<u32>,
    /// Start instant (default: the first RFC 3339 time in the trace, else 2026-01-05T00:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub start: Option<DateTime<Utc>>,
    /// Seconds between two evaluations.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    pub step: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Replay the trace through three pipelines: ECS, EKS with ecs-scaler (KEDA + HPA), and a
    /// naive migration to KEDA's built-in triggers; print where they differ.
    #[arg(long)]
    pub compare: bool,
    /// The ScaledObject of the EKS pipeline (default: what `import` writes, which passes the
    /// scaler's decisions through).
    #[arg(long, value_name = "FILE", requires = "compare")]
    pub scaled_object: Option<PathBuf>,
    /// Draw the trace and the three capacities into an SVG file.
    #[arg(long, value_name = "FILE.svg", requires = "compare")]
    pub plot: Option<PathBuf>,
    /// Seconds before a new pod counts as running on EKS.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        requires = "compare"
    )]
    pub pod_start_delay: u32,
    /// The HPA's sync period, in seconds.
    #[arg(long, default_value_t = 15, value_name = "SECONDS", requires = "compare", value_parser = clap::value_parser!(u32).range(1..))]
    pub sync_period: u32,
    /// Kubernetes version of the EKS cluster: its HPA's tolerance test (changed in 1.33) and
    /// whether it keeps the ScaledObject's `tolerance` (by default from 1.35).
    #[arg(
        long,
        default_value = "1.35",
        value_name = "VERSION",
        requires = "compare"
    )]
    pub kubernetes_version: crate::import::KubernetesVersion,
    /// The cluster (1.33 or 1.34) runs with the HPAConfigurableTolerance feature gate on.
    #[arg(long, requires = "compare")]
    pub hpa_configurable_tolerance: bool,
    /// KEDA version of the EKS cluster: from 2.18 the ScaledObject takes `tolerance` (default:
    /// the newest).
    #[arg(long, default_value = crate::import::scaled_object::NEWEST_KEDA, value_name = "VERSION", requires = "compare")]
    pub keda_version: crate::import::scaled_object::KedaVersion,
}

/// Runs `validate`: prints each file's verdict; exit 2 when any file has a problem.
pub fn validate(args: &ValidateArgs) -> ExitCode {
    let mut failed = false;
    for file in &args.files {
        match load_file(file) {
            Ok(set) => println!(
                "{}: ok (policy set {}: {} policies, {} scheduled actions{})",
                file.display(),
                set.id,
                set.policies.len(),
                set.scheduled_actions.len(),
                match set.unresolved_alarms().len() {
                    0 => String::new(),
                    n => format!("; {n} CloudWatch alarms read with DescribeAlarms when served"),
                }
            ),
            Err(error) => {
                failed = true;
                match error {
                    crate::policy::load::LoadError::Invalid { origin, errors } => {
                        for problem in &errors.0 {
                            eprintln!("{origin}: {problem}");
                        }
                    }
                    other => eprintln!("{other}"),
                }
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_BAD_INPUT)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs `simulate`: prints one row per evaluation; exit 2 on a bad policy, trace or
/// ScaledObject.
pub fn simulate(args: &SimulateArgs) -> ExitCode {
    match simulate_output(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn read(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

fn simulate_output(args: &SimulateArgs) -> Result<String, String> {
    let set = Arc::new(load_file(&args.policy).map_err(|e| e.to_string())?);
    if let Some((key, reference)) = set.unresolved_alarms().first() {
        return Err(format!(
            "{}: spec.alarms.{key} is the CloudWatch alarm `{}`, whose definition only `serve` \
             reads: write the alarm inline to simulate it",
            args.policy.display(),
            reference.alarm_name
        ));
    }
    if !args.compare {
        let (trace, start) = simulate::parse_trace(&read(&args.trace)?, &set, args.start)
            .map_err(|e| format!("{}: {e}", args.trace.display()))?;
        let rows = simulate::run(set, &trace, start, args.step, args.initial_capacity);
        return Ok(simulate::render(&rows, args.format));
    }
    let mut cluster = simulate::hpa::Cluster::new(args.kubernetes_version);
    if args.hpa_configurable_tolerance {
        if args.kubernetes_version < simulate::hpa::FIRST_BAND_VERSION {
            return Err(format!(
                "--hpa-configurable-tolerance: Kubernetes {} has no HPAConfigurableTolerance \
                 feature gate (it exists from 1.33); drop the flag or give \
                 --kubernetes-version 1.33 or later",
                args.kubernetes_version
            ));
        }
        cluster.configurable_tolerance = true;
    }
    let mut settings = match &args.scaled_object {
        Some(path) => {
            compare::EksSettings::from_scaled_object(&read(path)?, cluster, args.keda_version)
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => compare::EksSettings::imported(&set, cluster, args.keda_version)?,
    };
    let (trace, start) = simulate::parse_trace_with(
        &read(&args.trace)?,
        &set,
        &settings.extra_metrics(),
        args.start,
    )
    .map_err(|e| format!("{}: {e}", args.trace.display()))?;
    settings.pod_start_delay = i64::from(args.pod_start_delay);
    settings.sync_period = i64::from(args.sync_period);
    let comparison = compare::compare(
        set.clone(),
        &trace,
        start,
        args.step,
        args.initial_capacity,
        &settings,
    );
    if let Some(path) = &args.plot {
        simulate::plot::draw(path, &set, &trace, &comparison)?;
    }
    Ok(compare::render(&comparison, args.format))
}
