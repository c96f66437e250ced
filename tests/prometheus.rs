//! The Prometheus source against a real Prometheus: Debian's `prometheus` package, started on
//! 127.0.0.1 with a temporary TSDB, scraping every second a `/metrics` target this test serves.
//!
//! `tests/run-all.sh` installs Prometheus when it is missing. Without the binary on `PATH` these
//! tests fail (they do not skip), saying so.

#[path = "support/certificates.rs"]
mod certificates;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use ecs_scaler::clock::SystemClock;
use ecs_scaler::controller::Verdict;
use ecs_scaler::policy::document::PrometheusSpec;
use ecs_scaler::policy::load::load_str;
use ecs_scaler::serve::{ServeConfig, Server};
use ecs_scaler::sources::hub::SourceHub;
use ecs_scaler::sources::poller::Poll;
use ecs_scaler::sources::prometheus::{BasicAuth, PrometheusPoller};
use ecs_scaler::sources::{FeedReceiver, SourceError};
use ecs_scaler::telemetry::Metrics;
use tokio::sync::oneshot;

/// The password of the TLS test's basic auth user, and its bcrypt hash for Prometheus's web
/// config (cost 4, to keep the test fast).
const PASSWORD: &str = "p4ss-SECRET";
const PASSWORD_BCRYPT: &str = "$2b$04$/ze8fHimVuh5MP3MmSt1oOvP1VXCUNuxxAjeVOFRvYN7rxtS9u/gO";

