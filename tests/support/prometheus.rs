//! A real Prometheus for integration tests: Debian's `prometheus` package, started on 127.0.0.1
//! with a temporary TSDB, scraping every second a `/metrics` target the test serves. It can be
//! killed and started again on the same port and TSDB, as a restarted Prometheus would be.
//!
//! `tests/run-all.sh` installs Prometheus when it is missing. Without the binary on `PATH` the
//! tests using it fail (they do not skip), saying so. Shared by several test crates
//! (`tests/prometheus.rs`, `tests/faults.rs`), each using a part of it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;

/// What the target serves on `/metrics`: `app_active_sessions{app="checkout"}` (changed by the
/// test) and two series of `app_pod_sessions`.
pub struct Target {
    /// Where Prometheus scrapes it.
    pub addr: SocketAddr,
    sessions: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Target {
    /// Serves `sessions` active sessions on a free port.
    pub async fn start(sessions: f64) -> Self {
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

    /// Serves `sessions` from now on.
    pub fn set(&self, sessions: f64) {
        self.sessions.store(sessions.to_bits(), Ordering::SeqCst);
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The query of the active sessions the target serves.
pub const ACTIVE_USERS: &str = r#"sum(app_active_sessions{app="checkout"})"#;

/// A Prometheus process, killed when dropped.
pub struct Prometheus {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (or `https://` with a TLS web config).
    pub address: String,
    port: u16,
    target: SocketAddr,
    web_config: Option<String>,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.kill();
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

/// A free port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second; `web_config` (YAML) turns on TLS or
    /// authentication, and the address is then `https://`.
    pub fn start(target: SocketAddr, web_config: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let scheme = if web_config.is_some() {
            "https"
        } else {
            "http"
        };
        let mut prometheus = Self {
            child: None,
            address: format!("{scheme}://127.0.0.1:{port}"),
            port,
            target,
            web_config,
            log: dir.path().join("prometheus.log"),
            dir,
        };
        prometheus.spawn();
        prometheus
    }

    fn spawn(&mut self) {
        let dir = self.dir.path();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
                 scrape_configs:\n\
                 - job_name: app\n  \
                   static_configs: [{{targets: ['{}']}}]\n",
                self.target
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(prometheus_binary());
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(web_config) = &self.web_config {
            let path = dir.join("web.yml");
            std::fs::write(&path, web_config).unwrap();
            command.arg(format!("--web.config.file={}", path.display()));
        }
        self.child = Some(command.spawn().expect("prometheus starts"));
    }

    /// Kills the process (SIGKILL) and reaps it: its port stops answering at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port and TSDB, after [`Prometheus::kill`].
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "prometheus still runs");
        self.spawn();
    }

    /// Its listening address (the same across restarts).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last lines of its log (across restarts).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Panics with the log when `ready` does not succeed within 30 s.
    pub async fn wait<T>(
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
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
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

    /// Waits until Prometheus is ready and an instant query of `query` answers with `value`
    /// (as Prometheus prints it, e.g. `"640"`).
    pub async fn wait_for_value(&mut self, query: &str, value: &str) {
        let client = http_client();
        let address = self.address.clone();
        self.wait("/-/ready", async || {
            get_text(&client, &format!("{address}/-/ready")).await
        })
        .await;
        let url =
            reqwest::Url::parse_with_params(&format!("{address}/api/v1/query"), [("query", query)])
                .unwrap();
        let expected = format!("\"{value}\"");
        self.wait(&format!("the value {value} of {query}"), async || {
            let body = get_text(&client, url.as_str()).await?;
            if body.contains(&expected) {
                Ok(())
            } else {
                Err(body)
            }
        })
        .await;
    }
}

/// A plain HTTP client for the test's own requests (rustls with ring, as the crate uses).
pub fn http_client() -> reqwest::Client {
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

/// The body of `GET url`, or why there is none.
pub async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("HTTP {status}: {body}"))
    }
}
