//! One controller per policy set: a time-driven state machine around the engine.
//!
//! The controller keeps the metric histories and the engine state, copies new datapoints from
//! its sources' feeds, and evaluates on a tick (default every 10 s), at the next scheduled
//! action, and when its inputs change. Each evaluation is published as a [`Verdict`]
//! ([`verdicts`]); gRPC handlers only read the latest one. Controllers have no task of their
//! own: one [`driver::Driver`] task runs them all (see there why).
//!
//! [`Runtime`] is the synchronous core (histories + engine state), shared with `simulate`.

pub mod driver;
pub mod verdicts;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::capacity::{CapacityChanges, CapacityObservation, CapacityView};
use crate::clock::Clock;
use crate::engine::alarm::AlarmState;
use crate::engine::history::MetricHistory;
use crate::engine::{self, Decision, EngineState, Inputs};
use crate::policy::CompiledPolicySet;
use crate::sources::cloudwatch::alarms::{AlarmFeed, AlarmRegistration};
use crate::sources::hub::SourceHub;
use crate::sources::{FeedReceiver, Observation};
use crate::telemetry::{Metrics, PolicySetLabels};
use verdicts::{VerdictPublisher, Verdicts};

/// Histories and engine state of one policy set: everything needed to evaluate it.
#[derive(Debug, Clone)]
pub struct Runtime {
    set: Arc<CompiledPolicySet>,
    histories: Vec<MetricHistory>,
    state: EngineState,
}

impl Runtime {
    /// A runtime starting at `now` with `capacity`.
    pub fn new(set: Arc<CompiledPolicySet>, capacity: u32, now: DateTime<Utc>) -> Self {
        let histories = set.metrics.iter().map(engine::history_for).collect();
        let state = EngineState::new(&set, capacity, now);
        Self {
            set,
            histories,
            state,
        }
    }

    /// The policy set.
    pub fn set(&self) -> &Arc<CompiledPolicySet> {
        &self.set
    }

    /// The engine state.
    pub fn state(&self) -> &EngineState {
        &self.state
    }

    /// The capacity change decided at `decided` was observed at `observed`: the cooldowns it
    /// started run from `observed`.
    pub fn restart_cooldowns_when_observed(
        &mut self,
        decided: DateTime<Utc>,
        observed: DateTime<Utc>,
    ) {
        self.state
            .restart_cooldowns_when_observed(decided, observed);
    }

    /// Records a datapoint of metric `metric` observed at `at` while the capacity was
    /// `capacity`; false when it is too old to keep or not a finite number.
    pub fn record(&mut self, metric: usize, at: DateTime<Utc>, value: f64, capacity: u32) -> bool {
        self.histories[metric].record(at.timestamp(), value, capacity)
    }

    /// Records an observation of metric `metric`: a raw sample is added to its period (as
    /// [`Self::record`]), a period value (CloudWatch's) replaces its period.
    pub fn record_observation(
        &mut self,
        metric: usize,
        observation: &Observation,
        capacity: u32,
    ) -> bool {
        let history = &mut self.histories[metric];
        let at = observation.timestamp.timestamp();
        if observation.period_value {
            history.record_period_value(at, observation.value, capacity)
        } else {
            history.record(at, observation.value, capacity)
        }
    }

    /// Sets the state of alarm `alarm`, a `trustState` alarm, as CloudWatch reports it.
    pub fn set_trusted_alarm_state(&mut self, alarm: usize, state: AlarmState) {
        self.state.set_trusted_alarm_state(alarm, state);
    }

    /// Continues the bounds in force of a previous version ([`EngineState::continue_bounds`]).
    pub fn continue_bounds(&mut self, bounds: (u32, u32)) {
        self.state.continue_bounds(bounds);
    }

    /// Keeps what `old`, the runtime of the version this one replaces, knows about everything
    /// whose definition did not change ([`EngineState::carry_from`]), and the histories of the
    /// metrics with the same name and source ([`MetricHistory::carry_from`]). Returns, by
    /// metric index, whether its history was kept and from which metric of `old`.
    pub fn carry_from(&mut self, old: &Runtime) -> Vec<Option<usize>> {
        self.state.carry_from(&self.set, &old.set, &old.state);
        let kept: Vec<Option<usize>> = self
            .set
            .metrics
            .iter()
            .map(|metric| {
                old.set
                    .metrics
                    .iter()
                    .position(|o| engine::carry::same_metric(o, metric))
            })
            .collect();
        for (history, o) in self.histories.iter_mut().zip(&kept) {
            if let Some(o) = *o {
                history.carry_from(&old.histories[o]);
            }
        }
        kept
    }

