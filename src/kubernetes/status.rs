//! The status of each `ScalingPolicySet`: its last decision, the reasons, and the `Ready`,
//! `SourcesHealthy`, `Accepted` and `Configured` conditions, written with server-side apply
//! (field manager `ecs-scaler`). `Accepted` is `False` while the resource's latest spec does not
//! compile (the message says why; the generation in `observedGeneration` stays in service); a
//! new resource that does not compile gets a status with `Ready` and `Accepted` `False` and
//! nothing else. `Configured` (with the watched ScaledObjects) is `False` while a ScaledObject
//! naming the policy set would not let the HPA set the replicas to D ([`crate::doctor`]: its
//! `metricType`, its HPA behaviour, its fallback), the message giving each field and its fix;
//! `Unknown` while no ScaledObject names it.
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
use super::policies::{Rejected, Rejections, ScaledObjects};
use crate::controller::{UnavailableCause, Verdict};
use crate::doctor::{self, Finding, Tolerance};
use crate::policy::{CompiledPolicySet, PolicySetId};
use crate::registry::{Origin, Registry};

/// The field manager of the status.
pub const FIELD_MANAGER: &str = "ecs-scaler";

/// How often the statuses are checked for changes.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// The longest validation error text a condition message carries.
const MAX_ERRORS_CHARS: usize = 1_000;

/// The longest list of findings condition `Configured` carries (a condition message may hold
/// 32,768 characters; a ScaledObject with every mistake has about 2,000).
const MAX_FINDINGS_CHARS: usize = 4_000;

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

/// Condition `Configured`: what the ScaledObjects naming the policy set would make the HPA do
/// with D (`None`: no ScaledObject names it).
pub fn configured(findings: Option<&Vec<Finding>>, now: DateTime<Utc>) -> Condition {
    match findings {
        None => condition(
            "Configured",
            "Unknown",
            "NoScaledObject",
            "no ScaledObject's external trigger names this policy set",
            now,
        ),
        Some(findings) if findings.is_empty() => {
            condition("Configured", "True", "PassesDecisionsThrough", "", now)
        }
        Some(findings) => {
            let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
            let text = crate::text::abbreviate(&text.join("; "), MAX_FINDINGS_CHARS);
            condition(
                "Configured",
                "False",
                "HpaWouldNotFollow",
                &format!("the HPA would not set the replicas to D: {text}"),
                now,
            )
        }
    }
}

/// The findings of every ScaledObject, by the policy set its scaler triggers name (a policy
/// set gets its trigger's findings and those of the whole ScaledObject).
fn findings_by_policy_set(
    objects: &[serde_json::Value],
    max_of: impl Fn(&PolicySetId) -> Option<u32>,
    tolerance: Tolerance,
) -> HashMap<PolicySetId, Vec<Finding>> {
    let mut by_set: HashMap<PolicySetId, Vec<Finding>> = HashMap::new();
    for object in objects {
        let ids = doctor::policy_sets_of(object);
        if ids.is_empty() {
            continue;
        }
        let findings = doctor::check(object, &max_of, tolerance);
        for id in ids {
            let entry = by_set.entry(id.clone()).or_default();
            entry.extend(
                findings
                    .iter()
                    .filter(|f| f.policy_set.as_ref().is_none_or(|p| *p == id))
                    .filter(|f| !entry.contains(f))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
    }
    by_set
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
    /// The ScaledObjects checked for condition `Configured` (none: no such condition).
    scaled_objects: Option<ScaledObjects>,
    /// Whether the cluster honours `behavior.*.tolerance`.
    tolerance: Tolerance,
    /// Read the tolerance support from the API server's version when the writer starts.
    detect_tolerance: bool,
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
            scaled_objects: None,
            tolerance: Tolerance::FeatureGate,
            detect_tolerance: false,
        }
    }

    /// Applies every status that changed since it was last written; how many were written.
    /// A policy set without a resource (inline metadata) is skipped.
    pub async fn write_changed(&mut self, now: DateTime<Utc>) -> usize {
        let mut rejections = self.rejections.current();
        let findings = self.scaled_objects.as_ref().map(|objects| {
            let registry = &self.registry;
            findings_by_policy_set(
                &objects.objects(),
                |id| {
                    registry
                        .get(&id.namespace, &id.name)
                        .map(|h| h.set.max_capacity)
                },
                self.tolerance,
            )
        });
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
            if let Some(findings) = &findings {
                status.conditions.push(configured(findings.get(&id), now));
                status.conditions = keep_transition_times(status.conditions, previous);
            }
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

    /// Reports condition `Configured` from `objects`, with the tolerance support read from the
    /// API server's version when the writer starts.
    #[must_use]
    pub fn with_scaled_objects(mut self, objects: ScaledObjects) -> Self {
        self.scaled_objects = Some(objects);
        self.detect_tolerance = true;
        self
    }

    /// Judges `tolerance` with this support instead of asking the API server.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Tolerance) -> Self {
        self.tolerance = tolerance;
        self.detect_tolerance = false;
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
        if self.detect_tolerance {
            match super::bounded(self.client.apiserver_version()).await {
                Ok(info) => self.tolerance = Tolerance::of_version(&info.major, &info.minor),
                Err(error) => {
                    warn!(%error, "Kubernetes version not read; a missing HPA tolerance is not reported.");
                }
            }
        }
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
