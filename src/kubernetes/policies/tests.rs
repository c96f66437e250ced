use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::clock::SystemClock;
use crate::controller::ControllerConfig;
use crate::kubernetes::testing::{self, expired, list, next};
use crate::registry::RegistryConfig;
use crate::sources::hub::SourceHub;
use crate::telemetry::Metrics;

fn registry() -> Arc<Registry> {
    Registry::new(RegistryConfig {
        hub: SourceHub::new(Arc::new(SystemClock), Arc::new(Metrics::new())),
        clock: Arc::new(SystemClock),
        metrics: Arc::new(Metrics::new()),
        controller: ControllerConfig {
            tick: Duration::from_secs(3600),
        },
        initial_capacity: None,
        source_description: "the cluster's ScalingPolicySets".to_owned(),
    })
}

/// A ScalingPolicySet as the API server returns it.
fn policy_set(namespace: &str, name: &str, max: i64, version: &str) -> Value {
    json!({
        "apiVersion": "ecs-scaler.dev/v1alpha1",
        "kind": "ScalingPolicySet",
        "metadata": {
            "name": name, "namespace": namespace, "resourceVersion": version,
            "uid": format!("uid-{namespace}-{name}"), "generation": 1,
            "creationTimestamp": "2026-11-28T10:00:00Z",
        },
        "spec": {
            "scalableTarget": {"minCapacity": 1, "maxCapacity": max},
            "metrics": {"activeUsers": {"push": {"period": 60}}},
            "policies": [{"policyName": "users", "targetTracking":
                {"metric": "activeUsers", "perTask": true, "targetValue": 500}}],
        },
    })
}

fn resource(value: Value) -> Arc<ScalingPolicySetResource> {
    Arc::new(serde_json::from_value(value).unwrap())
}

fn max_of(registry: &Registry, namespace: &str, name: &str) -> Option<u32> {
    registry.get(namespace, name).map(|h| h.set.max_capacity)
}

#[tokio::test]
async fn sync_serves_valid_resources_and_keeps_the_last_good_version_of_invalid_ones() {
    let registry = registry();
    let report = sync(
        &[
            resource(policy_set("shop", "orders", 10, "1")),
            resource(policy_set("default", "checkout", 20, "2")),
        ],
        &registry,
    );
    assert_eq!(
        report,
        SyncReport {
            loaded: 2,
            failed: vec![]
        }
    );
    assert_eq!(max_of(&registry, "shop", "orders"), Some(10));

    // Edited into an invalid document (min > max): logged, the last good version stays.
    let mut broken = policy_set("shop", "orders", 10, "3");
    broken["spec"]["scalableTarget"]["minCapacity"] = 50.into();
    let report = sync(
        &[
            resource(broken),
            resource(policy_set("default", "checkout", 20, "2")),
        ],
        &registry,
    );
    assert_eq!(report.loaded, 1);
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].starts_with("shop/orders: "),
        "{:?}",
        report.failed
    );
    assert_eq!(max_of(&registry, "shop", "orders"), Some(10));

    // Deleted: no longer served.
    sync(
        &[resource(policy_set("default", "checkout", 20, "2"))],
        &registry,
    );
    assert_eq!(max_of(&registry, "shop", "orders"), None);
    assert_eq!(registry.len(), 1);
}

async fn until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..3000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test(start_paused = true)]
async fn policy_sets_are_watched_edited_and_resynced_after_a_watch_error() {
    let registry = registry();
    let (client, mut api) = testing::client();
    let task = tokio::spawn(watch_policy_sets(client, registry.clone()));

    let call = next(&mut api).await;
    assert_eq!(call.method, "GET");
    assert_eq!(call.path, "/apis/ecs-scaler.dev/v1alpha1/scalingpolicysets");
    assert!(!call.has_param("watch=true"));
    call.reply(
        200,
        &list(
            "ecs-scaler.dev/v1alpha1",
            "ScalingPolicySet",
            "10",
            &[policy_set("shop", "orders", 10, "9")],
        ),
    );
    until("listed", || max_of(&registry, "shop", "orders") == Some(10)).await;

    let call = next(&mut api).await;
    assert!(
        call.has_param("watch=true") && call.has_param("resourceVersion=10"),
        "{}",
        call.query
    );
    let feed = call.stream();
    // Edited: the new maximum is served.
    feed.event("MODIFIED", &policy_set("shop", "orders", 30, "11"))
        .await;
    until("edited", || max_of(&registry, "shop", "orders") == Some(30)).await;
    // Created.
    feed.event("ADDED", &policy_set("default", "checkout", 20, "12"))
        .await;
    until("created", || {
        max_of(&registry, "default", "checkout") == Some(20)
    })
    .await;

    // The watch expires; the relist no longer has `shop/orders` (deleted meanwhile).
    feed.event("ERROR", &expired()).await;
    drop(feed);
    let call = next(&mut api).await;
    assert!(!call.has_param("watch=true"), "a relist: {}", call.query);
    assert_eq!(
        max_of(&registry, "shop", "orders"),
        Some(30),
        "served during the relist"
    );
    call.reply(
        200,
        &list(
            "ecs-scaler.dev/v1alpha1",
            "ScalingPolicySet",
            "20",
            &[policy_set("default", "checkout", 20, "12")],
        ),
    );
    until("resynced", || max_of(&registry, "shop", "orders").is_none()).await;
    assert_eq!(max_of(&registry, "default", "checkout"), Some(20));
    task.abort();
}

