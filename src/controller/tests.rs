//! Controller tests, in tokio's virtual time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::driver::{Driver, INPUT_CHECK_INTERVAL};
use super::*;
use crate::capacity::assumed::AssumedCapacity;
use crate::clock::TokioClock;
use crate::policy::load::load_str;
use crate::sources::SourceKey;

const POLICY: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: web, namespace: shop}
spec:
  scalableTarget: {minCapacity: 1, maxCapacity: 20}
  metrics:
    backlog: {push: {period: 60, staleAfterSeconds: 300}}
  policies:
  - policyName: backlog-per-task
    targetTracking: {metric: backlog, perTask: true, targetValue: 100}
  scheduledActions:
  - scheduledActionName: raise-min
    schedule: at(2026-01-05T10:01:30)
    scalableTargetAction: {minCapacity: 4}
"#;

fn start() -> DateTime<Utc> {
    "2026-01-05T10:00:00Z".parse().unwrap()
}

struct Fixture {
    hub: Arc<SourceHub>,
    clock: TokioClock,
    verdicts: watch::Receiver<Arc<Verdict>>,
    controller: Option<Controller>,
}

fn fixture(capacity: Arc<dyn CapacityView>) -> Fixture {
    let set = Arc::new(load_str(POLICY, "test").unwrap());
    let clock = TokioClock::starting_at(start());
    let hub = SourceHub::new(Arc::new(clock), Arc::new(Metrics::new()));
    let (controller, verdicts) = Controller::new(
        set,
        &hub,
        capacity,
        Arc::new(clock),
        Arc::new(Metrics::new()),
        ControllerConfig::default(),
    );
    Fixture {
        hub,
        clock,
        verdicts: verdicts.subscribe(),
        controller: Some(controller),
    }
}

impl Fixture {
    fn push(&self, at: DateTime<Utc>, value: f64) {
        let key = SourceKey::Push {
            policy_set: crate::policy::PolicySetId::new("shop", "web"),
            metric: "backlog".to_owned(),
        };
        let received = self.clock.now();
        assert!(self.hub.modify(&key, |feed| feed.push(at, value, received)));
    }

    fn desired(&self) -> Option<u32> {
        self.verdicts.borrow().decision().map(|d| d.desired)
    }
}

#[tokio::test(start_paused = true)]
async fn controller_decides_on_every_tick() {
    let mut f = fixture(Arc::new(AssumedCapacity::new(2)));
    let controller = f.controller.take().unwrap();
    let running = Driver::spawn().run(controller);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(f.desired(), Some(2));
    let first = f.verdicts.borrow_and_update().decision().unwrap().at;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let second = f.verdicts.borrow_and_update().decision().unwrap().at;
    assert_eq!((second - first).num_seconds(), 10);
    drop(running);
}

