//! The Prometheus source against a local axum server that answers like Prometheus's API and
//! records what it was sent.

use std::net::SocketAddr;
use std::sync::Mutex;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::routing::any;
use chrono::{DateTime, Utc};

use super::*;
use crate::clock::SystemClock;
use crate::policy::load::load_str;
use crate::sources::SourceKey;
use crate::sources::hub::SourceHub;

const TOKEN: &str = "tok-3f9a-SECRET";
const PASSWORD: &str = "pw-77c1-SECRET";

/// What the test server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: Vec<(String, String)>,
    headers: axum::http::HeaderMap,
}

#[derive(Clone)]
struct Script {
    status: StatusCode,
    body: String,
    delay: Duration,
    /// Answer with the request's Authorization header in the body (a leaky proxy).
    echo_authorization: bool,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn answer(State(script): State<Script>, request: Request) -> (StatusCode, String) {
    let query = request
        .uri()
        .query()
        .map(|q| {
            reqwest::Url::parse(&format!("http://x/?{q}"))
                .unwrap()
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let authorization = request
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    script.seen.lock().unwrap().push(Seen {
        path: request.uri().path().to_owned(),
        query,
        headers: request.headers().clone(),
    });
    tokio::time::sleep(script.delay).await;
    if script.echo_authorization {
        return (
            script.status,
            format!("denied: authorization `{authorization}` is not allowed"),
        );
    }
    (script.status, script.body.clone())
}

struct TestServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    fn address(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }

    fn param(&self, name: &str) -> Option<String> {
        self.last()
            .query
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

async fn serve_script(script: Script) -> TestServer {
    let seen = script.seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(any(answer)).with_state(script);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestServer { addr, seen, task }
}

async fn serve(status: u16, body: &str) -> TestServer {
    serve_script(Script {
        status: StatusCode::from_u16(status).unwrap(),
        body: body.to_owned(),
        delay: Duration::ZERO,
        echo_authorization: false,
        seen: Arc::default(),
    })
    .await
}

fn vector(values: &[&str]) -> String {
    let series: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(r#"{{"metric": {{"pod": "web-{i}"}}, "value": [1767607200.123, "{v}"]}}"#)
        })
        .collect();
    format!(
        r#"{{"status": "success", "data": {{"resultType": "vector", "result": [{}]}}}}"#,
        series.join(", ")
    )
}

fn spec(address: &str) -> PrometheusSpec {
    PrometheusSpec {
        server_address: address.to_owned(),
        query: "sum(app_active_sessions)".to_owned(),
        ignore_null_values: true,
        query_parameters: BTreeMap::new(),
        custom_headers: BTreeMap::new(),
        timeout_seconds: 5,
        unsafe_ssl: false,
        bearer_token_file: None,
        basic_auth: None,
        ca_file: None,
        cert_file: None,
        key_file: None,
        period: 60,
        poll_interval_seconds: 15,
        stale_after_seconds: None,
    }
}

fn poller(spec: &PrometheusSpec) -> PrometheusPoller {
    PrometheusPoller::new(spec.key(), Arc::new(SystemClock))
}

async fn poll(spec: &PrometheusSpec) -> Result<Vec<Observation>, SourceError> {
    poller(spec).poll().await
}

fn values(observations: &[Observation]) -> Vec<f64> {
    observations.iter().map(|o| o.value).collect()
}

#[tokio::test]
async fn one_series_is_one_sample_from_an_instant_query_at_now() {
    let server = serve(200, &vector(&["42.5"])).await;
    let before = Utc::now();
    let observations = poll(&spec(&server.address())).await.unwrap();
    assert_eq!(values(&observations), [42.5]);
    assert!(!observations[0].period_value);
    let seen = server.last();
    assert_eq!(seen.path, "/api/v1/query");
    assert_eq!(
        server.param("query").as_deref(),
        Some("sum(app_active_sessions)")
    );
    let time: DateTime<Utc> = server.param("time").unwrap().parse().unwrap();
    assert!(time >= before - chrono::Duration::milliseconds(1) && time <= Utc::now());
    assert_eq!(observations[0].timestamp, time);
    assert_eq!(seen.headers["accept"], "application/json");
    assert!(seen.headers.get("authorization").is_none());
}

#[tokio::test]
async fn a_path_prefix_in_the_server_address_is_kept() {
    let server = serve(200, &vector(&["1"])).await;
    poll(&spec(&format!("{}/prom/", server.address())))
        .await
        .unwrap();
    assert_eq!(server.last().path, "/prom/api/v1/query");
}

#[tokio::test]
async fn a_scalar_result_is_one_sample() {
    let body =
        r#"{"status": "success", "data": {"resultType": "scalar", "result": [1767607200, "7"]}}"#;
    let server = serve(200, body).await;
    assert_eq!(
        values(&poll(&spec(&server.address())).await.unwrap()),
        [7.0]
    );
}

#[tokio::test]
async fn zero_series_is_missing_data_when_null_values_are_ignored() {
    let server = serve(200, &vector(&[])).await;
    let observations = poll(&spec(&server.address())).await.unwrap();
    assert!(observations.is_empty(), "{observations:?}");
}

#[tokio::test]
async fn zero_series_is_an_error_when_null_values_are_not_ignored() {
    let server = serve(200, &vector(&[])).await;
    let mut spec = spec(&server.address());
    spec.ignore_null_values = false;
    let error = poll(&spec).await.unwrap_err();
    assert!(matches!(error, SourceError::BadAnswer(_)), "{error:?}");
    assert!(error.to_string().contains("no series"), "{error}");
}

#[tokio::test]
async fn two_series_is_an_error_naming_how_many_and_which() {
    let server = serve(200, &vector(&["1", "2"])).await;
    let error = poll(&spec(&server.address())).await.unwrap_err();
    assert!(matches!(error, SourceError::BadAnswer(_)), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("returned 2 series"), "{text}");
    assert!(
        text.contains(r#"{pod="web-0"}"#) && text.contains(r#"{pod="web-1"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn many_series_name_the_first_three() {
    let server = serve(200, &vector(&["1", "2", "3", "4", "5"])).await;
    let text = poll(&spec(&server.address()))
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("returned 5 series"), "{text}");
    assert!(text.contains("web-2") && !text.contains("web-3") && text.contains("..."));
}

#[tokio::test]
async fn nan_and_infinities_are_missing_data_when_null_values_are_ignored() {
    for raw in ["NaN", "+Inf", "-Inf"] {
        let server = serve(200, &vector(&[raw])).await;
        let observations = poll(&spec(&server.address())).await.unwrap();
        assert!(observations.is_empty(), "{raw}: {observations:?}");
    }
}

#[tokio::test]
async fn nan_and_infinities_are_errors_when_null_values_are_not_ignored() {
    for raw in ["NaN", "+Inf", "-Inf"] {
        let server = serve(200, &vector(&[raw])).await;
        let mut spec = spec(&server.address());
        spec.ignore_null_values = false;
        let error = poll(&spec).await.unwrap_err();
        assert!(matches!(error, SourceError::BadAnswer(_)), "{error:?}");
        assert!(error.to_string().contains(raw), "{error}");
    }
}

#[tokio::test]
async fn a_value_that_is_not_a_number_is_an_error() {
    let server = serve(200, &vector(&["many"])).await;
    let error = poll(&spec(&server.address())).await.unwrap_err();
    assert!(
        error.to_string().contains("`many` is not a number"),
        "{error}"
    );
}

#[tokio::test]
async fn a_range_vector_is_an_error() {
    let body = r#"{"status": "success", "data": {"resultType": "matrix", "result": []}}"#;
    let server = serve(200, body).await;
    let error = poll(&spec(&server.address())).await.unwrap_err();
    assert!(error.to_string().contains("matrix"), "{error}");
}

#[tokio::test]
async fn an_error_status_carries_prometheus_error_type_and_message() {
    let body = r#"{"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected \")\""}"#;
    let server = serve(400, body).await;
    let error = poll(&spec(&server.address())).await.unwrap_err();
    assert!(matches!(error, SourceError::Failed(_)), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("HTTP 400"), "{text}");
    assert!(text.contains("bad_data"), "{text}");
    assert!(text.contains("parse error"), "{text}");
}

#[tokio::test]
async fn http_errors_without_an_api_answer_are_reported_and_429_is_throttling() {
    let server = serve(503, "upstream unavailable").await;
    let error = poll(&spec(&server.address())).await.unwrap_err();
    assert_eq!(
        error,
        SourceError::Failed("HTTP 503: upstream unavailable".to_owned())
    );

    let server = serve(429, "slow down").await;
    let error = poll(&spec(&server.address())).await.unwrap_err();
    assert!(matches!(error, SourceError::Throttled(_)), "{error:?}");

    let server = serve(200, "<html>login</html>").await;
    let error = poll(&spec(&server.address())).await.unwrap_err();
    assert!(matches!(error, SourceError::BadAnswer(_)), "{error:?}");
    assert!(error.to_string().contains("<html>login</html>"), "{error}");
}

#[tokio::test]
async fn a_slow_server_times_out_after_timeout_seconds() {
    let server = serve_script(Script {
        status: StatusCode::OK,
        body: vector(&["1"]),
        delay: Duration::from_secs(10),
        echo_authorization: false,
        seen: Arc::default(),
    })
    .await;
    let mut spec = spec(&server.address());
    spec.timeout_seconds = 1;
    let started = std::time::Instant::now();
    let error = poll(&spec).await.unwrap_err();
    assert_eq!(error, SourceError::Timeout(1));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_names_the_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = poll(&spec(&address)).await.unwrap_err();
    assert!(matches!(error, SourceError::Failed(_)), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains(&format!("cannot connect to {address}")),
        "{text}"
    );
    assert!(!text.contains("query="), "no query string: {text}");
}

fn secret_file(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[tokio::test]
async fn the_bearer_token_is_read_from_its_file_and_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(200, &vector(&["3"])).await;
    let mut spec = spec(&server.address());
    spec.bearer_token_file = Some(secret_file(&dir, "token", &format!("{TOKEN}\n")));
    let poller = poller(&spec);
    poller.poll().await.unwrap();
    assert_eq!(
        server.last().headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
    // A rotated token is used at the next poll.
    std::fs::write(spec.bearer_token_file.as_ref().unwrap(), "rotated").unwrap();
    poller.poll().await.unwrap();
    assert_eq!(server.last().headers["authorization"], "Bearer rotated");
}

#[tokio::test]
async fn basic_auth_sends_the_user_and_the_password_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(200, &vector(&["3"])).await;
    let mut spec = spec(&server.address());
    spec.basic_auth = Some(BasicAuth {
        username: "alice".to_owned(),
        password_file: secret_file(&dir, "password", "p4ss\n"),
    });
    poll(&spec).await.unwrap();
    // base64("alice:p4ss")
    assert_eq!(
        server.last().headers["authorization"],
        "Basic YWxpY2U6cDRzcw=="
    );
}

#[tokio::test]
async fn custom_headers_and_query_parameters_are_sent() {
    let server = serve(200, &vector(&["3"])).await;
    let mut spec = spec(&server.address());
    spec.custom_headers = BTreeMap::from([
        ("X-Scope-OrgID".to_owned(), "team-a".to_owned()),
        ("X-Extra".to_owned(), "yes please".to_owned()),
    ]);
    spec.query_parameters = BTreeMap::from([
        ("dedup".to_owned(), "true".to_owned()),
        ("partial_response".to_owned(), "a b&c".to_owned()),
    ]);
    poll(&spec).await.unwrap();
    let seen = server.last();
    assert_eq!(seen.headers["x-scope-orgid"], "team-a");
    assert_eq!(seen.headers["x-extra"], "yes please");
    assert_eq!(server.param("dedup").as_deref(), Some("true"));
    assert_eq!(server.param("partial_response").as_deref(), Some("a b&c"));
    assert_eq!(
        server.param("query").as_deref(),
        Some("sum(app_active_sessions)")
    );
}

/// Every text a secret could leak through: the error, and the Debug and Display forms of the
/// spec, its key, the source key and the poller.
fn assert_no_secret(texts: &[String]) {
    let encoded = base64(format!("alice:{PASSWORD}").as_bytes());
    for text in texts {
        for secret in [TOKEN, PASSWORD, encoded.as_str()] {
            assert!(!text.contains(secret), "`{secret}` leaked in: {text}");
        }
    }
}

#[tokio::test]
async fn secrets_never_appear_in_errors_or_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_script(Script {
        status: StatusCode::UNAUTHORIZED,
        body: String::new(),
        delay: Duration::ZERO,
        echo_authorization: true,
        seen: Arc::default(),
    })
    .await;

    let mut bearer = spec(&server.address());
    bearer.bearer_token_file = Some(secret_file(&dir, "token", TOKEN));
    let mut basic = spec(&server.address());
    basic.basic_auth = Some(BasicAuth {
        username: "alice".to_owned(),
        password_file: secret_file(&dir, "password", PASSWORD),
    });

    for spec in [&bearer, &basic] {
        let poller = poller(spec);
        let error = poller.poll().await.unwrap_err();
        let text = error.to_string();
        // The server echoed the header: the error still says what happened, redacted.
        assert!(text.contains("HTTP 401"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        let key = SourceKey::Prometheus(Box::new(spec.key()));
        assert_no_secret(&[
            text,
            format!("{error:?}"),
            format!("{spec:?}"),
            format!("{:?}", spec.key()),
            format!("{key:?}"),
            key.to_string(),
            format!("{poller:?}"),
            serde_json::to_string(spec).unwrap(),
        ]);
    }
    // The request did carry them.
    assert!(
        server
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.headers["authorization"] == format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn an_unreadable_secret_file_is_an_error_naming_the_file() {
    let server = serve(200, &vector(&["1"])).await;
    let mut spec = spec(&server.address());
    spec.bearer_token_file = Some(PathBuf::from("/nonexistent/token"));
    let error = poll(&spec).await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("bearerTokenFile /nonexistent/token: "),
        "{error}"
    );
    assert!(server.seen.lock().unwrap().is_empty(), "no request is sent");

    let dir = tempfile::tempdir().unwrap();
    spec.bearer_token_file = None;
    spec.basic_auth = Some(BasicAuth {
        username: "alice".to_owned(),
        password_file: secret_file(&dir, "password", "\n"),
    });
    let error = poll(&spec).await.unwrap_err();
    assert!(error.to_string().contains("is empty"), "{error}");
}

#[tokio::test]
async fn a_token_that_is_not_a_header_value_is_an_error_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(200, &vector(&["1"])).await;
    let mut spec = spec(&server.address());
    spec.bearer_token_file = Some(secret_file(&dir, "token", &format!("{TOKEN}\u{7}x")));
    let error = poll(&spec).await.unwrap_err();
    assert!(
        error.to_string().contains("not a valid header value"),
        "{error}"
    );
    assert_no_secret(&[error.to_string()]);
}

#[tokio::test]
async fn tls_files_that_cannot_be_read_are_errors_naming_them_and_retried() {
    let mut spec = spec("https://127.0.0.1:1");
    spec.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
    let poller = poller(&spec);
    let error = poller.poll().await.unwrap_err();
    assert!(
        error.to_string().contains("caFile /nonexistent/ca.pem"),
        "{error}"
    );
    // The client is not kept after a failure: the next poll tries again.
    assert!(poller.client.get().is_none());

    let dir = tempfile::tempdir().unwrap();
    spec.ca_file = Some(secret_file(&dir, "empty.pem", ""));
    let error = poll(&spec).await.unwrap_err();
    assert!(error.to_string().contains("no PEM certificate"), "{error}");
}

#[test]
fn base64_matches_the_standard_alphabet_and_padding() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"a"), "YQ==");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
    assert_eq!(base64(b"alice:p4ss"), "YWxpY2U6cDRzcw==");
    assert_eq!(base64(&[0xfb, 0xff, 0xfe]), "+//+");
}

fn problems_of(spec: &PrometheusSpec) -> Vec<String> {
    spec.problems()
        .into_iter()
        .map(|(field, message)| format!("{field}: {message}"))
        .collect()
}

#[test]
fn a_plain_spec_has_no_problems() {
    assert!(problems_of(&spec("http://prometheus:9090")).is_empty());
    let mut tls = spec("https://prometheus:9090/prefix");
    tls.ca_file = Some("/ca.pem".into());
    tls.cert_file = Some("/tls.crt".into());
    tls.key_file = Some("/tls.key".into());
    tls.bearer_token_file = Some("/token".into());
    assert!(problems_of(&tls).is_empty(), "{:?}", problems_of(&tls));
}

#[test]
fn problems_name_the_field_and_never_quote_a_header_value() {
    let mut bad = spec("https://bob:hunter2@prometheus:9090?x=1");
    bad.query = " ".to_owned();
    bad.query_parameters = BTreeMap::from([("time".to_owned(), "0".to_owned())]);
    bad.custom_headers = BTreeMap::from([
        ("Authorization".to_owned(), format!("Bearer {TOKEN}")),
        ("bad header".to_owned(), "x".to_owned()),
        ("X-Ok".to_owned(), "line\nbreak".to_owned()),
    ]);
    bad.timeout_seconds = 20;
    bad.bearer_token_file = Some("/token".into());
    bad.basic_auth = Some(BasicAuth {
        username: "u".to_owned(),
        password_file: "/p".into(),
    });
    bad.cert_file = Some("/tls.crt".into());
    bad.unsafe_ssl = true;
    bad.ca_file = Some("/ca.pem".into());
    let problems = problems_of(&bad);
    let expected = [
        "serverAddress: must not hold credentials",
        "serverAddress: must have no query or fragment",
        "query: must be a PromQL expression",
        "queryParameters: `time` is set by the scaler",
        "customHeaders: `Authorization` carries credentials",
        "customHeaders: `bad header` is not a header name",
        "customHeaders: the value of `X-Ok` is not a valid header value",
        "timeoutSeconds: 20 exceeds pollIntervalSeconds (15)",
        "basicAuth: cannot be combined with bearerTokenFile",
        "certFile: certFile and keyFile go together",
        "unsafeSsl: skips verification",
    ];
    for needle in expected {
        assert!(
            problems.iter().any(|p| p.starts_with(needle)),
            "missing `{needle}` in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    assert_no_secret(&problems);
    assert!(problems.iter().all(|p| !p.contains("hunter2")));
}

#[test]
fn tls_settings_on_plain_http_and_zero_intervals_are_problems() {
    let mut plain = spec("http://prometheus:9090");
    plain.unsafe_ssl = true;
    plain.poll_interval_seconds = 0;
    plain.timeout_seconds = 0;
    assert_eq!(
        problems_of(&plain),
        [
            "serverAddress: is http://, so unsafeSsl, caFile, certFile and keyFile have no effect: use https://",
            "timeoutSeconds: must be at least 1",
            "pollIntervalSeconds: must be at least 1",
        ]
    );
    assert!(problems_of(&spec("prometheus:9090"))[0].starts_with("serverAddress: must be an http"));
    assert!(
        problems_of(&spec("ftp://prometheus"))[0].starts_with("serverAddress: must be an http")
    );
}

const DOCUMENT: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: checkout}
spec:
  scalableTarget: {minCapacity: 1, maxCapacity: 20}
  metrics:
    activeUsers:
      prometheus:
        serverAddress: http://prometheus.monitoring:9090
        query: sum(app_active_sessions{app="checkout"})
        queryParameters: {dedup: "true"}
        customHeaders: {X-Scope-OrgID: shop}
        bearerTokenFile: /var/run/secrets/prometheus/token
  policies:
  - policyName: active-users-per-task
    targetTracking: {metric: activeUsers, perTask: true, targetValue: 500}
"#;

#[test]
fn a_document_with_a_prometheus_metric_compiles_with_the_defaults() {
    let set = load_str(DOCUMENT, "test").unwrap();
    let metric = &set.metrics[0];
    let crate::policy::document::MetricSpec::Prometheus(spec) = &metric.source else {
        panic!("{:?}", metric.source);
    };
    assert!(spec.ignore_null_values);
    assert_eq!(spec.timeout_seconds, 5);
    assert!(!spec.unsafe_ssl);
    assert_eq!(
        (
            spec.period,
            spec.poll_interval_seconds,
            spec.stale_after_seconds
        ),
        (60, 15, None)
    );
    assert_eq!(metric.source.stale_after_seconds(), Some(45));
    assert_eq!(metric.source.kind(), "prometheus");
    let key = SourceHub::key_for(&set, 0);
    assert_eq!(key.kind(), "prometheus");
    assert_eq!(
        key.to_string(),
        r#"prometheus:http://prometheus.monitoring:9090 sum(app_active_sessions{app="checkout"})"#
    );
}

#[test]
fn the_same_query_with_another_period_shares_its_key_and_another_header_does_not() {
    let a = spec("http://prometheus:9090");
    let mut b = a.clone();
    b.period = 300;
    b.stale_after_seconds = Some(600);
    assert_eq!(a.key(), b.key());
    b.custom_headers
        .insert("X-Scope-OrgID".to_owned(), "other".to_owned());
    assert_ne!(a.key(), b.key());
}

#[test]
fn invalid_prometheus_metrics_fail_validation_with_field_paths() {
    let text = DOCUMENT
        .replace("query: sum", "query: \"\"\n        unused: sum")
        .replace("http://prometheus", "https://prometheus");
    let error = load_str(&text, "test").unwrap_err().to_string();
    assert!(
        error.contains("spec.metrics.activeUsers") && error.contains("unknown field `unused`"),
        "{error}"
    );

    let text = DOCUMENT.replace(
        "bearerTokenFile",
        "timeoutSeconds: 60\n        bearerTokenFile",
    );
    let error = load_str(&text, "test").unwrap_err().to_string();
    assert!(
        error.contains("spec.metrics.activeUsers.prometheus.timeoutSeconds: 60 exceeds"),
        "{error}"
    );
}

#[tokio::test]
async fn the_hub_polls_the_query_into_the_feed() {
    let server = serve(200, &vector(&["640"])).await;
    let text = DOCUMENT
        .replace("http://prometheus.monitoring:9090", &server.address())
        .replace(
            "        bearerTokenFile: /var/run/secrets/prometheus/token\n",
            "",
        );
    let set = load_str(&text, "test").unwrap();
    let hub = SourceHub::new(
        Arc::new(SystemClock),
        Arc::new(crate::telemetry::Metrics::new()),
    );
    let feed = hub.subscribe(&set, 0);
    let second = hub.subscribe(&set, 0);
    assert_eq!(hub.len(), 1, "one poller for both subscribers");
    tokio::time::timeout(Duration::from_secs(5), async {
        while feed.borrow().datapoints.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a datapoint within 5 s");
    let state = feed.borrow().clone();
    assert_eq!(state.datapoints[0].value, 640.0);
    assert!(state.last_error.is_none());
    assert_eq!(server.last().headers["x-scope-orgid"], "shop");
    assert_eq!(server.param("dedup").as_deref(), Some("true"));
    drop((feed, second));
    hub.release_unused();
    assert!(hub.is_empty());
}

#[test]
fn the_readme_example_is_a_valid_prometheus_metric() {
    let readme = include_str!("../../../README.md");
    let row = readme
        .lines()
        .find(|line| line.starts_with("| `metrics.<name>.prometheus`"))
        .expect("the README documents the prometheus metric");
    let example = row
        .split("Example: `")
        .nth(1)
        .and_then(|rest| rest.split("` |").next())
        .expect("the row ends with an example");
    let document = DOCUMENT.replace(
        &DOCUMENT
            [DOCUMENT.find("    activeUsers:").unwrap()..DOCUMENT.find("  policies:").unwrap()],
        &format!("    {example}\n"),
    );
    let set = load_str(&document, "README").unwrap();
    assert_eq!(set.metrics[0].source.kind(), "prometheus");
    // Every key the README names is a key of the spec.
    for key in [
        "serverAddress",
        "query",
        "ignoreNullValues",
        "queryParameters",
        "customHeaders",
        "unsafeSsl",
        "timeoutSeconds",
        "bearerTokenFile",
        "basicAuth",
        "caFile",
        "certFile",
        "keyFile",
        "period",
        "pollIntervalSeconds",
        "staleAfterSeconds",
    ] {
        assert!(
            row.contains(&format!("`{key}")),
            "{key} is not in the README row"
        );
    }
}