/// What the target serves on `/metrics`: `app_active_sessions` (changed by the test) and two
/// series of `app_pod_sessions`.
struct Target {
    addr: SocketAddr,
    sessions: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Target {
    async fn start(sessions: f64) -> Self {
        let value = Arc::new(AtomicU64::new(sessions.to_bits()));
        let served = value.clone();
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let sessions = f64::from_bits(served.load(Ordering::SeqCst));
                async move {
                    format!(
                        "# TYPE app_active_sessions gauge\n\
                         app_active_sessions{{app=\"checkout\"}} {sessions}\n\
                         # TYPE app_pod_sessions gauge\n\
                         app_pod_sessions{{pod=\"checkout-a\"}} 1\n\
                         app_pod_sessions{{pod=\"checkout-b\"}} 2\n"
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            sessions: value,
            task,
        }
    }

    fn set(&self, sessions: f64) {
        self.sessions.store(sessions.to_bits(), Ordering::SeqCst);
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running Prometheus, killed when dropped.
struct Prometheus {
    child: Child,
    address: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_binary() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("prometheus"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the `prometheus` binary is not on PATH: run tests/run-all.sh, which installs \
                 Debian's `prometheus` package (or `apt-get install prometheus`)"
            )
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second; `web_config` (YAML) turns on TLS or
    /// authentication, and the address is then `https://`.
    fn start(target: SocketAddr, web_config: Option<String>) -> Self {
        let binary = prometheus_binary();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
                 scrape_configs:\n\
                 - job_name: app\n  \
                   static_configs: [{{targets: ['{target}']}}]\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.path().join("prometheus.log");
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let scheme = match web_config {
            Some(web_config) => {
                let path = dir.path().join("web.yml");
                std::fs::write(&path, web_config).unwrap();
                command.arg(format!("--web.config.file={}", path.display()));
                "https"
            }
            None => "http",
        };
        let child = command.spawn().expect("prometheus starts");
        Self {
            child,
            address: format!("{scheme}://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Panics with the log when `ready` does not succeed within 30 s.
    async fn wait<T>(
        &mut self,
        what: &str,
        mut ready: impl AsyncFnMut() -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let last = match ready().await {
                Ok(value) => return value,
                Err(error) => error,
            };
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "prometheus exited ({status}) before {what}:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "no {what} within 30 s (last: {last}); prometheus log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A plain HTTP client for the test's own requests (rustls with ring, as the crate uses).
fn http_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("HTTP {status}: {body}"))
    }
}

fn spec(address: &str, query: &str) -> PrometheusSpec {
    serde_json::from_value(serde_json::json!({
        "serverAddress": address,
        "query": query,
        "pollIntervalSeconds": 1,
        "timeoutSeconds": 1,
    }))
    .unwrap()
}

fn document(name: &str, address: &str, query: &str) -> String {
    format!(
        r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {{name: {name}}}
spec:
  scalableTarget: {{minCapacity: 1, maxCapacity: 20}}
  metrics:
    activeUsers:
      prometheus:
        serverAddress: {address}
        query: '{query}'
        period: 10
        pollIntervalSeconds: 1
        timeoutSeconds: 1
  policies:
  - policyName: active-users-per-task
    targetTracking: {{metric: activeUsers, perTask: true, targetValue: 500}}
  behavior:
    targetTrackingHighAlarm: {{evaluationPeriods: 1, datapointsToAlarm: 1, thresholdRatio: 1.0}}
"#
    )
}

async fn wait_for_value(feed: &mut FeedReceiver, value: f64) {
    let waited = tokio::time::timeout(
        Duration::from_secs(15),
        feed.wait_for(|state| state.datapoints.back().is_some_and(|d| d.value == value)),
    )
    .await
    .is_ok();
    assert!(
        waited,
        "no datapoint {value} within 15 s: {:?}",
        *feed.borrow()
    );
}

const ACTIVE_USERS: &str = r#"sum(app_active_sessions{app="checkout"})"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_users_come_from_a_real_prometheus_through_the_hub_and_the_server() {
    let target = Target::start(640.0).await;
    let mut prometheus = Prometheus::start(target.addr, None);
    let client = http_client();
    let address = prometheus.address.clone();
    prometheus
        .wait("/-/ready", async || {
            get_text(&client, &format!("{address}/-/ready")).await
        })
        .await;
    prometheus
        .wait("the first sample", async || {
            let body = get_text(
                &client,
                &format!("{address}/api/v1/query?query=app_active_sessions"),
            )
            .await?;
            if body.contains("\"640\"") {
                Ok(())
            } else {
                Err(body)
            }
        })
        .await;

    // Through the hub: the query's one series is one datapoint; a change follows.
    let set = load_str(&document("checkout", &address, ACTIVE_USERS), "test").unwrap();
    let hub = SourceHub::new(Arc::new(SystemClock), Arc::new(Metrics::new()));
    let mut feed = hub.subscribe(&set, 0);
    wait_for_value(&mut feed, 640.0).await;
    assert!(feed.borrow().last_error.is_none());
    target.set(1234.0);
    wait_for_value(&mut feed, 1234.0).await;

    // A query with two series is an error naming them; the feed keeps no datapoint.
    let set = load_str(&document("pods", &address, "app_pod_sessions"), "test").unwrap();
    let mut pods = hub.subscribe(&set, 0);
    let state = tokio::time::timeout(
        Duration::from_secs(10),
        pods.wait_for(|state| state.last_error.is_some()),
    )
    .await
    .expect("an error within 10 s")
    .unwrap()
    .clone();
    let error = state.last_error.unwrap();
    assert!(error.contains("returned 2 series"), "{error}");
    assert!(
        error.contains(r#"pod="checkout-a""#) && error.contains(r#"pod="checkout-b""#),
        "{error}"
    );
    assert!(state.datapoints.is_empty());

    // Through a served policy set: 1234 active users at 500 per task is 3 tasks.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("checkout.yaml"),
        document("checkout", &address, ACTIVE_USERS),
    )
    .unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(ServeConfig {
        policies: Some(dir.path().to_owned()),
        grpc_listen: any,
        http_listen: any,
        initial_capacity: None,
        tick: Duration::from_millis(200),
        reload_interval: Duration::from_secs(60),
        limits: Default::default(),
        tls: None,
    })
    .await
    .unwrap();
    let handle = server.registry().get("default", "checkout").unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let mut verdicts = handle.subscribe();
    let decided = tokio::time::timeout(
        Duration::from_secs(40),
        verdicts.wait_for(|verdict| matches!(&**verdict, Verdict::Decided(d) if d.desired == 3)),
    )
    .await;
    assert!(
        decided.is_ok(),
        "no decision of 3 tasks within 40 s: {:?}",
        handle.verdict()
    );
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

async fn poll_once(spec: &PrometheusSpec) -> Result<Vec<f64>, SourceError> {
    let poller = PrometheusPoller::new(spec.key(), Arc::new(SystemClock));
    let observations = poller.poll().await?;
    Ok(observations.iter().map(|o| o.value).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_and_basic_auth_against_a_real_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path();
    certificates::write(files, "ecs-scaler test CA");
    std::fs::write(files.join("password"), format!("{PASSWORD}\n")).unwrap();
    std::fs::write(files.join("wrong-password"), "not-it-SECRET").unwrap();
    let target = Target::start(777.0).await;
    let web_config = format!(
        "tls_server_config:\n  \
           cert_file: {dir}/server.crt\n  \
           key_file: {dir}/server.key\n  \
           client_auth_type: RequireAndVerifyClientCert\n  \
           client_ca_file: {dir}/ca.crt\n\
         basic_auth_users:\n  \
           alice: '{PASSWORD_BCRYPT}'\n",
        dir = files.display()
    );
    let mut prometheus = Prometheus::start(target.addr, Some(web_config));
    let address = prometheus.address.clone();

    let mut good = spec(&address, ACTIVE_USERS);
    good.ca_file = Some(files.join("ca.crt"));
    good.cert_file = Some(files.join("client.crt"));
    good.key_file = Some(files.join("client.key"));
    good.basic_auth = Some(BasicAuth {
        username: "alice".to_owned(),
        password_file: files.join("password"),
    });
    assert!(good.problems().is_empty(), "{:?}", good.problems());
    // Ready and scraped: the query answers over mutual TLS with the first sample.
    let values = prometheus
        .wait("the first sample over TLS", async || {
            match poll_once(&good).await {
                Ok(values) if !values.is_empty() => Ok(values),
                Ok(_) => Err("no sample yet".to_owned()),
                Err(error) => Err(error.to_string()),
            }
        })
        .await;
    assert_eq!(values, [777.0]);

    // unsafeSsl trusts the unknown CA; the client certificate is still presented.
    let mut unverified = good.clone();
    unverified.ca_file = None;
    unverified.unsafe_ssl = true;
    assert_eq!(poll_once(&unverified).await.unwrap(), [777.0]);

    // Without the CA, the server's certificate is refused.
    let mut untrusted = good.clone();
    untrusted.ca_file = None;
    let error = poll_once(&untrusted).await.unwrap_err().to_string();
    assert!(error.contains("certificate"), "{error}");

    // Without a client certificate, Prometheus refuses the connection.
    let mut anonymous = good.clone();
    anonymous.cert_file = None;
    anonymous.key_file = None;
    let error = poll_once(&anonymous).await.unwrap_err().to_string();
    assert!(error.contains("alert"), "{error}");

    // A wrong password is Prometheus's 401, and no password appears in the error.
    let mut wrong = good.clone();
    wrong.basic_auth = Some(BasicAuth {
        username: "alice".to_owned(),
        password_file: files.join("wrong-password"),
    });
    let error = poll_once(&wrong).await.unwrap_err().to_string();
    assert!(error.contains("HTTP 401"), "{error}");
    for text in [error, format!("{wrong:?}"), format!("{:?}", wrong.key())] {
        assert!(!text.contains("SECRET"), "a secret leaked: {text}");
    }
}
