use std::time::Duration;

use serde_json::json;

use super::*;
use crate::kubernetes::crd::to_document;
use crate::kubernetes::policies::{Rejected, Rejections};
use crate::kubernetes::testing::{self, next};
use crate::policy::compile;
use crate::registry::{Origin, test_registry};

fn registry() -> Arc<Registry> {
    test_registry(Some(3), "the cluster's ScalingPolicySets")
}

fn checkout() -> CompiledPolicySet {
    let resource: ScalingPolicySetResource = serde_json::from_value(json!({
        "apiVersion": "ecs-scaler.dev/v1alpha1", "kind": "ScalingPolicySet",
        "metadata": {"name": "checkout", "namespace": "default", "resourceVersion": "4"},
        "spec": {
            "scalableTarget": {"minCapacity": 1, "maxCapacity": 20},
            "metrics": {"activeUsers": {"push": {"period": 60}}},
            "policies": [{"policyName": "users", "targetTracking":
                {"metric": "activeUsers", "perTask": true, "targetValue": 500}}],
        },
    }))
    .unwrap();
    compile(&to_document(&resource)).unwrap()
}

/// Serves `checkout` from a resource at `generation` and waits for its first decision.
async fn serve_decided_checkout(registry: &Registry, generation: i64) {
    let handle = registry.insert(
        checkout(),
        Origin::Cluster {
            uid: None,
            generation: Some(generation),
        },
    );
    handle
        .subscribe()
        .wait_for(|v| v.decision().is_some())
        .await
        .unwrap();
}

#[tokio::test]
async fn status_is_applied_server_side_once_per_change() {
    let registry = registry();
    serve_decided_checkout(&registry, 3).await;
    let (client, mut api) = testing::client();
    let mut writer = StatusWriter::new(client, registry.clone());
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();

    let (written, call) =
        tokio::join!(writer.write_changed(now), async {
            let call = next(&mut api).await;
            assert_eq!(call.method, "PATCH");
            assert_eq!(
                call.path,
                "/apis/ecs-scaler.dev/v1alpha1/namespaces/default/scalingpolicysets/checkout/status"
            );
            assert!(call.has_param("fieldManager=ecs-scaler"), "{}", call.query);
            assert!(call.has_param("force=true"), "{}", call.query);
            let body = call.body.clone();
            call.reply(200, &json!({
            "apiVersion": "ecs-scaler.dev/v1alpha1", "kind": "ScalingPolicySet",
            "metadata": {"name": "checkout", "namespace": "default", "resourceVersion": "5"},
            "spec": {"scalableTarget": {"minCapacity": 1, "maxCapacity": 20}},
            "status": body["status"].clone(),
        }));
            body
        });
    assert_eq!(written, 1);
    assert_eq!(call["apiVersion"], "ecs-scaler.dev/v1alpha1");
    assert_eq!(call["kind"], "ScalingPolicySet");
    let status = &call["status"];
    assert_eq!(status["lastDecision"]["desired"], 3);
    assert_eq!(status["observedGeneration"], 3, "the generation served");
    assert_eq!(status["lastDecision"]["min"], 1);
    assert_eq!(status["lastDecision"]["max"], 20);
    assert_eq!(status["conditions"][0]["type"], "Ready");
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(status["conditions"][1]["type"], "SourcesHealthy");
    assert_eq!(
        status["conditions"][0]["lastTransitionTime"],
        "2026-11-28T12:00:00Z"
    );

    // Nothing changed: no request (the mock would never answer one).
    let later = now + chrono::Duration::minutes(1);
    let written = tokio::time::timeout(Duration::from_secs(5), writer.write_changed(later))
        .await
        .expect("no API call when nothing changed");
    assert_eq!(written, 0);
}

#[test]
fn unavailable_keeps_the_last_decision_and_transition_times() {
    let set = checkout();
    let t0: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let t1 = t0 + chrono::Duration::minutes(5);
    let pending = status_of(&set, &Verdict::Pending, None, None, t0);
    assert_eq!(pending.conditions[0].status, "Unknown");
    let stale = Verdict::Unavailable {
        cause: UnavailableCause::SourceStale,
        reason: "metric activeUsers: no datapoint for 300 s".to_owned(),
    };
    let first = status_of(&set, &stale, None, Some(&pending), t0);
    assert_eq!(first.conditions[0].status, "False");
    assert_eq!(first.conditions[1].reason, "SourceUnavailable");
    let again = status_of(&set, &stale, None, Some(&first), t1);
    assert_eq!(
        again.conditions[0].last_transition_time, t0,
        "unchanged condition"
    );
    assert!(same(&first, &again));
    let unknown = Verdict::Unavailable {
        cause: UnavailableCause::CapacityUnknown,
        reason: "the current capacity of the scale target is unknown".to_owned(),
    };
    let capacity = status_of(&set, &unknown, None, Some(&again), t1);
    assert_eq!(capacity.conditions[1].status, "Unknown");
    assert_eq!(
        capacity.conditions[0].last_transition_time, t0,
        "Ready stays False"
    );
}

