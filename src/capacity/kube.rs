//! The current capacity read from the cluster: the scale target's replicas, watched.
//!
//! ECS scales from the service's desired count; on Kubernetes that is the workload's
//! `spec.replicas`, which the HPA sets from the decision. A [`KubeCapacity`] keeps the target's
//! latest state from a reflector (Deployment, StatefulSet), or from its `/scale` subresource
//! polled every few seconds (any other kind: a `/scale` cannot be watched). The hot path only
//! reads a watch channel; nothing is fetched per decision.
//!
//! A rollout is in progress while `status.updatedReplicas < spec.replicas` or the workload's
//! controller has not observed the latest generation (`status.observedGeneration <
//! metadata.generation`). ECS does not scale in during a deployment, so neither does the
//! scaler then. A replica change bumps the generation too, so scale-in also waits, briefly, for
//! the workload controller to acknowledge a scale-out: the capacity it would scale in from is
//! not settled yet.
//!
//! The capacity is unknown (the policy set is `UNAVAILABLE`, KEDA's fallback applies) until the
//! first list completes and after the target is deleted. A failed watch keeps the last state
//! while the reflector relists, with backoff.

use std::fmt::Debug;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v1::Scale;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tracing::{info, warn};

use super::{CapacityChanges, CapacityObservation, CapacityView};
use crate::policy::document::ScaleTargetRef;

/// How often the `/scale` subresource of a kind that cannot be watched is read.
pub const SCALE_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// What the scaler reads of a scale target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetState {
    /// `spec.replicas`: the capacity the policies compute from.
    pub spec_replicas: u32,
    /// `status.replicas`: pods that exist.
    pub status_replicas: u32,
    /// `status.readyReplicas` (0 when the kind does not say).
    pub ready_replicas: u32,
    /// `status.updatedReplicas`: pods on the latest template (`None` through `/scale`).
    pub updated_replicas: Option<u32>,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `status.observedGeneration`.
    pub observed_generation: Option<i64>,
}

fn count(value: Option<i32>) -> u32 {
    u32::try_from(value.unwrap_or(0)).unwrap_or(0)
}

impl TargetState {
    /// The state of a Deployment (`spec.replicas` defaults to 1, as the API server's).
    pub fn from_deployment(deployment: &Deployment) -> Self {
        let status = deployment.status.as_ref();
        Self {
            spec_replicas: count(
                deployment
                    .spec
                    .as_ref()
                    .and_then(|s| s.replicas)
                    .or(Some(1)),
            ),
            status_replicas: count(status.and_then(|s| s.replicas)),
            ready_replicas: count(status.and_then(|s| s.ready_replicas)),
            updated_replicas: Some(count(status.and_then(|s| s.updated_replicas))),
            generation: deployment.metadata.generation,
            observed_generation: status.and_then(|s| s.observed_generation),
        }
    }

    /// The state of a StatefulSet.
    pub fn from_stateful_set(set: &StatefulSet) -> Self {
        let status = set.status.as_ref();
        Self {
            spec_replicas: count(set.spec.as_ref().and_then(|s| s.replicas).or(Some(1))),
            status_replicas: count(status.map(|s| s.replicas)),
            ready_replicas: count(status.and_then(|s| s.ready_replicas)),
            updated_replicas: Some(count(status.and_then(|s| s.updated_replicas))),
            generation: set.metadata.generation,
            observed_generation: status.and_then(|s| s.observed_generation),
        }
    }

    /// The state read through a `/scale` subresource (no rollout information).
    pub fn from_scale(scale: &Scale) -> Self {
        Self {
            spec_replicas: count(scale.spec.as_ref().and_then(|s| s.replicas)),
            status_replicas: count(scale.status.as_ref().map(|s| s.replicas)),
            ready_replicas: 0,
            updated_replicas: None,
            generation: None,
            observed_generation: None,
        }
    }

    /// Whether a rollout is in progress (scale-in then waits).
    pub fn rollout_in_progress(&self) -> bool {
        let behind = match (self.generation, self.observed_generation) {
            (Some(generation), Some(observed)) => observed < generation,
            (Some(_), None) => true,
            _ => false,
        };
        behind
            || self
                .updated_replicas
                .is_some_and(|updated| updated < self.spec_replicas)
    }

    /// What the engine needs.
    pub fn observation(&self) -> CapacityObservation {
        CapacityObservation {
            current: self.spec_replicas,
            rollout_in_progress: self.rollout_in_progress(),
        }
    }
}

/// The kinds a scale target can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// `apps/v1` Deployment (the default), watched.
    Deployment,
    /// `apps/v1` StatefulSet, watched.
    StatefulSet,
    /// Anything else with a `/scale` subresource, polled.
    Scalable(GroupVersionKind),
}

