//! Prometheus instant queries (KEDA's `prometheus` scaler, polled in the background).
//!
//! Every poll sends `GET {serverAddress}/api/v1/query?query=...&time=<now>` (plus
//! `queryParameters`) and expects exactly one series: its value is one sample. Keys follow KEDA's
//! scaler where the concept is the same (`serverAddress`, `query`, `ignoreNullValues`,
//! `queryParameters`, `customHeaders`, `unsafeSsl`); the timeout is `timeoutSeconds` (KEDA's
//! `timeout` is in milliseconds, so the name differs on purpose).
//!
//! - An empty result, `NaN` or an infinite value is missing data when `ignoreNullValues` is true
//!   (the default; ECS does not scale on missing data, where KEDA would report 0), an error
//!   when it is false.
//! - More than one series, a range vector or a string is an error naming what came back; so is
//!   a `status` other than `success`, with Prometheus's `errorType` and `error`.
//! - Credentials come from files, read at every poll so that a rotated token is picked up:
//!   `bearerTokenFile`, or `basicAuth: {username, passwordFile}`. The key, logs, errors and
//!   metric labels only ever hold their paths; an error text that echoes a secret is redacted.
//! - TLS (rustls with ring): the system's roots plus `caFile`, a client certificate from
//!   `certFile`/`keyFile`, or no verification at all with `unsafeSsl`. These files are read
//!   when the poller builds its client (at its first successful poll).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, SubsecRound};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use tracing::debug;

use super::poller::{Poll, PollFuture};
use super::{Observation, SourceError};
use crate::clock::Clock;

/// The most of an answer that is read: one series is a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// The longest timeout a fetch may have (the poller's own limit).
pub const MAX_TIMEOUT_SECONDS: u32 = 30;

/// A Prometheus instant query as a metric source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusSpec {
    /// Base URL of the Prometheus HTTP API, e.g. `http://prometheus.monitoring:9090` (a path
    /// prefix is kept: `https://example.com/prometheus`).
    pub server_address: String,
    /// PromQL returning exactly one series (or a scalar).
    pub query: String,
    /// An empty result, `NaN` or an infinite value is missing data (true, default) or an error.
    #[serde(default = "yes")]
    pub ignore_null_values: bool,
    /// Extra URL parameters, e.g. `{dedup: "true"}` for Thanos.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_parameters: BTreeMap<String, String>,
    /// Extra request headers, e.g. `{X-Scope-OrgID: team-a}` (not for credentials: they are
    /// part of the document).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_headers: BTreeMap<String, String>,
    /// Seconds a query may take (default 5; at most the poll interval and 30).
    #[serde(default = "five")]
    pub timeout_seconds: u32,
    /// Skip TLS certificate verification (default false).
    #[serde(default)]
    pub unsafe_ssl: bool,
    /// File holding a bearer token, sent as `Authorization: Bearer <token>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// Basic authentication with the password read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// PEM file of CA certificates trusted in addition to the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate chain (with `keyFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (with `certFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Period in seconds the samples are aggregated into (default 60).
    #[serde(default = "sixty")]
    pub period: u32,
    /// Seconds between two polls (default 15).
    #[serde(default = "fifteen")]
    pub poll_interval_seconds: u32,
    /// Seconds without a successful poll before the policy set is unavailable (default 3 polls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after_seconds: Option<u32>,
}

/// Basic authentication: a user name and the file holding the password.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// File holding the password (a trailing newline is ignored).
    pub password_file: PathBuf,
}

fn yes() -> bool {
    true
}

fn five() -> u32 {
    5
}

fn sixty() -> u32 {
    60
}

fn fifteen() -> u32 {
    15
}

/// Headers that carry credentials: they belong in files, not in the document.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

