//! `ecs-scaler serve`: the gRPC server KEDA calls and the HTTP server beside it.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tracing::{info, warn};

use crate::clock::{Clock, SystemClock};
use crate::controller::ControllerConfig;
use crate::grpc::ScalerService;
use crate::grpc::proto::external_scaler_server::ExternalScalerServer;
use crate::http::server::ConnectionLimits;
use crate::kubernetes::reviews::{ClusterAuthorizer, DEFAULT_AUDIENCE};
use crate::push_auth::PushAuth;
use crate::push_auth::rate::{DEFAULT_PUSHES_PER_SECOND, PushRateLimit};
use crate::push_auth::token_file::TokenFile;
use crate::registry::{Registry, RegistryConfig, expire_idle_inline};
use crate::sources::hub::SourceHub;
use crate::telemetry::Metrics;
use crate::{http, store};

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Policy directory; the embedded examples when absent.
    pub policies: Option<PathBuf>,
    /// gRPC listen address.
    pub grpc_listen: SocketAddr,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// Starting capacity of every policy set (default: its minimum capacity).
    pub initial_capacity: Option<u32>,
    /// Time between evaluations.
    pub tick: Duration,
    /// Time between two checks of the policy directory.
    pub reload_interval: Duration,
    /// TLS for the gRPC server (KEDA's `enableTLS`); plaintext when absent.
    pub tls: Option<TlsFiles>,
    /// Caps on what clients can make the server hold.
    pub limits: Limits,
    /// Who may push metrics and read decisions.
    pub push: PushConfig,
}

/// Who may push metrics and read decisions (see [`crate::push_auth`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// The token file (hashes of the tokens that may push, with their policy sets), polled
    /// like the policy directory. It replaces the Kubernetes reviews in cluster mode.
    pub tokens: Option<PathBuf>,
    /// The audience a push token must have in cluster mode.
    pub audience: String,
    /// In cluster mode, accept pushes and reads without a token.
    pub unauthenticated: bool,
}

impl Default for PushConfig {
    /// Files mode: pushes unauthenticated; cluster mode: TokenReview and SubjectAccessReview
    /// for the audience `ecs-scaler`.
    fn default() -> Self {
        Self {
            tokens: None,
            audience: DEFAULT_AUDIENCE.to_owned(),
            unauthenticated: false,
        }
    }
}

/// Caps on what clients can make the server hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Policy sets served at most (files and inline ones): an inline policy set beyond it is
    /// refused with `RESOURCE_EXHAUSTED`, a policy file beyond it is not loaded (logged).
    pub max_policy_sets: usize,
    /// Open `StreamIsActive` and `StreamMetricSpec` streams at most: beyond it a stream is
    /// refused with `RESOURCE_EXHAUSTED`.
    pub max_stream_subscribers: usize,
    /// The largest push body accepted, in bytes: a larger one is refused with 413.
    pub max_push_body_bytes: usize,
    /// An inline policy set that no request has used for this long, and that no stream
    /// watches, is removed (its ScaledObject is gone); the next request creates it again.
    pub inline_idle_timeout: Duration,
    /// HTTP connections served at once, and how long a request's headers may take (see
    /// [`http::server`]).
    pub http_connections: ConnectionLimits,
    /// A gRPC connection is pinged (HTTP/2 PING) after this long without a frame from the
    /// client, and closed when the ping is not answered within this long again: a KEDA pod
    /// that vanished without closing its connections (its node died) does not keep its
    /// streams, and their places under `max_stream_subscribers`, for ever.
    pub grpc_keepalive: Duration,
    /// Pushes per second to one metric of a policy set (in bursts of as many); more are
    /// answered 429.
    pub push_rate_per_second: NonZeroU32,
}

/// How long an unused inline policy set is kept, unless told otherwise: KEDA asks every
/// `pollingInterval` (30 s by default) and the HPA every 15 s, so an hour without a request
/// means the ScaledObject is gone or paused.
pub const DEFAULT_INLINE_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// How long a gRPC connection may be silent before it is pinged, and the ping unanswered
/// before it is closed, unless told otherwise.
pub const GRPC_KEEPALIVE: Duration = Duration::from_secs(30);

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_policy_sets: crate::registry::DEFAULT_MAX_POLICY_SETS,
            max_stream_subscribers: crate::grpc::DEFAULT_MAX_STREAMS,
            max_push_body_bytes: http::PUSH_BODY_LIMIT,
            inline_idle_timeout: DEFAULT_INLINE_IDLE_TIMEOUT,
            http_connections: ConnectionLimits::default(),
            grpc_keepalive: GRPC_KEEPALIVE,
            push_rate_per_second: DEFAULT_PUSHES_PER_SECOND,
        }
    }
}