fn lease_held_by(holder: &str, renewed: DateTime<Utc>) -> serde_json::Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": crate::kubernetes::lease::LEASE_NAME, "namespace": "ecs-scaler",
                     "resourceVersion": "7"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 30,
                 "renewTime": renewed.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()},
    })
}

/// Answers a PATCH of the status with what it applied.
fn echo_status(call: testing::Call) {
    let status = call.body["status"].clone();
    call.reply(
        200,
        &json!({
            "apiVersion": "ecs-scaler.dev/v1alpha1", "kind": "ScalingPolicySet",
            "metadata": {"name": "checkout", "namespace": "default", "resourceVersion": "9"},
            "spec": {"scalableTarget": {"minCapacity": 1, "maxCapacity": 20}},
            "status": status,
        }),
    );
}

#[tokio::test(start_paused = true)]
async fn the_writer_loop_writes_only_while_holding_the_lease_and_rewrites_after_regaining_it() {
    let registry = registry();
    serve_decided_checkout(&registry, 1).await;
    let (client, mut api) = testing::client();
    let lease = LeaseLock::new(
        client.clone(),
        "ecs-scaler",
        "pod-a",
        Duration::from_secs(30),
    );
    let writer = tokio::spawn(StatusWriter::new(client, registry).with_lease(lease).run());
    let leases = "/apis/coordination.k8s.io/v1/namespaces/ecs-scaler/leases";

    // First tick: no Lease yet; created, then the status is written.
    let call = next(&mut api).await;
    assert_eq!(call.method, "GET");
    call.reply(404, &testing::not_found("ecs-scaler-status"));
    let call = next(&mut api).await;
    assert_eq!((call.method.as_str(), call.path.as_str()), ("POST", leases));
    let body = call.body.clone();
    call.reply(201, &body);
    let call = next(&mut api).await;
    assert_eq!(call.method, "PATCH", "the status, once the Lease is held");
    echo_status(call);

    // Next tick: the Lease is renewed (PUT); nothing changed, so no status write.
    let call = next(&mut api).await;
    assert_eq!(call.method, "GET");
    call.reply(200, &lease_held_by("pod-a", Utc::now()));
    let call = next(&mut api).await;
    assert_eq!(call.method, "PUT", "renewed");
    let body = call.body.clone();
    call.reply(200, &body);

    // Another replica took the Lease: nothing written while it holds it.
    let call = next(&mut api).await;
    assert_eq!(call.method, "GET", "not a PATCH: the status is unchanged");
    call.reply(200, &lease_held_by("pod-b", Utc::now()));
    // It stops renewing; this replica takes over and writes every status again.
    let call = next(&mut api).await;
    assert_eq!(call.method, "GET");
    call.reply(
        200,
        &lease_held_by("pod-b", Utc::now() - chrono::Duration::minutes(5)),
    );
    let call = next(&mut api).await;
    assert_eq!(call.method, "PUT");
    assert_eq!(call.body["spec"]["holderIdentity"], "pod-a");
    let body = call.body.clone();
    call.reply(200, &body);
    let call = next(&mut api).await;
    assert_eq!(
        call.method, "PATCH",
        "a replica that held no Lease forgets what it wrote"
    );
    assert_eq!(call.body["status"]["observedGeneration"], 1);
    echo_status(call);
    assert!(!writer.is_finished());
    writer.abort();
}

fn refused(namespace: &str, name: &str, generation: i64) -> Rejected {
    Rejected {
        id: PolicySetId::new(namespace, name),
        generation: Some(generation),
        errors: "spec.scalableTarget.minCapacity: 50 is greater than maxCapacity 20".to_owned(),
    }
}

/// Runs `write_changed` and answers each status PATCH it makes (echoing it); the patched
/// paths and bodies, in order.
async fn write_and_answer(
    writer: &mut StatusWriter,
    api: &mut testing::Handle,
    now: DateTime<Utc>,
) -> Vec<(String, serde_json::Value)> {
    let mut patches = Vec::new();
    let written = {
        let write = writer.write_changed(now);
        tokio::pin!(write);
        loop {
            tokio::select! {
                written = &mut write => break written,
                call = next(api) => {
                    assert_eq!(call.method, "PATCH");
                    patches.push((call.path.clone(), call.body["status"].clone()));
                    echo_status(call);
                }
            }
        }
    };
    assert_eq!(written, patches.len());
    patches
}

