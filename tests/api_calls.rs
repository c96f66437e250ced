//! How many AWS calls 1,000 ScaledObjects cost: ecs-scaler against KEDA's built-in scalers.
//!
//! 1,000 policy sets, each with an SQS target tracking policy (10 distinct queues) and a step
//! policy on an alarm over a CloudWatch metric (100 distinct metrics), run for 10 minutes of
//! virtual time against in-process fakes of SQS (a real HTTP server speaking SQS's JSON
//! protocol to the real SDK) and of CloudWatch's GetMetricData. KEDA's built-in `aws-sqs-queue`
//! and `aws-cloudwatch` scalers call AWS once per trigger per HPA sync (15 s): 40 calls per
//! trigger in 10 minutes.
//!
//! Run `cargo test --test api_calls -- --nocapture` to see the table. The SQS SDK needs the
//! dummy credentials `tests/run-all.sh` exports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{DateTime, Utc};
use ecs_scaler::clock::TokioClock;
use ecs_scaler::controller::ControllerConfig;
use ecs_scaler::policy::load::load_str;
use ecs_scaler::registry::{Origin, Registry, RegistryConfig};
use ecs_scaler::sources::aws::{AwsConfigs, AwsIdentity};
use ecs_scaler::sources::cloudwatch::api::{
    ApiFactory, CallError, CallFuture, MetricDataApi, Page, Request,
};
use ecs_scaler::sources::hub::SourceHub;
use ecs_scaler::telemetry::Metrics;

const SCALED_OBJECTS: usize = 1_000;
const QUEUES: usize = 10;
const CLOUDWATCH_METRICS: usize = 100;
const MINUTES: u64 = 10;
/// KEDA's built-in scalers: one call per trigger per HPA sync of 15 s.
const KEDA_CALLS_PER_TRIGGER: u64 = MINUTES * 60 / 15;

/// GetMetricData that counts its calls and answers with no datapoints.
#[derive(Default)]
struct CountingCloudWatch {
    calls: AtomicU64,
    queries: AtomicU64,
}

impl MetricDataApi for CountingCloudWatch {
    fn get_metric_data<'a>(&'a self, request: &'a Request) -> CallFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.queries
            .fetch_add(request.queries.len() as u64, Ordering::SeqCst);
        Box::pin(async { Ok::<Page, CallError>(Page::default()) })
    }
}

