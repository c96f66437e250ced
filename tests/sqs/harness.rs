//! The peers of the SQS tests: a moto server, an SQS client to drive it, and the in-process
//! scaler of `tests/support/scaler.rs` serving policy files in [`NAMESPACE`].
//!
//! moto comes from the Python venv `tests/run-all.sh` builds (`target/py-venv`, or the venv of
//! `ECS_SCALER_PYTHON`): `moto_server` sits beside the venv's python. The scaler reaches AWS
//! through the SDK's default credential chain, so the process needs credentials in its
//! environment: `tests/run-all.sh` exports dummy ones (moto accepts any). The crate forbids
//! `unsafe`, so the tests cannot set them themselves (`std::env::set_var` is unsafe in edition
//! 2024). To run these tests alone:
//!
//! ```sh
//! AWS_ACCESS_KEY_ID=AKIDECSSCALERTEST AWS_SECRET_ACCESS_KEY=ecs-scaler-test-secret \
//!   ECS_SCALER_PYTHON=target/py-venv/bin/python cargo test --test sqs
//! ```

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use ecs_scaler::grpc::proto::ScaledObjectRef;
use ecs_scaler::grpc::proto::external_scaler_client::ExternalScalerClient;
use tonic::transport::Channel;

use crate::scaler;
pub use crate::scaler::{Recorder, Scaler, eventually, unavailable_after_staleness_bound};

/// The region every test uses.
pub const REGION: &str = "us-east-1";

const SETUP_HINT: &str = "run `bash tests/run-all.sh` (it creates target/py-venv with \
     tests/moto/requirements.txt and exports dummy AWS credentials), or see the top of \
     tests/sqs/harness.rs to run these tests alone";

/// The venv's python: `ECS_SCALER_PYTHON` (relative to the manifest directory) or
/// `target/py-venv/bin/python`.
fn python() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("ECS_SCALER_PYTHON") {
        Some(value) if !value.is_empty() => manifest_dir.join(value),
        _ => manifest_dir.join("target/py-venv/bin/python"),
    }
}

/// Fails unless the scaler will find credentials in the environment.
fn check_credentials() {
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert!(
            std::env::var_os(name).is_some_and(|v| !v.is_empty()),
            "{name} is not set: the scaler's SDK default chain needs (dummy) credentials for \
             moto; {SETUP_HINT}"
        );
    }
}

/// The secret of the dummy credentials, to check that it never appears anywhere.
pub fn secret_access_key() -> String {
    std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default()
}

/// The access key ID of the dummy credentials.
pub fn access_key_id() -> String {
    std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default()
}

/// A free port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs moto's server the way `moto_server -H 127.0.0.1 -p PORT` does, and also exits when the
/// test process is gone (its stdin closes), so that a killed test run leaves no server behind.
const MOTO_MAIN: &str = "\
import os, sys, threading
def watch_parent():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=watch_parent, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
";

/// A moto server on 127.0.0.1, killed on drop.
pub struct Moto {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto and waits until it answers (at most 20 s).
    pub fn start() -> Moto {
        check_credentials();
        let python = python();
        let moto_server = python.with_file_name("moto_server");
        assert!(
            moto_server.exists(),
            "no moto_server beside {} (moto[server] is not installed there): {SETUP_HINT}",
            python.display()
        );
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("moto.log");
            let port = free_port();
            let log_file = fs::File::create(&log).unwrap();
            let child = Command::new(&python)
                .args(["-c", MOTO_MAIN, "-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::piped())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}; {SETUP_HINT}", python.display()));
            let mut moto = Moto {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                log,
                _dir: dir,
            };
            if moto.wait_ready(Duration::from_secs(20)) {
                return moto;
            }
            last_log = moto.log();
            // Most likely the port was taken in between: try another one.
        }
        panic!("moto did not start; its log:\n{last_log}\n{SETUP_HINT}");
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if http_get_status(self.addr, "/moto-api/") == Some(200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// moto's output so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of `GET path`, if the server answers.
fn http_get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// An SQS client for the test's own calls (explicit dummy credentials, no environment).
pub async fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https)
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDTESTCLIENT",
            "test-client-secret",
            None,
            None,
            "sqs-tests",
        ))
        .load()
        .await;
    aws_sdk_sqs::Client::new(&config)
}