impl PrometheusSpec {
    /// The key that makes identical queries share one poller: everything that changes what is
    /// fetched or how, never a credential (only the files holding them).
    pub fn key(&self) -> PrometheusKey {
        PrometheusKey {
            server_address: self.server_address.clone(),
            query: self.query.clone(),
            ignore_null_values: self.ignore_null_values,
            query_parameters: self.query_parameters.clone(),
            custom_headers: self.custom_headers.clone(),
            timeout_seconds: self.timeout_seconds,
            unsafe_ssl: self.unsafe_ssl,
            bearer_token_file: self.bearer_token_file.clone(),
            basic_auth: self.basic_auth.clone(),
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            poll_interval_seconds: self.poll_interval_seconds,
        }
    }

    /// Problems with the spec, as `(field, message)` pairs. Messages never quote a header value.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        match reqwest::Url::parse(&self.server_address) {
            Err(error) => problems.push((
                "serverAddress",
                format!("must be an http:// or https:// URL ({error})"),
            )),
            Ok(url) => {
                if !matches!(url.scheme(), "http" | "https") {
                    problems.push(("serverAddress", "must be an http:// or https:// URL".into()));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    problems.push((
                        "serverAddress",
                        "must not hold credentials: use basicAuth.passwordFile or bearerTokenFile"
                            .into(),
                    ));
                }
                if url.query().is_some() || url.fragment().is_some() {
                    problems.push((
                        "serverAddress",
                        "must have no query or fragment: use queryParameters".into(),
                    ));
                }
                let tls_settings = self.unsafe_ssl
                    || self.ca_file.is_some()
                    || self.cert_file.is_some()
                    || self.key_file.is_some();
                if url.scheme() == "http" && tls_settings {
                    problems.push((
                        "serverAddress",
                        "is http://, so unsafeSsl, caFile, certFile and keyFile have no effect: use https://"
                            .into(),
                    ));
                }
            }
        }
        if self.query.trim().is_empty() {
            problems.push(("query", "must be a PromQL expression".into()));
        }
        for name in self.query_parameters.keys() {
            if name == "query" || name == "time" {
                problems.push((
                    "queryParameters",
                    format!("`{name}` is set by the scaler and cannot be overridden"),
                ));
            }
        }
        for (name, value) in &self.custom_headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push(("customHeaders", format!("`{name}` is not a header name")));
            } else if CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                problems.push((
                    "customHeaders",
                    format!(
                        "`{name}` carries credentials: use bearerTokenFile or basicAuth, which read them from files"
                    ),
                ));
            } else if HeaderValue::from_str(value).is_err() {
                problems.push((
                    "customHeaders",
                    format!("the value of `{name}` is not a valid header value"),
                ));
            }
        }
        if self.timeout_seconds == 0 {
            problems.push(("timeoutSeconds", "must be at least 1".into()));
        } else if self.timeout_seconds > MAX_TIMEOUT_SECONDS.min(self.poll_interval_seconds.max(1))
        {
            problems.push((
                "timeoutSeconds",
                format!(
                    "{} exceeds pollIntervalSeconds ({}) or {MAX_TIMEOUT_SECONDS}: a query never outlives its poll",
                    self.timeout_seconds, self.poll_interval_seconds
                ),
            ));
        }
        if self.poll_interval_seconds == 0 {
            problems.push(("pollIntervalSeconds", "must be at least 1".into()));
        }
        if self.bearer_token_file.is_some() && self.basic_auth.is_some() {
            problems.push((
                "basicAuth",
                "cannot be combined with bearerTokenFile: both set the Authorization header".into(),
            ));
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            problems.push((
                "certFile",
                "certFile and keyFile go together (a client certificate and its key)".into(),
            ));
        }
        if self.unsafe_ssl && self.ca_file.is_some() {
            problems.push((
                "unsafeSsl",
                "skips verification, so caFile would be ignored: use one of them".into(),
            ));
        }
        problems
    }
}

