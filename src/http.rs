//! The HTTP side of the scaler: push endpoint, decisions, health and metrics.
//!
//! | route | what |
//! |---|---|
//! | `PUT /v1/namespaces/{namespace}/policysets/{name}/metrics/{metric}` | push a datapoint: `{"value": 42, "timestamp": "<RFC 3339, optional>"}`; 204, or 404 / 400 / 413 (body over `--max-push-body-bytes`, 64 KiB by default) / 408 (body not received within 10 s) / 429 (over `--push-rate-limit`, with `Retry-After`) with `{"error": ...}` |
//! | `GET /v1/namespaces/{namespace}/policysets/{name}` | the latest decision with its reasons |
//! | `GET /v1/policysets` | every policy set with its desired capacity |
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 once the policy sets are loaded, each polled source has finished a first fetch and each policy set has a first verdict; else 503 with `{"error": ...}` |
//! | `GET /metrics` | Prometheus metrics |
//!
//! Pushes, and in cluster mode decision reads, are authorized by [`crate::push_auth`]: 401 with
//! `WWW-Authenticate: Bearer` when the bearer token is missing or not accepted, 403 naming the
//! permission that is missing, 503 when the Kubernetes API server cannot be asked. The health,
//! readiness and metrics routes stay open (probes and Prometheus call them).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Serialize;
use serde_json::json;
use tracing::{debug, info};

use crate::clock::Clock;
use crate::controller::Verdict;
use crate::engine::reason::ReasonReport;
use crate::push_auth::rate::{PushRateLimit, retry_after_seconds};
use crate::push_auth::{Access, Denial, PushAuth};
use crate::registry::{PolicySetHandle, Registry};
use crate::sources::SourceKey;
use crate::sources::push::parse_body;
use crate::telemetry::PolicySetLabels;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    limits: BodyLimits,
    auth: PushAuth,
    push_rate: PushRateLimit,
}

/// How the HTTP routes guard pushes and reads.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// What a push body may be.
    pub limits: BodyLimits,
    /// Who may push and read.
    pub auth: PushAuth,
    /// Pushes per second to one metric.
    pub push_rate: PushRateLimit,
}

/// The default largest push body accepted, in bytes (`serve --max-push-body-bytes`); a larger
/// one is refused with 413.
pub const PUSH_BODY_LIMIT: usize = 64 * 1024;

/// How long a push body may take to arrive once its headers have: a client that stalls in the
/// middle of its body is answered 408 and its connection closed, rather than held open.
pub const PUSH_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a push body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// The largest body accepted, in bytes.
    pub max_push_body_bytes: usize,
    /// The longest time its bytes may take to arrive.
    pub push_body_timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_push_body_bytes: PUSH_BODY_LIMIT,
            push_body_timeout: PUSH_BODY_TIMEOUT,
        }
    }
}

/// The router of every HTTP route, with the default [`BodyLimits`].
pub fn router(registry: Arc<Registry>, clock: Arc<dyn Clock>) -> Router {
    router_with(registry, clock, BodyLimits::default())
}

/// The router of every HTTP route, pushes unauthenticated.
pub fn router_with(registry: Arc<Registry>, clock: Arc<dyn Clock>, limits: BodyLimits) -> Router {
    router_configured(
        registry,
        clock,
        HttpConfig {
            limits,
            ..HttpConfig::default()
        },
    )
}

