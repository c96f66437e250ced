//! Registry tests: resolution of trigger metadata, replacement and removal.

use std::collections::HashMap;

use super::*;
use crate::engine::reason::Outcome;
use crate::policy::load::load_str;
use crate::test_support::until;

fn registry() -> Arc<Registry> {
    test_registry(None, "policy directory /policies")
}

fn policy(min: u32) -> CompiledPolicySet {
    load_str(
        &format!(
            "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\n\
             metadata: {{name: orders, namespace: shop}}\n\
             spec:\n  scalableTarget: {{minCapacity: {min}, maxCapacity: 10}}\n"
        ),
        "test",
    )
    .unwrap()
}

fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The first decision of `handle`'s policy set.
async fn decided(handle: &PolicySetHandle) -> Decision {
    let mut verdicts = handle.subscribe();
    let verdict = verdicts
        .wait_for(|v| v.decision().is_some())
        .await
        .unwrap()
        .clone();
    verdict.decision().unwrap().clone()
}

async fn first_decision(handle: &PolicySetHandle) -> u32 {
    decided(handle).await.desired
}

#[tokio::test]
async fn reference_resolves_in_the_scaled_object_namespace() {
    let registry = registry();
    registry.insert(policy(2), Origin::Embedded("test"));
    let handle = registry
        .resolve("shop", "orders-so", &metadata(&[("policy", "orders")]))
        .unwrap();
    assert_eq!(handle.set.id, PolicySetId::new("shop", "orders"));
    assert_eq!(&*handle.metric_name, "ecs-desired-shop-orders");
    assert_eq!(first_decision(&handle).await, 2);
}

#[tokio::test]
async fn unknown_policy_is_not_found_naming_it_and_where_it_was_looked_for() {
    let registry = registry();
    let error = registry
        .resolve("shop", "x", &metadata(&[("policy", "missing")]))
        .unwrap_err();
    assert!(matches!(error, ResolveError::NotFound { .. }));
    let text = error.to_string();
    assert!(text.contains("shop/missing"), "{text}");
    assert!(text.contains("policy directory /policies"), "{text}");
}

#[tokio::test]
async fn inline_metadata_creates_a_policy_set_once_and_recreates_it_when_changed() {
    let registry = registry();
    let m = metadata(&[("targetValue", "10"), ("minCapacity", "3")]);
    let first = registry.resolve("shop", "api", &m).unwrap();
    let again = registry.resolve("shop", "api", &m).unwrap();
    assert!(Arc::ptr_eq(&first.set, &again.set));
    assert_eq!(first_decision(&first).await, 3);
    let changed = metadata(&[("targetValue", "20"), ("minCapacity", "3")]);
    let replaced = registry.resolve("shop", "api", &changed).unwrap();
    assert!(!Arc::ptr_eq(&first.set, &replaced.set));
    assert_eq!(registry.len(), 1);
}