/// What identifies one Prometheus poller. Holds the paths of secret files, never their content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrometheusKey {
    /// Base URL of the API.
    pub server_address: String,
    /// The PromQL query.
    pub query: String,
    /// Empty and non-finite results are missing data.
    pub ignore_null_values: bool,
    /// Extra URL parameters.
    pub query_parameters: BTreeMap<String, String>,
    /// Extra headers.
    pub custom_headers: BTreeMap<String, String>,
    /// Query timeout.
    pub timeout_seconds: u32,
    /// TLS verification skipped.
    pub unsafe_ssl: bool,
    /// Bearer token file.
    pub bearer_token_file: Option<PathBuf>,
    /// Basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// Extra CA certificates.
    pub ca_file: Option<PathBuf>,
    /// Client certificate.
    pub cert_file: Option<PathBuf>,
    /// Client key.
    pub key_file: Option<PathBuf>,
    /// Poll interval.
    pub poll_interval_seconds: u32,
}

impl fmt::Display for PrometheusKey {
    /// `{serverAddress} {query}`: for logs and metric labels.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.server_address, self.query)
    }
}

/// Polls one query.
pub struct PrometheusPoller {
    key: PrometheusKey,
    clock: Arc<dyn Clock>,
    client: OnceCell<reqwest::Client>,
}

impl fmt::Debug for PrometheusPoller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusPoller")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The credentials of one request, read from their files; redacted from every message.
struct Credentials {
    authorization: Option<HeaderValue>,
    secrets: Vec<String>,
}

impl Credentials {
    fn redact(&self, message: String) -> String {
        self.secrets
            .iter()
            .filter(|secret| !secret.is_empty())
            .fold(message, |message, secret| {
                message.replace(secret.as_str(), "<redacted>")
            })
    }
}

impl PrometheusPoller {
    /// A poller for `key`; its HTTP client is built at the first poll.
    pub fn new(key: PrometheusKey, clock: Arc<dyn Clock>) -> Self {
        Self {
            key,
            clock,
            client: OnceCell::new(),
        }
    }

    fn query_url(&self) -> Result<reqwest::Url, SourceError> {
        let base = self.key.server_address.trim_end_matches('/');
        let mut url = reqwest::Url::parse(&format!("{base}/api/v1/query"))
            .map_err(|error| SourceError::Failed(format!("serverAddress is not a URL: {error}")))?;
        url.query_pairs_mut()
            .extend_pairs(&self.key.query_parameters);
        Ok(url)
    }

    async fn credentials(&self) -> Result<Credentials, SourceError> {
        if let Some(path) = &self.key.bearer_token_file {
            let token = read_secret(path, "bearerTokenFile").await?;
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                SourceError::Failed(format!(
                    "bearerTokenFile {}: the token is not a valid header value",
                    path.display()
                ))
            })?;
            value.set_sensitive(true);
            return Ok(Credentials {
                authorization: Some(value),
                secrets: vec![token],
            });
        }
        if let Some(basic) = &self.key.basic_auth {
            let password = read_secret(&basic.password_file, "basicAuth.passwordFile").await?;
            let encoded = base64(format!("{}:{password}", basic.username).as_bytes());
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
                SourceError::Failed("basicAuth: not a valid header value".to_owned())
            })?;
            value.set_sensitive(true);
            return Ok(Credentials {
                authorization: Some(value),
                secrets: vec![password, encoded],
            });
        }
        Ok(Credentials {
            authorization: None,
            secrets: Vec::new(),
        })
    }

    async fn fetch(&self) -> Result<Vec<Observation>, SourceError> {
        let client = self
            .client
            .get_or_try_init(|| async { build_client(&self.key) })
            .await?;
        let credentials = self.credentials().await?;
        // The evaluation time sent, to the millisecond, is the sample's timestamp.
        let now = self.clock.now().trunc_subsecs(3);
        let mut url = self.query_url()?;
        url.query_pairs_mut()
            .append_pair("query", &self.key.query)
            .append_pair("time", &now.to_rfc3339_opts(SecondsFormat::Millis, true));
        let mut request = client.get(url);
        if let Some(authorization) = &credentials.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let answer = self
            .exchange(request)
            .await
            .map_err(|error| redact_error(error, &credentials))?;
        let value = parse_answer(&answer, self.key.ignore_null_values)
            .map_err(|error| redact_error(error, &credentials))?;
        match value {
            Some(value) => Ok(vec![Observation::sample(now, value)]),
            None => {
                debug!(source = %self.key, "Prometheus query returned no value: missing data.");
                Ok(Vec::new())
            }
        }
    }

    /// Sends the request and reads the answer (at most [`MAX_ANSWER_BYTES`]).
    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Answer, SourceError> {
        let mut response = request
            .send()
            .await
            .map_err(|error| self.transport_error(error))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.transport_error(error))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(SourceError::BadAnswer(format!(
                    "the answer is larger than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status: status.as_u16(),
            body,
        })
    }

    fn transport_error(&self, error: reqwest::Error) -> SourceError {
        if error.is_timeout() {
            return SourceError::Timeout(u64::from(self.key.timeout_seconds));
        }
        let server = &self.key.server_address;
        let connect = error.is_connect();
        let chain = error_chain(&error.without_url());
        SourceError::Failed(if connect {
            format!("cannot connect to {server}: {chain}")
        } else {
            format!("request to {server} failed: {chain}")
        })
    }
}