/// Serves SQS's `GetQueueAttributes` (JSON protocol) and counts the calls.
async fn fake_sqs(calls: Arc<AtomicU64>) -> String {
    let app = Router::new().route(
        "/",
        post(move |headers: HeaderMap| {
            let calls = calls.clone();
            async move {
                let target = headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                assert_eq!(target, "AmazonSQS.GetQueueAttributes");
                calls.fetch_add(1, Ordering::SeqCst);
                (
                    [("content-type", "application/x-amz-json-1.0")],
                    r#"{"Attributes": {"ApproximateNumberOfMessages": "120", "ApproximateNumberOfMessagesNotVisible": "30"}}"#,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

fn policy_set(index: usize, sqs: &str) -> String {
    let queue = index % QUEUES;
    let metric = index % CLOUDWATCH_METRICS;
    format!(
        r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {{name: service-{index}, namespace: load}}
spec:
  scalableTarget: {{minCapacity: 1, maxCapacity: 50}}
  metrics:
    backlog: {{sqs: {{queueURL: "{sqs}/123456789012/queue-{queue}", awsRegion: us-east-1, awsEndpoint: "{sqs}"}}}}
    latency: {{cloudwatch: {{awsRegion: us-east-1, namespace: App, metricName: latency-{metric}, stat: p90, period: 60}}}}
  alarms:
    slow: {{metric: latency, comparisonOperator: GreaterThanThreshold, threshold: 500, evaluationPeriods: 3}}
  policies:
  - policyName: backlog-per-task
    targetTracking: {{metric: backlog, perTask: true, targetValue: 100}}
  - policyName: slow-out
    stepScaling:
      alarm: slow
      adjustmentType: ChangeInCapacity
      stepAdjustments: [{{metricIntervalLowerBound: 0, scalingAdjustment: 2}}]
"#
    )
}

#[tokio::test(start_paused = true)]
async fn background_polling_costs_distinct_sources_times_polls_not_scaled_objects_times_syncs() {
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert!(
            std::env::var_os(name).is_some(),
            "{name} is not set: run tests/run-all.sh, which exports dummy credentials for the SDK"
        );
    }
    let start: DateTime<Utc> = "2026-01-05T10:00:00Z".parse().unwrap();
    let clock = Arc::new(TokioClock::starting_at(start));
    let metrics = Arc::new(Metrics::new());
    let sqs_calls = Arc::new(AtomicU64::new(0));
    let sqs = fake_sqs(sqs_calls.clone()).await;
    let cloudwatch = Arc::new(CountingCloudWatch::default());
    let api = cloudwatch.clone();
    let factory: ApiFactory =
        Arc::new(move |_: &AwsIdentity| api.clone() as Arc<dyn MetricDataApi>);
    let hub = SourceHub::with_cloudwatch_api(
        clock.clone(),
        metrics.clone(),
        Arc::new(AwsConfigs::new()),
        factory,
    );
    let registry = Registry::new(RegistryConfig {
        hub,
        clock,
        metrics,
        controller: ControllerConfig::default(),
        initial_capacity: None,
        source_description: "test".to_owned(),
    });
    for index in 0..SCALED_OBJECTS {
        let set = load_str(&policy_set(index, &sqs), "test").unwrap();
        registry.insert(set, Origin::Embedded("api-calls"));
    }
    tokio::time::sleep(Duration::from_secs(MINUTES * 60)).await;

    let sqs_ours = sqs_calls.load(Ordering::SeqCst);
    let cloudwatch_ours = cloudwatch.calls.load(Ordering::SeqCst);
    let keda = SCALED_OBJECTS as u64 * KEDA_CALLS_PER_TRIGGER;
    println!(
        "AWS calls in {MINUTES} minutes, {SCALED_OBJECTS} ScaledObjects, {QUEUES} queues, {CLOUDWATCH_METRICS} CloudWatch metrics:"
    );
    println!("| API | KEDA built-in scalers | ecs-scaler | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| SQS GetQueueAttributes | {keda} | {sqs_ours} | {:.0}x fewer |",
        keda as f64 / sqs_ours.max(1) as f64
    );
    println!(
        "| CloudWatch GetMetricData | {keda} | {cloudwatch_ours} | {:.0}x fewer |",
        keda as f64 / cloudwatch_ours.max(1) as f64
    );
    println!(
        "(GetMetricData queries sent: {}, i.e. {} per call)",
        cloudwatch.queries.load(Ordering::SeqCst),
        cloudwatch.queries.load(Ordering::SeqCst) / cloudwatch_ours.max(1)
    );

    // SQS: one poller per distinct queue, every 15 s (plus the first poll).
    let sqs_goal = QUEUES as u64 * (MINUTES * 60 / 15 + 1);
    assert!(sqs_ours > 0, "the SQS pollers never reached the fake");
    assert!(
        sqs_ours <= sqs_goal,
        "{sqs_ours} SQS calls, goal <= {sqs_goal}"
    );
    // CloudWatch: every metric in one batch per period (100 queries fit in one call of 500).
    let periods = MINUTES + 1;
    let cloudwatch_goal = CLOUDWATCH_METRICS.div_ceil(500) as u64 * periods;
    assert!(cloudwatch_ours > 0, "the CloudWatch batcher never called");
    assert!(
        cloudwatch_ours <= cloudwatch_goal,
        "{cloudwatch_ours} GetMetricData calls, goal <= {cloudwatch_goal}"
    );
}