#[tokio::test]
async fn inline_triggers_of_one_scaled_object_get_a_policy_set_each_stable_under_alternation() {
    let registry = registry();
    let users = metadata(&[
        ("targetValue", "10"),
        ("minCapacity", "2"),
        ("metricName", "activeUsers"),
    ]);
    let backlog = metadata(&[
        ("targetValue", "10"),
        ("minCapacity", "4"),
        ("metricNameFromEnv", "backlog"),
    ]);
    let first_users = registry.resolve("shop", "api", &users).unwrap();
    let first_backlog = registry.resolve("shop", "api", &backlog).unwrap();
    assert_eq!(
        first_users.set.id,
        PolicySetId::new("shop", "api.activeusers")
    );
    assert_eq!(
        first_backlog.set.id,
        PolicySetId::new("shop", "api.backlog")
    );
    assert_eq!(&*first_backlog.metric_name, "ecs-desired-shop-api-backlog");
    for _ in 0..4 {
        let u = registry.resolve("shop", "api", &users).unwrap();
        let b = registry.resolve("shop", "api", &backlog).unwrap();
        assert!(Arc::ptr_eq(&u.set, &first_users.set));
        assert!(Arc::ptr_eq(&b.set, &first_backlog.set));
    }
    assert_eq!(first_decision(&first_users).await, 2);
    assert_eq!(first_decision(&first_backlog).await, 4);
    assert_eq!(registry.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn two_live_triggers_with_one_metric_do_not_flap_and_an_edit_still_replaces() {
    let registry = registry();
    let old = metadata(&[("targetValue", "10"), ("minCapacity", "2")]);
    let edited = metadata(&[("targetValue", "10"), ("minCapacity", "4")]);
    let first = registry.resolve("shop", "api", &old).unwrap();
    // An edit replaces the trigger's policy set at once.
    let replaced = registry.resolve("shop", "api", &edited).unwrap();
    assert!(!Arc::ptr_eq(&first.set, &replaced.set));
    assert_eq!(replaced.set.min_capacity, 4);
    // The version it replaced asking again while the new one is in use: another live trigger
    // (or a request of the old one still in flight). It is refused, not served by a rebuild.
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(10)).await;
        let error = registry.resolve("shop", "api", &old).unwrap_err();
        assert!(
            matches!(error, ResolveError::InlineTriggerConflict { .. }),
            "{error}"
        );
        let text = error.to_string();
        assert!(
            text.contains("shop/api") && text.contains("`metricName: value`"),
            "{text}"
        );
        assert!(text.contains("its own `metricName`"), "{text}");
        let current = registry.resolve("shop", "api", &edited).unwrap();
        assert!(Arc::ptr_eq(&current.set, &replaced.set));
    }
    // Once the new version goes unasked for the window (the edit was reverted), the old
    // metadata replaces it.
    tokio::time::advance(INLINE_CONFLICT_WINDOW).await;
    let reverted = registry.resolve("shop", "api", &old).unwrap();
    assert_eq!(reverted.set.min_capacity, 2);
    assert_eq!(registry.len(), 1);
}

#[tokio::test]
async fn inline_metadata_errors_are_reported() {
    let registry = registry();
    let bad_type = registry
        .resolve("shop", "api", &metadata(&[("targetValue", "abc")]))
        .unwrap_err();
    assert!(matches!(bad_type, ResolveError::Metadata(ref e) if e.key == "targetValue"));
    let bad_value = registry
        .resolve("shop", "api", &metadata(&[("targetValue", "-1")]))
        .unwrap_err();
    assert!(
        matches!(bad_value, ResolveError::InlinePolicy(_)),
        "{bad_value}"
    );
    assert!(registry.is_empty());
}

#[tokio::test]
async fn inline_metadata_cannot_shadow_a_policy_file() {
    let registry = registry();
    registry.insert(policy(2), Origin::File("/policies/orders.yaml".into()));
    let error = registry
        .resolve("shop", "orders", &metadata(&[("targetValue", "5")]))
        .unwrap_err();
    assert!(matches!(error, ResolveError::InlineConflict(_)), "{error}");
}

#[tokio::test]
async fn replaced_policy_set_keeps_the_capacity_it_had_decided() {
    let registry = Registry::new(RegistryConfig {
        initial_capacity: Some(7),
        ..Arc::into_inner(registry()).map(|r| r.config).unwrap()
    });
    let before = registry.insert(policy(2), Origin::Embedded("test"));
    assert_eq!(first_decision(&before).await, 7);
    let after = registry.insert(policy(3), Origin::Embedded("test"));
    assert_eq!(first_decision(&after).await, 7);
    assert_eq!(after.set.min_capacity, 3);
}

/// `shop/orders`, 1 to 10, with an action that ran in 2020 (minimum 4), and scheduled scaling
/// suspended or not.
fn scheduled_policy(suspended: bool) -> CompiledPolicySet {
    load_str(
        &format!(
            "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\n\
             metadata: {{name: orders, namespace: shop}}\n\
             spec:\n  scalableTarget: {{minCapacity: 1, maxCapacity: 10, \
             suspendedState: {{scheduledScalingSuspended: {suspended}}}}}\n  \
             scheduledActions:\n  - scheduledActionName: past\n    \
             schedule: at(2020-01-01T00:00:00)\n    scalableTargetAction: {{minCapacity: 4}}\n"
        ),
        "test",
    )
    .unwrap()
}

