use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::kubernetes::testing::{self, expired, list, next, not_found};

fn deployment(replicas: i32, generation: i64, observed: i64, updated: i32, ready: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "orders-api", "namespace": "shop", "uid": "0d1c5f3e-7a1b-4c55-9d0e-1a2b3c4d5e6f",
            "resourceVersion": format!("{}", 100 + generation * 10 + observed),
            "generation": generation,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "orders-api"}},
            "template": {
                "metadata": {"labels": {"app": "orders-api"}},
                "spec": {"containers": [{"name": "app", "image": "orders-api:1"}]},
            },
        },
        "status": {
            "observedGeneration": observed, "replicas": replicas.max(ready),
            "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
        },
    })
}

fn target(api_version: Option<&str>, kind: Option<&str>, name: &str) -> ScaleTargetRef {
    ScaleTargetRef {
        api_version: api_version.map(str::to_owned),
        kind: kind.map(str::to_owned),
        name: name.to_owned(),
    }
}

/// Waits until the view's state satisfies `check`.
async fn until(view: &KubeCapacity, what: &str, check: impl Fn(Option<TargetState>) -> bool) {
    let mut changes = view.subscribe();
    tokio::time::timeout(
        Duration::from_secs(30),
        changes.wait_for(|state| check(*state)),
    )
    .await
    .unwrap_or_else(|_| panic!("never observed: {what}; last state {:?}", view.state()))
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn deployment_scaled_by_the_hpa_rollout_watch_error_and_resync() {
    let (client, mut api) = testing::client();
    let (view, task) = KubeCapacity::watch(client, "shop", &target(None, None, "orders-api"));
    let task = tokio::spawn(task);
    assert_eq!(view.observe(), None, "unknown before the first list");

    // The reflector lists the one Deployment, by name.
    let call = next(&mut api).await;
    call.assert_lists_named("/apis/apps/v1/namespaces/shop/deployments", "orders-api");
    call.reply(
        200,
        &list("apps/v1", "Deployment", "100", &[deployment(3, 1, 1, 3, 3)]),
    );
    until(&view, "3 replicas", |s| {
        s.is_some_and(|s| s.spec_replicas == 3)
    })
    .await;
    assert_eq!(
        view.observe(),
        Some(CapacityObservation {
            current: 3,
            rollout_in_progress: false
        })
    );

    // Then watches from the list's resource version.
    let call = next(&mut api).await;
    assert!(call.has_param("watch=true"), "{}", call.query);
    assert!(call.has_param("resourceVersion=100"), "{}", call.query);
    let feed = call.stream();

    // The HPA scales to 5: spec changes first, the Deployment controller catches up.
    feed.event("MODIFIED", &deployment(5, 2, 1, 3, 3)).await;
    until(&view, "5 replicas", |s| {
        s.is_some_and(|s| s.spec_replicas == 5)
    })
    .await;
    assert_eq!(
        view.observe(),
        Some(CapacityObservation {
            current: 5,
            rollout_in_progress: true
        }),
        "scale-in waits until the controller observed the new generation"
    );
    feed.event("MODIFIED", &deployment(5, 2, 2, 5, 5)).await;
    until(&view, "settled at 5", |s| {
        s.is_some_and(|s| s.ready_replicas == 5)
    })
    .await;
    let state = view.state().unwrap();
    assert_eq!(
        (state.status_replicas, state.updated_replicas),
        (5, Some(5))
    );
    assert!(!state.rollout_in_progress());

    // A rollout starts: a new template, one pod updated so far.
    feed.event("MODIFIED", &deployment(5, 3, 3, 1, 5)).await;
    until(&view, "rollout", |s| {
        s.is_some_and(|s| s.updated_replicas == Some(1))
    })
    .await;
    assert_eq!(
        view.observe(),
        Some(CapacityObservation {
            current: 5,
            rollout_in_progress: true
        })
    );

    // The watch expires: the reflector relists; the last state stays meanwhile.
    feed.event("ERROR", &expired()).await;
    drop(feed);
    let call = next(&mut api).await;
    assert_eq!(call.path, "/apis/apps/v1/namespaces/shop/deployments");
    assert!(
        !call.has_param("watch=true"),
        "a list, not a watch: {}",
        call.query
    );
    assert_eq!(
        view.observe().map(|o| o.current),
        Some(5),
        "kept during the relist"
    );
    call.reply(
        200,
        &list("apps/v1", "Deployment", "200", &[deployment(6, 4, 4, 6, 6)]),
    );
    until(&view, "resynced at 6", |s| {
        s.is_some_and(|s| s.spec_replicas == 6)
    })
    .await;
    assert!(!view.state().unwrap().rollout_in_progress());

    // Deleted: the capacity is unknown again.
    let call = next(&mut api).await;
    assert!(call.has_param("resourceVersion=200"), "{}", call.query);
    let feed = call.stream();
    feed.event("DELETED", &deployment(6, 4, 4, 6, 6)).await;
    until(&view, "gone", |s| s.is_none()).await;
    assert_eq!(view.observe(), None);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn stateful_set_is_watched_too() {
    let (client, mut api) = testing::client();
    let (view, task) = KubeCapacity::watch(
        client,
        "db",
        &target(Some("apps/v1"), Some("StatefulSet"), "pg"),
    );
    let task = tokio::spawn(task);
    let call = next(&mut api).await;
    assert_eq!(call.path, "/apis/apps/v1/namespaces/db/statefulsets");
    let set = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "pg", "namespace": "db", "resourceVersion": "7", "generation": 2},
        "spec": {"replicas": 2, "serviceName": "pg", "selector": {"matchLabels": {"app": "pg"}},
                 "template": {"metadata": {"labels": {"app": "pg"}},
                              "spec": {"containers": [{"name": "pg", "image": "postgres:17"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "observedGeneration": 2},
    });
    call.reply(200, &list("apps/v1", "StatefulSet", "7", &[set]));
    until(&view, "2 replicas", |s| s.is_some()).await;
    let state = view.state().unwrap();
    assert_eq!((state.spec_replicas, state.ready_replicas), (2, 1));
    assert!(!state.rollout_in_progress());
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn other_kinds_are_read_through_their_scale_subresource() {
    let (client, mut api) = testing::client();
    let rollout = target(Some("argoproj.io/v1alpha1"), Some("Rollout"), "web");
    let (view, task) = KubeCapacity::watch(client, "default", &rollout);
    let task = tokio::spawn(task);
    let call = next(&mut api).await;
    assert_eq!(call.method, "GET");
    assert_eq!(
        call.path,
        "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/web/scale"
    );
    call.reply(
        200,
        &json!({
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 4}, "status": {"replicas": 3, "selector": "app=web"},
        }),
    );
    until(&view, "4 replicas", |s| s.is_some()).await;
    assert_eq!(
        view.observe(),
        Some(CapacityObservation {
            current: 4,
            rollout_in_progress: false
        })
    );
    assert_eq!(view.state().unwrap().status_replicas, 3);

    // Polled again after the interval; a deleted target is unknown capacity.
    let call = next(&mut api).await;
    assert_eq!(
        call.path,
        "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/web/scale"
    );
    call.reply(404, &not_found("web"));
    until(&view, "gone", |s| s.is_none()).await;
    task.abort();
}

#[test]
fn target_kinds() {
    assert_eq!(
        TargetKind::of(&target(None, None, "a")),
        TargetKind::Deployment
    );
    assert_eq!(
        TargetKind::of(&target(None, Some("StatefulSet"), "a")),
        TargetKind::StatefulSet
    );
    assert_eq!(
        TargetKind::of(&target(Some("argoproj.io/v1alpha1"), Some("Rollout"), "a")),
        TargetKind::Scalable(GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"))
    );
}
