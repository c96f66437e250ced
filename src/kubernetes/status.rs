//! The status of each `ScalingPolicySet`: its last decision, the reasons, and the `Ready`,
//! `SourcesHealthy` and `Accepted` conditions, written with server-side apply (field manager
//! `ecs-scaler`). `Accepted` is `False` while the resource's latest spec does not compile (the
//! message says why; the generation in `observedGeneration` stays in service); a new resource
//! that does not compile gets a status with `Ready` and `Accepted` `False` and nothing else.
//!
//! A status is written when what it says changes (desired, bounds, reasons, conditions), not
//! at every evaluation, so the API server sees a write per decision change rather than per tick.
//! Only the replica holding the [`super::lease`] Lease writes (every replica computes the same
//! status from the same cluster state, under the same field manager, so a takeover rewrites
//! nothing that disagrees); a replica that loses the Lease forgets what it wrote, so that it
//! writes every status again when it holds it next.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use tracing::{debug, warn};

use super::ScalingPolicySetResource;
use super::crd::{Condition, LastDecision, ScalingPolicySetStatus};
use super::lease::LeaseLock;
use super::policies::{Rejected, Rejections};
use crate::controller::{UnavailableCause, Verdict};
use crate::policy::{CompiledPolicySet, PolicySetId};
use crate::registry::{Origin, Registry};

/// The field manager of the status.
pub const FIELD_MANAGER: &str = "ecs-scaler";

/// How often the statuses are checked for changes.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// The longest validation error text a condition message carries.
const MAX_ERRORS_CHARS: usize = 1_000;

fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: DateTime<Utc>,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: now,
    }
}

/// Condition `Accepted`: `True` unless the latest spec was refused.
fn accepted(rejected: Option<&Rejected>, now: DateTime<Utc>) -> Condition {
    let Some(rejected) = rejected else {
        return condition("Accepted", "True", "Compiled", "", now);
    };
    let errors = crate::text::abbreviate(&rejected.errors, MAX_ERRORS_CHARS);
    let generation = rejected.generation.map_or_else(
        || "the latest spec".to_owned(),
        |g| format!("generation {g}"),
    );
    condition(
        "Accepted",
        "False",
        "InvalidSpec",
        &format!("{generation} does not compile: {errors}"),
        now,
    )
}

/// `conditions`, each keeping its `lastTransitionTime` from `previous` if its `status` is the
/// same there.
fn keep_transition_times(
    conditions: impl IntoIterator<Item = Condition>,
    previous: Option<&ScalingPolicySetStatus>,
) -> Vec<Condition> {
    conditions
        .into_iter()
        .map(|mut condition| {
            if let Some(before) = previous
                .into_iter()
                .flat_map(|p| &p.conditions)
                .find(|c| c.type_ == condition.type_ && c.status == condition.status)
            {
                condition.last_transition_time = before.last_transition_time;
            }
            condition
        })
        .collect()
}

/// The status of a resource that was never served because its spec does not compile.
pub fn rejected_status(
    rejected: &Rejected,
    previous: Option<&ScalingPolicySetStatus>,
    now: DateTime<Utc>,
) -> ScalingPolicySetStatus {
    let ready = condition(
        "Ready",
        "False",
        "InvalidSpec",
        "not served: the spec does not compile (see condition Accepted)",
        now,
    );
    ScalingPolicySetStatus {
        last_decision: None,
        conditions: keep_transition_times([ready, accepted(Some(rejected), now)], previous),
        observed_generation: None,
    }
}

/// The status a verdict stands for (and `rejected`, a newer spec refused); conditions whose
/// `status` did not change keep their `lastTransitionTime` from `previous`.
/// `observedGeneration` is left to the caller.
pub fn status_of(
    set: &CompiledPolicySet,
    verdict: &Verdict,
    rejected: Option<&Rejected>,
    previous: Option<&ScalingPolicySetStatus>,
    now: DateTime<Utc>,
) -> ScalingPolicySetStatus {
    let (ready, sources, last_decision) = match verdict {
        Verdict::Pending => (
            condition("Ready", "Unknown", "Pending", "not evaluated yet", now),
            condition(
                "SourcesHealthy",
                "Unknown",
                "Pending",
                "not evaluated yet",
                now,
            ),
            previous.and_then(|p| p.last_decision.clone()),
        ),
        Verdict::Decided(decision) => (
            condition("Ready", "True", "Decided", "", now),
            condition("SourcesHealthy", "True", "Delivering", "", now),
            Some(LastDecision {
                desired: decision.desired,
                min: decision.min,
                max: decision.max,
                at: decision.at,
                reasons: decision.reasons.iter().map(|r| r.describe(set)).collect(),
            }),
        ),
        Verdict::Unavailable { cause, reason } => {
            let sources = match cause {
                UnavailableCause::CapacityUnknown => {
                    condition("SourcesHealthy", "Unknown", "CapacityUnknown", reason, now)
                }
                UnavailableCause::SourceStale => {
                    condition("SourcesHealthy", "False", "SourceUnavailable", reason, now)
                }
                UnavailableCause::AlarmsUnresolved => {
                    condition("SourcesHealthy", "False", "AlarmsUnresolved", reason, now)
                }
            };
            (
                condition("Ready", "False", "Unavailable", reason, now),
                sources,
                previous.and_then(|p| p.last_decision.clone()),
            )
        }
    };
    ScalingPolicySetStatus {
        last_decision,
        conditions: keep_transition_times([ready, sources, accepted(rejected, now)], previous),
        observed_generation: None,
    }
}