/// PEM files of the gRPC server's TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain (what KEDA's `caCert` must trust).
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
    /// CA certificates that client certificates must chain to (KEDA's `tlsClientCert`); when
    /// set, clients without a valid certificate are refused.
    pub client_ca: Option<PathBuf>,
    /// Where TLS is served (`--grpc-tls-listen`). When set, `grpc_listen` stays plaintext and
    /// both serve the same policy sets, so triggers with and without `enableTLS` (which KEDA
    /// pools as different connections) can share one scaler; when not, `grpc_listen` is TLS.
    pub listen: Option<SocketAddr>,
}

impl TlsFiles {
    fn load(&self) -> Result<ServerTlsConfig, ServeError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| ServeError::Tls {
                path: path.clone(),
                source,
            })
        };
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(read(&self.cert)?, read(&self.key)?));
        if let Some(client_ca) = &self.client_ca {
            config = config.client_ca_root(Certificate::from_pem(read(client_ca)?));
        }
        Ok(config)
    }
}

/// Why `serve` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The policy directory could not be read.
    #[error("policy directory {path}: {source}")]
    Policies {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The embedded examples do not load (a build defect).
    #[error("embedded policies: {0}")]
    Embedded(#[from] crate::policy::load::LoadError),
    /// A TLS file could not be read.
    #[error("TLS file {path}: {source}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No Kubernetes client could be configured (`serve --kubernetes`).
    #[error("Kubernetes client: {0}")]
    Kubernetes(kube::Error),
    /// The push token file could not be loaded at start.
    #[error("push tokens: {0}")]
    PushTokens(String),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Grpc(tonic::transport::Error),
}

impl ServeError {
    /// Whether the error is in what the user gave (a file or a directory that cannot be read or
    /// is invalid): the command line exits with 2, as for any bad input.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ServeError::Policies { .. } | ServeError::Tls { .. } | ServeError::PushTokens(_)
        )
    }
}

/// Runs the scaler until SIGTERM or Ctrl-C.
pub async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    Server::bind(config).await?.run(shutdown_signal()).await
}

/// A scaler whose policies are loaded and whose listeners are bound, ready to run.
pub struct Server {
    tls: Option<ServerTlsConfig>,
    limits: Limits,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    push_auth: PushAuth,
    grpc_listener: tokio::net::TcpListener,
    /// The TLS listener beside the plaintext one (`--grpc-tls-listen`).
    grpc_tls_listener: Option<tokio::net::TcpListener>,
    http_listener: tokio::net::TcpListener,
}

impl Server {
    /// Loads the policies, starts their controllers and binds both listeners.
    pub async fn bind(config: ServeConfig) -> Result<Self, ServeError> {
        Self::bind_in(config, None).await
    }

    /// [`Server::bind`]; with `cluster`, the policy sets are the cluster's `ScalingPolicySet`
    /// resources and each one's capacity is read from its scale target (`config.policies` is
    /// then ignored), and the server is ready once they have been listed.
    pub async fn bind_in(
        config: ServeConfig,
        cluster: Option<kube::Client>,
    ) -> Result<Self, ServeError> {
        // First, so that a bad token file stops the start before anything runs.
        let push_auth = push_auth(&config, cluster.as_ref())?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let source_description = match &config.policies {
            Some(dir) => format!("policy directory {}", dir.display()),
            None => {
                "the embedded example policies (start with --policies DIR for your own)".to_owned()
            }
        };
        let metrics = Arc::new(Metrics::new());
        let registry = Registry::new(RegistryConfig {
            hub: SourceHub::new(clock.clone(), metrics.clone()),
            clock: clock.clone(),
            metrics,
            controller: ControllerConfig { tick: config.tick },
            initial_capacity: config.initial_capacity,
            source_description,
        });
        registry.set_max_policy_sets(config.limits.max_policy_sets);
        tokio::spawn(expire_idle_inline(
            Arc::downgrade(&registry),
            config.limits.inline_idle_timeout,
        ));
        match &config.policies {
            _ if cluster.is_some() => {}
            Some(dir) => {
                store::load_and_watch(dir.clone(), registry.clone(), config.reload_interval)
                    .map_err(|source| ServeError::Policies {
                        path: dir.clone(),
                        source,
                    })?;
            }
            None => {
                let count = store::load_embedded(&registry)?;
                info!(
                    policy_sets = count,
                    "Serving the embedded example policy sets."
                );
            }
        }
        if let Some(client) = cluster {
            start_cluster_store(client, &registry);
        } else {
            registry.mark_loaded();
        }
        Ok(Self {
            tls: config.tls.as_ref().map(TlsFiles::load).transpose()?,
            limits: config.limits,
            grpc_listener: bind(config.grpc_listen).await?,
            grpc_tls_listener: match config.tls.as_ref().and_then(|tls| tls.listen) {
                Some(address) => Some(bind(address).await?),
                None => None,
            },
            http_listener: bind(config.http_listen).await?,
            registry,
            clock,
            push_auth,
        })
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> std::io::Result<SocketAddr> {
        self.grpc_listener.local_addr()
    }

    /// The bound address of the TLS listener beside the plaintext one, if any.
    pub fn grpc_tls_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.grpc_tls_listener
            .as_ref()
            .map(tokio::net::TcpListener::local_addr)
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.http_listener.local_addr()
    }