#[tokio::test(start_paused = true)]
async fn pushed_datapoints_reach_the_engine_and_scale_out() {
    let mut f = fixture(Arc::new(AssumedCapacity::new(2)));
    let controller = f.controller.take().unwrap();
    let _running = Driver::spawn().run(controller);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(f.desired(), Some(2));
    // Three complete minutes with 900 queued orders: 450 per task, above the target of 100.
    for minutes_ago in 1..=3 {
        f.push(start() - chrono::Duration::minutes(minutes_ago), 900.0);
    }
    // Evaluated at the next input check, not at the next tick (10 s).
    tokio::time::sleep(INPUT_CHECK_INTERVAL).await;
    assert_eq!(f.desired(), Some(9), "ceil(900 / 100) tasks");
    let decision = f.verdicts.borrow().decision().unwrap().clone();
    assert!(
        decision.at - start() <= chrono::Duration::milliseconds(200),
        "{decision:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn controller_wakes_up_for_a_scheduled_action() {
    let mut f = fixture(Arc::new(AssumedCapacity::new(2)));
    let mut controller = f.controller.take().unwrap();
    controller.config.tick = Duration::from_secs(3600);
    let _running = Driver::spawn().run(controller);
    tokio::time::sleep(Duration::from_secs(89)).await;
    assert_eq!(f.desired(), Some(2));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let verdict = f.verdicts.borrow().clone();
    let decision = verdict.decision().unwrap();
    assert_eq!((decision.min, decision.desired), (4, 4));
    assert_eq!(decision.at, start() + chrono::Duration::seconds(90));
}

#[tokio::test(start_paused = true)]
async fn silent_source_becomes_unavailable_after_its_staleness_bound() {
    let mut f = fixture(Arc::new(AssumedCapacity::new(2)));
    let controller = f.controller.as_mut().unwrap();
    assert!(matches!(*controller.step(), Verdict::Decided(_)));
    tokio::time::advance(Duration::from_secs(301)).await;
    let verdict = controller.step();
    let Verdict::Unavailable { reason, .. } = verdict.as_ref() else {
        panic!("expected unavailable, got {verdict:?}");
    };
    assert!(reason.contains("metric `backlog`"), "{reason}");
    assert!(reason.contains("stale after 300 s"), "{reason}");
    // A fresh datapoint makes it decide again; the action due meanwhile (min 4) has run.
    f.push(f.clock.now(), 50.0);
    let verdict = f.controller.as_mut().unwrap().step();
    assert_eq!(verdict.decision().map(|d| (d.min, d.desired)), Some((4, 4)));
}

struct UnknownCapacity;

impl CapacityView for UnknownCapacity {
    fn observe(&self) -> Option<CapacityObservation> {
        None
    }
    fn record_decision(&self, _: u32) {}
}

#[tokio::test(start_paused = true)]
async fn unknown_capacity_is_unavailable_never_zero() {
    let mut f = fixture(Arc::new(UnknownCapacity));
    let verdict = f.controller.as_mut().unwrap().step();
    assert!(
        matches!(verdict.as_ref(), Verdict::Unavailable { reason, .. } if reason.contains("capacity")),
        "{verdict:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn runtime_records_with_the_capacity_of_the_moment() {
    let set = Arc::new(load_str(POLICY, "test").unwrap());
    let mut runtime = Runtime::new(set, 3, start());
    assert!(runtime.record(0, start() - chrono::Duration::seconds(30), 300.0, 3));
    assert!(!runtime.record(0, start(), f64::NAN, 3));
    let observation = CapacityObservation {
        current: 3,
        rollout_in_progress: false,
    };
    assert_eq!(runtime.evaluate(observation, start()).desired, 3);
}

#[tokio::test(start_paused = true)]
async fn period_values_from_a_feed_replace_their_period_and_samples_add() {
    let mut f = fixture(Arc::new(AssumedCapacity::new(2)));
    let key = SourceKey::Push {
        policy_set: crate::policy::PolicySetId::new("shop", "web"),
        metric: "backlog".to_owned(),
    };
    let (cloudwatch_minute, pushed_minute) = (
        start() - chrono::Duration::minutes(2),
        start() - chrono::Duration::minutes(1),
    );
    let received = f.clock.now();
    assert!(f.hub.modify(&key, |feed| {
        // CloudWatch delivers a period, then a revision of it: the revision replaces it.
        for value in [400.0, 900.0] {
            feed.record(Observation {
                timestamp: cloudwatch_minute,
                value,
                period_value: true,
            });
        }
        feed.push(pushed_minute, 100.0, received);
        feed.push(
            pushed_minute + chrono::Duration::seconds(10),
            300.0,
            received,
        );
    }));
    let controller = f.controller.as_mut().unwrap();
    controller.step();
    let history = &controller.runtime.histories[0];
    let period = history.period(cloudwatch_minute.timestamp()).unwrap();
    assert_eq!((period.count, period.sum, period.exact), (1, 900.0, true));
    let period = history.period(pushed_minute.timestamp()).unwrap();
    assert_eq!((period.count, period.sum, period.exact), (2, 400.0, false));
}

/// A replacing controller keeps the history of an unchanged metric, with the capacity each
/// sample was recorded with, and reads the feed after the datapoints the old controller
/// recorded: none counts twice.
#[tokio::test(start_paused = true)]
async fn a_replacing_controller_keeps_histories_and_reads_its_feed_where_the_old_one_stopped() {
    let mut f = fixture(Arc::new(AssumedCapacity::new(2)));
    let minute = start() - chrono::Duration::minutes(1);
    f.push(minute, 100.0);
    f.push(minute + chrono::Duration::seconds(10), 300.0);
    let mut old = f.controller.take().unwrap();
    old.step();

    // An edit of the scheduled action only, on a target now at 5 tasks.
    let edited = POLICY.replace("{minCapacity: 4}", "{minCapacity: 5}");
    let set = Arc::new(load_str(&edited, "test").unwrap());
    let (mut new, _verdicts) = Controller::new(
        set,
        &f.hub,
        Arc::new(AssumedCapacity::new(5)),
        Arc::new(f.clock),
        Arc::new(Metrics::new()),
        ControllerConfig::default(),
    );
    new.carry_from(&old);
    drop(old);
    f.push(minute + chrono::Duration::seconds(20), 200.0);
    new.step();
    let period = new.runtime.histories[0].period(minute.timestamp()).unwrap();
    assert_eq!(
        (period.count, period.sum, period.capacity_sum),
        (3, 600.0, 2.0 + 2.0 + 5.0)
    );
}

#[tokio::test(start_paused = true)]
async fn runtime_records_period_values_by_replacing() {
    let set = Arc::new(load_str(POLICY, "test").unwrap());
    let mut runtime = Runtime::new(set, 3, start());
    let minute = start() - chrono::Duration::minutes(1);
    for value in [50.0, 600.0] {
        let observation = Observation {
            timestamp: minute,
            value,
            period_value: true,
        };
        assert!(runtime.record_observation(0, &observation, 3));
    }
    let period = runtime.histories[0].period(minute.timestamp()).unwrap();
    assert_eq!((period.count, period.sum, period.exact), (1, 600.0, true));
    // A raw sample of another period is added to it.
    let later = minute + chrono::Duration::minutes(1);
    for value in [10.0, 20.0] {
        assert!(runtime.record_observation(0, &Observation::sample(later, value), 3));
    }
    let period = runtime.histories[0].period(later.timestamp()).unwrap();
    assert_eq!((period.count, period.sum, period.exact), (2, 30.0, false));
}

/// A view that observes the scale target: replicas change only when the test says so.
struct WatchedCapacity(std::sync::atomic::AtomicU32);

impl CapacityView for WatchedCapacity {
    fn observe(&self) -> Option<CapacityObservation> {
        Some(CapacityObservation {
            current: self.0.load(std::sync::atomic::Ordering::Relaxed),
            rollout_in_progress: false,
        })
    }

    fn record_decision(&self, _desired: u32) {}

    fn observes_target(&self) -> bool {
        true
    }
}

#[tokio::test(start_paused = true)]
async fn cooldowns_start_when_the_target_is_seen_to_change() {
    let replicas = Arc::new(WatchedCapacity(2.into()));
    let mut f = fixture(replicas.clone());
    let mut controller = f.controller.take().unwrap();
    for minutes_ago in 1..=3 {
        f.push(start() - chrono::Duration::minutes(minutes_ago), 900.0);
    }
    let verdict = controller.step();
    let decision = verdict.decision().unwrap();
    assert!(decision.desired > 2, "scales out: {decision:?}");
    let t0 = decision.at.timestamp();
    let until =
        |c: &Controller, now: i64| c.runtime.state().clocks[0].scale_out(now).map(|c| c.until);
    assert_eq!(until(&controller, t0), Some(t0 + 300));

    // A minute later the HPA has not applied it yet: the clock still runs from the decision.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        controller.step().decision().unwrap().desired,
        decision.desired
    );
    assert_eq!(until(&controller, t0 + 60), Some(t0 + 300));

    // The replicas change: the cooldown runs from this observation.
    replicas
        .0
        .store(decision.desired, std::sync::atomic::Ordering::Relaxed);
    tokio::time::advance(Duration::from_secs(10)).await;
    controller.step();
    assert_eq!(until(&controller, t0 + 70), Some(t0 + 370));
}

/// An edit between a decision and its delivery: the new version keeps the cooldown and still
/// restarts it when the replicas are seen to change.
#[tokio::test(start_paused = true)]
async fn a_replacing_controller_restarts_kept_cooldowns_when_the_target_changes() {
    let replicas = Arc::new(WatchedCapacity(2.into()));
    let mut f = fixture(replicas.clone());
    let mut old = f.controller.take().unwrap();
    for minutes_ago in 1..=3 {
        f.push(start() - chrono::Duration::minutes(minutes_ago), 900.0);
    }
    let decision = old.step().decision().unwrap().clone();
    assert!(decision.desired > 2, "scales out: {decision:?}");
    let t0 = decision.at.timestamp();

    tokio::time::advance(Duration::from_secs(60)).await;
    let edited = POLICY.replace("{minCapacity: 4}", "{minCapacity: 5}");
    let (mut new, _verdicts) = Controller::new(
        Arc::new(load_str(&edited, "test").unwrap()),
        &f.hub,
        replicas.clone(),
        Arc::new(f.clock),
        Arc::new(Metrics::new()),
        ControllerConfig::default(),
    );
    new.carry_from(&old);
    drop(old);
    let until =
        |c: &Controller, now: i64| c.runtime.state().clocks[0].scale_out(now).map(|c| c.until);
    assert_eq!(new.step().decision().unwrap().desired, decision.desired);
    assert_eq!(until(&new, t0 + 60), Some(t0 + 300));

    replicas
        .0
        .store(decision.desired, std::sync::atomic::Ordering::Relaxed);
    tokio::time::advance(Duration::from_secs(10)).await;
    new.step();
    assert_eq!(until(&new, t0 + 70), Some(t0 + 370));
}

#[tokio::test(start_paused = true)]
async fn a_decided_change_that_never_shows_is_given_up() {
    let mut f = fixture(Arc::new(WatchedCapacity(2.into())));
    let mut controller = f.controller.take().unwrap();
    for minutes_ago in 1..=3 {
        f.push(start() - chrono::Duration::minutes(minutes_ago), 900.0);
    }
    let first = controller.step().decision().unwrap().clone();
    assert!(first.desired > 2);
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        controller.step().decision().unwrap().capacity,
        first.desired
    );
    tokio::time::advance(Duration::from_secs(70)).await;
    let later = controller.step().decision().unwrap().clone();
    assert_eq!(
        later.capacity, 2,
        "decided from the observed replicas again: {later:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stopped_controller_is_dropped_with_its_feeds() {
    let mut f = fixture(Arc::new(AssumedCapacity::new(2)));
    let running = Driver::spawn().run(f.controller.take().unwrap());
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(f.desired(), Some(2));
    drop(running);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(
        f.verdicts.has_changed().is_err(),
        "the controller, which publishes the verdicts, is gone"
    );
    f.hub.release_unused();
    assert!(f.hub.is_empty(), "its pushed feed is released");
}

/// A watched scale target whose changes the test publishes.
struct ChangingTarget {
    replicas: std::sync::atomic::AtomicU32,
    changes: watch::Sender<Option<crate::capacity::kube::TargetState>>,
}

impl CapacityView for ChangingTarget {
    fn observe(&self) -> Option<CapacityObservation> {
        WatchedCapacity(
            self.replicas
                .load(std::sync::atomic::Ordering::Relaxed)
                .into(),
        )
        .observe()
    }

    fn record_decision(&self, _desired: u32) {}

    fn observes_target(&self) -> bool {
        true
    }

    fn changes(&self) -> Option<CapacityChanges> {
        Some(self.changes.subscribe())
    }
}

#[tokio::test(start_paused = true)]
async fn a_change_of_the_observed_target_is_evaluated_at_the_next_input_check() {
    let target = Arc::new(ChangingTarget {
        replicas: 2.into(),
        changes: watch::channel(None).0,
    });
    let mut f = fixture(target.clone());
    let mut controller = f.controller.take().unwrap();
    controller.config.tick = Duration::from_secs(3600);
    let _running = Driver::spawn().run(controller);
    let capacity = |f: &Fixture| f.verdicts.borrow().decision().map(|d| d.capacity);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(capacity(&f), Some(2));

    target
        .replicas
        .store(5, std::sync::atomic::Ordering::Relaxed);
    target
        .changes
        .send_replace(Some(crate::capacity::kube::TargetState {
            spec_replicas: 5,
            status_replicas: 5,
            ready_replicas: 5,
            updated_replicas: Some(5),
            generation: Some(2),
            observed_generation: Some(2),
        }));
    tokio::time::sleep(INPUT_CHECK_INTERVAL).await;
    assert_eq!(capacity(&f), Some(5), "not at the next tick, an hour later");
}