    /// Evaluates at `now`.
    pub fn evaluate(&mut self, capacity: CapacityObservation, now: DateTime<Utc>) -> &Decision {
        let inputs = Inputs {
            capacity: capacity.current,
            scale_in_blocked: capacity.rollout_in_progress,
            histories: &self.histories,
        };
        engine::evaluate(&self.set, &inputs, &mut self.state, now)
    }
}

/// What a policy set tells KEDA.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not evaluated yet.
    Pending,
    /// The latest decision.
    Decided(Decision),
    /// No decision can be made: KEDA should apply its fallback.
    Unavailable {
        /// What is missing.
        cause: UnavailableCause,
        /// Why, in words (no credential, no secret).
        reason: String,
    },
}

/// What keeps a policy set from deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnavailableCause {
    /// The current capacity of the scale target is not known (not listed yet, or deleted).
    CapacityUnknown,
    /// A metric source has delivered nothing within its staleness bound.
    SourceStale,
    /// The definitions of the CloudWatch alarms the policy set reads by name are missing.
    AlarmsUnresolved,
}

impl Verdict {
    /// The decision, if there is one.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Verdict::Decided(decision) => Some(decision),
            _ => None,
        }
    }
}

/// How long a decided change may take to show on an observed scale target before the scaler
/// decides from the observed replicas again.
pub const DELIVERY_WAIT: chrono::TimeDelta = chrono::TimeDelta::seconds(120);

/// How controllers run.
#[derive(Debug, Clone, Copy)]
pub struct ControllerConfig {
    /// Time between two evaluations without any other trigger.
    pub tick: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(10),
        }
    }
}

/// The state of a `trustState` alarm, read from CloudWatch.
struct TrustedFeed {
    /// The alarm's index.
    alarm: usize,
    receiver: watch::Receiver<AlarmFeed>,
    /// Seconds without a successful read before the policy set is unavailable.
    stale_after: u32,
    /// Held for its drop, which stops reading the alarm.
    _registration: AlarmRegistration,
}

/// A running policy set: feeds in, verdicts out.
pub struct Controller {
    runtime: Runtime,
    /// With a view that observes the target: the replicas last observed, and the decided change
    /// not yet observed (when it was first decided, and the capacity decided).
    observed: Option<u32>,
    undelivered: Option<(DateTime<Utc>, u32)>,
    feeds: Vec<FeedReceiver>,
    trusted: Vec<TrustedFeed>,
    seen: Vec<Option<u64>>,
    started: DateTime<Utc>,
    capacity: Arc<dyn CapacityView>,
    /// Changes of the observed scale target (a view that observes one).
    capacity_changes: Option<CapacityChanges>,
    clock: Arc<dyn Clock>,
    publisher: VerdictPublisher,
    metrics: Arc<Metrics>,
    labels: PolicySetLabels,
    config: ControllerConfig,
}

impl Controller {
    /// A controller for `set`, subscribed to its sources in `hub`; returns it with the reading
    /// end of its verdicts.
    pub fn new(
        set: Arc<CompiledPolicySet>,
        hub: &SourceHub,
        capacity: Arc<dyn CapacityView>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        config: ControllerConfig,
    ) -> (Self, Verdicts) {
        let now = clock.now();
        let feeds = (0..set.metrics.len())
            .map(|i| hub.subscribe(&set, i))
            .collect::<Vec<_>>();
        let trusted = set
            .alarms
            .iter()
            .enumerate()
            .filter_map(|(alarm, def)| {
                let trusted = def.trusted.as_ref()?;
                let (registration, receiver) =
                    hub.alarms().register(&trusted.key, trusted.refresh_seconds);
                Some(TrustedFeed {
                    alarm,
                    receiver,
                    stale_after: trusted.refresh_seconds.saturating_mul(3),
                    _registration: registration,
                })
            })
            .collect();
        let initial = capacity.observe().map_or(set.min_capacity, |c| c.current);
        let mut capacity_changes = capacity.changes();
        if let Some(changes) = &mut capacity_changes {
            changes.mark_unchanged();
        }
        let (publisher, receiver) = verdicts::channel(Verdict::Pending);
        let controller = Self {
            seen: vec![None; feeds.len()],
            feeds,
            trusted,
            started: now,
            labels: PolicySetLabels::from(&set.id),
            runtime: Runtime::new(set, initial, now),
            observed: None,
            undelivered: None,
            capacity,
            capacity_changes,
            clock,
            publisher,
            metrics,
            config,
        };
        (controller, receiver)
    }

