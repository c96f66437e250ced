//! HTTP routes, called in-process through the router.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::clock::SystemClock;
use crate::controller::ControllerConfig;
use crate::policy::load::load_str;
use crate::registry::{Origin, RegistryConfig};
use crate::sources::hub::SourceHub;
use crate::telemetry::Metrics;

const POLICY: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: checkout, namespace: shop}
spec:
  scalableTarget: {minCapacity: 1, maxCapacity: 20}
  metrics:
    activeUsers: {push: {period: 60}}
  policies:
  - policyName: users-per-task
    targetTracking: {metric: activeUsers, perTask: true, targetValue: 500}
"#;

fn app() -> (Router, Arc<Registry>) {
    app_with(BodyLimits::default())
}

fn app_with(limits: BodyLimits) -> (Router, Arc<Registry>) {
    let registry = Registry::new(RegistryConfig {
        hub: SourceHub::new(Arc::new(SystemClock), Arc::new(Metrics::new())),
        clock: Arc::new(SystemClock),
        metrics: Arc::new(Metrics::new()),
        controller: ControllerConfig {
            tick: Duration::from_millis(10),
        },
        initial_capacity: None,
        source_description: "test".to_owned(),
    });
    registry.insert(load_str(POLICY, "test").unwrap(), Origin::Embedded("test"));
    (
        router_with(registry.clone(), Arc::new(SystemClock), limits),
        registry,
    )
}

async fn call(app: &Router, method: Method, uri: &str, body: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

const PUSH: &str = "/v1/namespaces/shop/policysets/checkout/metrics/activeUsers";

#[tokio::test]
async fn push_accepts_a_datapoint_with_204() {
    let (app, registry) = app();
    let (status, body) = call(&app, Method::PUT, PUSH, r#"{"value": 1200}"#).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let key = SourceKey::Push {
        policy_set: crate::policy::PolicySetId::new("shop", "checkout"),
        metric: "activeUsers".to_owned(),
    };
    let mut seen = Vec::new();
    registry.hub().modify(&key, |feed| {
        seen = feed.datapoints.iter().map(|d| d.value).collect();
    });
    assert_eq!(seen, [1200.0]);
    assert!(registry.metrics().encode().contains(
        "ecs_scaler_pushed_datapoints_total{namespace=\"shop\",policy_set=\"checkout\"} 1"
    ));
}

#[tokio::test]
async fn push_to_unknown_policy_set_or_metric_is_404_with_a_json_error() {
    let (app, _) = app();
    let (status, body) = call(
        &app,
        Method::PUT,
        "/v1/namespaces/shop/policysets/nope/metrics/activeUsers",
        r#"{"value": 1}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains(r#""error":"policy set shop/nope not found""#),
        "{body}"
    );
    let (status, body) = call(
        &app,
        Method::PUT,
        "/v1/namespaces/shop/policysets/checkout/metrics/cpu",
        r#"{"value": 1}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("no metric `cpu`") && body.contains("activeUsers"),
        "{body}"
    );
}

#[tokio::test]
async fn push_with_a_bad_body_is_400_naming_the_problem() {
    let (app, _) = app();
    for (body, expected) in [
        ("", "invalid body"),
        (r#"{"value": "many"}"#, "invalid type"),
        (r#"{"value": 1, "timestamp": "noon"}"#, "invalid"),
        (r#"{"count": 1}"#, "unknown field `count`"),
    ] {
        let (status, response) = call(&app, Method::PUT, PUSH, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error: serde_json::Value = serde_json::from_str(&response).unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
}

#[tokio::test]
async fn decision_view_shows_the_latest_decision_and_reasons() {
    let (app, registry) = app();
    let handle = registry.get("shop", "checkout").unwrap();
    handle
        .subscribe()
        .wait_for(|v| v.decision().is_some())
        .await
        .unwrap();
    let (status, body) = call(
        &app,
        Method::GET,
        "/v1/namespaces/shop/policysets/checkout",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["status"], "Decided");
    assert_eq!(view["desired"], 1);
    assert_eq!(view["reasons"][0]["policy"], "users-per-task");
    assert_eq!(view["reasons"][0]["kind"], "insufficientData");
    let (status, body) = call(&app, Method::GET, "/v1/policysets", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("shop/checkout"), "{body}");
}

#[tokio::test]
async fn health_and_metrics_endpoints_answer() {
    let (app, _) = app();
    assert_eq!(
        call(&app, Method::GET, "/healthz", "").await.0,
        StatusCode::OK
    );
    let (status, body) = call(&app, Method::GET, "/metrics", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("ecs_scaler_policy_sets 1"), "{body}");
}

#[tokio::test]
async fn push_body_over_the_limit_is_413_with_a_json_error() {
    let (app, _registry) = app();
    let body = format!(
        r#"{{"value": 1, "pad": "{}"}}"#,
        "x".repeat(PUSH_BODY_LIMIT)
    );
    let (status, text) = call(&app, Method::PUT, PUSH, &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        json["error"].as_str().unwrap().contains("65536 bytes"),
        "{text}"
    );
}

#[tokio::test]
async fn push_body_limit_is_the_configured_one() {
    let (app, _registry) = app_with(BodyLimits {
        max_push_body_bytes: 40,
        ..BodyLimits::default()
    });
    let (status, text) = call(&app, Method::PUT, PUSH, r#"{"value": 1}"#).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let padded = format!(r#"{{"value": 1, "pad": "{}"}}"#, "x".repeat(40));
    let (status, text) = call(&app, Method::PUT, PUSH, &padded).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(text.contains("larger than 40 bytes"), "{text}");
}

#[tokio::test]
async fn push_body_that_stops_arriving_is_408_after_the_body_timeout() {
    let (app, registry) = app_with(BodyLimits {
        push_body_timeout: Duration::from_millis(200),
        ..BodyLimits::default()
    });
    // Half a body, then nothing: the client stalls without closing.
    let half = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
        br#"{"value": 12"#,
    ))]);
    let stalled = futures_util::StreamExt::chain(half, futures_util::stream::pending());
    let request = Request::builder()
        .method(Method::PUT)
        .uri(PUSH)
        .header("content-type", "application/json")
        .body(Body::from_stream(stalled))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), app.clone().oneshot(request))
        .await
        .expect("answered at the body timeout, not held")
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("not received within 200 ms"), "{text}");
    let key = SourceKey::Push {
        policy_set: crate::policy::PolicySetId::new("shop", "checkout"),
        metric: "activeUsers".to_owned(),
    };
    let mut pushed = usize::MAX;
    registry
        .hub()
        .modify(&key, |feed| pushed = feed.datapoints.len());
    assert_eq!(pushed, 0, "nothing of the half body was recorded");
}