    /// The served policy sets.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Serves until `shutdown` completes, then drains: open streams end, in-flight requests
    /// finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        info!(
            grpc = %local(&self.grpc_listener),
            http = %local(&self.http_listener),
            "ecs-scaler serving."
        );
        let (stop, stopped) = watch::channel(false);
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<ExternalScalerServer<ScalerService>>()
            .await;
        let service = ScalerService::new(self.registry.clone(), stopped.clone())
            .with_max_streams(self.limits.max_stream_subscribers);
        let keepalive = self.limits.grpc_keepalive;
        let grpc_server = |listener: tokio::net::TcpListener,
                           tls: Option<ServerTlsConfig>|
         -> Result<_, ServeError> {
            let mut builder = tonic::transport::Server::builder()
                .http2_keepalive_interval(Some(keepalive))
                .http2_keepalive_timeout(Some(keepalive));
            if let Some(tls) = tls {
                builder = builder.tls_config(tls).map_err(ServeError::Grpc)?;
            }
            Ok(builder
                .add_service(health_service.clone())
                .add_service(service.clone().into_server())
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    wait_for(stopped.clone()),
                ))
        };
        // With a TLS listener of its own, the main gRPC listener stays plaintext.
        let (plain_tls, tls_listener) = match self.grpc_tls_listener {
            Some(listener) => {
                info!(grpc_tls = %local(&listener), "gRPC with TLS serving beside plaintext.");
                (None, Some((listener, self.tls)))
            }
            None => (self.tls, None),
        };
        let grpc = grpc_server(self.grpc_listener, plain_tls)?;
        let grpc_tls = match tls_listener {
            Some((listener, tls)) => Some(grpc_server(listener, tls)?),
            None => None,
        };
        let grpc = async move {
            match grpc_tls {
                Some(grpc_tls) => {
                    let (plain, tls) = tokio::join!(grpc, grpc_tls);
                    plain.and(tls)
                }
                None => grpc.await,
            }
        };
        let body_limits = http::BodyLimits {
            max_push_body_bytes: self.limits.max_push_body_bytes,
            ..http::BodyLimits::default()
        };
        let router = http::router_configured(
            self.registry,
            self.clock,
            http::HttpConfig {
                limits: body_limits,
                auth: self.push_auth,
                push_rate: PushRateLimit::per_second(self.limits.push_rate_per_second),
            },
        );
        let http = http::server::serve(
            self.http_listener,
            router,
            self.limits.http_connections,
            wait_for(stopped),
        );
        let signal = async move {
            shutdown.await;
            info!("Shutting down.");
            let _ = stop.send(true);
        };
        let (grpc, (), ()) = tokio::join!(grpc, http, signal);
        grpc.map_err(ServeError::Grpc)
    }
}

/// Runs [`serve`], or with `kubernetes` the cluster's policy store (`serve --kubernetes`).
pub async fn serve_with(config: ServeConfig, kubernetes: bool) -> Result<(), ServeError> {
    if !kubernetes {
        return serve(config).await;
    }
    let client = kube::Client::try_default()
        .await
        .map_err(ServeError::Kubernetes)?;
    Server::bind_in(config, Some(client))
        .await?
        .run(shutdown_signal())
        .await
}

/// Who may push: the token file if there is one, else in a cluster the Kubernetes reviews
/// (unless turned off), else nobody is asked, which the log says.
fn push_auth(config: &ServeConfig, cluster: Option<&kube::Client>) -> Result<PushAuth, ServeError> {
    let push = &config.push;
    if let Some(path) = &push.tokens {
        let tokens = TokenFile::load_and_watch(path.clone(), config.reload_interval)
            .map_err(ServeError::PushTokens)?;
        info!(file = %path.display(), "Pushes need a token of the push token file.");
        return Ok(PushAuth::Tokens(tokens));
    }
    match cluster {
        Some(client) if !push.unauthenticated => {
            info!(
                audience = %push.audience,
                "Pushes and decision reads are authorized with TokenReview and SubjectAccessReview."
            );
            Ok(PushAuth::Kubernetes(Arc::new(ClusterAuthorizer::new(
                client.clone(),
                push.audience.clone(),
            ))))
        }
        _ => {
            warn!(
                "Pushes are not authenticated: anyone who reaches the HTTP port can push any \
                 metric (start with --push-tokens FILE to require tokens)."
            );
            Ok(PushAuth::Open)
        }
    }
}