    /// Continues the bounds in force of the version this controller replaces, when scheduled
    /// scaling is or was suspended ([`EngineState::continue_bounds`]).
    pub fn continue_bounds(&mut self, bounds: (u32, u32)) {
        self.runtime.continue_bounds(bounds);
    }

    /// Keeps the state of `old`, the controller of the version this one replaces, for
    /// everything whose definition did not change ([`Runtime::carry_from`]). A kept history
    /// goes on reading its feed (the same source is the same feed) after the datapoints `old`
    /// has already recorded, so none counts twice. With the same observed scale target, the
    /// change `old` decided and has not seen yet is awaited still, so the cooldowns it started
    /// and this controller kept restart when it shows (`follow_target`).
    pub fn carry_from(&mut self, old: &Controller) {
        let kept = self.runtime.carry_from(&old.runtime);
        for (seen, o) in self.seen.iter_mut().zip(kept) {
            if let Some(o) = o {
                *seen = old.seen[o];
            }
        }
        if self.capacity.observes_target()
            && std::ptr::addr_eq(Arc::as_ptr(&self.capacity), Arc::as_ptr(&old.capacity))
        {
            self.observed = old.observed;
            self.undelivered = old.undelivered;
        }
    }

    /// Copies new datapoints, evaluates at the clock's now and publishes the verdict.
    pub fn step(&mut self) -> Arc<Verdict> {
        let now = self.clock.now();
        let verdict = Arc::new(self.decide(now));
        let previous = self.publisher.publish(verdict.clone());
        self.report(&previous, &verdict);
        verdict
    }

    fn decide(&mut self, now: DateTime<Utc>) -> Verdict {
        let Some(capacity) = self.capacity.observe() else {
            return Verdict::Unavailable {
                cause: UnavailableCause::CapacityUnknown,
                reason: "the current capacity of the scale target is unknown".to_owned(),
            };
        };
        self.ingest(capacity.current);
        if let Some(reason) = self.staleness(now) {
            return Verdict::Unavailable {
                cause: UnavailableCause::SourceStale,
                reason,
            };
        }
        let observes = self.capacity.observes_target();
        let mut capacity = capacity;
        if observes {
            capacity.current = self.follow_target(capacity.current, now);
        }
        let decision = self.runtime.evaluate(capacity, now).clone();
        if observes {
            self.undelivered = match self.undelivered {
                _ if Some(decision.desired) == self.observed => None,
                Some((decided, _)) => Some((decided, decision.desired)),
                None => Some((now, decision.desired)),
            };
        }
        self.capacity.record_decision(decision.desired);
        Verdict::Decided(decision)
    }

    /// The capacity to decide from, with a view that observes the target.
    ///
    /// A decided change takes a while to reach the replicas (KEDA polls, the HPA syncs). Until
    /// the replicas are seen to change, the scaler decides from the capacity it decided, as if
    /// delivered (for at most [`DELIVERY_WAIT`]: then from what is). When they change, the
    /// cooldowns that decision started restart from that observation, as on ECS where they
    /// start with the scaling activity, so every replica of the scaler sees the same clocks.
    fn follow_target(&mut self, current: u32, now: DateTime<Utc>) -> u32 {
        let changed = self.observed.is_some_and(|before| before != current);
        self.observed = Some(current);
        match self.undelivered {
            Some((decided, _)) if changed => {
                self.runtime.restart_cooldowns_when_observed(decided, now);
                self.undelivered = None;
                current
            }
            Some((decided, desired)) if now - decided < DELIVERY_WAIT => desired,
            Some(_) => {
                self.undelivered = None;
                current
            }
            None => current,
        }
    }

    fn ingest(&mut self, capacity: u32) {
        for (metric, feed) in self.feeds.iter_mut().enumerate() {
            let state = feed.borrow_and_update();
            for datapoint in state.since(self.seen[metric]) {
                let observation = Observation {
                    timestamp: datapoint.timestamp,
                    value: datapoint.value,
                    period_value: datapoint.period_value,
                };
                self.runtime
                    .record_observation(metric, &observation, capacity);
                self.seen[metric] = Some(datapoint.seq);
            }
        }
        for trusted in &mut self.trusted {
            let state = trusted
                .receiver
                .borrow_and_update()
                .state
                .unwrap_or_default();
            self.runtime.set_trusted_alarm_state(trusted.alarm, state);
        }
    }