impl TargetKind {
    /// The kind a `scaleTargetRef` names (`apiVersion` defaults to `apps/v1`, `kind` to
    /// `Deployment`, as KEDA's).
    pub fn of(target: &ScaleTargetRef) -> Self {
        let api_version = target.api_version.as_deref().unwrap_or("apps/v1");
        let kind = target.kind.as_deref().unwrap_or("Deployment");
        match (api_version, kind) {
            ("apps/v1", "Deployment") => TargetKind::Deployment,
            ("apps/v1", "StatefulSet") => TargetKind::StatefulSet,
            _ => {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                TargetKind::Scalable(GroupVersionKind::gvk(group, version, kind))
            }
        }
    }
}

/// The current capacity of one scale target, kept up to date by [`KubeCapacity::watch`].
#[derive(Debug, Clone)]
pub struct KubeCapacity {
    state: watch::Receiver<Option<TargetState>>,
}

impl KubeCapacity {
    /// Starts watching `target` in `namespace`: the view, and the task that keeps it current
    /// (spawn it; dropping it stops the watch).
    pub fn watch(
        client: Client,
        namespace: &str,
        target: &ScaleTargetRef,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (sender, state) = watch::channel(None);
        let name = target.name.clone();
        let namespace = namespace.to_owned();
        let kind = TargetKind::of(target);
        let task = async move {
            match kind {
                TargetKind::Deployment => {
                    let api = Api::namespaced(client, &namespace);
                    reflect(api, namespace, name, TargetState::from_deployment, sender).await;
                }
                TargetKind::StatefulSet => {
                    let api = Api::namespaced(client, &namespace);
                    reflect(api, namespace, name, TargetState::from_stateful_set, sender).await;
                }
                TargetKind::Scalable(gvk) => {
                    let resource = ApiResource::from_gvk(&gvk);
                    let api: Api<DynamicObject> =
                        Api::namespaced_with(client, &namespace, &resource);
                    poll_scale(api, name, sender).await;
                }
            }
        };
        (Self { state }, task)
    }

    /// The latest state of the target, if known.
    pub fn state(&self) -> Option<TargetState> {
        *self.state.borrow()
    }

    /// A receiver that sees every change of the state.
    pub fn subscribe(&self) -> watch::Receiver<Option<TargetState>> {
        self.state.clone()
    }
}

impl CapacityView for KubeCapacity {
    fn observe(&self) -> Option<CapacityObservation> {
        self.state().map(|state| state.observation())
    }

    fn record_decision(&self, _desired: u32) {
        // The HPA applies the decision; the watch observes it.
    }

    fn observes_target(&self) -> bool {
        true
    }

    fn changes(&self) -> Option<CapacityChanges> {
        Some(self.subscribe())
    }
}

/// Publishes `state`, logging a change of the replicas (the cooldown-relevant event).
fn publish(sender: &watch::Sender<Option<TargetState>>, name: &str, state: Option<TargetState>) {
    sender.send_if_modified(|current| {
        if *current == state {
            return false;
        }
        let before = current.map(|s| s.spec_replicas);
        let after = state.map(|s| s.spec_replicas);
        if before != after {
            info!(
                target = name,
                ?before,
                ?after,
                "Scale target replicas observed."
            );
        }
        *current = state;
        true
    });
}

async fn reflect<K>(
    api: Api<K>,
    namespace: String,
    name: String,
    to_state: fn(&K) -> TargetState,
    sender: watch::Sender<Option<TargetState>>,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let key = ObjectRef::new(&name).within(&namespace);
    let mut events = reflector::reflector(writer, watcher(api, config))
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(_) => {
                let state = reader.get(&key).map(|object| to_state(&object));
                publish(&sender, &name, state);
            }
            Err(error) => {
                warn!(target = %name, %error, "Watch of the scale target failed; relisting.");
            }
        }
    }
}

async fn poll_scale(
    api: Api<DynamicObject>,
    name: String,
    sender: watch::Sender<Option<TargetState>>,
) {
    let mut ticker = tokio::time::interval(SCALE_POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        match crate::kubernetes::bounded(api.get_scale(&name)).await {
            Ok(scale) => publish(&sender, &name, Some(TargetState::from_scale(&scale))),
            Err(kube::Error::Api(status)) if status.is_not_found() => {
                publish(&sender, &name, None);
            }
            Err(error) => {
                warn!(target = %name, %error, "Reading the /scale of the scale target failed.");
            }
        }
    }
}

#[cfg(test)]
mod tests;