#[tokio::test]
async fn readyz_waits_for_the_load_and_a_first_verdict_of_every_policy_set() {
    let (app, registry) = app();
    let (status, text) = call(&app, Method::GET, "/readyz", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("not loaded"), "{text}");
    registry.mark_loaded();
    let mut ready = false;
    for _ in 0..200 {
        let (status, _) = call(&app, Method::GET, "/readyz", "").await;
        if status == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        ready,
        "ready once the controller published its first verdict"
    );
}

// Push authorization and rate limits.

mod guarded {
    use std::num::NonZeroU32;

    use axum::http::HeaderMap;
    use serde_json::json;

    use super::*;
    use crate::kubernetes::reviews::{ClusterAuthorizer, DEFAULT_AUDIENCE};
    use crate::kubernetes::testing;
    use crate::push_auth::PushAuth;
    use crate::push_auth::rate::PushRateLimit;
    use crate::push_auth::tests::{capture_logs, hex};
    use crate::push_auth::token_file::{TokenFile, Tokens};

    const TOKEN: &str = "checkout-pusher-7f3a9c";
    const OTHER: &str = "web-pusher-1b2c3d";

    fn guarded_app(auth: PushAuth, push_rate: PushRateLimit) -> Router {
        let (_, registry) = app();
        router_configured(
            registry,
            Arc::new(SystemClock),
            HttpConfig {
                auth,
                push_rate,
                ..HttpConfig::default()
            },
        )
    }

    fn token_file() -> PushAuth {
        let text = format!(
            "tokens:\n- sha256: {}\n  policySets: [shop/checkout]\n- sha256: {}\n  policySets: [shop/web, default/*]\n",
            hex(TOKEN),
            hex(OTHER)
        );
        PushAuth::Tokens(TokenFile::fixed(Tokens::parse(&text).unwrap()))
    }

