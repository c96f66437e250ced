//! TokenReview and SubjectAccessReview against the scripted API server: what is sent, what is
//! accepted, what is cached and for how long (paused time), and what happens when the API
//! server fails.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::kubernetes::testing::{self, Call, Handle};
use crate::push_auth::tests::capture_logs;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXB1c2gtdG9rZW4.c2lnbmF0dXJl";
const USER: &str = "system:serviceaccount:shop:web";
const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

fn authorizer() -> (Arc<ClusterAuthorizer>, Handle) {
    let (client, handle) = testing::client();
    (
        Arc::new(ClusterAuthorizer::new(client, DEFAULT_AUDIENCE)),
        handle,
    )
}

/// `authorize` in a task, so that the test can play the API server meanwhile.
fn start(
    auth: &Arc<ClusterAuthorizer>,
    token: &str,
    access: Access,
) -> tokio::task::JoinHandle<Result<(), Denial>> {
    let auth = auth.clone();
    let token = token.to_owned();
    tokio::spawn(async move { auth.authorize(&token, &access).await })
}

fn token_review_status(status: &Value) -> Value {
    json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": {},
        "spec": {}, "status": status,
    })
}

fn authenticated(audiences: &[&str]) -> Value {
    token_review_status(&json!({
        "authenticated": true,
        "audiences": audiences,
        "user": {
            "username": USER,
            "uid": "0b5e3c4e-8a47-4b6b-9d2e-1f0c7a1d2e3f",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"],
            "extra": {"authentication.kubernetes.io/pod-name": ["web-7d4b9c-x2x9z"]},
        },
    }))
}

fn access_review(allowed: bool) -> Value {
    json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "metadata": {},
        "spec": {}, "status": {"allowed": allowed, "reason": if allowed { "RBAC: allowed" } else { "" }},
    })
}

fn api_failure() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500,
    })
}

/// Takes the TokenReview the client sends and checks it.
async fn token_review(handle: &mut Handle) -> Call {
    let call = testing::next(handle).await;
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", TOKEN_REVIEWS)
    );
    assert_eq!(call.body["spec"]["token"], TOKEN);
    assert_eq!(call.body["spec"]["audiences"], json!(["ecs-scaler"]));
    call
}

/// Takes the SubjectAccessReview the client sends and returns its spec.
async fn subject_access_review(handle: &mut Handle) -> (Call, Value) {
    let call = testing::next(handle).await;
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", ACCESS_REVIEWS)
    );
    let spec = call.body["spec"].clone();
    (call, spec)
}

#[tokio::test(start_paused = true)]
async fn an_allowed_push_is_reviewed_once_then_served_from_the_cache() {
    let (auth, mut handle) = authorizer();
    let push = Access::push("shop", "web");
    let task = start(&auth, TOKEN, push.clone());
    token_review(&mut handle)
        .await
        .reply(201, &authenticated(&["ecs-scaler"]));
    let (call, spec) = subject_access_review(&mut handle).await;
    // The user as the TokenReview gave it, and the push's permission on the CRD's resource.
    assert_eq!(spec["user"], USER);
    assert_eq!(spec["uid"], "0b5e3c4e-8a47-4b6b-9d2e-1f0c7a1d2e3f");
    assert_eq!(spec["groups"][1], "system:serviceaccounts:shop");
    assert_eq!(
        spec["extra"]["authentication.kubernetes.io/pod-name"],
        json!(["web-7d4b9c-x2x9z"])
    );
    assert_eq!(
        spec["resourceAttributes"],
        json!({
            "verb": "create", "group": "ecs-scaler.dev", "resource": "scalingpolicysets",
            "subresource": "metrics", "namespace": "shop", "name": "web",
        })
    );
    call.reply(201, &access_review(true));
    assert_eq!(task.await.unwrap(), Ok(()));
    assert_eq!(auth.stats().api_calls, 2);

    // The steady state: no API call (the mock would hang the task, and the test, if one was made).
    for _ in 0..3 {
        assert_eq!(auth.authorize(TOKEN, &push).await, Ok(()));
    }
    assert_eq!(
        auth.stats(),
        ReviewStats {
            api_calls: 2,
            cache_hits: 6
        }
    );

    // After the allowed TTL (60 s) the access is reviewed again, the identity (120 s) is not.
    tokio::time::advance(Duration::from_secs(61)).await;
    let task = start(&auth, TOKEN, push.clone());
    let (call, _) = subject_access_review(&mut handle).await;
    call.reply(201, &access_review(true));
    assert_eq!(task.await.unwrap(), Ok(()));
    // After the identity's TTL, the token is reviewed again too.
    tokio::time::advance(Duration::from_secs(60)).await;
    let task = start(&auth, TOKEN, push);
    token_review(&mut handle)
        .await
        .reply(201, &authenticated(&["ecs-scaler"]));
    let (call, _) = subject_access_review(&mut handle).await;
    call.reply(201, &access_review(true));
    assert_eq!(task.await.unwrap(), Ok(()));
    assert_eq!(auth.stats().api_calls, 5);
}