/// Whether two statuses say the same (the decision's time aside).
fn same(a: &ScalingPolicySetStatus, b: &ScalingPolicySetStatus) -> bool {
    let decision = |s: &ScalingPolicySetStatus| {
        s.last_decision
            .as_ref()
            .map(|d| (d.desired, d.min, d.max, d.reasons.clone()))
    };
    decision(a) == decision(b)
        && a.conditions == b.conditions
        && a.observed_generation == b.observed_generation
}

/// Applies `status` to the status subresource of `id`.
pub async fn apply_status(
    client: &Client,
    id: &PolicySetId,
    status: &ScalingPolicySetStatus,
) -> kube::Result<()> {
    let api: Api<ScalingPolicySetResource> = Api::namespaced(client.clone(), &id.namespace);
    let patch = serde_json::json!({
        "apiVersion": crate::policy::document::API_VERSION,
        "kind": crate::policy::document::KIND,
        "status": status,
    });
    super::bounded(api.patch_status(
        &id.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    ))
    .await
    .map(|_| ())
}

/// Writes the status of the served policy sets whenever it changes.
pub struct StatusWriter {
    client: Client,
    registry: Arc<Registry>,
    rejections: Rejections,
    lease: Option<LeaseLock>,
    written: HashMap<PolicySetId, ScalingPolicySetStatus>,
}

impl StatusWriter {
    /// A writer for the policy sets of `registry`.
    pub fn new(client: Client, registry: Arc<Registry>) -> Self {
        Self {
            client,
            registry,
            rejections: Rejections::default(),
            lease: None,
            written: HashMap::new(),
        }
    }

    /// Applies every status that changed since it was last written; how many were written.
    /// A policy set without a resource (inline metadata) is skipped.
    pub async fn write_changed(&mut self, now: DateTime<Utc>) -> usize {
        let mut rejections = self.rejections.current();
        let mut statuses = Vec::new();
        for handle in self.registry.list() {
            let id = handle.set.id.clone();
            let rejected = rejections.remove(&id);
            let previous = self.written.get(&id);
            let mut status = status_of(
                &handle.set,
                &handle.verdict(),
                rejected.as_ref(),
                previous,
                now,
            );
            status.observed_generation = match self.registry.origin(&id) {
                Some(Origin::Cluster { generation, .. }) => generation,
                _ => None,
            };
            statuses.push((id, status));
        }
        // Refused resources that are not served at all.
        for (id, rejected) in rejections {
            let status = rejected_status(&rejected, self.written.get(&id), now);
            statuses.push((id, status));
        }
        let mut written = 0;
        let mut current = HashMap::with_capacity(statuses.len());
        for (id, status) in statuses {
            let previous = self.written.remove(&id);
            if previous.as_ref().is_some_and(|p| same(p, &status)) {
                current.insert(id, status);
                continue;
            }
            match apply_status(&self.client, &id, &status).await {
                Ok(()) => {
                    written += 1;
                    current.insert(id, status);
                }
                Err(kube::Error::Api(error)) if error.is_not_found() => {
                    debug!(policy_set = %id, "No ScalingPolicySet resource; status not written.");
                    current.insert(id, status);
                }
                Err(error) => {
                    warn!(policy_set = %id, %error, "Status not written; retrying.");
                    if let Some(previous) = previous {
                        current.insert(id, previous);
                    }
                }
            }
        }
        self.written = current;
        written
    }

    /// Reports the refused resources of `rejections` (condition `Accepted`).
    #[must_use]
    pub fn with_rejections(mut self, rejections: Rejections) -> Self {
        self.rejections = rejections;
        self
    }

    /// Writes only while holding `lease`.
    #[must_use]
    pub fn with_lease(mut self, lease: LeaseLock) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Writes changed statuses every [`STATUS_INTERVAL`] (while holding the Lease, if any).
    pub async fn run(mut self) {
        let mut ticker = tokio::time::interval(STATUS_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            let now = Utc::now();
            if let Some(lease) = &self.lease {
                match lease.try_hold(now).await {
                    Ok(true) => {}
                    Ok(false) => {
                        self.written.clear();
                        continue;
                    }
                    Err(error) => {
                        warn!(%error, "Status Lease not renewed; statuses not written.");
                        self.written.clear();
                        continue;
                    }
                }
            }
            self.write_changed(now).await;
        }
    }
}

#[cfg(test)]
mod tests;