    async fn request(
        app: &Router,
        method: Method,
        uri: &str,
        authorization: Option<&str>,
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let request = request.body(Body::from(r#"{"value": 1}"#)).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn error_of(body: &str) -> String {
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        json["error"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_push_without_a_valid_token_is_401_with_a_bearer_challenge() {
        let app = guarded_app(token_file(), PushRateLimit::default());
        for (authorization, challenge, message) in [
            (
                None,
                r#"Bearer realm="ecs-scaler""#,
                "a bearer token is required: send `Authorization: Bearer <token>`",
            ),
            (
                Some("Bearer not-a-listed-token"),
                r#"Bearer realm="ecs-scaler", error="invalid_token""#,
                "the bearer token is not valid for this scaler",
            ),
            (
                Some("Basic Y2hlY2tvdXQ6cHVzaGVy"),
                r#"Bearer realm="ecs-scaler", error="invalid_request""#,
                "the Authorization header is not `Bearer <token>`",
            ),
        ] {
            let (status, headers, body) = request(&app, Method::PUT, PUSH, authorization).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            assert_eq!(headers["www-authenticate"], challenge, "{authorization:?}");
            assert_eq!(error_of(&body), message);
        }
    }

    #[tokio::test]
    async fn a_token_of_another_policy_set_is_403_naming_the_permission() {
        let (logs, _guard) = capture_logs();
        let app = guarded_app(token_file(), PushRateLimit::default());
        let (status, headers, body) =
            request(&app, Method::PUT, PUSH, Some(&format!("Bearer {OTHER}"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(!headers.contains_key("www-authenticate"));
        assert_eq!(
            error_of(&body),
            "forbidden: this token may not create scalingpolicysets/metrics shop/checkout"
        );
        let (status, _, body) =
            request(&app, Method::PUT, PUSH, Some(&format!("Bearer {TOKEN}"))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        // The token file guards pushes only: decision reads stay open.
        let read = "/v1/namespaces/shop/policysets/checkout";
        assert_eq!(
            request(&app, Method::GET, read, None).await.0,
            StatusCode::OK
        );
        logs.assert_no_secret(TOKEN);
        logs.assert_no_secret(OTHER);
    }

    #[tokio::test(start_paused = true)]
    async fn pushes_over_the_rate_are_429_with_retry_after() {
        let rate = PushRateLimit::per_second(NonZeroU32::new(2).unwrap());
        let app = guarded_app(PushAuth::Open, rate);
        for _ in 0..2 {
            assert_eq!(
                request(&app, Method::PUT, PUSH, None).await.0,
                StatusCode::NO_CONTENT
            );
        }
        let (status, headers, body) = request(&app, Method::PUT, PUSH, None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(
            error_of(&body),
            "more than 2 pushes per second to metric `activeUsers` of shop/checkout; retry in 1 s"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            request(&app, Method::PUT, PUSH, None).await.0,
            StatusCode::NO_CONTENT
        );
    }

    #[tokio::test]
    async fn a_push_over_the_rate_to_an_unknown_metric_is_still_404() {
        let app = guarded_app(
            PushAuth::Open,
            PushRateLimit::per_second(NonZeroU32::new(1).unwrap()),
        );
        let unknown = "/v1/namespaces/shop/policysets/checkout/metrics/cpu";
        for _ in 0..3 {
            assert_eq!(
                request(&app, Method::PUT, unknown, None).await.0,
                StatusCode::NOT_FOUND
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn in_a_cluster_pushes_and_reads_are_reviewed_and_nothing_secret_is_logged() {
        let (logs, _guard) = capture_logs();
        let (client, mut handle) = testing::client();
        let auth = PushAuth::Kubernetes(Arc::new(ClusterAuthorizer::new(client, DEFAULT_AUDIENCE)));
        let app = guarded_app(auth, PushRateLimit::default());
        let bearer = format!("Bearer {TOKEN}");

        // No token: refused before any API call.
        let (status, _, _) = request(&app, Method::PUT, PUSH, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let push = tokio::spawn({
            let (app, bearer) = (app.clone(), bearer.clone());
            async move { request(&app, Method::PUT, PUSH, Some(&bearer)).await }
        });
        let call = testing::next(&mut handle).await;
        assert_eq!(call.body["spec"]["token"], TOKEN);
        call.reply(
            201,
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                    "metadata": {}, "spec": {}, "status": {
                        "authenticated": true, "audiences": ["ecs-scaler"],
                        "user": {"username": "system:serviceaccount:shop:checkout"}}}),
        );
        let call = testing::next(&mut handle).await;
        assert_eq!(
            call.body["spec"]["resourceAttributes"]["subresource"],
            "metrics"
        );
        call.reply(
            201,
            &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                    "metadata": {}, "spec": {}, "status": {"allowed": true}}),
        );
        let (status, _, body) = push.await.unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        // Cached: the next push makes no API call.
        let (status, _, _) = request(&app, Method::PUT, PUSH, Some(&bearer)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        // A decision read needs `get`; this service account may only push.
        let read = tokio::spawn({
            let (app, bearer) = (app.clone(), bearer.clone());
            async move {
                request(
                    &app,
                    Method::GET,
                    "/v1/namespaces/shop/policysets/checkout",
                    Some(&bearer),
                )
                .await
            }
        });
        let call = testing::next(&mut handle).await;
        assert_eq!(call.body["spec"]["resourceAttributes"]["verb"], "get");
        call.reply(
            201,
            &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                    "metadata": {}, "spec": {}, "status": {"allowed": false}}),
        );
        let (status, _, body) = read.await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            error_of(&body),
            "forbidden: system:serviceaccount:shop:checkout may not get scalingpolicysets shop/checkout"
        );

        // The API server fails for a new token: 503, retry soon.
        let push = tokio::spawn({
            let app = app.clone();
            async move { request(&app, Method::PUT, PUSH, Some(&format!("Bearer {OTHER}"))).await }
        });
        testing::next(&mut handle).await.reply(
            503,
            &json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                    "message": "the server is currently unable to handle the request",
                    "reason": "ServiceUnavailable", "code": 503}),
        );
        let (status, headers, body) = push.await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(headers["retry-after"], "1");
        for secret in [TOKEN, OTHER] {
            assert!(
                !body.contains(secret) && !body.contains(&hex(secret)),
                "{body}"
            );
            logs.assert_no_secret(secret);
        }
        assert!(logs.text().contains("Request refused"), "{}", logs.text());
    }
}