/// The router of every HTTP route, guarded as `config` says.
pub fn router_configured(
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    config: HttpConfig,
) -> Router {
    let limits = config.limits;
    Router::new()
        .route(
            "/v1/namespaces/{namespace}/policysets/{name}/metrics/{metric}",
            put(push_datapoint).layer(DefaultBodyLimit::max(limits.max_push_body_bytes)),
        )
        .route(
            "/v1/namespaces/{namespace}/policysets/{name}",
            get(policy_set),
        )
        .route("/v1/policysets", get(policy_sets))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(HttpState {
            registry,
            clock,
            limits,
            auth: config.auth,
            push_rate: config.push_rate,
        })
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// The answer to a refused request (never with the credential or a review's body).
fn denied(denial: &Denial, access: &Access) -> Response {
    let message = denial.to_string();
    match denial {
        Denial::Unauthenticated(_) => {
            debug!(%access, reason = %message, "Request refused: not authenticated.");
            let mut response = error(StatusCode::UNAUTHORIZED, message);
            if let Some(challenge) = denial.challenge() {
                let challenge = HeaderValue::from_static(challenge);
                response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
            }
            response
        }
        Denial::Forbidden { .. } => {
            info!(reason = %message, "Request refused: forbidden.");
            error(StatusCode::FORBIDDEN, message)
        }
        Denial::Unavailable(_) => {
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

fn unknown_policy_set(namespace: &str, name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("policy set {namespace}/{name} not found"),
    )
}

async fn push_datapoint(
    State(state): State<HttpState>,
    Path((namespace, name, metric)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let access = Access::push(&namespace, &name);
    if let Err(denial) = state.auth.authorize(request.headers(), &access).await {
        return denied(&denial, &access);
    }
    let limits = state.limits;
    let Ok(body) =
        tokio::time::timeout(limits.push_body_timeout, Bytes::from_request(request, &())).await
    else {
        return error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body not received within {} ms",
                limits.push_body_timeout.as_millis()
            ),
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body larger than {} bytes",
                    limits.max_push_body_bytes
                ),
            );
        }
        Err(rejection) => {
            return error(
                rejection.status(),
                format!("request body: {}", rejection.body_text()),
            );
        }
    };
    let Some(handle) = state.registry.get(&namespace, &name) else {
        return unknown_policy_set(&namespace, &name);
    };
    let set = &handle.set;
    let Some(definition) = set.metrics.iter().find(|m| m.name == metric) else {
        let known: Vec<&str> = set.metrics.iter().map(|m| m.name.as_str()).collect();
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "policy set {} has no metric `{metric}`; metrics: {known:?}",
                set.id
            ),
        );
    };
    if !definition.source.is_push() {
        return error(
            StatusCode::CONFLICT,
            format!("metric `{metric}` of {} is not a push metric", set.id),
        );
    }
    if let Err(wait) = state.push_rate.check(&namespace, &name, &metric) {
        let seconds = retry_after_seconds(wait);
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "more than {} pushes per second to metric `{metric}` of {}; retry in {seconds} s",
                state.push_rate.rate(),
                set.id
            ),
        );
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    let now = state.clock.now();
    let (timestamp, value) = match parse_body(&body, now) {
        Ok(parsed) => parsed,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let key = SourceKey::Push {
        policy_set: set.id.clone(),
        metric,
    };
    if !state
        .registry
        .hub()
        .modify(&key, |feed| feed.push(timestamp, value, now))
    {
        return error(
            StatusCode::NOT_FOUND,
            format!("policy set {} is being reloaded; retry", set.id),
        );
    }
    state
        .registry
        .metrics()
        .pushed_datapoints
        .get_or_create(&PolicySetLabels::from(&set.id))
        .inc();
    StatusCode::NO_CONTENT.into_response()
}

/// A policy set's latest decision, as `GET /v1/namespaces/{namespace}/policysets/{name}` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionView {
    /// `namespace/name`.
    pub policy_set: String,
    /// The metric name KEDA sees.
    pub metric_name: String,
    /// `Pending`, `Decided` or `Unavailable`.
    pub status: &'static str,
    /// Why no decision can be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_reason: Option<String>,
    /// When the decision was made (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The capacity observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// The desired capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<u32>,
    /// The minimum in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// The maximum in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// One reason per policy.
    pub reasons: Vec<ReasonReport>,
}

impl DecisionView {
    /// The view of a handle's latest verdict.
    pub fn of(handle: &PolicySetHandle) -> Self {
        let verdict = handle.verdict();
        let set = &handle.set;
        let mut view = Self {
            policy_set: set.id.to_string(),
            metric_name: handle.metric_name.to_string(),
            status: "Pending",
            unavailable_reason: None,
            at: None,
            capacity: None,
            desired: None,
            min: None,
            max: None,
            reasons: Vec::new(),
        };
        match verdict.as_ref() {
            Verdict::Pending => {}
            Verdict::Unavailable { reason, .. } => {
                view.status = "Unavailable";
                view.unavailable_reason = Some(reason.clone());
            }
            Verdict::Decided(decision) => {
                view.status = "Decided";
                view.at = Some(decision.at.to_rfc3339());
                view.capacity = Some(decision.capacity);
                view.desired = Some(decision.desired);
                view.min = Some(decision.min);
                view.max = Some(decision.max);
                view.reasons = decision.reasons.iter().map(|r| r.report(set)).collect();
            }
        }
        view
    }
}

async fn policy_set(
    State(state): State<HttpState>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let access = Access::read(&namespace, &name);
    if let Err(denial) = state.auth.authorize(&headers, &access).await {
        return denied(&denial, &access);
    }
    match state.registry.get(&namespace, &name) {
        Some(handle) => axum::Json(DecisionView::of(&handle)).into_response(),
        None => unknown_policy_set(&namespace, &name),
    }
}

async fn policy_sets(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    let access = Access::list();
    if let Err(denial) = state.auth.authorize(&headers, &access).await {
        return denied(&denial, &access);
    }
    let views: Vec<DecisionView> = state.registry.list().iter().map(DecisionView::of).collect();
    axum::Json(views).into_response()
}

async fn readyz(State(state): State<HttpState>) -> Response {
    match state.registry.readiness() {
        Ok(()) => "ready\n".into_response(),
        Err(waiting) => error(StatusCode::SERVICE_UNAVAILABLE, waiting),
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.registry.metrics().encode(),
    )
        .into_response()
}

pub mod server;
#[cfg(test)]
mod tests;
