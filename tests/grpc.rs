//! The gRPC API through tonic's generated client, against a real server on loopback.

#[path = "support/scaler.rs"]
mod scaler;

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use ecs_scaler::grpc::proto::{GetMetricsRequest, ScaledObjectRef};
use ecs_scaler::policy::PolicySetId;
use ecs_scaler::sources::SourceKey;
use scaler::{Scaler, eventually};
use tonic::Code;

const POLICY: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: worker, namespace: jobs}
spec:
  scalableTarget: {minCapacity: 0, maxCapacity: 10}
  metrics:
    backlog: {push: {period: 10}}
  policies:
  - policyName: backlog-per-task
    targetTracking: {metric: backlog, perTask: true, targetValue: 100}
  behavior: {reinvocationIntervalSeconds: 1}
"#;

const STALE_POLICY: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: stale, namespace: jobs}
spec:
  scalableTarget: {minCapacity: 2, maxCapacity: 10}
  metrics:
    heartbeat: {push: {period: 10, staleAfterSeconds: 1}}
"#;

/// How long a test waits for what the scaler decides.
const WITHIN: Duration = Duration::from_secs(5);

/// A scaler serving [`POLICY`] and [`STALE_POLICY`], evaluating every 50 ms.
async fn start() -> Scaler {
    let files = [
        ("worker.yaml", POLICY.to_owned()),
        ("stale.yaml", STALE_POLICY.to_owned()),
    ];
    Scaler::start_with("jobs", &files, |config| {
        config.tick = Duration::from_millis(50);
        config.reload_interval = Duration::from_secs(60);
    })
    .await
}

fn scaled_object(metadata: &[(&str, &str)]) -> ScaledObjectRef {
    ScaledObjectRef {
        name: "worker-so".to_owned(),
        namespace: "jobs".to_owned(),
        scaler_metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
    }
}

fn worker() -> ScaledObjectRef {
    scaled_object(&[("scalerAddress", "ecs-scaler:9090"), ("policy", "worker")])
}

/// Pushes `value` into the backlog for the current 10 s period and the five before it, so that
/// the three newest complete periods breach for the next ten seconds.
fn push_backlog(scaler: &Scaler, value: f64) {
    let key = SourceKey::Push {
        policy_set: PolicySetId::new("jobs", "worker"),
        metric: "backlog".to_owned(),
    };
    let now = Utc::now();
    for periods_ago in 0..=5 {
        let at = now - chrono::Duration::seconds(10 * periods_ago);
        assert!(
            scaler
                .registry
                .hub()
                .modify(&key, |feed| feed.push(at, value, now))
        );
    }
}

/// KEDA's `GetMetricSpec` then `GetMetrics` for `worker`: the value as float and as integer.
async fn metric_value(scaler: &mut Scaler) -> Result<(f64, i64), tonic::Status> {
    let spec = scaler.client.get_metric_spec(worker()).await?.into_inner();
    let response = scaler
        .client
        .get_metrics(GetMetricsRequest {
            scaled_object_ref: Some(worker()),
            metric_name: spec.metric_specs[0].metric_name.clone(),
        })
        .await?
        .into_inner();
    let value = &response.metric_values[0];
    #[allow(deprecated)]
    Ok((value.metric_value_float, value.metric_value))
}

#[tokio::test]
async fn keda_call_sequence_reports_the_desired_capacity_with_target_one() {
    let mut running = start().await;
    let spec = running
        .client
        .get_metric_spec(worker())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spec.metric_specs.len(), 1);
    let metric = &spec.metric_specs[0];
    assert_eq!(metric.metric_name, "ecs-desired-jobs-worker");
    assert_eq!(metric.target_size_float, 1.0);
    #[allow(deprecated)]
    let target = metric.target_size;
    assert_eq!(target, 1);

    // Minimum 0 and no data: D = 0, inactive.
    let value = eventually("a first decision", WITHIN, async || {
        metric_value(&mut running).await.ok()
    })
    .await;
    assert_eq!(value, (0.0, 0));
    let active = running
        .client
        .is_active(worker())
        .await
        .unwrap()
        .into_inner();
    assert!(!active.result);

    // 450 queued jobs for three complete periods: ECS scales out from zero by the minimum amount
    // (1 task), then continues normally to ceil(450 / 100) = 5 at the next invocation (the
    // policy set re-invokes every second instead of every minute).
    push_backlog(&running, 450.0);
    let value = eventually("a scale-out to 5", WITHIN, async || {
        metric_value(&mut running)
            .await
            .ok()
            .filter(|(d, _)| *d == 5.0)
    })
    .await;
    assert_eq!(value, (5.0, 5));
    assert!(
        running
            .client
            .is_active(worker())
            .await
            .unwrap()
            .into_inner()
            .result
    );
}