impl Poll for PrometheusPoller {
    fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.key.poll_interval_seconds.max(1)))
    }

    fn poll(&self) -> PollFuture<'_> {
        Box::pin(self.fetch())
    }
}

/// An HTTP answer: status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// The envelope of every Prometheus API answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiAnswer {
    status: String,
    #[serde(default)]
    data: Option<ApiData>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiData {
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (serde_json::Value, String),
}

/// The value an answer holds: `None` is missing data.
fn parse_answer(answer: &Answer, ignore_null_values: bool) -> Result<Option<f64>, SourceError> {
    let parsed: ApiAnswer = match serde_json::from_slice(&answer.body) {
        Ok(parsed) => parsed,
        Err(error) => {
            let snippet = snippet(&answer.body);
            return Err(match answer.status {
                429 => SourceError::Throttled(format!("HTTP 429: {snippet}")),
                200..=299 => SourceError::BadAnswer(format!(
                    "not a Prometheus API answer ({error}): {snippet}"
                )),
                status => SourceError::Failed(format!("HTTP {status}: {snippet}")),
            });
        }
    };
    if parsed.status != "success" {
        let error_type = parsed.error_type.as_deref().unwrap_or("unknown");
        let error = parsed.error.as_deref().unwrap_or("no message");
        let message = format!(
            "Prometheus answered status `{}` (HTTP {}), {error_type}: {error}",
            parsed.status, answer.status
        );
        return Err(if answer.status == 429 {
            SourceError::Throttled(message)
        } else {
            SourceError::Failed(message)
        });
    }
    let data = parsed
        .data
        .ok_or_else(|| SourceError::BadAnswer("a success without `data`".to_owned()))?;
    let raw = match data.result_type.as_str() {
        "vector" => {
            let series: Vec<Series> = serde_json::from_value(data.result).map_err(|error| {
                SourceError::BadAnswer(format!("unexpected vector result: {error}"))
            })?;
            match series.as_slice() {
                [] if ignore_null_values => return Ok(None),
                [] => {
                    return Err(SourceError::BadAnswer(
                        "the query returned no series (ignoreNullValues is false)".to_owned(),
                    ));
                }
                [one] => one.value.1.clone(),
                many => {
                    let shown: Vec<String> =
                        many.iter().take(3).map(|s| labels(&s.metric)).collect();
                    let more = if many.len() > 3 { ", ..." } else { "" };
                    return Err(SourceError::BadAnswer(format!(
                        "the query returned {} series, expected exactly one: {}{more}; aggregate it (sum, max, ...)",
                        many.len(),
                        shown.join(", ")
                    )));
                }
            }
        }
        "scalar" => {
            let (_, value): (serde_json::Value, String) = serde_json::from_value(data.result)
                .map_err(|error| {
                    SourceError::BadAnswer(format!("unexpected scalar result: {error}"))
                })?;
            value
        }
        other => {
            return Err(SourceError::BadAnswer(format!(
                "the query returned a {other}, expected an instant vector with one series"
            )));
        }
    };
    let value: f64 = raw
        .parse()
        .map_err(|_| SourceError::BadAnswer(format!("the value `{raw}` is not a number")))?;
    if value.is_finite() {
        Ok(Some(value))
    } else if ignore_null_values {
        Ok(None)
    } else {
        Err(SourceError::BadAnswer(format!(
            "the value is {raw} (ignoreNullValues is false)"
        )))
    }
}