    /// Why the data is too old to decide on, if it is.
    fn staleness(&self, now: DateTime<Utc>) -> Option<String> {
        let set = self.runtime.set();
        for (metric, feed) in set.metrics.iter().zip(&self.feeds) {
            let Some(stale_after) = metric.source.stale_after_seconds() else {
                continue;
            };
            let state = feed.borrow();
            let last = state.last_success.unwrap_or(self.started).max(self.started);
            if (now - last).num_seconds() > i64::from(stale_after) {
                let error = state
                    .last_error
                    .as_deref()
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default();
                return Some(format!(
                    "metric `{}` has no datapoint since {} (stale after {stale_after} s){error}",
                    metric.name,
                    last.format("%Y-%m-%dT%H:%M:%SZ")
                ));
            }
        }
        for trusted in &self.trusted {
            let feed = trusted.receiver.borrow();
            let last = feed.last_success.unwrap_or(self.started).max(self.started);
            if (now - last).num_seconds() > i64::from(trusted.stale_after) {
                let error = feed
                    .last_error
                    .as_deref()
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default();
                let alarm = &set.alarms[trusted.alarm];
                let name = alarm
                    .trusted
                    .as_ref()
                    .map_or(alarm.name.as_str(), |t| t.key.alarm_name.as_str());
                return Some(format!(
                    "the state of CloudWatch alarm `{name}` (spec.alarms.{}, mode trustState) has \
                     not been read since {} (stale after {} s){error}",
                    alarm.name,
                    last.format("%Y-%m-%dT%H:%M:%SZ"),
                    trusted.stale_after
                ));
            }
        }
        None
    }

    fn report(&self, previous: &Verdict, verdict: &Verdict) {
        let set = self.runtime.set();
        self.metrics.evaluations.get_or_create(&self.labels).inc();
        let unavailable = self.metrics.unavailable.get_or_create(&self.labels);
        match verdict {
            Verdict::Decided(decision) => {
                unavailable.set(0);
                self.metrics
                    .desired_capacity
                    .get_or_create(&self.labels)
                    .set(i64::from(decision.desired));
                let changed = previous
                    .decision()
                    .is_none_or(|p| p.desired != decision.desired);
                if changed {
                    let reasons: Vec<String> =
                        decision.reasons.iter().map(|r| r.describe(set)).collect();
                    info!(
                        policy_set = %set.id,
                        capacity = decision.capacity,
                        desired = decision.desired,
                        min = decision.min,
                        max = decision.max,
                        reasons = ?reasons,
                        "Desired capacity decided."
                    );
                }
            }
            Verdict::Unavailable { reason, .. } => {
                unavailable.set(1);
                if !matches!(previous, Verdict::Unavailable { .. }) {
                    warn!(policy_set = %set.id, %reason, "Policy set cannot decide.");
                }
            }
            Verdict::Pending => {}
        }
    }

    /// Whether a feed, a `trustState` alarm or the observed scale target changed since the last
    /// check; marks them seen. A closed channel is no change (the tick still comes); a closed
    /// watch of the scale target is dropped.
    fn inputs_changed(&mut self) -> bool {
        let mut changed = false;
        for feed in &mut self.feeds {
            changed |= feed.take_change();
        }
        for trusted in &mut self.trusted {
            changed |= take_change(&mut trusted.receiver).unwrap_or(false);
        }
        if let Some(changes) = &mut self.capacity_changes {
            match take_change(changes) {
                Ok(target_changed) => changed |= target_changed,
                Err(_) => self.capacity_changes = None,
            }
        }
        changed
    }

    /// The instant of the next scheduled action, unless it is due already (an action whose
    /// data was too stale to evaluate it waits for the next tick).
    fn next_scheduled_run(&self) -> Option<Instant> {
        let wait = (self.runtime.state().next_scheduled_run()? - self.clock.now())
            .to_std()
            .ok()?;
        (!wait.is_zero()).then(|| Instant::now() + wait)
    }
}

/// Whether `receiver` has a value not seen yet, marking it seen; `Err` once its sender is gone.
fn take_change<T>(receiver: &mut watch::Receiver<T>) -> Result<bool, watch::error::RecvError> {
    let changed = receiver.has_changed()?;
    if changed {
        receiver.mark_unchanged();
    }
    Ok(changed)
}

#[cfg(test)]
mod tests;