#[tokio::test]
async fn stream_is_active_sends_true_when_the_desired_capacity_leaves_zero() {
    let mut running = start().await;
    let mut stream = running
        .client
        .stream_is_active(worker())
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        !first.result,
        "activity is sent as soon as the stream opens"
    );
    push_backlog(&running, 450.0);
    let next = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(next.result);
}

#[tokio::test]
async fn stream_metric_spec_sends_the_spec_at_once() {
    let mut running = start().await;
    let mut stream = running
        .client
        .stream_metric_spec(worker())
        .await
        .unwrap()
        .into_inner();
    let spec = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(spec.metric_specs[0].target_size_float, 1.0);
}

#[tokio::test]
async fn errors_map_to_grpc_status_codes() {
    let mut running = start().await;
    let not_found = running
        .client
        .get_metric_spec(scaled_object(&[("policy", "nope")]))
        .await
        .unwrap_err();
    assert_eq!(not_found.code(), Code::NotFound);
    assert!(
        not_found.message().contains("jobs/nope"),
        "{}",
        not_found.message()
    );
    assert!(
        not_found.message().contains("policy directory"),
        "{}",
        not_found.message()
    );

    let bad_key = running
        .client
        .is_active(scaled_object(&[("policy", "worker"), ("queueLenght", "5")]))
        .await
        .unwrap_err();
    assert_eq!(bad_key.code(), Code::InvalidArgument);
    assert!(
        bad_key.message().contains("queueLenght"),
        "{}",
        bad_key.message()
    );

    let bad_inline = running
        .client
        .get_metric_spec(scaled_object(&[("targetValue", "abc")]))
        .await
        .unwrap_err();
    assert_eq!(bad_inline.code(), Code::InvalidArgument);
    assert!(
        bad_inline.message().contains("targetValue"),
        "{}",
        bad_inline.message()
    );

    let missing_ref = running
        .client
        .get_metrics(GetMetricsRequest {
            scaled_object_ref: None,
            metric_name: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing_ref.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn stale_data_is_unavailable_so_keda_applies_its_fallback() {
    let mut running = start().await;
    let stale = scaled_object(&[("policy", "stale")]);
    let status = eventually("UNAVAILABLE naming the stale metric", WITHIN, async || {
        running
            .client
            .get_metrics(GetMetricsRequest {
                scaled_object_ref: Some(stale.clone()),
                metric_name: String::new(),
            })
            .await
            .err()
            .filter(|s| s.code() == Code::Unavailable && s.message().contains("heartbeat"))
    })
    .await;
    assert!(
        status.message().contains("stale after 1 s"),
        "{}",
        status.message()
    );
    assert_eq!(
        running.client.is_active(stale).await.unwrap_err().code(),
        Code::Unavailable,
        "an error never reads as inactive"
    );
}

#[tokio::test]
async fn inline_trigger_metadata_is_served() {
    let mut running = start().await;
    let inline = scaled_object(&[
        ("targetValue", "50"),
        ("minCapacity", "2"),
        ("metricName", "queue"),
    ]);
    let spec = running
        .client
        .get_metric_spec(inline.clone())
        .await
        .unwrap()
        .into_inner();
    // The policy set is named after the ScaledObject and the trigger's metric.
    assert_eq!(
        spec.metric_specs[0].metric_name,
        "ecs-desired-jobs-worker-so-queue"
    );
    let value = eventually("a decision of the inline policy set", WITHIN, async || {
        running
            .client
            .get_metrics(GetMetricsRequest {
                scaled_object_ref: Some(inline.clone()),
                metric_name: String::new(),
            })
            .await
            .ok()
    })
    .await;
    assert_eq!(value.into_inner().metric_values[0].metric_value_float, 2.0);
}

#[tokio::test]
async fn grpc_health_service_reports_serving() {
    let running = start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(running.channel.clone());
    let response = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "externalscaler.ExternalScaler".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        response.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}