async fn decided_bounds(handle: &PolicySetHandle) -> (u32, u32) {
    let decision = decided(handle).await;
    (decision.min, decision.max)
}

/// "Suspend and resume scaling": suspending scheduled scaling keeps the minimum and maximum in
/// force; on resuming, actions that were due during the suspension are skipped. A new version
/// of the policy set that only flips `scheduledScalingSuspended` continues the bounds in force
/// instead of replaying every action's latest past run.
#[tokio::test]
async fn suspending_or_resuming_scheduled_scaling_keeps_the_bounds_in_force() {
    // Suspend: the action's minimum of 4 stays (a fresh suspended start would give 1).
    let registry = registry();
    let running = registry.insert(scheduled_policy(false), Origin::Embedded("test"));
    assert_eq!(decided_bounds(&running).await, (4, 10));
    let suspended = registry.insert(scheduled_policy(true), Origin::Embedded("test"));
    assert_eq!(decided_bounds(&suspended).await, (4, 10));

    // Resume: the action was due while suspended (here: before the policy set started,
    // suspended) and does not run now (a fresh start would replay it: 4).
    let registry = self::registry();
    let suspended = registry.insert(scheduled_policy(true), Origin::Embedded("test"));
    assert_eq!(decided_bounds(&suspended).await, (1, 10));
    let resumed = registry.insert(scheduled_policy(false), Origin::Embedded("test"));
    assert_eq!(decided_bounds(&resumed).await, (1, 10));
}

/// `shop/orders`, 1 to 100: metric `cpu` (pushed, 60 s periods), alarm `high` (`cpu >= 50`)
/// and a step policy `out` on it (+2, a cooldown of an hour, re-invoked every second while
/// `high` stays in ALARM), with `extra` appended to the spec.
fn cooldown_policy(extra: &str) -> CompiledPolicySet {
    load_str(
        &format!(
            "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\n\
             metadata: {{name: orders, namespace: shop}}\n\
             spec:\n  scalableTarget: {{minCapacity: 1, maxCapacity: 100}}\n  \
             behavior: {{reinvocationIntervalSeconds: 1}}\n  \
             metrics:\n    cpu: {{push: {{period: 60}}}}\n  \
             alarms:\n    high: {{metric: cpu, comparisonOperator: GreaterThanOrEqualToThreshold, \
             threshold: 50, evaluationPeriods: 1}}\n  \
             policies:\n  - policyName: out\n    stepScaling: {{alarm: high, \
             adjustmentType: ChangeInCapacity, cooldown: 3600, \
             stepAdjustments: [{{metricIntervalLowerBound: 0, scalingAdjustment: 2}}]}}\n{extra}"
        ),
        "test",
    )
    .unwrap()
}

/// Pushes `value` for metric `cpu` of `set`, in the period before now (a complete one).
fn push_cpu(registry: &Registry, set: &CompiledPolicySet, value: f64) {
    let now = chrono::Utc::now();
    let key = SourceHub::key_for(set, 0);
    assert!(registry.hub().modify(&key, |feed| {
        feed.push(now - chrono::Duration::seconds(60), value, now);
    }));
}

/// The first decision of `handle` that `check` accepts.
async fn decision_where(handle: &PolicySetHandle, check: impl Fn(&Decision) -> bool) -> Decision {
    let mut verdicts = handle.subscribe();
    let wait = verdicts.wait_for(|v| v.decision().is_some_and(&check));
    let verdict = tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("a decision in time")
        .unwrap()
        .clone();
    verdict.decision().unwrap().clone()
}