fn scaled_object(namespace: &str, name: &str, metadata: Value, target: Value) -> Value {
    json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "5", "uid": format!("so-{name}")},
        "spec": {
            "scaleTargetRef": target,
            "triggers": [{"type": "external-push", "name": "ecs-desired", "metricType": "AverageValue",
                          "metadata": metadata}],
        },
    })
}

#[tokio::test(start_paused = true)]
async fn scaled_objects_resolve_scale_targets_and_capacity_is_read_from_them() {
    let (client, mut api) = testing::client();
    let (objects, task) = ScaledObjects::watch(client.clone());
    let task = tokio::spawn(task);
    let call = next(&mut api).await;
    assert_eq!(call.path, "/apis/keda.sh/v1alpha1/scaledobjects");
    call.reply(
        200,
        &list(
            "keda.sh/v1alpha1",
            "ScaledObject",
            "5",
            &[
                scaled_object(
                    "shop",
                    "orders-so",
                    json!({"scalerAddress": "ecs-scaler.keda.svc:9090", "policy": "orders"}),
                    json!({"name": "orders-api"}),
                ),
                scaled_object(
                    "web",
                    "front",
                    json!({"scalerAddress": "ecs-scaler.keda.svc:9090", "policy": "front",
                       "policyNamespace": "shared"}),
                    json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "front"}),
                ),
                scaled_object(
                    "shop",
                    "inline",
                    json!({"scalerAddress": "ecs-scaler.keda.svc:9090", "targetValue": "10"}),
                    json!({"name": "inline-app"}),
                ),
            ],
        ),
    );
    tokio::time::timeout(Duration::from_secs(5), objects.ready())
        .await
        .unwrap();
    let id = |namespace: &str, name: &str| PolicySetId::new(namespace, name);
    assert_eq!(
        objects.target_for(&id("shop", "orders")).map(|t| t.name),
        Some("orders-api".into())
    );
    let front = objects.target_for(&id("shared", "front")).unwrap();
    assert_eq!(front.kind.as_deref(), Some("StatefulSet"));
    assert_eq!(
        objects.target_for(&id("shop", "inline")).map(|t| t.name),
        Some("inline-app".into())
    );
    assert_eq!(objects.target_for(&id("shop", "other")), None);

    // A policy set without scaleTargetRef reads the capacity of its ScaledObject's target.
    let source = KubeCapacitySource::new(client, Some(objects));
    let document =
        to_document(&serde_json::from_value(policy_set("shop", "orders", 10, "1")).unwrap());
    let set = compile(&document).unwrap();
    let view = source.view(&set).expect("a target");
    assert_eq!(view.observe(), None, "unknown until listed");
    let call = next(&mut api).await;
    // The ScaledObject watch and the Deployment list may interleave: skip the former.
    let call = if call.path.contains("scaledobjects") {
        next(&mut api).await
    } else {
        call
    };
    assert_eq!(call.path, "/apis/apps/v1/namespaces/shop/deployments");
    assert!(
        call.has_param("fieldSelector=metadata.name=orders-api"),
        "{}",
        call.query
    );
    call.reply(200, &list("apps/v1", "Deployment", "3", &[json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "orders-api", "namespace": "shop", "resourceVersion": "3", "generation": 1},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "orders-api"}},
                 "template": {"metadata": {"labels": {"app": "orders-api"}},
                              "spec": {"containers": [{"name": "app", "image": "orders-api:1"}]}}},
        "status": {"replicas": 4, "updatedReplicas": 4, "readyReplicas": 4, "observedGeneration": 1},
    })]));
    until("capacity observed", || {
        view.observe().map(|o| o.current) == Some(4)
    })
    .await;
    task.abort();
}
