use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::kubernetes::testing::{self, expired, list, next};
use crate::registry::test_registry;
use crate::test_support::until;

fn registry() -> Arc<Registry> {
    test_registry(None, "the cluster's ScalingPolicySets")
}

/// A ScalingPolicySet as the API server returns it (`version` is also its generation).
fn policy_set(namespace: &str, name: &str, max: i64, version: &str) -> Value {
    let generation: i64 = version.parse().unwrap();
    json!({
        "apiVersion": "ecs-scaler.dev/v1alpha1",
        "kind": "ScalingPolicySet",
        "metadata": {
            "name": name, "namespace": namespace, "resourceVersion": version,
            "uid": format!("uid-{namespace}-{name}"), "generation": generation,
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
    let rejected = &report.failed[0];
    assert_eq!(rejected.id, PolicySetId::new("shop", "orders"));
    assert_eq!(rejected.generation, Some(3));
    assert!(
        rejected.errors.contains("minCapacity"),
        "{}",
        rejected.errors
    );
    assert_eq!(max_of(&registry, "shop", "orders"), Some(10));
    assert_eq!(
        generation_of(&registry, "shop", "orders"),
        Some(1),
        "the status reports the generation in service"
    );

    // Deleted: no longer served.
    sync(
        &[resource(policy_set("default", "checkout", 20, "2"))],
        &registry,
    );
    assert_eq!(max_of(&registry, "shop", "orders"), None);
    assert_eq!(registry.len(), 1);
}

fn generation_of(registry: &Registry, namespace: &str, name: &str) -> Option<i64> {
    match registry.origin(&PolicySetId::new(namespace, name)) {
        Some(Origin::Cluster { generation, .. }) => generation,
        _ => None,
    }
}

#[tokio::test]
async fn an_unchanged_generation_is_not_compiled_again_and_a_recreated_resource_is() {
    let registry = registry();
    sync(
        &[resource(policy_set("shop", "orders", 10, "4"))],
        &registry,
    );
    let served = registry.get("shop", "orders").unwrap();
    // Same uid and generation: served as it is (a spec that differs proves it was not read).
    let same_generation = policy_set("shop", "orders", 99, "4");
    let report = sync(&[resource(same_generation)], &registry);
    assert_eq!(report.loaded, 1);
    let handle = registry.get("shop", "orders").unwrap();
    assert!(Arc::ptr_eq(&handle.set, &served.set), "the same controller");
    assert_eq!(max_of(&registry, "shop", "orders"), Some(10));

    // Deleted and created again between two lists: another uid, compiled.
    let mut recreated = policy_set("shop", "orders", 30, "4");
    recreated["metadata"]["uid"] = "uid-new".into();
    sync(&[resource(recreated)], &registry);
    assert_eq!(max_of(&registry, "shop", "orders"), Some(30));

    // A new generation with the same spec keeps its controller and reports the generation.
    let mut touched = policy_set("shop", "orders", 30, "5");
    touched["metadata"]["uid"] = "uid-new".into();
    let before = registry.get("shop", "orders").unwrap();
    sync(&[resource(touched)], &registry);
    let after = registry.get("shop", "orders").unwrap();
    assert!(Arc::ptr_eq(&before.set, &after.set));
    assert_eq!(generation_of(&registry, "shop", "orders"), Some(5));
}

#[tokio::test(start_paused = true)]
async fn policy_sets_are_watched_edited_and_resynced_after_a_watch_error() {
    let registry = registry();
    let (client, mut api) = testing::client();
    let rejections = Rejections::default();
    let task = tokio::spawn(watch_policy_sets(
        client,
        registry.clone(),
        rejections.clone(),
    ));

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
    // Edited into a spec that does not compile: refused and reported, the last good version
    // served; then fixed.
    let checkout = PolicySetId::new("default", "checkout");
    let mut broken = policy_set("default", "checkout", 20, "13");
    broken["spec"]["scalableTarget"]["minCapacity"] = 50.into();
    feed.event("MODIFIED", &broken).await;
    until("refused", || rejections.current().contains_key(&checkout)).await;
    assert_eq!(rejections.current()[&checkout].generation, Some(13));
    assert_eq!(max_of(&registry, "default", "checkout"), Some(20));
    feed.event("MODIFIED", &policy_set("default", "checkout", 25, "14"))
        .await;
    until("fixed", || rejections.current().is_empty()).await;
    assert_eq!(max_of(&registry, "default", "checkout"), Some(25));

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
    reply_orders_api(call, 4);
    until("capacity observed", || {
        view.observe().map(|o| o.current) == Some(4)
    })
    .await;
    task.abort();
}

/// A Deployment as the API server lists it, settled at `replicas`.
fn deployment(namespace: &str, name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "3", "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
        "status": {"replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
                   "observedGeneration": 1},
    })
}

/// Answers the next call, the list of the Deployment `shop/orders-api` the scaler watches, at
/// `replicas`.
async fn list_orders_api(api: &mut testing::Handle, replicas: i64) {
    reply_orders_api(next(api).await, replicas);
}

/// Answers `call`, the list of the Deployment `shop/orders-api`, at `replicas`.
fn reply_orders_api(call: testing::Call, replicas: i64) {
    call.assert_lists_named("/apis/apps/v1/namespaces/shop/deployments", "orders-api");
    call.reply(
        200,
        &list(
            "apps/v1",
            "Deployment",
            "3",
            &[deployment("shop", "orders-api", replicas)],
        ),
    );
}

fn desired_of(registry: &Registry, namespace: &str, name: &str) -> Option<u32> {
    registry
        .get(namespace, name)
        .and_then(|h| h.verdict().decision().map(|d| d.desired))
}

#[tokio::test(start_paused = true)]
async fn a_scaled_object_created_later_moves_its_policy_set_onto_the_target_and_the_watch_stops_with_it()
 {
    let registry = registry();
    let (client, mut api) = testing::client();
    let (objects, task) = ScaledObjects::watch(client.clone());
    let objects_task = tokio::spawn(task);
    let source = Arc::new(KubeCapacitySource::new(client, Some(objects.clone())));
    registry.set_capacity_source(source.clone());
    let following = tokio::spawn(follow_scale_targets(
        objects.clone(),
        Arc::downgrade(&registry),
    ));

    // No ScaledObject yet: the policy set runs on the assumed capacity (its minimum).
    let call = next(&mut api).await;
    assert_eq!(call.path, "/apis/keda.sh/v1alpha1/scaledobjects");
    call.reply(200, &list("keda.sh/v1alpha1", "ScaledObject", "5", &[]));
    objects.ready().await;
    sync(
        &[resource(policy_set("shop", "orders", 10, "1"))],
        &registry,
    );
    until("decided on the assumed capacity", || {
        desired_of(&registry, "shop", "orders") == Some(1)
    })
    .await;
    assert_eq!(source.watched_targets(), 0);

    // The ScaledObject is created: the policy set now reads its Deployment's replicas.
    let call = next(&mut api).await;
    assert!(call.has_param("watch=true"), "{}", call.query);
    let feed = call.stream();
    feed.event(
        "ADDED",
        &scaled_object(
            "shop",
            "orders-so",
            json!({"scalerAddress": "ecs-scaler.keda.svc:9090", "policy": "orders"}),
            json!({"name": "orders-api"}),
        ),
    )
    .await;
    list_orders_api(&mut api, 7).await;
    until("decided from the observed replicas", || {
        desired_of(&registry, "shop", "orders") == Some(7)
    })
    .await;
    assert_eq!(source.watched_targets(), 1);

    // The policy set is deleted: nothing reads the Deployment any more; its watch stops.
    sync(&[], &registry);
    until("the target watch stopped", || source.watched_targets() == 0).await;
    following.abort();
    objects_task.abort();
}

#[tokio::test(start_paused = true)]
async fn an_api_server_outage_mid_run_keeps_the_last_observed_capacity_and_never_scales_in() {
    let registry = registry();
    let (client, mut api) = testing::client();
    let source = Arc::new(KubeCapacitySource::new(client, None));
    registry.set_capacity_source(source.clone());
    let mut document = policy_set("shop", "orders", 10, "1");
    document["spec"]["scaleTargetRef"] = json!({"name": "orders-api"});
    sync(&[resource(document)], &registry);
    list_orders_api(&mut api, 6).await;
    until("decided from 6 replicas", || {
        desired_of(&registry, "shop", "orders") == Some(6)
    })
    .await;

    // The watch connection drops without a word, and the API server answers 500 for a while.
    let call = next(&mut api).await;
    assert!(call.has_param("watch=true"), "{}", call.query);
    drop(call.stream());
    let server_error = json!({"apiVersion": "v1", "kind": "Status", "metadata": {},
        "status": "Failure", "message": "etcdserver: request timed out", "code": 500});
    for attempt in 0..4 {
        let call = next(&mut api).await;
        assert_eq!(call.path, "/apis/apps/v1/namespaces/shop/deployments");
        call.reply(500, &server_error);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let verdict = registry.get("shop", "orders").unwrap().verdict();
        assert_eq!(
            verdict.decision().map(|d| d.desired),
            Some(6),
            "attempt {attempt}: the last observed capacity stays in force: {verdict:?}"
        );
    }

    // The API server is back: the watch resumes and a change shows.
    let call = next(&mut api).await;
    let feed = if call.has_param("watch=true") {
        call.stream()
    } else {
        call.reply(
            200,
            &list(
                "apps/v1",
                "Deployment",
                "9",
                &[deployment("shop", "orders-api", 6)],
            ),
        );
        next(&mut api).await.stream()
    };
    feed.event("MODIFIED", &deployment("shop", "orders-api", 8))
        .await;
    until("decided from 8 replicas", || {
        desired_of(&registry, "shop", "orders") == Some(8)
    })
    .await;
    assert_eq!(source.watched_targets(), 1, "one watch, still running");
}

#[test]
fn each_trigger_names_the_policy_set_the_scaler_serves_it() {
    let id = |metadata: Value| trigger_policy_set("shop", "api", &metadata);
    assert_eq!(
        id(json!({"policy": "orders"})),
        Some(PolicySetId::new("shop", "orders"))
    );
    assert_eq!(
        id(json!({"policy": "orders", "policyNamespace": "ops"})),
        Some(PolicySetId::new("ops", "orders"))
    );
    assert_eq!(
        id(json!({"targetValue": "5"})),
        Some(PolicySetId::new("shop", "api"))
    );
    assert_eq!(
        id(json!({"targetValue": "5", "metricName": "activeUsers"})),
        Some(PolicySetId::new("shop", "api.activeusers"))
    );
    // A key resolved from the workload's environment is not visible here.
    assert_eq!(id(json!({"policyFromEnv": "POLICY"})), None);
    assert_eq!(
        id(json!({"policy": "orders", "policyNamespaceFromEnv": "NS"})),
        None
    );
    assert_eq!(
        id(json!({"targetValue": "5", "metricNameFromEnv": "METRIC"})),
        None
    );
    let object: DynamicObject = serde_json::from_value(scaled_object(
        "shop",
        "api",
        json!({"targetValue": "5", "metricName": "backlog"}),
        json!({"name": "api"}),
    ))
    .unwrap();
    assert_eq!(
        served_policy_sets(&object),
        vec![PolicySetId::new("shop", "api.backlog")]
    );
}