/// Issue 13, "Edits keep state": replacing a policy set keeps the state of everything whose
/// definition did not change, here the cooldown the unchanged policy `out` started (a fresh
/// start would scale out again from 12 to 14 at once).
#[tokio::test]
async fn adding_a_scheduled_action_leaves_a_policy_in_cooldown_in_cooldown() {
    let registry = test_registry(Some(10), "test");
    let before = registry.insert(cooldown_policy(""), Origin::Embedded("test"));
    push_cpu(&registry, &before.set, 55.0);
    let decided = decision_where(&before, |d| d.desired != 10).await;
    assert_eq!(decided.desired, 12, "{decided:?}");

    let night = "  scheduledActions:\n  - scheduledActionName: night\n    \
                 schedule: cron(0 22 * * ? *)\n    scalableTargetAction: {maxCapacity: 50}\n";
    let after = registry.insert(cooldown_policy(night), Origin::Embedded("test"));
    assert_eq!(after.set.scheduled_actions.len(), 1);
    // Past the re-invocation interval, `out` is invoked again: in its cooldown.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    push_cpu(&registry, &after.set, 55.0);
    let in_cooldown =
        |d: &Decision| matches!(d.reasons[0].outcome, Outcome::ScaleOutCooldown { .. });
    let decided = decision_where(&after, |d| d.desired != 12 || in_cooldown(d)).await;
    assert_eq!(decided.desired, 12, "{decided:?}");
    assert!(in_cooldown(&decided), "{decided:?}");
    assert_eq!(
        decided.max, 100,
        "the new action runs at its next time, not replayed"
    );
}

#[tokio::test]
async fn unchanged_policy_set_keeps_its_controller() {
    let registry = registry();
    let before = registry.insert(policy(2), Origin::Embedded("test"));
    let after = registry.insert(policy(2), Origin::Embedded("test"));
    assert!(Arc::ptr_eq(&before.set, &after.set));
}

#[tokio::test]
async fn sync_files_removes_missing_sets_but_keeps_failed_files() {
    let registry = registry();
    let path: PathBuf = "/policies/orders.yaml".into();
    registry.sync_files(vec![(Origin::File(path.clone()), policy(2))], &[]);
    assert_eq!(registry.len(), 1);
    registry.sync_files(Vec::new(), std::slice::from_ref(&path));
    assert_eq!(
        registry.len(),
        1,
        "a file that failed to load keeps its last good version"
    );
    registry.sync_files(Vec::new(), &[]);
    assert!(registry.is_empty());
    assert!(
        registry.hub().is_empty(),
        "feeds of removed policy sets are released"
    );
}