#[tokio::test(start_paused = true)]
async fn a_denied_access_is_403_naming_the_user_and_permission_and_is_cached_briefly() {
    let (auth, mut handle) = authorizer();
    let push = Access::push("shop", "orders-api");
    let task = start(&auth, TOKEN, push.clone());
    token_review(&mut handle)
        .await
        .reply(201, &authenticated(&["ecs-scaler"]));
    let (call, spec) = subject_access_review(&mut handle).await;
    assert_eq!(spec["resourceAttributes"]["name"], "orders-api");
    call.reply(201, &access_review(false));
    let denial = task.await.unwrap().unwrap_err();
    assert_eq!(
        denial.to_string(),
        "forbidden: system:serviceaccount:shop:web may not create scalingpolicysets/metrics \
         shop/orders-api"
    );
    // Cached: refused again without a call.
    assert_eq!(auth.authorize(TOKEN, &push).await, Err(denial));
    assert_eq!(auth.stats().api_calls, 2);
    // For 10 s only: a RoleBinding created meanwhile takes effect.
    tokio::time::advance(Duration::from_secs(11)).await;
    let task = start(&auth, TOKEN, push);
    let (call, _) = subject_access_review(&mut handle).await;
    call.reply(201, &access_review(true));
    assert_eq!(task.await.unwrap(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn reads_and_lists_ask_for_get_and_list_on_the_policy_sets() {
    let (auth, mut handle) = authorizer();
    let task = start(&auth, TOKEN, Access::read("shop", "web"));
    token_review(&mut handle)
        .await
        .reply(201, &authenticated(&["ecs-scaler"]));
    let (call, spec) = subject_access_review(&mut handle).await;
    assert_eq!(
        spec["resourceAttributes"],
        json!({"verb": "get", "group": "ecs-scaler.dev", "resource": "scalingpolicysets",
               "namespace": "shop", "name": "web"})
    );
    call.reply(201, &access_review(true));
    assert_eq!(task.await.unwrap(), Ok(()));
    // Another access of the same token: its identity comes from the cache.
    let task = start(&auth, TOKEN, Access::list());
    let (call, spec) = subject_access_review(&mut handle).await;
    assert_eq!(
        spec["resourceAttributes"],
        json!({"verb": "list", "group": "ecs-scaler.dev", "resource": "scalingpolicysets"})
    );
    call.reply(201, &access_review(false));
    assert_eq!(
        task.await.unwrap().unwrap_err().to_string(),
        "forbidden: system:serviceaccount:shop:web may not list scalingpolicysets in all namespaces"
    );
}

#[tokio::test(start_paused = true)]
async fn a_token_for_another_audience_is_401() {
    for audiences in [&[][..], &["https://kubernetes.default.svc"][..]] {
        let (auth, mut handle) = authorizer();
        let task = start(&auth, TOKEN, Access::push("shop", "web"));
        token_review(&mut handle)
            .await
            .reply(201, &authenticated(audiences));
        assert_eq!(
            task.await.unwrap(),
            Err(Denial::Unauthenticated(INVALID_TOKEN)),
            "{audiences:?}"
        );
        assert_eq!(auth.stats().api_calls, 1, "no access review");
    }
}

#[tokio::test(start_paused = true)]
async fn an_expired_or_unknown_token_is_401_and_cached_briefly() {
    let (logs, _guard) = capture_logs();
    let (auth, mut handle) = authorizer();
    let push = Access::push("shop", "web");
    let task = start(&auth, TOKEN, push.clone());
    token_review(&mut handle).await.reply(
        201,
        &token_review_status(&json!({
            "authenticated": false,
            "error": format!("[invalid bearer token, service account token has expired: {TOKEN}]"),
        })),
    );
    let denial = task.await.unwrap().unwrap_err();
    assert_eq!(denial, Denial::Unauthenticated(INVALID_TOKEN));
    assert!(!denial.to_string().contains(TOKEN));
    assert_eq!(auth.authorize(TOKEN, &push).await, Err(denial));
    assert_eq!(auth.stats().api_calls, 1, "the refusal is cached");
    tokio::time::advance(Duration::from_secs(11)).await;
    let task = start(&auth, TOKEN, push);
    token_review(&mut handle)
        .await
        .reply(201, &token_review_status(&json!({"authenticated": false})));
    assert!(task.await.unwrap().is_err());
    logs.assert_no_secret(TOKEN);
}

#[tokio::test(start_paused = true)]
async fn a_failing_api_server_refuses_new_tokens_with_503_and_serves_cached_answers() {
    let (logs, _guard) = capture_logs();
    let (auth, mut handle) = authorizer();
    let push = Access::push("shop", "web");
    let task = start(&auth, TOKEN, push.clone());
    token_review(&mut handle)
        .await
        .reply(201, &authenticated(&["ecs-scaler"]));
    subject_access_review(&mut handle)
        .await
        .0
        .reply(201, &access_review(true));
    assert_eq!(task.await.unwrap(), Ok(()));

    // The API server fails: a new token is refused with 503, and nothing is cached for it.
    let other = "another-token";
    let task = start(&auth, other, push.clone());
    testing::next(&mut handle).await.reply(500, &api_failure());
    let denial = task.await.unwrap().unwrap_err();
    assert!(matches!(denial, Denial::Unavailable(_)), "{denial:?}");
    assert!(denial.to_string().contains("did not answer"), "{denial}");
    // The API server does not answer at all: 503 after the call timeout.
    let task = start(&auth, other, push.clone());
    let _unanswered = testing::next(&mut handle).await;
    let denial = task.await.unwrap().unwrap_err();
    assert!(matches!(denial, Denial::Unavailable(_)), "{denial:?}");

    // The cached token is still served, without a call.
    let calls = auth.stats().api_calls;
    assert_eq!(auth.authorize(TOKEN, &push).await, Ok(()));
    assert_eq!(auth.stats().api_calls, calls);
    // Until its answers expire: then it is refused with 503 too.
    tokio::time::advance(Duration::from_secs(61)).await;
    let task = start(&auth, TOKEN, push);
    testing::next(&mut handle).await.reply(500, &api_failure());
    assert!(matches!(task.await.unwrap(), Err(Denial::Unavailable(_))));
    assert!(
        logs.text().contains("SubjectAccessReview failed"),
        "{}",
        logs.text()
    );
    logs.assert_no_secret(TOKEN);
    logs.assert_no_secret(other);
}

#[tokio::test(start_paused = true)]
async fn the_caches_are_bounded() {
    let (client, mut handle) = testing::client();
    let auth = Arc::new(ClusterAuthorizer::new(client, DEFAULT_AUDIENCE).with_cache_entries(2));
    for token in ["a", "b", "c"] {
        let task = start(&auth, token, Access::push("shop", "web"));
        testing::next(&mut handle)
            .await
            .reply(201, &token_review_status(&json!({"authenticated": false})));
        assert!(task.await.unwrap().is_err());
    }
    assert_eq!(super::lock(&auth.identities).len(), 2);
}

/// A JWT-shaped token whose payload has `exp` (the signature is the API server's business).
fn jwt(exp: i64) -> String {
    use base64::Engine;
    let payload = json!({"aud": ["ecs-scaler"], "exp": exp, "sub": USER}).to_string();
    format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.c2lnbmF0dXJl",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
    )
}

#[test]
fn an_identity_is_not_kept_past_the_tokens_expiry() {
    let ttl = Duration::from_secs(120);
    let now = 1_800_000_000;
    assert_eq!(
        identity_ttl(&jwt(now + 30), ttl, now),
        Duration::from_secs(30)
    );
    assert_eq!(identity_ttl(&jwt(now + 3600), ttl, now), ttl);
    assert_eq!(identity_ttl(&jwt(now - 5), ttl, now), Duration::ZERO);
    assert_eq!(
        identity_ttl(TOKEN, ttl, now),
        ttl,
        "not a JWT with exp: the TTL"
    );
    assert_eq!(identity_ttl("opaque", ttl, now), ttl);
    assert_eq!(identity_ttl("a.%%%.c", ttl, now), ttl);
}

#[tokio::test(start_paused = true)]
async fn a_token_expiring_soon_is_reviewed_again_when_it_expires() {
    let (auth, mut handle) = authorizer();
    let token = jwt(chrono::Utc::now().timestamp() + 30);
    let push = Access::push("shop", "web");
    let task = start(&auth, &token, push.clone());
    let call = testing::next(&mut handle).await;
    assert_eq!(call.body["spec"]["token"], token.as_str());
    call.reply(201, &authenticated(&["ecs-scaler"]));
    subject_access_review(&mut handle)
        .await
        .0
        .reply(201, &access_review(true));
    assert_eq!(task.await.unwrap(), Ok(()));
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(
        auth.authorize(&token, &push).await,
        Ok(()),
        "cached before exp"
    );
    // Past exp the API server is asked again (and now says it has expired).
    tokio::time::advance(Duration::from_secs(11)).await;
    let task = start(&auth, &token, push);
    testing::next(&mut handle)
        .await
        .reply(201, &token_review_status(&json!({"authenticated": false})));
    assert_eq!(
        task.await.unwrap(),
        Err(Denial::Unauthenticated(INVALID_TOKEN))
    );
}

#[tokio::test(start_paused = true)]
async fn reviews_in_flight_are_bounded_and_cached_tokens_do_not_wait() {
    let (client, mut handle) = testing::client();
    let auth = Arc::new(
        ClusterAuthorizer::new(client, DEFAULT_AUDIENCE)
            .with_max_in_flight(1)
            .with_ttls(ReviewTtls {
                rejected: Duration::from_secs(600),
                ..ReviewTtls::default()
            }),
    );
    let push = Access::push("shop", "web");
    let cached = start(&auth, "known", push.clone());
    testing::next(&mut handle)
        .await
        .reply(201, &token_review_status(&json!({"authenticated": false})));
    assert!(cached.await.unwrap().is_err());

    // Two new tokens at once: the second review waits for the first to be answered.
    let first = start(&auth, "made-up-1", push.clone());
    let second = start(&auth, "made-up-2", push.clone());
    let call = testing::next(&mut handle).await;
    let waiting = tokio::time::timeout(Duration::from_secs(1), handle.next_request()).await;
    assert!(
        waiting.is_err(),
        "a second review was sent while one is in flight"
    );
    // A cached token is answered meanwhile.
    assert!(auth.authorize("known", &push).await.is_err());
    call.reply(201, &token_review_status(&json!({"authenticated": false})));
    testing::next(&mut handle)
        .await
        .reply(201, &token_review_status(&json!({"authenticated": false})));
    assert!(first.await.unwrap().is_err() && second.await.unwrap().is_err());
    assert_eq!(auth.stats().api_calls, 3);
}