/// A queue in moto and the test's client for it.
#[derive(Clone)]
pub struct Queue {
    /// The client.
    pub client: aws_sdk_sqs::Client,
    /// The queue's name.
    pub name: String,
    /// The queue's URL (as moto names it).
    pub url: String,
}

impl Queue {
    /// Creates queue `name`.
    pub async fn create(client: &aws_sdk_sqs::Client, name: &str) -> Queue {
        let url = client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        Queue {
            client: client.clone(),
            name: name.to_owned(),
            url,
        }
    }

    /// Sends `count` messages, visible after `delay_seconds`.
    pub async fn send(&self, count: usize, delay_seconds: i32) {
        for i in 0..count {
            self.client
                .send_message()
                .queue_url(&self.url)
                .message_body(format!("message {i}"))
                .delay_seconds(delay_seconds)
                .send()
                .await
                .unwrap();
        }
    }

    /// Receives exactly `count` messages without deleting them: they stay in flight for ten
    /// minutes.
    pub async fn receive(&self, count: usize) {
        let mut received = 0;
        while received < count {
            let batch = (count - received).min(10) as i32;
            let response = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(batch)
                .visibility_timeout(600)
                .send()
                .await
                .unwrap();
            let got = response.messages.unwrap_or_default().len();
            assert!(got > 0, "queue {} has no visible message left", self.name);
            received += got;
        }
        assert_eq!(received, count, "received more messages than asked");
    }

    /// The three counts as moto reports them: visible, in flight, delayed.
    pub async fn counts(&self) -> (u64, u64, u64) {
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        let get = |name: QueueAttributeName| -> u64 { attributes[&name].parse().unwrap() };
        (
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        )
    }
}

/// The namespace of every test policy set.
pub const NAMESPACE: &str = "sqs";

/// A policy set document named `name` in [`NAMESPACE`] with `spec` (YAML, indented by two).
pub fn policy_set(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\n\
         metadata: {{name: {name}, namespace: {NAMESPACE}}}\nspec:\n{spec}"
    )
}

/// The `sqs:` metric source for `queue` (a URL or a name) through `endpoint`, polled every second,
/// with `extra` fields (`key: value, ...`).
pub fn sqs_source(queue: &str, endpoint: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "{{sqs: {{queueURL: '{queue}', awsRegion: {REGION}, awsEndpoint: '{endpoint}', \
         pollIntervalSeconds: 1, period: 10{extra}}}}}"
    )
}

/// The number of `GetQueueAttributes` calls the scaler made.
pub const GET_QUEUE_ATTRIBUTES: &str =
    "ecs_scaler_aws_api_calls_total{service=\"sqs\",operation=\"GetQueueAttributes\"}";

/// What KEDA's `GetMetricSpec` then `GetMetrics` answer for policy set `name`: D, or the status.
pub async fn get_metrics(
    client: &mut ExternalScalerClient<Channel>,
    name: &str,
) -> Result<u32, tonic::Status> {
    scaler::get_metrics(client, NAMESPACE, name).await
}

/// D for policy set `name`, failing the test with the status if there is none.
pub async fn desired_now(client: &mut ExternalScalerClient<Channel>, name: &str) -> u32 {
    scaler::desired_now(client, NAMESPACE, name).await
}

/// A ScaledObject whose trigger references policy set `name`.
pub fn scaled_object(name: &str) -> ScaledObjectRef {
    scaler::scaled_object(NAMESPACE, name)
}

/// A scaler serving `files` (policy sets in [`NAMESPACE`]); see [`Scaler::start`].
pub async fn start_scaler(files: &[(&str, String)], initial_capacity: Option<u32>) -> Scaler {
    Scaler::start(NAMESPACE, files, initial_capacity).await
}