/// Watches ScaledObjects (until they are listed), then ScalingPolicySets into `registry`, and
/// makes new controllers read their capacity from their scale targets.
fn start_cluster_store(client: kube::Client, registry: &Arc<Registry>) {
    use crate::kubernetes::policies::{
        KubeCapacitySource, Rejections, ScaledObjects, follow_scale_targets, watch_policy_sets,
    };
    let (scaled_objects, task) = ScaledObjects::watch(client.clone());
    tokio::spawn(task);
    registry.set_capacity_source(Arc::new(KubeCapacitySource::new(
        client.clone(),
        Some(scaled_objects.clone()),
    )));
    // One status writer at a time: the holder of a Lease in the scaler's own namespace.
    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("ecs-scaler-{}", std::process::id()));
    let namespace =
        std::env::var("POD_NAMESPACE").unwrap_or_else(|_| client.default_namespace().to_owned());
    let lease = crate::kubernetes::lease::LeaseLock::new(
        client.clone(),
        &namespace,
        &identity,
        Duration::from_secs(30),
    );
    let rejections = Rejections::default();
    tokio::spawn(
        crate::kubernetes::status::StatusWriter::new(client.clone(), registry.clone())
            .with_rejections(rejections.clone())
            .with_scaled_objects(scaled_objects.clone())
            .with_lease(lease)
            .run(),
    );
    tokio::spawn(follow_scale_targets(
        scaled_objects.clone(),
        Arc::downgrade(registry),
    ));
    let registry = registry.clone();
    tokio::spawn(async move {
        scaled_objects.ready().await;
        watch_policy_sets(client, registry, rejections).await;
    });
    info!("Serving the cluster's ScalingPolicySets.");
}

async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Bind { address, source })
}

fn local(listener: &tokio::net::TcpListener) -> String {
    listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string())
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::push_auth::tests::{capture_logs, hex};

    fn config(args: &[&str]) -> ServeConfig {
        let mut all = vec!["ecs-scaler", "serve"];
        all.extend(args);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Serve(args) => args.into(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn pushes_are_open_without_tokens_and_the_log_says_so() {
        let (logs, _guard) = capture_logs();
        let config = config(&[]);
        assert_eq!(config.push, PushConfig::default());
        assert_eq!(config.limits.push_rate_per_second.get(), 100);
        assert!(matches!(push_auth(&config, None), Ok(PushAuth::Open)));
        assert!(
            logs.text().contains("Pushes are not authenticated"),
            "{}",
            logs.text()
        );
    }

    #[tokio::test]
    async fn a_cluster_reviews_tokens_unless_told_otherwise() {
        let (client, _handle) = crate::kubernetes::testing::client();
        let reviewed = config(&["--kubernetes", "--push-token-audience", "scaler"]);
        match push_auth(&reviewed, Some(&client)) {
            Ok(PushAuth::Kubernetes(reviews)) => assert_eq!(reviews.audience(), "scaler"),
            other => panic!("{other:?}"),
        }
        let open = config(&["--kubernetes", "--unauthenticated-pushes"]);
        assert!(matches!(
            push_auth(&open, Some(&client)),
            Ok(PushAuth::Open)
        ));
        // Only meaningful in a cluster, and not with a token file.
        for args in [
            &["serve", "--unauthenticated-pushes"][..],
            &[
                "serve",
                "--kubernetes",
                "--unauthenticated-pushes",
                "--push-tokens",
                "t.yaml",
            ],
            &["serve", "--push-rate-limit", "0"],
        ] {
            let mut all = vec!["ecs-scaler"];
            all.extend(args);
            assert!(Cli::try_parse_from(all).is_err(), "{args:?}");
        }
    }

    #[tokio::test]
    async fn a_token_file_is_loaded_at_start_and_a_bad_one_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.yaml");
        let path_text = path.to_str().unwrap();
        std::fs::write(&path, "tokens: [{sha256: abc, policySets: [shop/web]}]\n").unwrap();
        let error = push_auth(&config(&["--push-tokens", path_text]), None).unwrap_err();
        assert!(error.to_string().contains("tokens[0].sha256"), "{error}");
        std::fs::write(
            &path,
            format!(
                "tokens: [{{sha256: {}, policySets: [shop/web]}}]\n",
                hex("t")
            ),
        )
        .unwrap();
        let (client, _handle) = crate::kubernetes::testing::client();
        let with_file = config(&["--kubernetes", "--push-tokens", path_text]);
        assert!(matches!(
            push_auth(&with_file, Some(&client)),
            Ok(PushAuth::Tokens(_))
        ));
    }
}