#[tokio::test]
async fn a_refused_edit_is_reported_beside_the_generation_still_served_until_fixed() {
    let registry = registry();
    serve_decided_checkout(&registry, 3).await;
    let (client, mut api) = testing::client();
    let rejections = Rejections::default();
    let mut writer = StatusWriter::new(client, registry).with_rejections(rejections.clone());
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let patches = write_and_answer(&mut writer, &mut api, now).await;
    assert_eq!(patches[0].1["conditions"][2]["type"], "Accepted");
    assert_eq!(patches[0].1["conditions"][2]["status"], "True");

    // Generation 4 does not compile: generation 3 is still served, and the status says so.
    rejections.replace(&[refused("default", "checkout", 4)]);
    let later = now + chrono::Duration::minutes(1);
    let patches = write_and_answer(&mut writer, &mut api, later).await;
    assert_eq!(patches.len(), 1);
    let status = &patches[0].1;
    assert_eq!(status["observedGeneration"], 3, "the generation served");
    assert_eq!(status["lastDecision"]["desired"], 3);
    assert_eq!(status["conditions"][0]["status"], "True", "Ready");
    let accepted = &status["conditions"][2];
    assert_eq!(
        (&accepted["type"], &accepted["status"], &accepted["reason"]),
        (&json!("Accepted"), &json!("False"), &json!("InvalidSpec"))
    );
    assert_eq!(
        accepted["message"],
        "generation 4 does not compile: spec.scalableTarget.minCapacity: 50 is greater than \
         maxCapacity 20"
    );
    assert_eq!(accepted["lastTransitionTime"], "2026-11-28T12:01:00Z");
    assert!(
        write_and_answer(&mut writer, &mut api, later)
            .await
            .is_empty(),
        "written once"
    );

    // Nothing refused any more (the sync served a fixed spec, or the edit was undone).
    rejections.replace(&[]);
    let patches = write_and_answer(&mut writer, &mut api, later).await;
    assert_eq!(patches[0].1["conditions"][2]["status"], "True");
}

#[tokio::test]
async fn a_new_resource_that_does_not_compile_gets_a_status_saying_why() {
    let (client, mut api) = testing::client();
    let rejections = Rejections::default();
    rejections.replace(&[refused("shop", "broken", 1)]);
    let mut writer = StatusWriter::new(client, registry()).with_rejections(rejections.clone());
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let patches = write_and_answer(&mut writer, &mut api, now).await;
    assert_eq!(patches.len(), 1);
    let (path, status) = &patches[0];
    assert_eq!(
        path,
        "/apis/ecs-scaler.dev/v1alpha1/namespaces/shop/scalingpolicysets/broken/status"
    );
    assert_eq!(status["conditions"][0]["type"], "Ready");
    assert_eq!(status["conditions"][0]["status"], "False");
    assert_eq!(status["conditions"][0]["reason"], "InvalidSpec");
    assert_eq!(status["conditions"][1]["type"], "Accepted");
    assert_eq!(status["conditions"][1]["status"], "False");
    assert!(status.get("lastDecision").is_none(), "{status}");
    assert!(status.get("observedGeneration").is_none(), "{status}");
    // Deleted: nothing more is written.
    rejections.replace(&[]);
    assert!(
        write_and_answer(&mut writer, &mut api, now)
            .await
            .is_empty()
    );
}

/// A ScaledObject in `default` whose trigger names `checkout`: the README's pass-through
/// ScaledObject, or (`misconfigured`) one with `metricType: Value`, the HPA's default behaviour
/// and a fallback above the policy set's maximum (20).
fn checkout_scaled_object(misconfigured: bool, resource_version: &str) -> serde_json::Value {
    let mut spec = json!({
        "scaleTargetRef": {"name": "checkout"},
        "minReplicaCount": 1,
        "maxReplicaCount": 20,
        "fallback": {"failureThreshold": 3, "replicas": 4},
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
            "scaleUp": {"stabilizationWindowSeconds": 0, "tolerance": 0,
                        "policies": [{"type": "Pods", "value": 1000, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": 0, "tolerance": 0,
                          "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
        }}},
        "triggers": [{"type": "external", "metricType": "AverageValue",
                      "metadata": {"scalerAddress": "ecs-scaler.ecs-scaler.svc:9090", "policy": "checkout"}}],
    });
    if misconfigured {
        spec["triggers"][0]["metricType"] = json!("Value");
        spec["fallback"]["replicas"] = json!(30);
        spec["advanced"] = json!({});
    }
    json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "checkout", "namespace": "default", "uid": "so-checkout",
                     "resourceVersion": resource_version},
        "spec": spec,
    })
}

