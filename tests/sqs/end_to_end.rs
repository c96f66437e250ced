//! End to end: two SQS queues in moto drive a target tracking policy and a step scaling policy;
//! KEDA's view comes through the gRPC API.
//!
//! - `work`: backlog per task, target 10 (target tracking, scale-out alarm over one period);
//! - `urgent`: an alarm at 5 waiting messages (Maximum over one period) drives a step policy
//!   that sets the capacity to 12 (`ExactCapacity`).
//!
//! The service starts at zero tasks. 40 jobs arrive at the start of a period: nothing moves
//! before that period is complete (alarms evaluate complete periods only); then target tracking
//! scales out from zero (0 -> 1, the first task starts no cooldown) and on to
//! `ceil(40 / 10) = 4`. Urgent messages arrive in the next period: at its end the step policy
//! sets 12. The capacity never goes down.

use std::time::Duration;

use chrono::Utc;
use ecs_scaler::engine::reason::Outcome;
use tokio_stream::StreamExt;

use crate::harness::{
    self, Moto, Queue, Recorder, desired_now, eventually, policy_set, scaled_object, sqs_source,
};

const PERIOD: i64 = 10;

fn policy(work: &str, urgent: &str, endpoint: &str) -> String {
    policy_set(
        "worker",
        &format!(
            "  scalableTarget: {{minCapacity: 0, maxCapacity: 20}}
  metrics:
    backlog: {}
    urgent: {}
  alarms:
    urgentWaiting: {{metric: urgent, comparisonOperator: GreaterThanOrEqualToThreshold,
                    threshold: 5, evaluationPeriods: 1, statistic: Maximum}}
  policies:
  - policyName: backlog-per-task
    targetTracking: {{metric: backlog, perTask: true, targetValue: 10}}
  - policyName: urgent-burst
    stepScaling:
      alarm: urgentWaiting
      adjustmentType: ExactCapacity
      metricAggregationType: Maximum
      stepAdjustments: [{{metricIntervalLowerBound: 0, scalingAdjustment: 12}}]
  behavior:
    reinvocationIntervalSeconds: 1
    targetTrackingHighAlarm: {{evaluationPeriods: 1, datapointsToAlarm: 1, thresholdRatio: 1.0}}
",
            sqs_source(work, endpoint, ""),
            sqs_source(urgent, endpoint, ""),
        ),
    )
}

/// Seconds into the current period (of the wall clock the scaler also reads).
fn into_period() -> f64 {
    let now = Utc::now();
    (now.timestamp() % PERIOD) as f64 + f64::from(now.timestamp_subsec_millis()) / 1000.0
}

/// Sleeps until `offset` seconds into the next period.
async fn next_period(offset: f64) {
    let wait = PERIOD as f64 - into_period() + offset;
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_drive_target_tracking_and_step_scaling_through_grpc() {
    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let client = harness::sqs_client(&endpoint).await;
    let work = Queue::create(&client, "work").await;
    let urgent = Queue::create(&client, "urgent").await;
    let mut scaler = harness::start_scaler(
        &[("worker.yaml", policy(&work.url, "urgent", &endpoint))],
        None,
    )
    .await;
    let handle = scaler.handle("worker");
    let recorder = Recorder::start(&handle);
    let grpc = &mut scaler.client;

    // Empty queues, zero tasks: D = 0, not active.
    eventually("a first decision", Duration::from_secs(5), async || {
        harness::get_metrics(grpc, "worker").await.ok()
    })
    .await;
    assert_eq!(desired_now(grpc, "worker").await, 0);
    let mut active = grpc
        .stream_is_active(scaled_object("worker"))
        .await
        .unwrap()
        .into_inner();
    assert!(!active.next().await.unwrap().unwrap().result);

    // 40 jobs at the start of a period. Nothing happens until the period is complete.
    next_period(0.2).await;
    work.send(40, 0).await;
    tokio::time::sleep(Duration::from_secs_f64(
        (PERIOD as f64 - 0.5 - into_period()).max(0.0),
    ))
    .await;
    assert_eq!(
        desired_now(grpc, "worker").await,
        0,
        "no scaling before the period completes"
    );
    // Then 0 -> 1 -> 4 within the re-invocation interval.
    eventually(
        "target tracking scales out to ceil(40 / 10)",
        Duration::from_secs(4),
        async || (desired_now(grpc, "worker").await == 4).then_some(()),
    )
    .await;
    let became_active = tokio::time::timeout(Duration::from_secs(2), active.next())
        .await
        .expect("StreamIsActive reports the change")
        .unwrap()
        .unwrap();
    assert!(became_active.result);
    let decided = recorder.decided();
    assert!(
        decided.windows(2).any(|w| w == [0, 1]),
        "scale-out from zero starts with one task: {decided:?}"
    );

    // Urgent messages in the next period: the step policy sets 12 when it completes.
    urgent.send(6, 0).await;
    tokio::time::sleep(Duration::from_secs_f64(
        (PERIOD as f64 - 0.5 - into_period()).max(0.0),
    ))
    .await;
    assert_eq!(
        desired_now(grpc, "worker").await,
        4,
        "urgent period not complete"
    );
    eventually(
        "the step policy sets the capacity to 12",
        Duration::from_secs(4),
        async || (desired_now(grpc, "worker").await == 12).then_some(()),
    )
    .await;
    let applied = recorder.verdicts().iter().any(|verdict| {
        verdict.decision().is_some_and(|decision| {
            decision.reasons[1].applied
                && decision.reasons[1].outcome
                    == Outcome::ScaleOut {
                        step: Some(0),
                        capacity: 12,
                    }
        })
    });
    assert!(applied, "the step policy's first step set the capacity");

    // Target tracking now sees 40 / 12 per task, below target but not for 15 periods: the
    // capacity holds. Across the whole run, it never went down.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(desired_now(grpc, "worker").await, 12);
    let decided = recorder.decided();
    assert!(
        decided.windows(2).all(|w| w[0] <= w[1]),
        "the capacity never went down: {decided:?}"
    );
    assert_eq!(recorder.unavailable(), 0, "the sources never went stale");
    let mut steps = decided;
    steps.dedup();
    eprintln!("end to end: D went {steps:?}");
}
