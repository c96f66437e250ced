use serde_json::{Value, json};

use super::*;
use crate::kubernetes::testing::{self, next, not_found};

const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/ecs-scaler/leases";

fn lease(holder: &str, renewed: &str, version: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "namespace": "ecs-scaler", "resourceVersion": version},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 30,
                 "acquireTime": "2026-11-28T11:00:00.000000Z", "renewTime": renewed,
                 "leaseTransitions": 2},
    })
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[tokio::test]
async fn a_missing_lease_is_created_and_held() {
    let (client, mut api) = testing::client();
    let lock = LeaseLock::new(client, "ecs-scaler", "pod-a", Duration::from_secs(30));
    let (held, ()) = tokio::join!(lock.try_hold(at("2026-11-28T12:00:00Z")), async {
        let call = next(&mut api).await;
        assert_eq!(
            (call.method.as_str(), call.path.as_str()),
            ("GET", &*format!("{PATH}/{LEASE_NAME}"))
        );
        call.reply(404, &not_found(LEASE_NAME));
        let call = next(&mut api).await;
        assert_eq!((call.method.as_str(), call.path.as_str()), ("POST", PATH));
        assert_eq!(call.body["spec"]["holderIdentity"], "pod-a");
        assert_eq!(call.body["spec"]["leaseDurationSeconds"], 30);
        let body = call.body.clone();
        call.reply(201, &body);
    });
    assert!(held.unwrap());
}

#[tokio::test]
async fn a_lease_another_replica_renews_is_not_taken() {
    let (client, mut api) = testing::client();
    let lock = LeaseLock::new(client, "ecs-scaler", "pod-a", Duration::from_secs(30));
    let (held, ()) = tokio::join!(lock.try_hold(at("2026-11-28T12:00:10Z")), async {
        next(&mut api)
            .await
            .reply(200, &lease("pod-b", "2026-11-28T12:00:00.000000Z", "7"));
    });
    assert!(!held.unwrap(), "pod-b renewed 10 s ago, within 30 s");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_with_its_resource_version_and_a_conflict_loses() {
    let (client, mut api) = testing::client();
    let lock = LeaseLock::new(client, "ecs-scaler", "pod-a", Duration::from_secs(30));
    let now = at("2026-11-28T12:01:00Z");
    let (held, ()) = tokio::join!(lock.try_hold(now), async {
        next(&mut api)
            .await
            .reply(200, &lease("pod-b", "2026-11-28T12:00:00.000000Z", "7"));
        let call = next(&mut api).await;
        assert_eq!(call.method, "PUT");
        assert_eq!(call.path, format!("{PATH}/{LEASE_NAME}"));
        assert_eq!(call.body["metadata"]["resourceVersion"], "7");
        assert_eq!(call.body["spec"]["holderIdentity"], "pod-a");
        assert_eq!(call.body["spec"]["leaseTransitions"], 3);
        let body = call.body.clone();
        call.reply(200, &body);
    });
    assert!(held.unwrap());

    // Another replica took it first: 409 Conflict, not held, no error.
    let (held, ()) = tokio::join!(lock.try_hold(now), async {
        next(&mut api)
            .await
            .reply(200, &lease("pod-b", "2026-11-28T12:00:00.000000Z", "8"));
        next(&mut api).await.reply(409, &json!({
            "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "message": "Operation cannot be fulfilled on leases.coordination.k8s.io", "reason": "Conflict", "code": 409,
        }));
    });
    assert!(!held.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_stalled_api_server_is_abandoned_after_the_call_timeout() {
    let (client, mut api) = testing::client();
    let lock = LeaseLock::new(client, "ecs-scaler", "pod-a", Duration::from_secs(30));
    let held = tokio::spawn(async move { lock.try_hold(at("2026-11-28T12:00:00Z")).await });
    // The GET arrives and is never answered.
    let stalled = next(&mut api).await;
    let result = tokio::time::timeout(crate::kubernetes::API_CALL_TIMEOUT * 2, held)
        .await
        .expect("try_hold returns within the call timeout")
        .unwrap();
    assert!(result.is_err(), "an error, not a wait: {result:?}");
    drop(stalled);
}