#[tokio::test]
async fn inline_policy_sets_beyond_the_limit_are_refused_naming_it() {
    let registry = registry();
    registry.set_max_policy_sets(1);
    let first = metadata(&[("targetValue", "10")]);
    registry.resolve("shop", "a", &first).unwrap();
    // The same one again, or a change of it, replaces rather than adds.
    registry.resolve("shop", "a", &first).unwrap();
    registry
        .resolve("shop", "a", &metadata(&[("targetValue", "20")]))
        .unwrap();
    let error = registry.resolve("shop", "b", &first).unwrap_err();
    assert!(
        matches!(error, ResolveError::TooManyPolicySets { limit: 1, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("--max-policy-sets"), "{error}");
    assert!(error.to_string().contains("shop/b"), "{error}");
}

#[tokio::test]
async fn policy_files_beyond_the_limit_are_not_loaded() {
    let registry = registry();
    registry.set_max_policy_sets(1);
    let other = load_str(
        "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\n\
         metadata: {name: other, namespace: shop}\n\
         spec:\n  scalableTarget: {minCapacity: 1, maxCapacity: 10}\n",
        "test",
    )
    .unwrap();
    registry.sync_files(
        vec![
            (Origin::File("/p/orders.yaml".into()), policy(1)),
            (Origin::File("/p/other.yaml".into()), other),
        ],
        &[],
    );
    assert_eq!(registry.len(), 1);
    assert!(registry.get("shop", "orders").is_some());
}

fn has_series(registry: &Registry, name: &str) -> bool {
    registry
        .metrics()
        .encode()
        .contains(&format!("policy_set=\"{name}\""))
}

#[tokio::test]
async fn a_removed_policy_set_loses_its_series_after_its_controller_stops() {
    let registry = registry();
    let handle = registry.insert(policy(2), Origin::Embedded("test"));
    assert_eq!(first_decision(&handle).await, 2);
    assert!(has_series(&registry, "orders"));
    assert!(registry.remove(&handle.set.id));
    until("series removed", || !has_series(&registry, "orders")).await;
    // Served again: its series come back, and stay.
    let handle = registry.insert(policy(3), Origin::Embedded("test"));
    assert_eq!(first_decision(&handle).await, 3);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = registry.metrics().encode();
    assert!(
        text.contains("ecs_scaler_desired_capacity{namespace=\"shop\",policy_set=\"orders\"} 3"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn inline_policy_sets_no_request_uses_are_removed_unless_a_stream_watches() {
    let hour = Duration::from_secs(3600);
    let registry = registry();
    registry.insert(policy(2), Origin::Embedded("test"));
    let inline = metadata(&[("targetValue", "10"), ("minCapacity", "3")]);
    let handle = registry.resolve("shop", "api", &inline).unwrap();
    assert_eq!(first_decision(&handle).await, 3);
    // Used 40 minutes after its creation, it is kept 40 minutes later.
    tokio::time::advance(Duration::from_secs(40 * 60)).await;
    registry.resolve("shop", "api", &inline).unwrap();
    tokio::time::advance(Duration::from_secs(40 * 60)).await;
    assert_eq!(registry.remove_idle_inline(hour), Vec::new());
    // An hour after its last use, a stream watching it still keeps it.
    tokio::time::advance(Duration::from_secs(20 * 60)).await;
    let stream = handle.subscribe();
    assert_eq!(registry.remove_idle_inline(hour), Vec::new());
    drop(stream);
    assert_eq!(
        registry.remove_idle_inline(hour),
        vec![PolicySetId::new("shop", "api")]
    );
    assert_eq!(registry.len(), 1, "the policy set of a file stays");
    assert!(registry.get("shop", "api").is_none());
    until("series removed", || !has_series(&registry, "api")).await;
    assert!(has_series(&registry, "orders"));
    // The next request creates it again.
    let again = registry.resolve("shop", "api", &inline).unwrap();
    assert_eq!(first_decision(&again).await, 3);
    assert_eq!(registry.len(), 2);
}

fn prometheus_policy(name: &str, server: &str) -> CompiledPolicySet {
    load_str(
        &format!(
            "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\n\
             metadata: {{name: {name}, namespace: shop}}\n\
             spec:\n  scalableTarget: {{minCapacity: 1, maxCapacity: 10}}\n\
             \x20 metrics:\n    users: {{prometheus: {{serverAddress: '{server}', query: 'sum(users)'}}}}\n\
             \x20 policies:\n  - policyName: users\n\
             \x20   targetTracking: {{metric: users, targetValue: 100}}\n"
        ),
        "test",
    )
    .unwrap()
}

#[tokio::test]
async fn readiness_waits_for_the_first_fetch_of_each_polled_source() {
    // A Prometheus that answers once told to; and an address where nothing listens.
    let release = Arc::new(tokio::sync::Notify::new());
    let answer = release.clone();
    let app = axum::Router::new().fallback(move || {
        let answer = answer.clone();
        async move {
            answer.notified().await;
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"5"]}]}}"#
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nobody = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);

    let registry = registry();
    registry.insert(prometheus_policy("slow", &server), Origin::Embedded("test"));
    registry.insert(prometheus_policy("down", &nobody), Origin::Embedded("test"));
    registry.insert(policy(2), Origin::Embedded("test"));
    registry.mark_loaded();
    // The refused connection is a finished fetch; the slow one is awaited, by name.
    until("the refused fetch", || {
        registry
            .readiness()
            .is_err_and(|e| e.starts_with("sources not fetched yet (1): prometheus:"))
    })
    .await;
    let error = registry.readiness().unwrap_err();
    assert!(error.contains(&server), "{error}");
    assert!(!error.contains(&nobody), "{error}");
    release.notify_one();
    until("ready", || registry.readiness().is_ok()).await;
}