/// `{a="1", b="2"}`.
fn labels(metric: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = metric.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// The start of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    crate::text::abbreviate(text, 200)
}

fn redact_error(error: SourceError, credentials: &Credentials) -> SourceError {
    match error {
        SourceError::Throttled(m) => SourceError::Throttled(credentials.redact(m)),
        SourceError::Timeout(s) => SourceError::Timeout(s),
        SourceError::BadAnswer(m) => SourceError::BadAnswer(credentials.redact(m)),
        SourceError::Failed(m) => SourceError::Failed(credentials.redact(m)),
    }
}

/// An error and its causes, `a: b: c`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Reads a secret file; errors name the file, never its content.
async fn read_secret(path: &Path, field: &str) -> Result<String, SourceError> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|error| SourceError::Failed(format!("{field} {}: {error}", path.display())))?;
    let secret = text.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        return Err(SourceError::Failed(format!(
            "{field} {} is empty",
            path.display()
        )));
    }
    Ok(secret)
}

/// Standard base64 with padding (for basic authentication).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn tls_error(what: impl fmt::Display) -> SourceError {
    SourceError::Failed(format!("TLS setup: {what}"))
}

fn read_certificates(
    path: &Path,
    field: &str,
) -> Result<Vec<CertificateDer<'static>>, SourceError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| tls_error(format_args!("{field} {}: {error}", path.display())))?;
    if certificates.is_empty() {
        return Err(tls_error(format_args!(
            "{field} {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

/// The HTTP client of one poller: rustls with ring, the key's TLS settings, custom headers and
/// the timeout.
fn build_client(key: &PrometheusKey) -> Result<reqwest::Client, SourceError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let https = key.server_address.starts_with("https://");
    let builder = if key.unsafe_ssl {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else if https {
        let extra = match &key.ca_file {
            Some(path) => read_certificates(path, "caFile")?,
            None => Vec::new(),
        };
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
            .map_err(tls_error)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    } else {
        // Plain HTTP: no TLS happens, so no roots are needed (an image may have none).
        builder.with_root_certificates(rustls::RootCertStore::empty())
    };
    let mut config = match (&key.cert_file, &key.key_file) {
        (Some(cert_file), Some(key_file)) => {
            let chain = read_certificates(cert_file, "certFile")?;
            let private_key = PrivateKeyDer::from_pem_file(key_file).map_err(|error| {
                tls_error(format_args!("keyFile {}: {error}", key_file.display()))
            })?;
            builder
                .with_client_auth_cert(chain, private_key)
                .map_err(|error| tls_error(format_args!("certFile/keyFile: {error}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in &key.custom_headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            SourceError::Failed(format!("customHeaders: `{name}` is not a header name"))
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            SourceError::Failed(format!("customHeaders: the value of `{name}` is not valid"))
        })?;
        headers.insert(name, value);
    }
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(u64::from(key.timeout_seconds.max(1))))
        .default_headers(headers)
        .user_agent(concat!("ecs-scaler/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| SourceError::Failed(format!("HTTP client: {}", error_chain(&error))))
}

/// `unsafeSsl`: any certificate is accepted; handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests;