/// The `Configured` condition of the next status the writer applies; ScaledObject watch
/// requests met on the way are answered with a stream, kept in `feeds`.
async fn next_configured(
    api: &mut testing::Handle,
    feeds: &mut Vec<testing::WatchFeed>,
) -> serde_json::Value {
    loop {
        let call = next(api).await;
        if call.path.contains("scaledobjects") {
            feeds.push(call.stream());
            continue;
        }
        assert_eq!(call.method, "PATCH");
        let body = call.body.clone();
        call.reply(
            200,
            &json!({
                "apiVersion": "ecs-scaler.dev/v1alpha1", "kind": "ScalingPolicySet",
                "metadata": {"name": "checkout", "namespace": "default", "resourceVersion": "9"},
                "spec": {"scalableTarget": {"minCapacity": 1, "maxCapacity": 20}},
                "status": body["status"].clone(),
            }),
        );
        let conditions = body["status"]["conditions"].as_array().unwrap().clone();
        return conditions
            .into_iter()
            .find(|c| c["type"] == "Configured")
            .expect("a Configured condition");
    }
}

#[tokio::test]
async fn configured_says_what_the_scaled_object_naming_the_policy_set_gets_wrong_and_the_fix() {
    let registry = registry();
    serve_decided_checkout(&registry, 3).await;
    let (client, mut api) = testing::client();
    let (objects, task) = ScaledObjects::watch(client.clone());
    let task = tokio::spawn(task);
    let call = next(&mut api).await;
    assert_eq!(call.path, "/apis/keda.sh/v1alpha1/scaledobjects");
    call.reply(
        200,
        &testing::list(
            "keda.sh/v1alpha1",
            "ScaledObject",
            "5",
            &[checkout_scaled_object(true, "5")],
        ),
    );
    tokio::time::timeout(Duration::from_secs(5), objects.ready())
        .await
        .unwrap();
    let mut writer = StatusWriter::new(client, registry.clone())
        .with_scaled_objects(objects.clone())
        .with_tolerance(Tolerance::Honoured);
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let mut feeds = Vec::new();

    let (written, condition) = tokio::join!(
        writer.write_changed(now),
        next_configured(&mut api, &mut feeds)
    );
    assert_eq!(written, 1);
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "HpaWouldNotFollow");
    let message = condition["message"].as_str().unwrap();
    for needle in [
        "default/checkout: spec.triggers[0].metricType: `Value`",
        "fix: `metricType: AverageValue`",
        "spec.fallback.replicas: 30 is above the maxCapacity 20 of policy set default/checkout",
        "behavior.scaleDown.stabilizationWindowSeconds: 300 s (the default)",
        "behavior.scaleUp.tolerance: missing",
    ] {
        assert!(message.contains(needle), "{needle} not in {message}");
    }

    // The ScaledObject is fixed: the condition turns True at the next write.
    let fixed = checkout_scaled_object(false, "6");
    if feeds.is_empty() {
        let call = next(&mut api).await;
        assert!(call.path.contains("scaledobjects"), "{}", call.path);
        feeds.push(call.stream());
    }
    feeds[0].event("MODIFIED", &fixed).await;
    crate::test_support::until("the fixed ScaledObject is seen", || {
        objects.objects()[0]["metadata"]["resourceVersion"] == "6"
    })
    .await;
    let later = now + chrono::Duration::minutes(1);
    let (written, condition) = tokio::join!(
        writer.write_changed(later),
        next_configured(&mut api, &mut feeds)
    );
    assert_eq!(written, 1);
    assert_eq!(condition["status"], "True");
    assert_eq!(condition["reason"], "PassesDecisionsThrough");
    assert_eq!(condition["lastTransitionTime"], "2026-11-28T12:01:00Z");
    task.abort();
}

#[test]
fn configured_is_unknown_while_no_scaled_object_names_the_policy_set() {
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let condition = configured(None, now);
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("Unknown", "NoScaledObject")
    );
    // Findings of a trigger naming another policy set stay with that policy set.
    let mut object = checkout_scaled_object(false, "1");
    object["spec"]["triggers"] = json!([
        {"type": "external", "metricType": "Value",
         "metadata": {"scalerAddress": "x:9090", "policy": "checkout"}},
        {"type": "external", "metricType": "AverageValue",
         "metadata": {"scalerAddress": "x:9090", "policy": "other"}},
    ]);
    let by_set = findings_by_policy_set(&[object], |_| Some(20), Tolerance::Honoured);
    assert_eq!(by_set[&PolicySetId::new("default", "checkout")].len(), 1);
    assert!(by_set[&PolicySetId::new("default", "other")].is_empty());
}
